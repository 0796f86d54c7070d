/** Pure helpers of the results views: what changed against a baseline run, a pipeline's runs as a
 * daily trend, and a catalog diff as rows. */
import type { TrendPoint } from "../ui/TrendsChart";

export interface StepChange { step: string; baseline: string | null; current: string | null }
export interface Comparison {
  run_id: string; baseline_run_id: string; same_pipeline?: boolean; score: number | null; baseline_score: number | null;
  score_delta: number | null; better: StepChange[]; worse: StepChange[]; same: StepChange[]; added: StepChange[]; removed: StepChange[];
}
export type Change = "better" | "worse" | "added" | "removed";
export interface ChangedStep extends StepChange { change: Change }

/** The steps whose status differs from the baseline's, worse first (a step new and failing is both
 * added and worse: listed once, as worse). */
export function changedSteps(c: Comparison): ChangedStep[] {
  const seen = new Set<string>();
  const out: ChangedStep[] = [];
  for (const change of ["worse", "better", "added", "removed"] as Change[]) {
    for (const s of c[change] ?? []) {
      if (seen.has(s.step)) continue;
      seen.add(s.step);
      out.push({ ...s, change });
    }
  }
  return out;
}

/** How a comparison reads in one sentence. */
export function comparisonSummary(c: Comparison): string {
  const changed = changedSteps(c);
  const delta = c.score_delta === null ? "" : `; quality score ${c.baseline_score} → ${c.score} (${c.score_delta > 0 ? "+" : ""}${c.score_delta})`;
  if (!changed.length) return `No step changed status against the baseline${delta}.`;
  const worse = changed.filter((s) => s.change === "worse").length;
  const better = changed.filter((s) => s.change === "better").length;
  return `${changed.length} step${changed.length === 1 ? "" : "s"} changed: ${worse} worse, ${better} better${delta}.`;
}

export interface HistoryRun { run_id: string; status: string; score?: number | null; failed_steps?: number | null; queued_at?: string }

/** A pipeline's runs grouped by UTC day, oldest first, in the project trend's shape (score: the
 * day's average, two decimals). */
export function historyTrend(runs: HistoryRun[]): TrendPoint[] {
  const days = new Map<string, HistoryRun[]>();
  for (const r of runs) {
    if (!r.queued_at) continue;
    const day = r.queued_at.slice(0, 10);
    days.set(day, [...(days.get(day) ?? []), r]);
  }
  return [...days.keys()].sort().map((day) => {
    const group = days.get(day)!;
    const scored = group.filter((r) => typeof r.score === "number");
    const score = scored.length ? Math.round((100 * scored.reduce((n, r) => n + (r.score as number), 0)) / scored.length) / 100 : null;
    return {
      day, runs: group.length, score,
      completed: group.filter((r) => r.status === "completed").length,
      failed: group.filter((r) => r.status === "failed").length,
      failed_steps: group.reduce((n, r) => n + (r.failed_steps ?? 0), 0),
    };
  });
}

export interface CatalogDiff {
  tables_added: string[]; tables_removed: string[]; columns_added: Record<string, string[]>; columns_removed: Record<string, string[]>;
  columns_retyped: Record<string, { column: string; before: string; after: string }[]>;
  nullability_changed: Record<string, { column: string; before: string; after: string }[]>; first_extraction?: boolean;
}
export interface CatalogChangeRow { table: string; change: string; column: string; before: string; after: string }

/** A catalog diff as one row per change, tables first, in table then column order. */
export function catalogChangeRows(d: CatalogDiff): CatalogChangeRow[] {
  const rows: CatalogChangeRow[] = [
    ...d.tables_added.map((table) => ({ table, change: "table added", column: "", before: "", after: "" })),
    ...d.tables_removed.map((table) => ({ table, change: "table removed", column: "", before: "", after: "" })),
  ];
  const columns: CatalogChangeRow[] = [];
  for (const [table, names] of Object.entries(d.columns_added)) for (const column of names) columns.push({ table, change: "column added", column, before: "", after: "" });
  for (const [table, names] of Object.entries(d.columns_removed)) for (const column of names) columns.push({ table, change: "column removed", column, before: "", after: "" });
  for (const [table, list] of Object.entries(d.columns_retyped)) for (const c of list) columns.push({ table, change: "type changed", ...c });
  for (const [table, list] of Object.entries(d.nullability_changed)) for (const c of list) columns.push({ table, change: "nullability changed", ...c });
  columns.sort((a, b) => a.table.localeCompare(b.table) || a.column.localeCompare(b.column) || a.change.localeCompare(b.change));
  return [...rows, ...columns];
}
