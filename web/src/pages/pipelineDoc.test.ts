import { describe, expect, it } from "vitest";
import {
  dependencies, findCycle, newStepId, parsePipeline, pipelineMermaid, pipelineYaml, placeProblems, removeStep, renameStep,
  withTables, type PipelineDoc,
} from "./pipelineDoc";
import { formFields, formParameters, formValues, type JsonSchema } from "./schemaForm";

const YAML = `name: orders
connections:
  source: \${SOURCE_URL}
  target: \${TARGET_URL}
defaults:
  severity: warning
steps:
  - id: counts
    validator: record_counts
    table: sales.orders
  - id: rows
    validator: row_hash
    tables:
      source: sales.orders
      target: SALES.ORDERS
    parameters:
      key:
        - order_id
      float_digits: 9
    depends_on: counts
`;
const ROW_HASH: JsonSchema = {
  type: "object",
  properties: {
    key: { anyOf: [{ items: { type: "string" }, type: "array" }, { type: "null" }], default: null },
    float_digits: { default: 6, maximum: 15, minimum: 1, type: "integer" },
    trim_strings: { default: false, type: "boolean" },
  },
};

describe("the pipeline document: YAML ⇄ form", () => {
  it("reads YAML and writes it back unchanged when nothing was edited", () => {
    const { doc, problem } = parsePipeline(YAML);
    expect(problem).toBeUndefined();
    expect(doc!.steps.map((s) => s.id)).toEqual(["counts", "rows"]);
    expect(dependencies(doc!.steps[1])).toEqual(["counts"]);
    expect(parsePipeline(pipelineYaml(doc!)).doc).toEqual(doc);
    expect(pipelineYaml(doc!)).toBe(YAML);
  });

  it("round trips a step's parameters through its generated form, and a form edit shows in the YAML", () => {
    const doc = parsePipeline(YAML).doc!;
    const fields = formFields(ROW_HASH);
    const rows = doc.steps[1];
    const values = formValues(fields, rows.parameters);
    expect(values).toEqual({ key: "order_id", float_digits: "9", trim_strings: "" });
    expect(formParameters(fields, values, rows.parameters).parameters).toEqual(rows.parameters);

    const { parameters } = formParameters(fields, { ...values, key: "order_id, line_no", trim_strings: "true" }, rows.parameters);
    const edited: PipelineDoc = { ...doc, steps: [doc.steps[0], { ...rows, parameters }] };
    const text = pipelineYaml(edited);
    expect(text).toContain("key:\n        - order_id\n        - line_no\n");
    expect(text).toContain("trim_strings: true");
    expect(text).toContain("defaults:\n  severity: warning"); // what the builder does not edit is kept
    expect(parsePipeline(text).doc!.steps[1].parameters).toEqual({ key: ["order_id", "line_no"], float_digits: 9, trim_strings: true });
  });

  it("says why text is not a pipeline, with the YAML line", () => {
    expect(parsePipeline("name: x\nsteps:\n  - id: a\n   validator: b\n").problem).toMatch(/^YAML line 4:/);
    expect(parsePipeline("- a\n- b\n").problem).toBe("a pipeline is a mapping with name and steps");
    expect(parsePipeline("name: x\nsteps:\n  - validator: b\n").problem).toBe("steps[0]: each step is a mapping with an id");
  });

  it("edits steps: new ids, renames followed by dependencies, removal, tables, cycles", () => {
    const doc = parsePipeline(YAML).doc!;
    expect(newStepId("row_hash", ["row_hash", "row_hash_2"])).toBe("row_hash_3");
    expect(dependencies(renameStep(doc, "counts", "count_rows").steps[1])).toEqual(["count_rows"]);
    const removed = removeStep(doc, "counts");
    expect(removed.steps).toHaveLength(1);
    expect("depends_on" in removed.steps[0]).toBe(false);
    expect(withTables(doc.steps[0], "sales.orders", "")).toMatchObject({ table: "sales.orders" });
    expect(withTables(doc.steps[0], "sales.orders", "S.O")).toMatchObject({ tables: { source: "sales.orders", target: "S.O" } });
    expect(findCycle(doc)).toBeNull();
    const circular = { ...doc, steps: [{ ...doc.steps[0], depends_on: ["rows"] }, doc.steps[1]] };
    expect(findCycle(circular)).toEqual(["counts", "rows", "counts"]);
  });

  it("draws the DAG: a node per step, an edge per dependency, a missing dependency shown", () => {
    const doc = parsePipeline(YAML).doc!;
    const graph = pipelineMermaid(doc);
    expect(graph).toContain('s0["counts<br/><i>record_counts</i><br/>sales.orders"]');
    expect(graph).toContain("s0 --> s1");
    const broken = { ...doc, steps: [doc.steps[0], { ...doc.steps[1], depends_on: ["nowhere"] }] };
    expect(pipelineMermaid(broken)).toContain('missing0["missing step: nowhere"]');
    expect(pipelineMermaid(doc, "rows")).toContain("    class s1 selected\n");
    expect(graph).not.toContain("selected");
  });

  it("places the server's 422 fields on their step and field", () => {
    expect(placeProblems([
      { field: "steps[1].parameters.key", message: "step 'rows': field required" },
      { field: "steps[0]", message: "bad" }, { field: "name", message: "too short" },
    ])).toEqual([
      { step: 1, field: "parameters.key", message: "step 'rows': field required" },
      { step: 0, field: "", message: "bad" }, { field: "name", message: "too short" },
    ]);
  });
});
