// The gateway's REST API: tokens kept in sessionStorage, one refresh retry on 401,
// errors turned into ApiError carrying the gateway's {error: {code, message, details}}.

const KEY = "ombudsman.session";
// Login, refresh and logout answer 401 for their own reasons: no token renewal, no redirect.
const isAuthCall = (path) => /^\/api\/v1\/auth\/(login|refresh|logout)$/.test(path);

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details || {};
  }

  /** A sentence a person can act on, naming the fields the gateway says are wrong. */
  describe() {
    const fields = Array.isArray(this.details.fields) ? this.details.fields : [];
    const named = fields.map((f) => `${f.field || f.in}: ${f.message}`).join("; ");
    return named ? `${this.message} (${named})` : this.message;
  }
}

export const session = {
  get() {
    try { return JSON.parse(sessionStorage.getItem(KEY) || "null"); } catch { return null; }
  },
  set(pair) {
    sessionStorage.setItem(KEY, JSON.stringify({
      access_token: pair.access_token, refresh_token: pair.refresh_token, user: pair.user,
    }));
  },
  clear() { sessionStorage.removeItem(KEY); },
  token() { return this.get()?.access_token || null; },
};

let onUnauthorized = () => {};
/** Called when the session cannot be renewed (the app sends the user to the login page). */
export function setUnauthorizedHandler(handler) { onUnauthorized = handler; }

async function toError(response) {
  let body = null;
  try { body = await response.json(); } catch { /* not JSON */ }
  const err = body && body.error;
  if (err) return new ApiError(response.status, err.code, err.message, err.details);
  return new ApiError(response.status, "http_" + response.status, `the server answered ${response.status} ${response.statusText}`);
}

let refreshing = null;
async function refresh() {
  const current = session.get();
  if (!current?.refresh_token) return false;
  refreshing ??= (async () => {
    const response = await fetch("/api/v1/auth/refresh", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ refresh_token: current.refresh_token }),
    });
    if (!response.ok) return false;
    session.set(await response.json());
    return true;
  })().finally(() => { refreshing = null; });
  return refreshing;
}

async function send(method, path, { body, query, raw } = {}, retried = false) {
  const url = new URL(path, location.origin);
  for (const [k, v] of Object.entries(query || {})) {
    if (v !== undefined && v !== null && v !== "") url.searchParams.set(k, v);
  }
  const headers = {};
  const token = session.token();
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    throw new ApiError(0, "network", "the gateway cannot be reached; check your connection");
  }
  if (response.status === 401 && token && !retried && !isAuthCall(path)) {
    if (await refresh()) return send(method, path, { body, query, raw }, true);
  }
  if (!response.ok) {
    const error = await toError(response);
    if (response.status === 401 && !isAuthCall(path)) {
      session.clear();
      onUnauthorized(error);
    }
    throw error;
  }
  if (raw) return response;
  if (response.status === 204) return null;
  const type = response.headers.get("Content-Type") || "";
  return type.includes("application/json") ? response.json() : response.text();
}

export const api = {
  get: (path, query) => send("GET", path, { query }),
  post: (path, body) => send("POST", path, { body }),
  raw: (path, query) => send("GET", path, { query, raw: true }),
};

/** Log in and keep the token pair for this browser tab. */
export async function login(username, password) {
  const pair = await send("POST", "/api/v1/auth/login", { body: { username, password } });
  session.set(pair);
  return pair.user;
}

/** Revoke the tokens on the server (best effort), then forget them here. */
export async function logout() {
  const current = session.get();
  try {
    if (current) await send("POST", "/api/v1/auth/logout", { body: { refresh_token: current.refresh_token } }, true);
  } catch { /* already expired or revoked: nothing left to revoke */ }
  session.clear();
}

/** Download a run's report: fetched with the Authorization header, saved from a blob. */
export async function downloadExport(runId, format) {
  const response = await send("GET", `/api/v1/runs/${encodeURIComponent(runId)}/export`, { query: { format }, raw: true });
  const disposition = response.headers.get("Content-Disposition") || "";
  const match = /filename="([^"]+)"/.exec(disposition);
  const blob = await response.blob();
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = match ? match[1] : `run-${runId}.${format}`;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10000);
}

/** Open a run's event stream. The token goes in the first message, not in the URL, so it never
 * lands in an access log or a proxy's log. */
export function openRunSocket(runId) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const socket = new WebSocket(`${scheme}//${location.host}/ws/runs/${encodeURIComponent(runId)}`);
  socket.addEventListener("open", () => socket.send(JSON.stringify({ token: session.token() || "" })));
  return socket;
}
