/** A run: live progress over the WebSocket (joining late replays what happened so far), then its
 * results, the comparison with the previous run, exports in all six formats. */
import { useEffect, useState } from "react";
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { Link as RouterLink, useParams } from "react-router";
import {
  Alert, Box, Button, Card, CardContent, LinearProgress, Link, Stack, Table, TableBody, TableCell, TableHead, TableRow, Typography,
} from "@mui/material";
import { client, download, unwrap } from "../api/client";
import { explain } from "../api/errors";
import { canWrite } from "../api/session";
import { openRunSocket } from "../api/socket";
import type { Run } from "../api/types";
import { Loaded, PageTitle, StatusChip, seconds, when } from "../ui/common";
import { applyRunMessage, finishedCount, initialLive, type LiveRun } from "./runProgress";
import { BaselineCompare, PipelineHistory } from "./RunBaseline";
import { EXPLAINED, StepExplain } from "./StepExplain";

export const EXPORTS: [string, string][] = [["json", "JSON"], ["csv", "CSV"], ["excel", "Excel"], ["pdf", "PDF"], ["junit", "JUnit"], ["html", "HTML"]];

export default function RunPage() {
  const runId = useParams().runId!;
  const queries = useQueryClient();
  const run = useQuery({ queryKey: ["run", runId], queryFn: () => unwrap<Run>(client.GET("/api/v1/runs/{run_id}", { params: { path: { run_id: runId } } })) });
  const [live, setLive] = useState<LiveRun | null>(null);
  const [note, setNote] = useState<{ ok: boolean; text: string } | null>(null);
  const loaded = run.data;

  useEffect(() => {
    if (!loaded) return;
    const start = initialLive(loaded.status, loaded.steps);
    setLive(start);
    if (start.finished) return;
    return openRunSocket(runId, (m) => {
      if (m.type === "error") { setNote({ ok: false, text: `Live updates stopped: ${m.error?.message ?? "error"}` }); return; }
      setLive((current) => {
        const next = applyRunMessage(current ?? start, m);
        if (next.finished && !(current?.finished)) void queries.invalidateQueries({ queryKey: ["run", runId] });
        return next;
      });
    });
  }, [loaded?.run_id, loaded?.status === "completed" || loaded?.status === "failed" || loaded?.status === "cancelled"]); // eslint-disable-line react-hooks/exhaustive-deps

  const total = Math.max(loaded?.total_steps ?? 0, live?.order.length ?? 0, 1);
  const done = live ? finishedCount(live) : 0;
  const name = loaded?.pipeline_name || runId;
  const crumbs: [string, string?][] = loaded?.project_id
    ? [["Projects", "/projects"], [loaded.project_id, `/projects/${encodeURIComponent(loaded.project_id)}`], ["Runs", `/projects/${encodeURIComponent(loaded.project_id)}/runs`], [runId]]
    : [["Projects", "/projects"], [runId]];
  return (
    <>
      <PageTitle title={name} crumbs={crumbs}
        actions={canWrite() && live && !live.finished && <Button variant="outlined" color="warning" onClick={async () => {
          try { await unwrap(client.POST("/api/v1/runs/{run_id}/cancel", { params: { path: { run_id: runId } } })); } catch (e) { setNote({ ok: false, text: explain(e) }); }
        }}>Cancel run</Button>} />
      {note && <Alert severity={note.ok ? "success" : "error"} role="status" sx={{ mb: 2 }}>{note.text}</Alert>}
      <Loaded query={run}>{() => (
        <>
          <Card sx={{ mb: 2 }}><CardContent>
            <Box aria-live="polite">Status <StatusChip status={live?.status ?? loaded!.status} /> <code>{runId}</code></Box>
            <LinearProgress variant="determinate" value={(100 * done) / total} sx={{ my: 1 }} aria-label="Steps finished" />
            <Typography data-testid="progress-text">{done} of {total} steps finished</Typography>
          </CardContent></Card>
          <Box component="section" aria-labelledby="steps-h" sx={{ mb: 2 }}>
            <Typography id="steps-h" variant="h6" component="h2">Steps</Typography>
            <Box sx={{ overflowX: "auto" }}>
              <Table size="small" aria-label="Steps">
                <TableHead><TableRow><TableCell>Step</TableCell><TableCell>Status</TableCell><TableCell>Validator</TableCell><TableCell>Table</TableCell><TableCell>Duration</TableCell><TableCell>Message</TableCell></TableRow></TableHead>
                <TableBody>{(live?.order ?? []).map((stepName) => {
                  const s = loaded!.steps?.find((x) => x.step === stepName);
                  const state = live!.steps[stepName];
                  const diff = s?.validator === "row_hash" && loaded!.status !== "running";
                  return (
                    <TableRow key={stepName}>
                      <TableCell component="th" scope="row">{diff
                        ? <Link component={RouterLink} to={`/runs/${encodeURIComponent(runId)}/steps/${encodeURIComponent(stepName)}`}>{stepName}</Link>
                        : stepName}</TableCell>
                      <TableCell><StatusChip status={state.status} /></TableCell>
                      <TableCell>{s?.validator ?? "—"}</TableCell>
                      <TableCell>{s?.table_name ?? "—"}</TableCell>
                      <TableCell>{seconds(s?.duration_seconds)}</TableCell>
                      <TableCell sx={{ maxWidth: 480, wordBreak: "break-word" }}>{s?.message || state.note || ""}
                        {canWrite() && loaded!.project_id && EXPLAINED.includes(String(s?.status ?? state.status)) && <StepExplain runId={runId} step={stepName} />}</TableCell>
                    </TableRow>
                  );
                })}</TableBody>
              </Table>
            </Box>
          </Box>
          {live?.finished && (
            <Box component="section" aria-labelledby="sum-h" sx={{ mb: 2 }}>
              <Typography id="sum-h" variant="h6" component="h2">Results</Typography>
              <Typography data-testid="quality-score">Quality score {loaded!.score ?? "—"} · {loaded!.successful_steps ?? 0} passed, {loaded!.failed_steps ?? 0} failed, {loaded!.skipped_steps ?? 0} skipped · {seconds(loaded!.duration_seconds)} · finished {when(loaded!.finished_at)}</Typography>
            </Box>
          )}
          {live?.finished && <BaselineCompare run={loaded!} />}
          {live?.finished && <PipelineHistory run={loaded!} />}
          <Box component="section" aria-labelledby="exp-h">
            <Typography id="exp-h" variant="h6" component="h2">Export</Typography>
            <Stack direction="row" spacing={1} role="group" aria-label="Export the report" sx={{ flexWrap: "wrap" }}>
              {EXPORTS.map(([format, label]) => (
                <Button key={format} variant="outlined" onClick={async () => {
                  try { const file = await download(`/api/v1/runs/${encodeURIComponent(runId)}/export`, { format }, `run-${runId}.${format}`); setNote({ ok: true, text: `Downloaded ${file}` }); }
                  catch (e) { setNote({ ok: false, text: explain(e) }); }
                }}>{label}</Button>
              ))}
            </Stack>
          </Box>
        </>
      )}</Loaded>
    </>
  );
}
