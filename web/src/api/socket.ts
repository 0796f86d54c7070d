/** A run's live event stream over the gateway's WebSocket. The token goes in the first message,
 * not in the URL, so it never lands in an access log. Joining late replays the run's events so far. */
import { session } from "./session";

export interface RunMessage {
  type: string;
  step?: string;
  steps?: string[];
  status?: string;
  reason?: string;
  // a file_load step's checkpoints (file.started | file.progress | file.completed | file.failed)
  file?: string;
  bytes?: number;
  bytes_read?: number;
  rows?: number;
  message?: string;
  version?: number;
  error?: { code: string; message: string };
}

export function openRunSocket(runId: string, onMessage: (m: RunMessage) => void, onClose?: (code: number) => void): () => void {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const socket = new WebSocket(`${scheme}//${location.host}/ws/runs/${encodeURIComponent(runId)}`);
  socket.addEventListener("open", () => socket.send(JSON.stringify({ token: session.token() || "" })));
  socket.addEventListener("message", (event) => {
    try { onMessage(JSON.parse(String(event.data)) as RunMessage); } catch { /* not JSON: ignore */ }
  });
  socket.addEventListener("close", (event) => onClose?.(event.code));
  return () => socket.close();
}
