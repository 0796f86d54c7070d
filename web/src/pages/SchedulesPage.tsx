/** A project's schedules: saved pipelines run on a cron schedule; each with its next runs (the
 * executor's preview), added with a pipeline and a cron expression, removed with one button. */
import { useState, type FormEvent } from "react";
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useParams } from "react-router";
import { Alert, Box, Button, MenuItem, Stack, Table, TableBody, TableCell, TableHead, TableRow, TextField, Typography } from "@mui/material";
import { client, unwrap } from "../api/client";
import { explain } from "../api/errors";
import { canWrite } from "../api/session";
import type { Pipeline } from "../api/types";
import { Loaded, PageTitle, when } from "../ui/common";
import { CRON_PRESETS, cronProblem } from "./cron";

export interface Schedule {
  schedule_id: string; cron: string; pipeline_id?: string | null; batch_id?: string | null;
  last_instant?: string | null; fired?: number; created_at?: string; next_runs?: string[];
}

export default function SchedulesPage() {
  const projectId = useParams().projectId!;
  const path = { project_id: projectId };
  const queries = useQueryClient();
  const [problem, setProblem] = useState("");
  const schedules = useQuery({
    queryKey: ["schedules", projectId],
    queryFn: () => unwrap<Schedule[]>(client.GET("/api/v1/projects/{project_id}/schedules", { params: { path } })),
  });
  const pipelines = useQuery({
    queryKey: ["pipelines", projectId],
    queryFn: () => unwrap<{ items: Pipeline[] }>(client.GET("/api/v1/projects/{project_id}/pipelines", { params: { path } })),
  });
  const names = Object.fromEntries((pipelines.data?.items ?? []).map((p) => [p.pipeline_id, p.name]));
  const remove = async (id: string) => {
    setProblem("");
    try {
      await unwrap(client.DELETE("/api/v1/projects/{project_id}/schedules/{schedule_id}", { params: { path: { project_id: projectId, schedule_id: id } } }));
      await queries.invalidateQueries({ queryKey: ["schedules", projectId] });
    } catch (e) { setProblem(explain(e)); }
  };
  return (
    <>
      <PageTitle title="Schedules" crumbs={[["Projects", "/projects"], [projectId, `/projects/${encodeURIComponent(projectId)}`], ["Schedules"]]} />
      {problem && <Alert severity="error" role="alert" sx={{ mb: 2 }}>{problem}</Alert>}
      <Loaded query={schedules}>{() => schedules.data!.length === 0
        ? <Typography sx={{ mb: 3 }}>No schedules yet.</Typography>
        : (
          <Table size="small" aria-label="Schedules" sx={{ mb: 3 }}>
            <TableHead><TableRow><TableCell>Pipeline</TableCell><TableCell>Cron (UTC)</TableCell><TableCell>Next runs</TableCell><TableCell>Fired</TableCell><TableCell>Created</TableCell><TableCell>Action</TableCell></TableRow></TableHead>
            <TableBody>{schedules.data!.map((s) => {
              const label = names[s.pipeline_id ?? ""] ?? s.pipeline_id ?? s.batch_id ?? "—";
              return (
                <TableRow key={s.schedule_id}>
                  <TableCell component="th" scope="row">{label}</TableCell>
                  <TableCell><code>{s.cron}</code></TableCell>
                  <TableCell>{(s.next_runs ?? []).map((t) => <div key={t}>{when(t)}</div>)}</TableCell>
                  <TableCell>{s.fired ?? 0}</TableCell>
                  <TableCell>{when(s.created_at)}</TableCell>
                  <TableCell>{canWrite() && <Button size="small" color="error" aria-label={`Remove the schedule of ${label} (${s.cron})`} onClick={() => remove(s.schedule_id)}>Remove</Button>}</TableCell>
                </TableRow>
              );
            })}</TableBody>
          </Table>
        )}</Loaded>
      {canWrite() && <AddSchedule projectId={projectId} pipelines={pipelines.data?.items ?? []} />}
    </>
  );
}

function AddSchedule({ projectId, pipelines }: { projectId: string; pipelines: Pipeline[] }) {
  const queries = useQueryClient();
  const [pipeline, setPipeline] = useState("");
  const [cron, setCron] = useState(CRON_PRESETS[0][1]);
  const [note, setNote] = useState<{ ok: boolean; text: string } | null>(null);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const problem = !pipeline ? "Choose a pipeline." : cronProblem(cron);
    if (problem) { setNote({ ok: false, text: problem }); return; }
    try {
      await unwrap(client.POST("/api/v1/projects/{project_id}/schedules", { params: { path: { project_id: projectId } }, body: { pipeline_id: pipeline, cron: cron.trim() } }));
      setNote({ ok: true, text: `Scheduled: ${cron.trim()}` });
      await queries.invalidateQueries({ queryKey: ["schedules", projectId] });
    } catch (err) { setNote({ ok: false, text: explain(err) }); }
  };
  return (
    <Box component="form" onSubmit={submit} aria-labelledby="add-schedule-title">
      <Typography variant="h6" component="h2" id="add-schedule-title" sx={{ mb: 1 }}>Add a schedule</Typography>
      <Stack direction="row" spacing={2} sx={{ flexWrap: "wrap", alignItems: "flex-start" }}>
        <TextField select size="small" label="Pipeline" value={pipeline} sx={{ minWidth: 220 }} onChange={(e) => setPipeline(e.target.value)}>
          {pipelines.map((p) => <MenuItem key={p.pipeline_id} value={p.pipeline_id}>{p.name}</MenuItem>)}
        </TextField>
        <TextField size="small" label="Cron (minute hour day month weekday, UTC)" value={cron} sx={{ minWidth: 320 }} onChange={(e) => setCron(e.target.value)}
          helperText={CRON_PRESETS.find(([, c]) => c === cron.trim())?.[0] ?? "five fields, e.g. 0 2 * * *"} />
        <TextField select size="small" label="Common" value="" sx={{ minWidth: 180 }} onChange={(e) => setCron(e.target.value)}>
          {CRON_PRESETS.map(([l, c]) => <MenuItem key={c} value={c}>{l}</MenuItem>)}
        </TextField>
        <Button type="submit" variant="contained">Add schedule</Button>
      </Stack>
      {note && <Alert severity={note.ok ? "success" : "error"} role={note.ok ? "status" : "alert"} sx={{ mt: 1 }}>{note.text}</Alert>}
    </Box>
  );
}
