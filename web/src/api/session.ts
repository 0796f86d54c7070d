/** The signed-in user's token pair, kept for this browser tab only (sessionStorage). */
export interface SessionUser { id: string; username: string; role: "admin" | "user" | "viewer" }
export interface Session { access_token: string; refresh_token: string; user: SessionUser }

const KEY = "ombudsman.session";

export const session = {
  get(): Session | null {
    try { return JSON.parse(sessionStorage.getItem(KEY) || "null") as Session | null; } catch { return null; }
  },
  set(pair: Session): void {
    sessionStorage.setItem(KEY, JSON.stringify({
      access_token: pair.access_token, refresh_token: pair.refresh_token, user: pair.user,
    }));
  },
  clear(): void { sessionStorage.removeItem(KEY); },
  token(): string | null { return this.get()?.access_token ?? null; },
};

/** Viewers read only: the gateway would answer 403, so the buttons that write are not offered. */
export const canWrite = (): boolean => (session.get()?.user.role ?? "viewer") !== "viewer";
