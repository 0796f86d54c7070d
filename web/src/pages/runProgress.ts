/** The live state of a run folded from its WebSocket events (pure, unit-tested). */
import type { RunMessage } from "../api/socket";

export interface LiveRun { status: string; steps: Record<string, { status: string; note?: string }>; order: string[]; finished: boolean }

const UNFINISHED = new Set(["queued", "pending", "dispatched", "running", "started"]);

export function initialLive(status: string, steps: { step: string; status?: string; state?: string }[] = []): LiveRun {
  const live: LiveRun = { status, steps: {}, order: [], finished: ["completed", "failed", "cancelled"].includes(status) };
  for (const s of steps) { live.steps[s.step] = { status: s.status || s.state || "queued" }; live.order.push(s.step); }
  return live;
}

export function applyRunMessage(live: LiveRun, m: RunMessage): LiveRun {
  const next: LiveRun = { ...live, steps: { ...live.steps }, order: [...live.order] };
  const mark = (name: string, status: string, note?: string) => {
    if (!(name in next.steps)) next.order.push(name);
    next.steps[name] = { status, note };
  };
  switch (m.type) {
    case "pipeline.queued": for (const name of m.steps ?? []) if (!(name in next.steps)) mark(name, "queued"); break;
    case "pipeline.started": next.status = "running"; break;
    case "step.started": if (m.step) mark(m.step, "running"); break;
    case "step.completed": case "step.failed":
      if (m.step) mark(m.step, m.status || (m.type === "step.failed" ? "failed" : "passed"), m.reason); break;
    case "file.started": case "file.progress": case "file.completed": case "file.failed":
      if (m.step && !(m.step in next.steps && !UNFINISHED.has(next.steps[m.step].status))) mark(m.step, "running", fileNote(m));
      break;
    case "pipeline.completed": case "pipeline.failed": case "pipeline.cancelled":
      next.status = m.status || m.type.split(".")[1]; next.finished = true; break;
    default: return live;
  }
  return next;
}

/** A load step's current file as a note: `loading part_03.tsv: 45 % of 120.0 MB`, `part_03.tsv: 150,000 rows loaded`. */
export function fileNote(m: RunMessage): string {
  const name = (m.file ?? "").split("/").pop() ?? "";
  const mb = ((m.bytes ?? 0) / 1e6).toFixed(1);
  switch (m.type) {
    case "file.progress": return `loading ${name}: ${Math.floor((100 * (m.bytes_read ?? 0)) / Math.max(1, m.bytes ?? 0))} % of ${mb} MB`;
    case "file.completed": return `${name}: ${(m.rows ?? 0).toLocaleString("en-US")} rows loaded`;
    case "file.failed": return `${name} not loaded: ${m.message ?? ""}`;
    default: return `loading ${name} (${mb} MB)`;
  }
}

export function finishedCount(live: LiveRun): number {
  return Object.values(live.steps).filter((s) => !UNFINISHED.has(s.status)).length;
}
