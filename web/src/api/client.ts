/** The typed gateway client: openapi-fetch over the paths generated from the gateway's OpenAPI
 * (src/api/schema.d.ts, `npm run gen:api`), with the token added, one refresh retry on 401 and
 * errors thrown as ApiError. */
import createClient from "openapi-fetch";
import type { paths } from "./schema";
import { ApiError, toApiError } from "./errors";
import { session, type Session } from "./session";

let onUnauthorized: () => void = () => {};
/** Called when the session cannot be renewed (the app sends the user to the login page). */
export function setUnauthorizedHandler(handler: () => void): void { onUnauthorized = handler; }

const isAuthCall = (url: string) => /\/api\/v1\/auth\/(login|refresh|logout|oidc\/exchange)$/.test(new URL(url, location.origin).pathname);

let refreshing: Promise<boolean> | null = null;
async function refresh(): Promise<boolean> {
  const current = session.get();
  if (!current?.refresh_token) return false;
  refreshing ??= (async () => {
    const response = await fetch("/api/v1/auth/refresh", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ refresh_token: current.refresh_token }),
    });
    if (!response.ok) return false;
    session.set((await response.json()) as Session);
    return true;
  })().finally(() => { refreshing = null; });
  return refreshing;
}

/** fetch with the bearer token; on 401 renews the tokens once and retries. */
export async function authFetch(input: Request): Promise<Response> {
  const send = (request: Request) => {
    const token = session.token();
    if (token) request.headers.set("Authorization", `Bearer ${token}`);
    return fetch(request).catch(() => {
      throw new ApiError(0, "network", "the gateway cannot be reached; check your connection");
    });
  };
  const spare = input.clone();
  const hadToken = Boolean(session.token());
  let response = await send(input);
  if (response.status === 401 && hadToken && !isAuthCall(input.url) && (await refresh())) {
    response = await send(spare);
  }
  if (response.status === 401 && !isAuthCall(input.url)) {
    session.clear();
    onUnauthorized();
  }
  return response;
}

export const client = createClient<paths>({ baseUrl: location.origin, fetch: authFetch });

/** Unwrap an openapi-fetch result: the data, or an ApiError thrown. */
export async function unwrap<T = unknown>(
  call: Promise<{ data?: unknown; error?: unknown; response: Response }>,
): Promise<T> {
  const { data, error, response } = await call;
  if (!response.ok) throw toApiError(response.status, response.statusText, error ?? null);
  return data as T;
}

/** Log in and keep the token pair for this browser tab. */
export async function login(username: string, password: string): Promise<Session> {
  const pair = await unwrap<Session>(client.POST("/api/v1/auth/login", { body: { username, password } }));
  session.set(pair);
  return pair;
}

/** The ways to sign in: single sign-on is offered when the gateway names an OIDC provider. */
export interface AuthProviders { password: boolean; oidc: { issuer: string; start_url: string } | null }
export async function authProviders(): Promise<AuthProviders> {
  return unwrap<AuthProviders>(client.GET("/api/v1/auth/providers"));
}

/** Finish a single sign-on: the one-time code the gateway sent the browser back with, for tokens. */
export async function exchangeSsoCode(code: string): Promise<Session> {
  const pair = await unwrap<Session>(client.POST("/api/v1/auth/oidc/exchange", { body: { code } }));
  session.set(pair);
  return pair;
}

/** Revoke the tokens on the server (best effort), then forget them here. */
export async function logout(): Promise<void> {
  const current = session.get();
  try {
    if (current) await client.POST("/api/v1/auth/logout", { body: { refresh_token: current.refresh_token } as never });
  } catch { /* already expired or revoked */ }
  session.clear();
}

/** Download a file the API answers (export): fetched with the token, saved from a blob. */
export async function download(path: string, query: Record<string, string>, fallbackName: string): Promise<string> {
  const url = new URL(path, location.origin);
  for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
  const response = await authFetch(new Request(url));
  if (!response.ok) throw toApiError(response.status, response.statusText, await response.json().catch(() => null));
  const match = /filename="([^"]+)"/.exec(response.headers.get("Content-Disposition") || "");
  const name = match ? match[1] : fallbackName;
  const link = document.createElement("a");
  link.href = URL.createObjectURL(await response.blob());
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10000);
  return name;
}
