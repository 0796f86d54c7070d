/** What a workload's analysis says, arranged for the page: its tables by use, the columns it filters
 * on and the measures it aggregates (from each table's column usage), heaviest first. Pure. */

export interface ColumnUsage {
  column: string; queries: number; executions: number; usages: Record<string, number> | string[];
  operators?: Record<string, number> | string[]; aggregates?: Record<string, number> | string[]; date_filter?: boolean;
}
export interface TableUsage {
  table_name: string; in_catalog: boolean; queries: number; executions: number;
  join_partners?: Record<string, number>; columns?: ColumnUsage[];
}
export interface JoinUsage { left_table: string; left_column: string; right_table: string; right_column: string; queries: number; executions: number }
export interface Workload {
  workload_id: string; project_id: string; filename: string; status: string; queries: number; distinct_queries: number;
  unparsed: number; tables: number; suggestions: number; uploaded_at?: string; uploaded_by?: string;
  totals?: Record<string, number>; tables_used?: TableUsage[]; joins?: JoinUsage[];
  top_queries?: { fingerprint: string; text: string; executions: number; total_duration: number; kind?: string; status: string }[];
}
export interface Suggestion {
  id: string; validator: string; table?: string | null; parameters: Record<string, unknown>; reason: string;
  evidence: { queries?: number; executions?: number };
}
export interface ColumnUse { table: string; column: string; executions: number; queries: number; how: string }

const names = (v: Record<string, number> | string[] | undefined) => (Array.isArray(v) ? v : Object.keys(v ?? {}));

/** Columns used in WHERE or HAVING (with their operators; date ranges said), heaviest first. */
export function filters(tables: TableUsage[]): ColumnUse[] {
  return tables.flatMap((t) => (t.columns ?? [])
    .filter((c) => names(c.usages).some((u) => u === "where" || u === "having"))
    .map((c) => ({ table: t.table_name, column: c.column, executions: c.executions, queries: c.queries,
      how: [...names(c.operators), ...(c.date_filter ? ["date range"] : [])].join(", ") })))
    .sort((a, b) => b.executions - a.executions || a.table.localeCompare(b.table));
}

/** Columns aggregated (SUM, AVG, …), with the aggregates used, heaviest first. */
export function measures(tables: TableUsage[]): ColumnUse[] {
  return tables.flatMap((t) => (t.columns ?? [])
    .filter((c) => names(c.usages).includes("aggregate"))
    .map((c) => ({ table: t.table_name, column: c.column, executions: c.executions, queries: c.queries, how: names(c.aggregates).join(", ") })))
    .sort((a, b) => b.executions - a.executions || a.table.localeCompare(b.table));
}

/** A size in words: 2.4 MB, 512 KB, 40 bytes. */
export function size(bytes: number): string {
  if (bytes >= 1_000_000) return `${(bytes / 1_000_000).toFixed(1)} MB`;
  if (bytes >= 1000) return `${Math.round(bytes / 1000)} KB`;
  return `${bytes} bytes`;
}
