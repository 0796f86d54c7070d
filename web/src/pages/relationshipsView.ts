/** The inferred relationships of a side as a Mermaid graph: one node per table (its name and class),
 * one arrow per relationship from the referencing table to the referenced one, labelled with the
 * columns and the confidence. Pure. */

import { mermaidLabel as label } from "../ui/mermaidText";

export interface Evidence { kind: string; confidence: number; detail: string }
export interface Relationship {
  child_table: string; child_columns: string[]; parent_table: string; parent_columns: string[];
  confidence: number; evidence: Evidence[]; role?: string | null; hierarchy?: boolean;
}
export interface TableClass {
  table: string; role: string; confidence: number; surrogate_key?: string[]; business_key?: string[];
  scd2?: { valid_from?: string | null; valid_to?: string | null; current_flag?: string | null; version?: string | null } | null;
  measures?: string[]; date_columns?: string[]; foreign_keys?: string[]; columns?: Record<string, string>;
  fact_kind?: string | null; dimension_kinds?: string[]; evidence?: string[];
}
export interface TableKey {
  table: string; columns: string[]; status: string; by?: string; at?: string; note?: string;
  declared?: string[]; discovered?: string[]; evidence?: Record<string, unknown>;
}

export const percent = (x: number) => `${Math.round(x * 100)}%`;

const STYLES: Record<string, string> = {
  fact: "fill:#fde2c8,stroke:#a34a00", dimension: "fill:#d6e6f7,stroke:#1d4f91",
  bridge: "fill:#e8dcf0,stroke:#7b3fa0", staging: "fill:#eeeeee,stroke:#666666",
};

/** `flowchart LR`: tables with their class, relationships child → parent labelled `columns · confidence`. */
export function relationshipsMermaid(relationships: Relationship[], classes: TableClass[]): string {
  const roles = new Map(classes.map((c) => [c.table.toLowerCase(), c.role]));
  const names = [...new Set(relationships.flatMap((r) => [r.child_table, r.parent_table]))].sort();
  const node = new Map(names.map((n, i) => [n, `t${i}`]));
  const lines = ["flowchart LR"];
  for (const name of names) {
    const role = roles.get(name.toLowerCase());
    lines.push(`    ${node.get(name)}["${label(name)}${role ? `<br/><i>${label(role)}</i>` : ""}"]`);
  }
  for (const r of relationships) {
    const columns = `${r.child_columns.join(", ")} → ${r.parent_columns.join(", ")}`;
    lines.push(`    ${node.get(r.child_table)} -->|"${label(columns)} · ${percent(r.confidence)}"| ${node.get(r.parent_table)}`);
  }
  const used = new Set(names.map((n) => roles.get(n.toLowerCase())).filter((r): r is string => Boolean(r && STYLES[r])));
  for (const role of used) {
    lines.push(`    classDef ${role} ${STYLES[role]}`);
    const members = names.filter((n) => roles.get(n.toLowerCase()) === role).map((n) => node.get(n));
    lines.push(`    class ${members.join(",")} ${role}`);
  }
  return lines.join("\n") + "\n";
}

/** Key columns typed by a person ("a, b") as a list, or null when there are none. */
export function keyColumns(text: string): string[] | null {
  const columns = text.split(",").map((c) => c.trim()).filter(Boolean);
  return columns.length ? columns : null;
}
