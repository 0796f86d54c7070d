/** One step of the pipeline in the builder: its id, tables, dependencies (chosen among the other
 * steps) and its validator's parameters as a generated form; the server's problems with the step
 * shown on the field they name. */
import { useMemo, useState } from "react";
import {
  Alert, Box, Button, Checkbox, ListItemText, MenuItem, Stack, TextField, Typography,
} from "@mui/material";
import { formFields, formParameters, formValues, type FormValues, type JsonSchema } from "../schemaForm";
import { dependencies, stepTables, withTables, type PlacedProblem, type Step } from "../pipelineDoc";
import { ParameterForm } from "./ParameterForm";

export interface ValidatorEntry {
  name: string; category: string; description: string; needs_table: boolean; parameters: JsonSchema; alias_of?: string;
}

export function StepEditor({ step, index, otherIds, validator, problems, onChange, onEdited, onRename, onRemove, onFormProblems }: {
  step: Step; index: number; otherIds: string[]; validator?: ValidatorEntry; problems: PlacedProblem[];
  onChange: (step: Step) => void; onRename: (to: string) => void; onRemove: () => void;
  /** a field of the step was edited: the server's problem with it is no longer current */
  onEdited: (field: string) => void;
  onFormProblems: (count: number) => void;
}) {
  const fields = useMemo(() => formFields(validator?.parameters), [validator]);
  const [values, setValues] = useState<FormValues>(() => formValues(fields, step.parameters));
  const [local, setLocal] = useState<Record<string, string>>({});
  const [id, setId] = useState(step.id);
  const tables = stepTables(step);
  const said = (field: string) => problems.filter((p) => p.field === field || p.field.startsWith(`${field}.`)).map((p) => p.message).join("; ");
  const paramProblems: Record<string, string> = { ...local };
  for (const p of problems) {
    const name = /^parameters\.([^.[]+)/.exec(p.field)?.[1];
    if (name && !paramProblems[name]) paramProblems[name] = p.message;
  }
  const elsewhere = problems.filter((p) => !/^(id|validator|table|tables|depends_on|parameters\.[^.[]+)/.test(p.field));
  const prefix = `step${index}`;

  function changeParameter(name: string, text: string) {
    const next = { ...values, [name]: text };
    setValues(next);
    onEdited(`parameters.${name}`);
    const { parameters, problems: found } = formParameters(fields, next, step.parameters ?? {});
    setLocal(Object.fromEntries(Object.entries(found).filter(([k]) => next[k] !== "" || found[k] !== "required")));
    onFormProblems(Object.keys(found).filter((k) => found[k] !== "required").length);
    const { parameters: _p, ...rest } = step;
    onChange((Object.keys(parameters).length ? { ...rest, parameters } : rest) as Step);
  }
  function changeDependencies(chosen: string[]) {
    onEdited("depends_on");
    const { depends_on: _d, ...rest } = step;
    onChange((chosen.length ? { ...rest, depends_on: chosen } : rest) as Step);
  }
  const idProblem = !/^[A-Za-z0-9_.-]{1,128}$/.test(id) ? "1-128 letters, digits, '_', '-' or '.'"
    : otherIds.includes(id) ? "another step has this id" : "";

  return (
    <Box component="section" aria-labelledby={`${prefix}-h`} sx={{ border: 1, borderColor: "divider", borderRadius: 1, p: 2 }}>
      <Stack direction="row" sx={{ alignItems: "center", mb: 1 }}>
        <Typography id={`${prefix}-h`} variant="h6" component="h3" sx={{ flexGrow: 1 }}>
          Step {step.id} <Typography component="span" color="text.secondary">({String(step.validator)})</Typography>
        </Typography>
        <Button color="error" onClick={onRemove} aria-label={`Remove step ${step.id}`}>Remove</Button>
      </Stack>
      {validator ? <Typography color="text.secondary" sx={{ mb: 2 }}>{validator.description}</Typography>
        : <Alert severity="warning" sx={{ mb: 2 }}>Unknown validator {String(step.validator)}: its parameters cannot be shown as a form (edit them in YAML).</Alert>}
      {elsewhere.map((p, i) => <Alert key={i} severity="error" sx={{ mb: 1 }}>{p.field ? `${p.field}: ` : ""}{p.message}</Alert>)}
      <Stack spacing={2}>
        <TextField id={`${prefix}-id`} label="Step id" size="small" required value={id}
          error={Boolean(idProblem || said("id"))} helperText={idProblem || said("id") || undefined}
          onChange={(e) => setId(e.target.value)}
          onBlur={() => { if (!idProblem && id !== step.id) onRename(id); }} />
        {(validator?.needs_table ?? true) && (
          <Stack direction={{ xs: "column", md: "row" }} spacing={2}>
            <TextField id={`${prefix}-source`} label="Source table" size="small" fullWidth required value={tables.source}
              placeholder="schema.table" slotProps={{ htmlInput: { list: "tables-source" } }} error={Boolean(said("table") || said("tables"))} helperText={said("table") || said("tables") || undefined}
              onChange={(e) => { onEdited("table"); onChange(withTables(step, e.target.value, tables.target)); }} />
            <TextField id={`${prefix}-target`} label="Target table" size="small" fullWidth value={tables.target}
              placeholder="the source's name when empty" slotProps={{ htmlInput: { list: "tables-target" } }} onChange={(e) => onChange(withTables(step, tables.source, e.target.value))} />
          </Stack>
        )}
        <TextField id={`${prefix}-deps`} select label="Depends on" size="small" value={dependencies(step)}
          error={Boolean(said("depends_on"))} helperText={said("depends_on") || (otherIds.length ? "runs after these steps" : "no other step yet")}
          slotProps={{ select: { multiple: true, renderValue: (v) => (v as string[]).join(", ") } }}
          onChange={(e) => changeDependencies(e.target.value as unknown as string[])}>
          {otherIds.map((o) => (
            <MenuItem key={o} value={o}>
              <Checkbox checked={dependencies(step).includes(o)} tabIndex={-1} slotProps={{ input: { "aria-hidden": true } }} />
              <ListItemText primary={o} />
            </MenuItem>
          ))}
        </TextField>
        <ParameterForm fields={fields} values={values} problems={paramProblems} idPrefix={`${prefix}-p`} onChange={changeParameter}
          textList="columns-source" />
      </Stack>
    </Box>
  );
}
