/** The comparison viewer's rows: lines of a step's full difference list (served a page at a time by
 * `GET /runs/{run_id}/steps/{step}/differences`), shown source and target side by side (pure). */

/** One line of the full list: a differing column of a changed row, or a one-sided row (its values
 * as a JSON object in `source_value` or `target_value`, `column` empty). `key` is the key as JSON. */
export interface DifferenceLine {
  kind: string; key: string; column?: string | null; source_value?: string | null; target_value?: string | null;
  source_count?: number | null; target_count?: number | null;
}

export interface DiffRow { kind: string; key: string; column: string; source: string | null; target: string | null; changed: boolean }

/** `{"id": 7}` → `id=7`; text that is not a JSON object is shown as it is. */
export function keyText(key: string): string {
  try {
    const parsed: unknown = JSON.parse(key);
    if (parsed && typeof parsed === "object" && !Array.isArray(parsed)) {
      return Object.entries(parsed).map(([k, v]) => `${k}=${String(v)}`).join(", ");
    }
  } catch { /* not JSON: as it is */ }
  return key;
}

const ONE_SIDED_SOURCE = new Set(["only_in_source", "duplicate_in_source"]);

function rowValues(text: string | null | undefined): Record<string, unknown> | null {
  if (!text) return null;
  try {
    const parsed: unknown = JSON.parse(text);
    return parsed && typeof parsed === "object" && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : null;
  } catch { return null; }
}

const asText = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));

/** The table's rows for a page of lines: a changed line is one row; a one-sided row is one row per
 * column with the other side empty (a row whose values cannot be read is one row as it came). */
export function diffRows(lines: DifferenceLine[]): DiffRow[] {
  const rows: DiffRow[] = [];
  for (const line of lines) {
    if (!line || typeof line !== "object" || typeof line.kind !== "string") continue;
    const key = keyText(String(line.key ?? ""));
    if (line.kind === "changed") {
      const source = line.source_value ?? null, target = line.target_value ?? null;
      rows.push({ kind: line.kind, key, column: line.column ?? "", source, target, changed: source !== target });
      continue;
    }
    const fromSource = ONE_SIDED_SOURCE.has(line.kind);
    const raw = fromSource ? line.source_value : line.target_value;
    const values = rowValues(raw);
    if (!values) {
      rows.push({ kind: line.kind, key, column: line.column ?? "", source: fromSource ? raw ?? null : null, target: fromSource ? null : raw ?? null, changed: true });
      continue;
    }
    for (const [c, v] of Object.entries(values)) {
      rows.push({ kind: line.kind, key, column: c, source: fromSource ? asText(v) : null, target: fromSource ? null : asText(v), changed: true });
    }
  }
  return rows;
}

/** The query string of a page of the full list, filters included only when chosen. */
export function differencesQuery(page: number, size: number, kind: string, column: string): { offset: number; limit: number; kind?: string; column?: string } {
  return { offset: page * size, limit: size, ...(kind ? { kind } : {}), ...(column ? { column } : {}) };
}
