/** The catalog browser's view of a side's catalog (pure): a column's full type and its key marks. */

export interface CatalogColumn {
  name: string; data_type: string; ordinal: number; nullable?: boolean; length?: number | null; precision?: number | null; scale?: number | null;
  description?: string; description_by?: { suggested_by?: string | null; model?: string | null; approved_by?: string | null };
  description_draft?: { text: string; model: string; suggested_by: string };
}
export interface CatalogTable {
  schema_name: string; name: string; kind?: string; row_count?: number | null; columns?: CatalogColumn[]; primary_key?: string[];
  foreign_keys?: { name?: string | null; columns: string[]; ref_schema: string; ref_table: string; ref_columns: string[] }[];
  unique_constraints?: string[][];
}

/** `varchar(40)`, `varchar(max)`, `numeric(12,2)`, `numeric(12)`, `int`. */
export function typeText(c: CatalogColumn): string {
  if (c.length !== null && c.length !== undefined) return `${c.data_type}(${c.length === -1 ? "max" : c.length})`;
  if (c.precision !== null && c.precision !== undefined) return c.scale !== null && c.scale !== undefined ? `${c.data_type}(${c.precision},${c.scale})` : `${c.data_type}(${c.precision})`;
  return c.data_type;
}

/** The keys a column takes part in: "PK", "FK → schema.table(column)", "unique". */
export function keyMarks(t: CatalogTable, column: string): string[] {
  const marks: string[] = [];
  if ((t.primary_key ?? []).includes(column)) marks.push("PK");
  for (const fk of t.foreign_keys ?? []) {
    const i = fk.columns.indexOf(column);
    if (i >= 0) marks.push(`FK → ${fk.ref_schema}.${fk.ref_table}(${fk.ref_columns[i] ?? fk.ref_columns.join(", ")})`);
  }
  if ((t.unique_constraints ?? []).some((u) => u.includes(column))) marks.push("unique");
  return marks;
}
