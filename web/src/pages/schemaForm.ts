/** Forms generated from a validator's parameter JSON Schema (pydantic's `model_json_schema()`):
 * one field per property, its kind read from the schema (text, integer, number, yes/no, a choice
 * among an enum's values, a list, or JSON for anything deeper), required marks from `required`.
 * Pure: turns parameters into the form's text values and back, so the YAML and the form agree. */

export type JsonSchema = {
  type?: string | string[]; enum?: unknown[]; const?: unknown; items?: JsonSchema; anyOf?: JsonSchema[];
  oneOf?: JsonSchema[]; allOf?: JsonSchema[]; $ref?: string; $defs?: Record<string, JsonSchema>;
  properties?: Record<string, JsonSchema>; required?: string[]; default?: unknown; description?: string;
  title?: string; minimum?: number; maximum?: number; exclusiveMinimum?: number; exclusiveMaximum?: number;
  minLength?: number; minItems?: number; additionalProperties?: boolean | JsonSchema;
};

export type FieldKind = "text" | "integer" | "number" | "boolean" | "enum" | "list" | "json";

export interface FormField {
  name: string;
  label: string;
  kind: FieldKind;
  required: boolean;
  description?: string;
  /** the schema's default, said next to the field (an empty field means "the default") */
  defaultValue?: unknown;
  /** enum: the values offered; list: what each item is */
  options?: string[];
  itemKind?: "text" | "integer" | "number";
  minimum?: number;
  maximum?: number;
  /** the bounds themselves are not allowed (JSON Schema's exclusiveMinimum / exclusiveMaximum) */
  exclusive?: { minimum?: boolean; maximum?: boolean };
}

/** The form's state: one text per field (a yes/no field is "", "true" or "false"). */
export type FormValues = Record<string, string>;

function resolve(schema: JsonSchema, root: JsonSchema): JsonSchema {
  let s = schema;
  for (let hops = 0; s.$ref && hops < 10; hops++) {
    const name = s.$ref.replace(/^#\/\$defs\//, "");
    const target = root.$defs?.[name];
    if (!target) break;
    const { $ref: _ignored, ...rest } = s;
    s = { ...target, ...rest };
  }
  if (s.allOf?.length === 1) s = { ...resolve(s.allOf[0], root), ...s, allOf: undefined };
  return s;
}

/** The schema without its `null` alternative (`X | None` in pydantic is `anyOf: [X, {type: null}]`). */
function nonNull(schema: JsonSchema, root: JsonSchema): JsonSchema {
  const s = resolve(schema, root);
  const alternatives = s.anyOf ?? s.oneOf;
  if (alternatives) {
    const rest = alternatives.filter((a) => a.type !== "null");
    if (rest.length === 1) return { ...resolve(rest[0], root), default: s.default, description: s.description ?? rest[0].description, title: s.title };
  }
  if (Array.isArray(s.type)) {
    const rest = s.type.filter((t) => t !== "null");
    if (rest.length === 1) return { ...s, type: rest[0] };
  }
  return s;
}

const scalar = (s: JsonSchema): "text" | "integer" | "number" | null =>
  s.type === "string" && !s.enum ? "text" : s.type === "integer" ? "integer" : s.type === "number" ? "number" : null;

function kindOf(s: JsonSchema, root: JsonSchema): Pick<FormField, "kind" | "options" | "itemKind"> {
  if (s.enum && s.enum.every((v) => typeof v === "string")) return { kind: "enum", options: s.enum as string[] };
  if (typeof s.const === "string") return { kind: "enum", options: [s.const] };
  if (s.type === "boolean") return { kind: "boolean" };
  if (s.type === "integer") return { kind: "integer" };
  if (s.type === "number") return { kind: "number" };
  if (s.type === "string") return { kind: "text" };
  if (s.type === "array" && s.items) {
    const items = nonNull(s.items, root);
    const item = scalar(items);
    if (item) return { kind: "list", itemKind: item };
    if (items.enum?.every((v) => typeof v === "string")) return { kind: "list", itemKind: "text", options: items.enum as string[] };
  }
  return { kind: "json" };
}

const words = (name: string) => name.replace(/_/g, " ").replace(/^./, (c) => c.toUpperCase());

/** The form of a parameter schema: one field per property, in the schema's order. */
export function formFields(schema: JsonSchema | null | undefined): FormField[] {
  if (!schema) return [];
  const root = schema;
  const top = resolve(schema, root);
  const required = new Set(top.required ?? []);
  return Object.entries(top.properties ?? {}).map(([name, raw]) => {
    const s = nonNull(raw, root);
    const minimum = s.minimum ?? s.exclusiveMinimum;
    const maximum = s.maximum ?? s.exclusiveMaximum;
    const exclusive = { minimum: s.minimum === undefined && s.exclusiveMinimum !== undefined,
      maximum: s.maximum === undefined && s.exclusiveMaximum !== undefined };
    return {
      name, label: words(name), required: required.has(name), description: s.description ?? raw.description,
      defaultValue: raw.default ?? s.default, ...kindOf(s, root),
      ...(minimum !== undefined ? { minimum } : {}), ...(maximum !== undefined ? { maximum } : {}),
      ...(exclusive.minimum || exclusive.maximum ? { exclusive } : {}),
    };
  });
}

const needsJson = (items: unknown[]) => items.some((v) => typeof v === "string" && (v.includes(",") || v !== v.trim() || v === ""));

/** The text a field shows for a parameter's value (absent: empty, meaning the schema's default). */
export function fieldText(field: FormField, value: unknown): string {
  if (value === undefined) return "";
  if (field.kind === "boolean") return value === true ? "true" : value === false ? "false" : JSON.stringify(value);
  if (field.kind === "list" && Array.isArray(value)) return needsJson(value) ? JSON.stringify(value) : value.join(", ");
  if (field.kind === "json" || typeof value === "object") return JSON.stringify(value);
  return String(value);
}

/** The form's values for these parameters (a parameter the schema does not name is left out). */
export function formValues(fields: FormField[], parameters: Record<string, unknown> | null | undefined): FormValues {
  const values: FormValues = {};
  for (const f of fields) values[f.name] = fieldText(f, parameters?.[f.name]);
  return values;
}

function parseNumber(text: string, integer: boolean): number | string {
  const n = Number(text);
  if (text.trim() === "" || !Number.isFinite(n)) return `"${text}" is not a number`;
  if (integer && !Number.isInteger(n)) return `"${text}" is not a whole number`;
  return n;
}

/** One field's text as a parameter value, or the problem with it. */
export function fieldValue(field: FormField, text: string): { value?: unknown; problem?: string } {
  const t = text.trim();
  switch (field.kind) {
    case "boolean":
      return t === "true" ? { value: true } : t === "false" ? { value: false } : { problem: "choose yes or no" };
    case "integer":
    case "number": {
      const n = parseNumber(t, field.kind === "integer");
      if (typeof n === "string") return { problem: n };
      const { minimum: lo, maximum: hi, exclusive } = field;
      if (lo !== undefined && (exclusive?.minimum ? n <= lo : n < lo)) return { problem: `must be ${exclusive?.minimum ? "more than" : "at least"} ${lo}` };
      if (hi !== undefined && (exclusive?.maximum ? n >= hi : n > hi)) return { problem: `must be ${exclusive?.maximum ? "less than" : "at most"} ${hi}` };
      return { value: n };
    }
    case "enum":
      return field.options?.includes(t) ? { value: t } : { problem: `one of ${field.options?.join(", ")}` };
    case "list": {
      let items: unknown[];
      if (t.startsWith("[")) {
        try { items = JSON.parse(t) as unknown[]; } catch { return { problem: "not a JSON list" }; }
        if (!Array.isArray(items)) return { problem: "not a JSON list" };
      } else {
        items = t.split(",").map((s) => s.trim()).filter((s) => s !== "");
      }
      if (field.itemKind === "integer" || field.itemKind === "number") {
        const numbers = items.map((i) => (typeof i === "number" ? i : parseNumber(String(i), field.itemKind === "integer")));
        const bad = numbers.find((n) => typeof n === "string");
        return bad !== undefined ? { problem: String(bad) } : { value: numbers };
      }
      const texts = items.map(String);
      const unknown = field.options ? texts.filter((t) => !field.options!.includes(t)) : [];
      return unknown.length ? { problem: `${unknown.join(", ")}: not one of ${field.options!.join(", ")}` } : { value: texts };
    }
    case "json":
      try { return { value: JSON.parse(t) }; } catch { return { problem: "not valid JSON" }; }
    default:
      return { value: text };
  }
}

/** The parameters the form says: empty optional fields left out (the validator's default applies),
 * parameters the schema does not know kept from `previous`, and each field's problem by name. */
export function formParameters(
  fields: FormField[], values: FormValues, previous: Record<string, unknown> = {},
): { parameters: Record<string, unknown>; problems: Record<string, string> } {
  const known = new Set(fields.map((f) => f.name));
  const parameters: Record<string, unknown> = Object.fromEntries(Object.entries(previous).filter(([k]) => !known.has(k)));
  const problems: Record<string, string> = {};
  for (const f of fields) {
    const text = values[f.name] ?? "";
    if (text.trim() === "" && !(f.kind === "text" && text !== "")) {
      if (f.required) problems[f.name] = "required";
      continue;
    }
    const { value, problem } = fieldValue(f, text);
    if (problem) problems[f.name] = problem;
    else parameters[f.name] = value;
  }
  return { parameters, problems };
}
