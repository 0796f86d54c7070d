/** Pipeline builder: steps added from the validator library (forms generated from each validator's
 * parameter schema), dependencies chosen among the other steps, the DAG drawn live (Mermaid), the
 * YAML editable both ways (form ⇄ YAML), the server's validation errors shown on the step and field
 * they name, save, run; a custom_query step drafted by the language model from a sentence (kept only
 * when saved). `/projects/:projectId/builder` starts a new pipeline; `/builder/:pipelineId`
 * edits a saved one. */
import { useEffect, useMemo, useState } from "react";
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useNavigate, useParams } from "react-router";
import { Alert, Box, Button, Grid, Stack, Tab, Tabs, TextField, Typography } from "@mui/material";
import { client, unwrap } from "../api/client";
import { ApiError, explain } from "../api/errors";
import { canWrite } from "../api/session";
import type { Pipeline } from "../api/types";
import { Loaded, PageTitle } from "../ui/common";
import { MermaidDiagram } from "../ui/MermaidDiagram";
import {
  findCycle, newStepId, stepTables, parsePipeline, pipelineMermaid, pipelineYaml, placeProblems, removeStep, renameStep,
  type PipelineDoc, type PlacedProblem, type Step,
} from "./pipelineDoc";
import { StepEditor, type ValidatorEntry } from "./builder/StepEditor";
import { StepLibrary } from "./builder/StepLibrary";
import { DraftCheck } from "./builder/DraftCheck";

const NEW_PIPELINE: PipelineDoc = { name: "new pipeline", connections: { source: "${SOURCE_URL}", target: "${TARGET_URL}" }, steps: [] };

export default function BuilderPage() {
  const { projectId = "", pipelineId } = useParams();
  const validators = useQuery({
    queryKey: ["validators"], staleTime: Infinity,
    queryFn: () => unwrap<{ items: ValidatorEntry[] }>(client.GET("/api/v1/validators")),
  });
  const saved = useQuery({
    queryKey: ["pipeline", projectId, pipelineId], enabled: Boolean(pipelineId),
    queryFn: () => unwrap<Pipeline>(client.GET("/api/v1/projects/{project_id}/pipelines/{pipeline_id}", {
      params: { path: { project_id: projectId, pipeline_id: pipelineId! } } })),
  });
  const title = pipelineId ? `Builder: ${saved.data?.name ?? pipelineId}` : "Builder: new pipeline";
  const crumbs: [string, string?][] = [["Projects", "/projects"], [projectId, `/projects/${encodeURIComponent(projectId)}`],
    ["Pipelines", `/projects/${encodeURIComponent(projectId)}/pipelines`], [pipelineId ? saved.data?.name ?? pipelineId : "New"]];
  return (
    <>
      <PageTitle title={title} crumbs={crumbs} />
      <Loaded query={pipelineId ? { isPending: saved.isPending || validators.isPending, error: saved.error ?? validators.error } : validators}>
        {() => <Builder key={pipelineId ?? "new"} projectId={projectId} pipelineId={pipelineId} initialYaml={saved.data?.yaml}
          description={saved.data?.description ?? ""} validators={validators.data!.items} />}
      </Loaded>
    </>
  );
}

interface CatalogTableName { schema_name: string; name: string; columns?: { name: string }[] }

/** A side's tables as the project's catalog knows them (the first 1000), for the table fields'
 * suggestions; none when the side has no catalog yet (the fields still take any name). */
function useCatalogTables(projectId: string, side: "source" | "target"): CatalogTableName[] {
  const found = useQuery({
    queryKey: ["catalog", projectId, side, "builder"], staleTime: 60_000, retry: false,
    queryFn: () => unwrap<{ tables: CatalogTableName[] }>(client.GET("/api/v1/projects/{project_id}/catalog", {
      params: { path: { project_id: projectId }, query: { side, offset: 0, limit: 1000 } } })),
  });
  return found.data?.tables ?? [];
}

/** The suggestions of the step fields (native datalists: typed, chosen by keyboard, any value allowed):
 * each side's tables, and the columns of the step's source table. */
function CatalogLists({ source, target, sourceTable }: { source: CatalogTableName[]; target: CatalogTableName[]; sourceTable: string }) {
  const qualified = (t: CatalogTableName) => `${t.schema_name}.${t.name}`;
  const table = source.find((t) => qualified(t).toLowerCase() === sourceTable.toLowerCase());
  return (
    <>
      <datalist id="tables-source">{source.map((t) => <option key={qualified(t)} value={qualified(t)} />)}</datalist>
      <datalist id="tables-target">{target.map((t) => <option key={qualified(t)} value={qualified(t)} />)}</datalist>
      <datalist id="columns-source">{(table?.columns ?? []).map((c) => <option key={c.name} value={c.name} />)}</datalist>
    </>
  );
}

function Builder({ projectId, pipelineId, initialYaml, description, validators }: {
  projectId: string; pipelineId?: string; initialYaml?: string; description: string; validators: ValidatorEntry[];
}) {
  const navigate = useNavigate();
  const queries = useQueryClient();
  const initial = useMemo(() => (initialYaml ? parsePipeline(initialYaml) : { doc: NEW_PIPELINE }), [initialYaml]);
  const [doc, setDoc] = useState<PipelineDoc>(initial.doc ?? NEW_PIPELINE);
  const [yamlText, setYamlText] = useState(initialYaml ?? pipelineYaml(NEW_PIPELINE));
  const [yamlProblem, setYamlProblem] = useState<string | null>(initial.problem ?? null);
  const [view, setView] = useState<"form" | "yaml">(initial.problem ? "yaml" : "form");
  const [selected, setSelected] = useState(0);
  const [formProblems, setFormProblems] = useState<Record<number, number>>({});
  const [problems, setProblems] = useState<PlacedProblem[]>([]);
  const [note, setNote] = useState<{ ok: boolean; text: string } | null>(null);
  const [dirty, setDirty] = useState(!pipelineId);
  const byName = useMemo(() => new Map(validators.map((v) => [v.name, v])), [validators]);
  const sourceTables = useCatalogTables(projectId, "source");
  const targetTables = useCatalogTables(projectId, "target");
  const cycle = findCycle(doc);
  const blocked = Object.values(formProblems).some((n) => n > 0) || Boolean(yamlProblem) || Boolean(cycle);
  useEffect(() => { if (selected >= doc.steps.length) setSelected(Math.max(0, doc.steps.length - 1)); }, [doc.steps.length, selected]);

  /** A change made in the form: the YAML follows. */
  function edit(next: PipelineDoc) {
    setDoc(next); setYamlText(pipelineYaml(next)); setDirty(true);
  }
  /** A change made in the YAML: the form and the DAG follow while it parses. */
  function editYaml(text: string) {
    setYamlText(text); setDirty(true); setProblems([]); setNote(null);  // the server's answer was about the earlier text
    const parsed = parsePipeline(text);
    setYamlProblem(parsed.problem ?? null);
    if (parsed.doc) { setDoc(parsed.doc); setFormProblems({}); }
  }
  function add(v: ValidatorEntry) {
    const step: Step = { id: newStepId(v.name, doc.steps.map((s) => s.id)), validator: v.name };
    const previous = doc.steps[doc.steps.length - 1];
    if (v.needs_table && previous) {  // most steps check the same table as the one before
      if (previous.table) step.table = previous.table;
      else if (previous.tables) step.tables = { ...previous.tables };
    }
    edit({ ...doc, steps: [...doc.steps, step] });
    setSelected(doc.steps.length);
    setNote({ ok: true, text: `Added step ${step.id}.` });
  }
  /** A step the language model drafted: added like any other, kept only when the pipeline is saved. */
  function addDraft(drafted: Step, model: string) {
    const step: Step = { ...drafted, id: newStepId(drafted.id, doc.steps.map((s) => s.id)) };
    edit({ ...doc, steps: [...doc.steps, step] });
    setSelected(doc.steps.length);
    setNote({ ok: true, text: `Added step ${step.id}, suggested by model ${model}: check its SQL, then save the pipeline to keep it.` });
  }
  async function save() {
    setProblems([]); setNote(null);
    const body = { name: doc.name || "pipeline", yaml: yamlText, description };
    try {
      if (pipelineId) {
        await unwrap(client.PUT("/api/v1/projects/{project_id}/pipelines/{pipeline_id}", {
          params: { path: { project_id: projectId, pipeline_id: pipelineId } }, body: body as never }));
      } else {
        const made = await unwrap<{ pipeline_id: string }>(client.POST("/api/v1/projects/{project_id}/pipelines", {
          params: { path: { project_id: projectId } }, body: body as never }));
        await queries.invalidateQueries({ queryKey: ["pipelines", projectId] });
        navigate(`/projects/${encodeURIComponent(projectId)}/builder/${encodeURIComponent(made.pipeline_id)}`, { replace: true });
        return;
      }
      setDirty(false);
      setNote({ ok: true, text: `Saved ${doc.name}.` });
      await queries.invalidateQueries({ queryKey: ["pipelines", projectId] });
      await queries.invalidateQueries({ queryKey: ["pipeline", projectId, pipelineId] });
    } catch (e) {
      const placed = e instanceof ApiError ? placeProblems(e.details.fields) : [];
      setProblems(placed);
      const first = placed.find((p) => p.step !== undefined);
      if (first?.step !== undefined) setSelected(first.step);
      setNote({ ok: false, text: placed.length ? `Not saved: ${placed.length} problem${placed.length > 1 ? "s" : ""} (shown on the steps).` : explain(e) });
    }
  }
  async function run() {
    try {
      const queued = await unwrap<{ run_id: string }>(client.POST("/api/v1/projects/{project_id}/pipelines/{pipeline_id}/execute", {
        params: { path: { project_id: projectId, pipeline_id: pipelineId! } } }));
      navigate(`/runs/${encodeURIComponent(queued.run_id)}`);
    } catch (e) { setNote({ ok: false, text: explain(e) }); }
  }

  const step = doc.steps[selected];
  const stepProblems = (i: number) => problems.filter((p) => p.step === i);
  const general = problems.filter((p) => p.step === undefined);
  return (
    <>
      <Stack direction="row" spacing={1} sx={{ mb: 2, alignItems: "center", flexWrap: "wrap" }}>
        <TextField label="Pipeline name" size="small" value={doc.name} sx={{ minWidth: 280 }}
          onChange={(e) => edit({ ...doc, name: e.target.value })} />
        {canWrite() && <Button variant="contained" onClick={save} disabled={blocked}>Save pipeline</Button>}
        {canWrite() && pipelineId && <Button variant="outlined" onClick={run} disabled={dirty}>Run</Button>}
        <Typography color="text.secondary">{doc.steps.length} steps{dirty ? " · unsaved changes" : ""}</Typography>
      </Stack>
      {note && <Alert severity={note.ok ? "success" : "error"} role="status" sx={{ mb: 2 }}>{note.text}</Alert>}
      {general.map((p, i) => <Alert key={i} severity="error" sx={{ mb: 1 }}>{p.field}: {p.message}</Alert>)}
      {cycle && <Alert severity="error" sx={{ mb: 1 }}>The dependencies go round in a circle: {cycle.join(" → ")}</Alert>}
      <Grid container spacing={2}>
        <Grid size={{ xs: 12, md: 3 }}>
          <Typography variant="h6" component="h2" gutterBottom>Step library</Typography>
          <StepLibrary validators={validators} onAdd={add} disabled={view === "yaml" && Boolean(yamlProblem)} />
          {canWrite() && <DraftCheck projectId={projectId} onDraft={addDraft} disabled={view === "yaml" && Boolean(yamlProblem)} />}
        </Grid>
        <Grid size={{ xs: 12, md: 5 }}>
          <Tabs value={view} onChange={(_e, v) => setView(v)} aria-label="Edit the pipeline as">
            <Tab value="form" label="Form" id="tab-form" aria-controls="panel-form" disabled={Boolean(yamlProblem)} />
            <Tab value="yaml" label="YAML" id="tab-yaml" aria-controls="panel-yaml" />
          </Tabs>
          {view === "form" ? (
            <Box role="tabpanel" id="panel-form" aria-labelledby="tab-form" sx={{ pt: 2 }}>
              {doc.steps.length === 0 ? <Typography>No steps yet: add one from the library.</Typography> : (
                <Tabs value={Math.min(selected, doc.steps.length - 1)} onChange={(_e, i) => setSelected(i)} variant="scrollable"
                  aria-label="Steps" sx={{ mb: 2, borderBottom: 1, borderColor: "divider" }}>
                  {doc.steps.map((s, i) => <Tab key={i} value={i} label={`${stepProblems(i).length ? "⚠ " : ""}${s.id}`}
                    sx={{ textTransform: "none", ...(stepProblems(i).length ? { color: "error.main" } : {}) }} />)}
                </Tabs>
              )}
              <CatalogLists source={sourceTables} target={targetTables} sourceTable={step ? stepTables(step).source : ""} />
              {step && (
                <StepEditor key={`${selected}:${step.validator}`} step={step} index={selected}
                  otherIds={doc.steps.filter((_s, i) => i !== selected).map((s) => s.id)}
                  validator={byName.get(String(step.validator))} problems={stepProblems(selected)}
                  onChange={(s) => edit({ ...doc, steps: doc.steps.map((x, i) => (i === selected ? s : x)) })}
                  onEdited={(field) => setProblems((all) => all.filter((p) => !(p.step === selected && (p.field === field || p.field.startsWith(`${field}.`) || (field === "table" && p.field.startsWith("tables"))))))}
                  onRename={(to) => edit(renameStep(doc, step.id, to))}
                  onRemove={() => { edit(removeStep(doc, step.id)); setFormProblems({}); setProblems([]); }}
                  onFormProblems={(n) => setFormProblems((f) => ({ ...f, [selected]: n }))} />
              )}
            </Box>
          ) : (
            <Box role="tabpanel" id="panel-yaml" aria-labelledby="tab-yaml" sx={{ pt: 2 }}>
              <TextField label="Pipeline YAML" multiline fullWidth minRows={18} value={yamlText} onChange={(e) => editYaml(e.target.value)}
                error={Boolean(yamlProblem)} helperText={yamlProblem ?? "the form and the diagram follow what you type"}
                sx={{ "& textarea": { fontFamily: "monospace", fontSize: 13 } }} />
            </Box>
          )}
        </Grid>
        <Grid size={{ xs: 12, md: 4 }}>
          <Typography variant="h6" component="h2" gutterBottom>DAG</Typography>
          {doc.steps.length ? <MermaidDiagram source={pipelineMermaid(doc, step?.id)} label={`DAG of ${doc.name}: ${doc.steps.map((s) => s.id).join(", ")}`} />
            : <Typography color="text.secondary">The diagram appears with the first step.</Typography>}
        </Grid>
      </Grid>
    </>
  );
}
