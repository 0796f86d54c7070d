/** The comparison viewer's rows: a row_hash sample flattened, filtered by kind and column (pure). */
import type { Difference } from "../api/types";

export interface DiffRow { kind: Difference["kind"]; key: string; column: string; source: string | null; target: string | null; changed: boolean }

export function diffRows(sample: unknown[], kind: string, column: string): DiffRow[] {
  const rows: DiffRow[] = [];
  for (const raw of sample as Difference[]) {
    if (!raw || typeof raw !== "object" || !("kind" in raw)) continue;
    if (kind && raw.kind !== kind) continue;
    const key = Object.entries(raw.key ?? {}).map(([k, v]) => `${k}=${String(v)}`).join(", ");
    if (raw.kind === "changed") {
      for (const [c, v] of Object.entries(raw.columns ?? {})) {
        if (column && c !== column) continue;
        rows.push({ kind: raw.kind, key, column: c, source: v.source, target: v.target, changed: v.source !== v.target });
      }
    } else {
      for (const [c, v] of Object.entries(raw.row ?? {})) {
        if (column && c !== column) continue;
        rows.push({ kind: raw.kind, key, column: c, source: raw.kind === "only_in_source" ? v : null, target: raw.kind === "only_in_target" ? v : null, changed: true });
      }
    }
  }
  return rows;
}

export function columnsOf(sample: unknown[]): string[] {
  const found = new Set<string>();
  for (const raw of sample as Difference[]) for (const c of Object.keys(raw?.columns ?? raw?.row ?? {})) found.add(c);
  return [...found].sort();
}
