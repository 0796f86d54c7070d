/** A project: its setup checklist, automation (followed phase by phase) and schema mappings. */
import { useState, type FormEvent } from "react";
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useParams } from "react-router";
import { Alert, Button, Stack, TextField, Card, CardContent, List, ListItem, ListItemText, Table, TableBody, TableCell, TableHead, TableRow, Typography } from "@mui/material";
import { client, unwrap } from "../api/client";
import { explain } from "../api/errors";
import { canWrite } from "../api/session";
import type { Project } from "../api/types";
import { Loaded, PageTitle } from "../ui/common";
import { TrendsChart, type TrendPoint } from "../ui/TrendsChart";

const SETUP_STEPS: [string, string][] = [
  ["has_source_connection", "Source connection"], ["has_target_connection", "Target connection"],
  ["has_schema_mappings", "Schema mappings"], ["has_metadata", "Metadata extracted"],
  ["has_relationships", "Relationships inferred"], ["has_pipelines", "Pipelines generated"],
  ["automation_completed", "Automation completed"],
];

interface AutomateJob { status: string; phases?: { phase: string }[]; failed_phase?: string; error?: string; summary?: Record<string, unknown> }

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export default function ProjectPage() {
  const projectId = useParams().projectId!;
  const path = { project_id: projectId };
  const queries = useQueryClient();
  const project = useQuery({ queryKey: ["project", projectId], queryFn: () => unwrap<Project>(client.GET("/api/v1/projects/{project_id}", { params: { path } })) });
  const setup = useQuery({ queryKey: ["setup", projectId], queryFn: () => unwrap<Record<string, boolean>>(client.GET("/api/v1/projects/{project_id}/setup-status", { params: { path } })) });
  const schemaMappings = useQuery({ queryKey: ["schema-mappings", projectId], queryFn: () => unwrap<unknown>(client.GET("/api/v1/projects/{project_id}/schema-mappings", { params: { path } })) });
  const trends = useQuery({ queryKey: ["trends", projectId], queryFn: () => unwrap<TrendPoint[]>(client.GET("/api/v1/projects/{project_id}/trends", { params: { path, query: { days: 30 } } })) });
  const [automation, setAutomation] = useState<{ severity: "info" | "success" | "error"; text: string } | null>(null);
  const [busy, setBusy] = useState(false);

  async function automate() {
    setBusy(true);
    setAutomation({ severity: "info", text: "Automating: extracting metadata, suggesting mappings, generating pipelines…" });
    try {
      const started = await unwrap<{ job_id: string }>(client.POST("/api/v1/projects/{project_id}/automate", { params: { path } }));
      let job: AutomateJob = { status: "running" };
      while (job.status === "running") {
        await sleep(1000);
        job = await unwrap<AutomateJob>(client.GET("/api/v1/projects/{project_id}/automate/{job_id}", { params: { path: { project_id: projectId, job_id: started.job_id } } }));
        const done = (job.phases ?? []).map((p) => p.phase).join(", ");
        if (job.status === "running") setAutomation({ severity: "info", text: `Automating… ${done ? `done: ${done}` : "extracting metadata"}` });
      }
      if (job.status !== "completed") {
        setAutomation({ severity: "error", text: `Automation failed${job.failed_phase ? ` in ${job.failed_phase}` : ""}: ${job.error || "unknown error"}` });
      } else {
        const s = job.summary ?? {};
        const pipelines = Array.isArray(s.pipeline_ids) ? s.pipeline_ids.length : 0;
        setAutomation({ severity: "success", text: `Automation finished: ${String(s.suggested ?? 0)} tables matched, ${pipelines} pipelines generated.` });
      }
      await queries.invalidateQueries();
    } catch (e) {
      setAutomation({ severity: "error", text: explain(e) });
    } finally {
      setBusy(false);
    }
  }

  const name = project.data?.name || projectId;
  return (
    <>
      <PageTitle title={name} crumbs={[["Projects", "/projects"], [name]]}
        actions={canWrite() && <Button variant="contained" onClick={automate} disabled={busy}>{busy ? "Automating…" : "Automate"}</Button>} />
      {automation && <Alert severity={automation.severity} role="status" sx={{ mb: 2 }}>{automation.text}</Alert>}
      <Loaded query={project}>{() => <Typography color="text.secondary" sx={{ mb: 2 }}>{project.data!.description || projectId}</Typography>}</Loaded>
      <Card component="section" aria-labelledby="setup-h" sx={{ mb: 2 }}><CardContent>
        <Typography id="setup-h" variant="h6" component="h2">Setup: {setup.data ? (setup.data.complete ? "complete" : "in progress") : "…"}</Typography>
        <Loaded query={setup}>{() => (
          <List dense>{SETUP_STEPS.map(([key, label]) => (
            <ListItem key={key}><ListItemText primary={`${setup.data![key] ? "✔" : "○"} ${label}`} secondary={setup.data![key] ? "done" : "not yet"} /></ListItem>
          ))}</List>
        )}</Loaded>
      </CardContent></Card>
      <Card component="section" aria-labelledby="trend-h" sx={{ mb: 2 }}><CardContent>
        <Typography id="trend-h" variant="h6" component="h2">Quality score, last 30 days</Typography>
        <Loaded query={trends}>{() => <TrendsChart points={trends.data ?? []} />}</Loaded>
      </CardContent></Card>
      <Card component="section" aria-labelledby="sm-h"><CardContent>
        <Typography id="sm-h" variant="h6" component="h2">Schema mappings</Typography>
        <Loaded query={schemaMappings}>{() => {
          const pairs = Object.entries((schemaMappings.data as { schema_mappings?: Record<string, string> } | null)?.schema_mappings ?? {});
          return pairs.length === 0 ? <Typography color="text.secondary">No schema mappings yet.</Typography> : (
            <Table size="small" aria-label="Schema mappings"><TableHead><TableRow><TableCell>Source schema</TableCell><TableCell>Target schema</TableCell></TableRow></TableHead>
              <TableBody>{pairs.map(([s, t]) => <TableRow key={s}><TableCell>{s}</TableCell><TableCell>{t}</TableCell></TableRow>)}</TableBody></Table>
          );
        }}</Loaded>
        {canWrite() && <SchemaMappingForm projectId={projectId} onSaved={() => { void queries.invalidateQueries({ queryKey: ["schema-mappings", projectId] }); void queries.invalidateQueries({ queryKey: ["setup", projectId] }); }} />}
      </CardContent></Card>
    </>
  );
}

/** Map a source schema to a target schema (e.g. dbo -> ANALYTICS): generated pipelines read the target through it. */
function SchemaMappingForm({ projectId, onSaved }: { projectId: string; onSaved: () => void }) {
  const [source, setSource] = useState("");
  const [target, setTarget] = useState("");
  const [problem, setProblem] = useState<string | null>(null);
  async function save(e: FormEvent) {
    e.preventDefault();
    setProblem(null);
    try {
      await unwrap(client.PUT("/api/v1/projects/{project_id}/schema-mappings", {
        params: { path: { project_id: projectId } }, body: { source_schema: source.trim(), target_schema: target.trim() },
      }));
      setSource(""); setTarget(""); onSaved();
    } catch (err) { setProblem(explain(err)); }
  }
  return (
    <Stack component="form" onSubmit={save} direction="row" spacing={1} sx={{ mt: 2, flexWrap: "wrap", alignItems: "center" }} aria-label="Map a schema">
      <TextField size="small" label="Source schema" required value={source} onChange={(e) => setSource(e.target.value)} />
      <TextField size="small" label="Target schema" required value={target} onChange={(e) => setTarget(e.target.value)} />
      <Button type="submit" variant="outlined">Map schema</Button>
      {problem && <Alert severity="error" role="alert">{problem}</Alert>}
    </Stack>
  );
}
