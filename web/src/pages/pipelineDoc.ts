/** A pipeline as the builder edits it: the YAML document as plain data (keys the builder does not
 * know are kept as they are), its steps, the DAG as Mermaid, and the server's field errors placed
 * on the step they name. Pure. */
import { parse, stringify } from "yaml";
import { mermaidLabel } from "../ui/mermaidText";

export type Step = Record<string, unknown> & {
  id: string; validator: string; table?: string; tables?: { source?: string; target?: string };
  parameters?: Record<string, unknown>; depends_on?: string[] | string;
};
export type PipelineDoc = Record<string, unknown> & { name: string; steps: Step[] };

/** The YAML text as a pipeline document, or the reason it is not one (with the line when YAML says it). */
export function parsePipeline(text: string): { doc?: PipelineDoc; problem?: string } {
  let data: unknown;
  try {
    data = parse(text);
  } catch (e) {
    const line = (e as { linePos?: { line: number }[] }).linePos?.[0]?.line;
    const first = String((e as Error).message).split("\n")[0];
    return { problem: line ? `YAML line ${line}: ${first}` : `YAML: ${first}` };
  }
  if (!data || typeof data !== "object" || Array.isArray(data)) return { problem: "a pipeline is a mapping with name and steps" };
  const doc = data as Record<string, unknown>;
  const steps = doc.steps ?? [];
  if (!Array.isArray(steps)) return { problem: "steps: must be a list" };
  const bad = steps.findIndex((s) => !s || typeof s !== "object" || Array.isArray(s) || typeof (s as Step).id !== "string");
  if (bad >= 0) return { problem: `steps[${bad}]: each step is a mapping with an id` };
  return { doc: { ...doc, name: typeof doc.name === "string" ? doc.name : "", steps: steps as Step[] } };
}

/** The document as YAML (key order kept; what `parsePipeline` reads back unchanged). */
export function pipelineYaml(doc: PipelineDoc): string {
  return stringify(doc, { lineWidth: 0 });
}

/** A step's dependencies as a list (YAML allows one name alone). */
export const dependencies = (step: Step): string[] =>
  step.depends_on === undefined ? [] : Array.isArray(step.depends_on) ? step.depends_on.map(String) : [String(step.depends_on)];

/** A step's tables: `table` names both sides; `tables` each (its target defaults to the source's). */
export function stepTables(step: Step): { source: string; target: string } {
  if (typeof step.table === "string") return { source: step.table, target: "" };
  return { source: String(step.tables?.source ?? ""), target: String(step.tables?.target ?? "") };
}

/** The step with these tables: `table` when only a source is given, else `tables`. */
export function withTables(step: Step, source: string, target: string): Step {
  const { table: _t, tables: _ts, ...rest } = step;
  if (!source && !target) return rest as Step;
  if (!target) return { ...rest, table: source } as Step;
  return { ...rest, tables: { source, target } } as Step;
}

/** A fresh step id for a validator, unlike every existing one (`row_hash`, `row_hash_2`, …). */
export function newStepId(validator: string, taken: string[]): string {
  const base = validator.replace(/[^A-Za-z0-9_.-]/g, "_").slice(0, 120) || "step";
  let id = base;
  for (let n = 2; taken.includes(id); n++) id = `${base}_${n}`;
  return id;
}

/** The document with a step renamed: dependencies on it follow. */
export function renameStep(doc: PipelineDoc, from: string, to: string): PipelineDoc {
  return {
    ...doc,
    steps: doc.steps.map((s) => {
      const renamed = s.id === from ? { ...s, id: to } : s;
      const deps = dependencies(renamed);
      return deps.includes(from) ? { ...renamed, depends_on: deps.map((d) => (d === from ? to : d)) } : renamed;
    }),
  };
}

/** The document without a step; steps depending on it no longer do. */
export function removeStep(doc: PipelineDoc, id: string): PipelineDoc {
  return {
    ...doc,
    steps: doc.steps.filter((s) => s.id !== id).map((s) => {
      const deps = dependencies(s);
      if (!deps.includes(id)) return s;
      const rest = deps.filter((d) => d !== id);
      const { depends_on: _d, ...without } = s;
      return (rest.length ? { ...without, depends_on: rest } : without) as Step;
    }),
  };
}

const label = mermaidLabel;

/** The steps' DAG as a Mermaid flowchart, left to right (a node per step: id, validator, source table; an edge per
 * dependency; a dependency on no step drawn as a missing node, so the mistake is seen; the
 * `selected` step highlighted). */
export function pipelineMermaid(doc: PipelineDoc, selected?: string): string {
  const node = new Map(doc.steps.map((s, i) => [s.id, `s${i}`]));
  const lines = ["flowchart LR"];  // steps mostly independent: a column of them fits beside the form
  doc.steps.forEach((s) => {
    const table = stepTables(s).source;
    lines.push(`    ${node.get(s.id)}["${label(s.id)}<br/><i>${label(String(s.validator ?? "?"))}</i>${table ? `<br/>${label(table)}` : ""}"]`);
  });
  let missing = 0;
  doc.steps.forEach((s) => {
    for (const dep of dependencies(s)) {
      let from = node.get(dep);
      if (!from) {
        from = `missing${missing++}`;
        lines.push(`    ${from}["missing step: ${label(dep)}"]`, `    style ${from} stroke-dasharray: 5 5`);
      }
      lines.push(`    ${from} --> ${node.get(s.id)}`);
    }
  });
  if (selected !== undefined && node.has(selected)) {  // the step being edited stands out
    lines.push("    classDef selected fill:#ffe9a8,stroke:#a34a00,stroke-width:2px", `    class ${node.get(selected)} selected`);
  }
  return lines.join("\n") + "\n";
}

/** A dependency cycle among the steps (their ids, in order), or null. */
export function findCycle(doc: PipelineDoc): string[] | null {
  const byId = new Map(doc.steps.map((s) => [s.id, s]));
  const state = new Map<string, "open" | "done">();
  const path: string[] = [];
  const visit = (id: string): string[] | null => {
    if (state.get(id) === "done") return null;
    if (state.get(id) === "open") return [...path.slice(path.indexOf(id)), id];
    state.set(id, "open");
    path.push(id);
    for (const dep of dependencies(byId.get(id)!)) {
      if (byId.has(dep)) { const found = visit(dep); if (found) return found; }
    }
    path.pop();
    state.set(id, "done");
    return null;
  };
  for (const s of doc.steps) { const found = visit(s.id); if (found) return found; }
  return null;
}

export interface PlacedProblem { step?: number; field: string; message: string }

/** The server's `details.fields` ({field: "steps[2].parameters.key", message}) placed on their step
 * (index) and the field inside it (`parameters.key`); the others stay the pipeline's. */
export function placeProblems(fields: { field?: string; message: string }[] | undefined): PlacedProblem[] {
  return (fields ?? []).map((f) => {
    const m = /^steps\[(\d+)\](?:\.(.+))?$/.exec(f.field ?? "");
    return m ? { step: Number(m[1]), field: m[2] ?? "", message: f.message } : { field: f.field ?? "", message: f.message };
  });
}
