/** Pipelines of a project: the DAG drawn (Mermaid), the YAML edited and saved, run one, or run
 * several as a batch. */
import { useState } from "react";
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { Link as RouterLink, useNavigate, useParams } from "react-router";
import {
  Alert, Button, Card, CardActions, CardContent, Checkbox, FormControlLabel, Stack, TextField, Typography,
} from "@mui/material";
import { client, unwrap } from "../api/client";
import { explain } from "../api/errors";
import { canWrite } from "../api/session";
import type { Pipeline } from "../api/types";
import { Loaded, PageTitle } from "../ui/common";
import { MermaidDiagram } from "../ui/MermaidDiagram";

export default function PipelinesPage() {
  const projectId = useParams().projectId!;
  const navigate = useNavigate();
  const pipelines = useQuery({
    queryKey: ["pipelines", projectId],
    queryFn: () => unwrap<{ items: Pipeline[] }>(client.GET("/api/v1/projects/{project_id}/pipelines", { params: { path: { project_id: projectId } } })),
  });
  const [chosen, setChosen] = useState<Set<string>>(new Set());
  const [problem, setProblem] = useState<string | null>(null);
  async function runBatch() {
    try {
      const batch = await unwrap<{ batch_id: string }>(client.POST("/api/v1/batches", {
        body: { name: `${projectId} batch`, pipelines: [...chosen].map((pipeline_id) => ({ project_id: projectId, pipeline_id })) } as never,
      }));
      await unwrap(client.POST("/api/v1/batches/{batch_id}/execute", { params: { path: { batch_id: batch.batch_id } } }));
      navigate(`/projects/${encodeURIComponent(projectId)}/runs?batch=${encodeURIComponent(batch.batch_id)}`);
    } catch (e) { setProblem(explain(e)); }
  }
  return (
    <>
      <PageTitle title="Pipelines" crumbs={[["Projects", "/projects"], [projectId, `/projects/${encodeURIComponent(projectId)}`], ["Pipelines"]]}
        actions={canWrite() && <>
          <Button component={RouterLink} to={`/projects/${encodeURIComponent(projectId)}/builder`}>New pipeline</Button>
          <Button variant="contained" disabled={!chosen.size} onClick={runBatch}>Run {chosen.size || ""} as a batch</Button>
        </>} />
      {problem && <Alert severity="error" role="alert" sx={{ mb: 2 }}>{problem}</Alert>}
      <Loaded query={pipelines}>{() => pipelines.data!.items.length === 0
        ? <Typography>No pipelines yet: automate the project first.</Typography>
        : (
          <Stack spacing={2}>{pipelines.data!.items.map((p) => (
            <PipelineCard key={p.pipeline_id} projectId={projectId} pipeline={p} chosen={chosen.has(p.pipeline_id)}
              onChoose={(on) => setChosen((s) => { const n = new Set(s); if (on) n.add(p.pipeline_id); else n.delete(p.pipeline_id); return n; })} />
          ))}</Stack>
        )}</Loaded>
    </>
  );
}

function PipelineCard({ projectId, pipeline, chosen, onChoose }: { projectId: string; pipeline: Pipeline; chosen: boolean; onChoose: (on: boolean) => void }) {
  const navigate = useNavigate();
  const queries = useQueryClient();
  const path = { project_id: projectId, pipeline_id: pipeline.pipeline_id };
  const [showing, setShowing] = useState<"none" | "diagram" | "yaml">("none");
  const [yaml, setYaml] = useState<string | null>(null);
  const [note, setNote] = useState<{ ok: boolean; text: string } | null>(null);
  const diagram = useQuery({
    queryKey: ["mermaid", projectId, pipeline.pipeline_id],
    enabled: showing === "diagram",
    queryFn: () => unwrap<string>(client.GET("/api/v1/projects/{project_id}/pipelines/{pipeline_id}/mermaid", { params: { path }, parseAs: "text" })),
  });
  const detail = useQuery({
    queryKey: ["pipeline", projectId, pipeline.pipeline_id],
    enabled: showing === "yaml",
    queryFn: () => unwrap<Pipeline>(client.GET("/api/v1/projects/{project_id}/pipelines/{pipeline_id}", { params: { path } })),
  });
  async function save() {
    try {
      await unwrap(client.PUT("/api/v1/projects/{project_id}/pipelines/{pipeline_id}", { params: { path }, body: { name: pipeline.name, yaml: yaml ?? detail.data?.yaml ?? "" } as never }));
      setNote({ ok: true, text: "Saved." });
      await queries.invalidateQueries({ queryKey: ["mermaid", projectId, pipeline.pipeline_id] });
    } catch (e) { setNote({ ok: false, text: explain(e) }); }
  }
  async function run() {
    try {
      const queued = await unwrap<{ run_id: string }>(client.POST("/api/v1/projects/{project_id}/pipelines/{pipeline_id}/execute", { params: { path } }));
      navigate(`/runs/${encodeURIComponent(queued.run_id)}`);
    } catch (e) { setNote({ ok: false, text: explain(e) }); }
  }
  return (
    <Card component="article" aria-label={`Pipeline ${pipeline.name}`}>
      <CardContent>
        <Typography variant="h6" component="h2">{pipeline.name}</Typography>
        <Typography color="text.secondary">{pipeline.description || pipeline.pipeline_id}</Typography>
        {note && <Alert severity={note.ok ? "success" : "error"} role="status" sx={{ mt: 1 }}>{note.text}</Alert>}
        {showing === "diagram" && <Loaded query={diagram}>{() => <MermaidDiagram source={diagram.data!} label={`DAG of ${pipeline.name}`} />}</Loaded>}
        {showing === "yaml" && <Loaded query={detail}>{() => (
          <TextField label={`YAML of ${pipeline.name}`} multiline fullWidth minRows={8} sx={{ mt: 1, "& textarea": { fontFamily: "monospace" } }}
            value={yaml ?? detail.data!.yaml ?? ""} onChange={(e) => setYaml(e.target.value)} />
        )}</Loaded>}
      </CardContent>
      <CardActions sx={{ flexWrap: "wrap" }}>
        {canWrite() && <FormControlLabel control={<Checkbox checked={chosen} onChange={(e) => onChoose(e.target.checked)} />} label="In batch" />}
        <Button aria-expanded={showing === "diagram"} onClick={() => setShowing(showing === "diagram" ? "none" : "diagram")}>{showing === "diagram" ? "Hide diagram" : "Show diagram"}</Button>
        <Button component={RouterLink} to={`/projects/${encodeURIComponent(projectId)}/builder/${encodeURIComponent(pipeline.pipeline_id)}`}>
          Open in the builder</Button>
        <Button aria-expanded={showing === "yaml"} onClick={() => setShowing(showing === "yaml" ? "none" : "yaml")}>{showing === "yaml" ? "Hide YAML" : "Edit YAML"}</Button>
        {canWrite() && showing === "yaml" && <Button variant="outlined" onClick={save}>Save</Button>}
        {canWrite() && <Button variant="contained" aria-label={`Run pipeline ${pipeline.name}`} onClick={run}>Run</Button>}
      </CardActions>
    </Card>
  );
}
