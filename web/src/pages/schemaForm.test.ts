import { describe, expect, it } from "vitest";
import { fieldValue, formFields, formParameters, formValues, type JsonSchema } from "./schemaForm";

// pydantic's model_json_schema() of two validators' parameters, as GET /validators answers them
const ROW_HASH: JsonSchema = {
  additionalProperties: false, title: "Params", type: "object",
  properties: {
    key: { anyOf: [{ items: { type: "string" }, type: "array" }, { type: "null" }], default: null, description: "key columns", title: "Key" },
    discover_key: { default: true, title: "Discover Key", type: "boolean" },
    exclude_columns: { items: { type: "string" }, title: "Exclude Columns", type: "array" },
    float_digits: { default: 6, maximum: 15, minimum: 1, title: "Float Digits", type: "integer" },
    float_absolute: { anyOf: [{ maximum: 1000000.0, minimum: 0, type: "number" }, { type: "null" }], default: null, title: "Float Absolute" },
    output: { anyOf: [{ type: "string" }, { type: "null" }], default: null, title: "Output" },
  },
};
const DISTRIBUTION: JsonSchema = {
  type: "object", required: ["column"],
  properties: {
    column: { title: "Column", type: "string" },
    kind: { default: "auto", enum: ["auto", "categorical", "numeric"], type: "string" },
    alpha: { default: 0.01, exclusiveMaximum: 1, exclusiveMinimum: 0, type: "number" },
    figures: { items: { enum: ["min", "max", "mean"], type: "string" }, type: "array" },
    grain: { $ref: "#/$defs/Grain" },
    tables: { additionalProperties: { $ref: "#/$defs/Covered" }, type: "object" },
    unknown_member: {},
  },
  $defs: { Grain: { enum: ["day", "month"], type: "string", title: "Grain" }, Covered: { type: "object" } },
};

describe("forms generated from a parameter JSON Schema", () => {
  it("gives each property a field of its kind, required ones marked, defaults and bounds kept", () => {
    const fields = formFields(ROW_HASH);
    expect(fields.map((f) => [f.name, f.kind, f.required])).toEqual([
      ["key", "list", false], ["discover_key", "boolean", false], ["exclude_columns", "list", false],
      ["float_digits", "integer", false], ["float_absolute", "number", false], ["output", "text", false],
    ]);
    const digits = fields.find((f) => f.name === "float_digits")!;
    expect([digits.label, digits.defaultValue, digits.minimum, digits.maximum]).toEqual(["Float digits", 6, 1, 15]);
    expect(fields[0].description).toBe("key columns");
  });

  it("offers an enum's values (a $ref to one too), lists of enums, and JSON for anything deeper", () => {
    const byName = Object.fromEntries(formFields(DISTRIBUTION).map((f) => [f.name, f]));
    expect(byName.column.required).toBe(true);
    expect(byName.kind).toMatchObject({ kind: "enum", options: ["auto", "categorical", "numeric"], defaultValue: "auto" });
    expect(byName.grain).toMatchObject({ kind: "enum", options: ["day", "month"] });
    expect(byName.figures).toMatchObject({ kind: "list", options: ["min", "max", "mean"] });
    expect(byName.tables.kind).toBe("json");
    expect(byName.unknown_member.kind).toBe("json");
  });

  it("says what is wrong with a value: not a number, out of bounds (exclusive ones too), not an option", () => {
    const byName = Object.fromEntries([...formFields(ROW_HASH), ...formFields(DISTRIBUTION)].map((f) => [f.name, f]));
    expect(fieldValue(byName.float_digits, "six").problem).toBe('"six" is not a number');
    expect(fieldValue(byName.float_digits, "2.5").problem).toBe('"2.5" is not a whole number');
    expect(fieldValue(byName.float_digits, "16").problem).toBe("must be at most 15");
    expect(fieldValue(byName.alpha, "1").problem).toBe("must be less than 1");
    expect(fieldValue(byName.alpha, "0.05").value).toBe(0.05);
    expect(fieldValue(byName.figures, "min, median").problem).toBe("median: not one of min, max, mean");
    expect(fieldValue(byName.tables, "{oops").problem).toBe("not valid JSON");
    const { problems } = formParameters(formFields(DISTRIBUTION), { column: "", kind: "auto" });
    expect(problems).toEqual({ column: "required" });
  });

  it("turns parameters into the form and back unchanged, leaving empty fields to the defaults", () => {
    const fields = formFields(ROW_HASH);
    const parameters = { key: ["order_id", "line"], discover_key: false, exclude_columns: ["a,b", "c"], float_digits: 9, output: "diff.csv" };
    const values = formValues(fields, parameters);
    expect(values).toMatchObject({ key: "order_id, line", discover_key: "false", exclude_columns: '["a,b","c"]', float_digits: "9", float_absolute: "" });
    expect(formParameters(fields, values)).toEqual({ parameters, problems: {} });
    // an edit in the form: one field changed, one cleared (its default applies), an unknown parameter kept
    const edited = formParameters(fields, { ...values, float_digits: "12", output: "" }, { ...parameters, legacy: 1 });
    expect(edited.parameters).toEqual({ legacy: 1, key: ["order_id", "line"], discover_key: false, exclude_columns: ["a,b", "c"], float_digits: 12 });
  });
});
