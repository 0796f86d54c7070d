/** Workload of a project: a Query Store export uploaded with its progress, analysed (against the
 * project's catalog) and turned into suggestions; the top tables, joins, filters and measures it
 * found; chosen suggestions made into a saved pipeline, opened in the builder. */
import { useRef, useState } from "react";
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { Link as RouterLink, useParams } from "react-router";
import {
  Alert, Box, Button, Checkbox, LinearProgress, Link, MenuItem, Stack, Table, TableBody, TableCell, TableHead, TableRow,
  TextField, Typography,
} from "@mui/material";
import { client, unwrap } from "../api/client";
import { explain } from "../api/errors";
import { canWrite } from "../api/session";
import { uploadWithProgress, type UploadProgress } from "../api/upload";
import { Loaded, PageTitle, StatusChip, when } from "../ui/common";
import { filters, measures, size, type ColumnUse, type Suggestion, type Workload } from "./workloadView";

const FORMATS = ["json", "jsonl", "csv", "sql"] as const;

export default function WorkloadPage() {
  const projectId = useParams().projectId!;
  const queries = useQueryClient();
  const input = useRef<HTMLInputElement>(null);
  const [file, setFile] = useState<File | null>(null);
  const [format, setFormat] = useState<(typeof FORMATS)[number]>("json");
  const [progress, setProgress] = useState<UploadProgress | null>(null);
  const [phase, setPhase] = useState<string | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const [chosenId, setChosenId] = useState<string | null>(null);
  const list = useQuery({
    queryKey: ["workloads", projectId],
    queryFn: () => unwrap<{ items: Workload[]; total: number }>(client.GET("/api/v1/projects/{project_id}/workloads", { params: { path: { project_id: projectId } } })),
  });
  const current = chosenId ?? list.data?.items[0]?.workload_id ?? null;

  async function upload() {
    if (!file) return;
    setProblem(null); setProgress({ sent: 0, total: file.size });
    try {
      // a cheap call first: renews an expired token (the upload itself cannot retry with a new one)
      await unwrap(client.GET("/api/v1/projects/{project_id}", { params: { path: { project_id: projectId } } }));
      const form = new FormData();
      form.append("file", file); form.append("format", format);
      setPhase("Sending the file");
      const sent = uploadWithProgress<{ workload_id: string; queries: number; distinct_queries: number }>(
        `/api/v1/projects/${encodeURIComponent(projectId)}/workloads/file`, form, (p) => {
          setProgress(p); if (p.sent >= p.total) setPhase("Reading and grouping the queries");
        });
      const made = await sent;
      const wid = { path: { workload_id: made.workload_id } };
      setPhase(`Analysing ${made.distinct_queries} distinct queries (${made.queries} in the export)`);
      await unwrap(client.POST("/api/v1/workloads/{workload_id}/analyze", { params: wid }));
      setPhase("Suggesting checks");
      await unwrap(client.POST("/api/v1/workloads/{workload_id}/suggest", { params: wid }));
      setPhase(`Done: ${made.queries} queries uploaded, analysed and turned into suggestions.`);
      setChosenId(made.workload_id);
      setFile(null); if (input.current) input.current.value = "";
    } catch (e) {
      setProblem(explain(e)); setPhase(null);
    }
    setProgress(null);
    await queries.invalidateQueries({ queryKey: ["workloads", projectId] });
    await queries.invalidateQueries({ queryKey: ["workload"] });
  }

  const percent = progress && progress.total ? Math.round((100 * progress.sent) / progress.total) : 0;
  return (
    <>
      <PageTitle title="Workload" crumbs={[["Projects", "/projects"], [projectId, `/projects/${encodeURIComponent(projectId)}`], ["Workload"]]} />
      {canWrite() && (
        <Box component="section" aria-labelledby="upload-h" sx={{ mb: 3 }}>
          <Typography id="upload-h" variant="h5" component="h2" gutterBottom>Upload a Query Store export</Typography>
          <Stack direction="row" spacing={2} sx={{ alignItems: "center", flexWrap: "wrap" }}>
            <input ref={input} id="workload-file" type="file" aria-label="Query Store export file" style={{ display: "none" }}
              onChange={(e) => { const f = e.target.files?.[0] ?? null; setFile(f); if (f) setFormat(guessFormat(f.name)); }} />
            <Button variant="outlined" onClick={() => input.current?.click()}>Choose file</Button>
            <Typography data-testid="chosen-file">{file ? `${file.name} (${size(file.size)})` : "No file chosen"}</Typography>
            <TextField select size="small" label="Format" value={format} onChange={(e) => setFormat(e.target.value as typeof format)} sx={{ minWidth: 120 }}>
              {FORMATS.map((f) => <MenuItem key={f} value={f}>{f}</MenuItem>)}
            </TextField>
            <Button variant="contained" disabled={!file || Boolean(progress)} onClick={upload}>Upload and analyse</Button>
          </Stack>
          {progress && <Box sx={{ mt: 2 }}>
            <LinearProgress variant={progress.sent < progress.total ? "determinate" : "indeterminate"} value={percent} aria-label="Upload progress" />
            <Typography variant="body2" data-testid="upload-progress">{size(progress.sent)} of {size(progress.total)} sent ({percent}%)</Typography>
          </Box>}
          {phase && <Alert severity={progress ? "info" : "success"} role="status" sx={{ mt: 2 }}>{phase}</Alert>}
          {problem && <Alert severity="error" role="alert" sx={{ mt: 2 }}>{problem}</Alert>}
        </Box>
      )}
      <Loaded query={list}>{() => !list.data!.items.length ? <Typography>No workload uploaded yet.</Typography> : (
        <>
          <Table size="small" aria-label="Workloads" sx={{ mb: 3 }}>
            <TableHead><TableRow><TableCell>File</TableCell><TableCell>Status</TableCell><TableCell>Queries</TableCell><TableCell>Tables</TableCell><TableCell>Suggestions</TableCell><TableCell>Uploaded</TableCell></TableRow></TableHead>
            <TableBody>{list.data!.items.map((w) => (
              <TableRow key={w.workload_id} selected={w.workload_id === current}>
                <TableCell><Link component="button" onClick={() => setChosenId(w.workload_id)} aria-current={w.workload_id === current ? "true" : undefined}>{w.filename}</Link></TableCell>
                <TableCell><StatusChip status={w.status} /></TableCell>
                <TableCell>{w.queries} ({w.distinct_queries} distinct{w.unparsed ? `, ${w.unparsed} unparsed` : ""})</TableCell>
                <TableCell>{w.tables}</TableCell><TableCell>{w.suggestions}</TableCell><TableCell>{when(w.uploaded_at)}</TableCell>
              </TableRow>
            ))}</TableBody>
          </Table>
          {current && <WorkloadDetail key={current} projectId={projectId} workloadId={current} />}
        </>
      )}</Loaded>
    </>
  );
}

const guessFormat = (name: string): (typeof FORMATS)[number] =>
  name.endsWith(".jsonl") ? "jsonl" : name.endsWith(".csv") ? "csv" : name.endsWith(".sql") ? "sql" : "json";

function UseTable({ label, rows, how }: { label: string; rows: ColumnUse[]; how: string }) {
  if (!rows.length) return <Typography sx={{ mb: 2 }}>None found.</Typography>;
  return (
    <Table size="small" aria-label={label} sx={{ mb: 3 }}>
      <TableHead><TableRow><TableCell>Table</TableCell><TableCell>Column</TableCell><TableCell>{how}</TableCell><TableCell>Executions</TableCell><TableCell>Queries</TableCell></TableRow></TableHead>
      <TableBody>{rows.slice(0, 25).map((r) => (
        <TableRow key={`${r.table}.${r.column}`}><TableCell>{r.table}</TableCell><TableCell>{r.column}</TableCell><TableCell>{r.how}</TableCell><TableCell>{r.executions}</TableCell><TableCell>{r.queries}</TableCell></TableRow>
      ))}</TableBody>
    </Table>
  );
}

function WorkloadDetail({ projectId, workloadId }: { projectId: string; workloadId: string }) {
  const wid = { path: { workload_id: workloadId } };
  const detail = useQuery({ queryKey: ["workload", workloadId], queryFn: () => unwrap<Workload>(client.GET("/api/v1/workloads/{workload_id}", { params: wid })) });
  const suggestions = useQuery({ queryKey: ["workload", workloadId, "suggestions"], queryFn: () => unwrap<{ suggestions: Suggestion[] }>(client.GET("/api/v1/workloads/{workload_id}/suggestions", { params: wid })) });
  const [picked, setPicked] = useState<Set<string> | null>(null);
  const [made, setMade] = useState<{ ok: boolean; text: string; pipelineId?: string } | null>(null);
  const all = suggestions.data?.suggestions ?? [];
  const chosen = picked ?? new Set(all.map((s) => s.id));
  async function makePipeline() {
    try {
      const reply = await unwrap<{ pipeline_id: string; name: string; steps: number }>(client.POST("/api/v1/workloads/{workload_id}/pipeline", {
        params: wid, body: { suggestion_ids: [...chosen], save: true } }));
      setMade({ ok: true, text: `Pipeline “${reply.name}” saved with ${reply.steps} steps.`, pipelineId: reply.pipeline_id });
    } catch (e) { setMade({ ok: false, text: explain(e) }); }
  }
  return (
    <Loaded query={detail}>{() => {
      const w = detail.data!;
      const tables = w.tables_used ?? [];
      return (
        <Box component="section" aria-labelledby="wl-h">
          <Typography id="wl-h" variant="h5" component="h2" gutterBottom>{w.filename}</Typography>
          <Typography data-testid="workload-totals" sx={{ mb: 2 }}>{w.queries} queries, {w.distinct_queries} distinct, {tables.length} tables, {(w.joins ?? []).length} joins</Typography>
          <Typography variant="h6" component="h3">Top tables</Typography>
          <Table size="small" aria-label="Top tables" sx={{ mb: 3 }}>
            <TableHead><TableRow><TableCell>Table</TableCell><TableCell>Executions</TableCell><TableCell>Queries</TableCell><TableCell>Joined with</TableCell><TableCell>In the catalog</TableCell></TableRow></TableHead>
            <TableBody>{tables.slice(0, 25).map((t) => (
              <TableRow key={t.table_name}><TableCell>{t.table_name}</TableCell><TableCell>{t.executions}</TableCell><TableCell>{t.queries}</TableCell>
                <TableCell>{Object.keys(t.join_partners ?? {}).join(", ")}</TableCell><TableCell>{t.in_catalog ? "yes" : "no"}</TableCell></TableRow>
            ))}</TableBody>
          </Table>
          <Typography variant="h6" component="h3">Joins</Typography>
          {(w.joins ?? []).length ? (
            <Table size="small" aria-label="Joins" sx={{ mb: 3 }}>
              <TableHead><TableRow><TableCell>Join</TableCell><TableCell>Executions</TableCell><TableCell>Queries</TableCell></TableRow></TableHead>
              <TableBody>{(w.joins ?? []).slice(0, 25).map((j, i) => (
                <TableRow key={i}><TableCell>{j.left_table}.{j.left_column} = {j.right_table}.{j.right_column}</TableCell><TableCell>{j.executions}</TableCell><TableCell>{j.queries}</TableCell></TableRow>
              ))}</TableBody>
            </Table>
          ) : <Typography sx={{ mb: 2 }}>None found.</Typography>}
          <Typography variant="h6" component="h3">Filters</Typography>
          <UseTable label="Filters" rows={filters(tables)} how="Compared with" />
          <Typography variant="h6" component="h3">Measures</Typography>
          <UseTable label="Measures" rows={measures(tables)} how="Aggregates" />
          <Typography variant="h6" component="h3">Suggestions</Typography>
          <Loaded query={suggestions}>{() => !all.length ? <Typography>No suggestions: analyse the workload first.</Typography> : (
            <>
              <Table size="small" aria-label="Suggested checks">
                <TableHead><TableRow><TableCell padding="checkbox">Use</TableCell><TableCell>Check</TableCell><TableCell>Table</TableCell><TableCell>Why</TableCell><TableCell>Executions</TableCell></TableRow></TableHead>
                <TableBody>{all.map((s) => (
                  <TableRow key={s.id}>
                    <TableCell padding="checkbox"><Checkbox checked={chosen.has(s.id)} slotProps={{ input: { "aria-label": `Use ${s.id}` } }}
                      onChange={(e) => { const n = new Set(chosen); if (e.target.checked) n.add(s.id); else n.delete(s.id); setPicked(n); }} /></TableCell>
                    <TableCell>{s.validator}</TableCell><TableCell>{s.table ?? "—"}</TableCell><TableCell>{s.reason}</TableCell><TableCell>{s.evidence?.executions ?? "—"}</TableCell>
                  </TableRow>
                ))}</TableBody>
              </Table>
              {canWrite() && <Button variant="contained" sx={{ mt: 2 }} disabled={!chosen.size} onClick={makePipeline}>Make a pipeline of {chosen.size} suggestions</Button>}
              {made && <Alert severity={made.ok ? "success" : "error"} role="status" sx={{ mt: 2 }}>{made.text}{made.pipelineId && <> <Link component={RouterLink}
                to={`/projects/${encodeURIComponent(projectId)}/builder/${encodeURIComponent(made.pipelineId)}`}>Open it in the builder</Link></>}</Alert>}
            </>
          )}</Loaded>
        </Box>
      );
    }}</Loaded>
  );
}
