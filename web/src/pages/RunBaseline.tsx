/** A finished run against a baseline run of the same pipeline (the steps whose status changed and
 * the score's move), and the pipeline's history: its quality score per day and its latest runs. */
import { useState } from "react";
import { useQuery } from "@tanstack/react-query";
import { Link as RouterLink } from "react-router";
import { Alert, Box, Link, MenuItem, Table, TableBody, TableCell, TableHead, TableRow, TextField, Typography } from "@mui/material";
import { client, unwrap } from "../api/client";
import type { Run } from "../api/types";
import { Loaded, StatusChip, when } from "../ui/common";
import { TrendsChart } from "../ui/TrendsChart";
import { changedSteps, comparisonSummary, historyTrend, type Comparison, type HistoryRun } from "./results";

function usePipelineHistory(run: Run) {
  return useQuery({
    queryKey: ["pipeline-history", run.project_id, run.pipeline_id],
    enabled: Boolean(run.project_id && run.pipeline_id),
    queryFn: () => unwrap<HistoryRun[]>(client.GET("/api/v1/projects/{project_id}/pipelines/{pipeline_id}/history", {
      params: { path: { project_id: run.project_id!, pipeline_id: run.pipeline_id! } },
    })),
  });
}

export function BaselineCompare({ run }: { run: Run }) {
  const history = usePipelineHistory(run);
  const finished = (history.data ?? []).filter((r) => r.run_id !== run.run_id && ["completed", "failed"].includes(r.status));
  const [chosen, setChosen] = useState<string | null>(null);
  const baseline = chosen ?? finished.find((r) => (r.queued_at ?? "") < (run.queued_at ?? ""))?.run_id ?? finished[0]?.run_id ?? null;
  const compared = useQuery({
    queryKey: ["compare", run.run_id, baseline],
    enabled: Boolean(baseline),
    queryFn: () => unwrap<Comparison>(client.GET("/api/v1/runs/{run_id}/compare", { params: { path: { run_id: run.run_id }, query: { baseline: baseline! } } })),
  });
  return (
    <Box component="section" aria-labelledby="baseline-h" sx={{ mb: 2 }}>
      <Typography id="baseline-h" variant="h6" component="h2">Compare with a baseline run</Typography>
      {!run.pipeline_id ? <Typography color="text.secondary">An inline pipeline's run has no saved pipeline to compare with.</Typography>
        : <Loaded query={history}>{() => !finished.length
          ? <Typography color="text.secondary">No other finished run of this pipeline yet.</Typography>
          : (
            <>
              <TextField select size="small" label="Baseline run" value={baseline ?? ""} sx={{ minWidth: 360, my: 1 }} onChange={(e) => setChosen(e.target.value)}>
                {finished.map((r) => <MenuItem key={r.run_id} value={r.run_id}>{when(r.queued_at)} · {r.status} · score {r.score ?? "—"}</MenuItem>)}
              </TextField>
              <Loaded query={compared}>{() => {
                const c = compared.data!;
                const changed = changedSteps(c);
                return (
                  <>
                    <Alert severity={c.worse.length ? "warning" : "info"} role="status" data-testid="baseline-summary" sx={{ mb: 1 }}>{comparisonSummary(c)}</Alert>
                    {changed.length > 0 && (
                      <Table size="small" aria-label="Steps whose status changed">
                        <TableHead><TableRow><TableCell>Step</TableCell><TableCell>Change</TableCell><TableCell>Baseline</TableCell><TableCell>This run</TableCell></TableRow></TableHead>
                        <TableBody>{changed.map((s) => (
                          <TableRow key={s.step}>
                            <TableCell component="th" scope="row">{s.step}</TableCell><TableCell>{s.change}</TableCell>
                            <TableCell>{s.baseline ? <StatusChip status={s.baseline} /> : "not in the baseline"}</TableCell>
                            <TableCell>{s.current ? <StatusChip status={s.current} /> : "not in this run"}</TableCell>
                          </TableRow>
                        ))}</TableBody>
                      </Table>
                    )}
                  </>
                );
              }}</Loaded>
            </>
          )}</Loaded>}
    </Box>
  );
}

export function PipelineHistory({ run }: { run: Run }) {
  const history = usePipelineHistory(run);
  if (!run.pipeline_id) return null;
  return (
    <Box component="section" aria-labelledby="history-h" sx={{ mb: 2 }}>
      <Typography id="history-h" variant="h6" component="h2">History of this pipeline</Typography>
      <Loaded query={history}>{() => (
        <>
          <TrendsChart points={historyTrend(history.data ?? [])} />
          <Table size="small" aria-label="Latest runs of this pipeline">
            <TableHead><TableRow><TableCell>Queued</TableCell><TableCell>Status</TableCell><TableCell>Quality score</TableCell><TableCell>Failed steps</TableCell></TableRow></TableHead>
            <TableBody>{(history.data ?? []).slice(0, 10).map((r) => (
              <TableRow key={r.run_id} selected={r.run_id === run.run_id}>
                <TableCell>{r.run_id === run.run_id ? `${when(r.queued_at)} (this run)` : <Link component={RouterLink} to={`/runs/${encodeURIComponent(r.run_id)}`}>{when(r.queued_at)}</Link>}</TableCell>
                <TableCell><StatusChip status={r.status} /></TableCell><TableCell>{r.score ?? "—"}</TableCell><TableCell>{r.failed_steps ?? 0}</TableCell>
              </TableRow>
            ))}</TableBody>
          </Table>
        </>
      )}</Loaded>
    </Box>
  );
}
