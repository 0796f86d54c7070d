/** A validator's parameters as a form generated from their JSON Schema (schemaForm.ts): text and
 * number fields, selects for enums and yes/no, comma-separated lists, JSON for deeper values;
 * required fields marked; a field's problem (the form's own, or the server's 422) said under it. */
import { MenuItem, Stack, TextField } from "@mui/material";
import type { FormField, FormValues } from "../schemaForm";

const shown = (v: unknown) => (typeof v === "string" ? v : JSON.stringify(v));

function helper(field: FormField, problem?: string): string | undefined {
  if (problem) return problem;
  const parts = [field.description, field.defaultValue !== undefined && field.defaultValue !== null ? `default: ${shown(field.defaultValue)}` : "",
    field.kind === "list" ? `comma separated${field.options ? `: ${field.options.join(", ")}` : ""}` : field.kind === "json" ? "JSON" : ""].filter(Boolean);
  return parts.join(" · ") || undefined;
}

export function ParameterForm({ fields, values, problems, idPrefix, onChange, textList }: {
  fields: FormField[]; values: FormValues; problems: Record<string, string>; idPrefix: string;
  onChange: (name: string, text: string) => void;
  /** a datalist suggesting values of the text fields (the step's source columns) */
  textList?: string;
}) {
  if (!fields.length) return null;
  return (
    <Stack spacing={2} role="group" aria-label="Parameters">
      {fields.map((f) => {
        const common = {
          id: `${idPrefix}-${f.name}`, label: f.label, required: f.required, fullWidth: true, size: "small" as const,
          value: values[f.name] ?? "", error: Boolean(problems[f.name]), helperText: helper(f, problems[f.name]),
          onChange: (e: { target: { value: string } }) => onChange(f.name, e.target.value),
        };
        if (f.kind === "enum" || f.kind === "boolean") {
          const options = f.kind === "boolean" ? ["true", "false"] : f.options ?? [];
          return (
            <TextField key={f.name} select {...common}>
              <MenuItem value=""><em>{f.required ? "choose" : "default"}</em></MenuItem>
              {options.map((o) => <MenuItem key={o} value={o}>{f.kind === "boolean" ? (o === "true" ? "yes" : "no") : o}</MenuItem>)}
            </TextField>
          );
        }
        if (f.kind === "json") return <TextField key={f.name} multiline minRows={2} {...common} sx={{ "& textarea": { fontFamily: "monospace" } }} />;
        return <TextField key={f.name} {...common}
          slotProps={{ htmlInput: { inputMode: f.kind === "integer" || f.kind === "number" ? "decimal" : undefined,
            list: f.kind === "text" ? textList : undefined } }} />;
      })}
    </Stack>
  );
}
