/** The comparison viewer of a row_hash step: rows only in source, only in target and changed,
 * side by side with the differing cells highlighted; filtered by kind and column and paged on the
 * server through the step's FULL difference list (`GET /runs/{run_id}/steps/{step}/differences`),
 * not only the sample stored with the step's result. */
import { useState } from "react";
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { useParams } from "react-router";
import { Box, MenuItem, Stack, Table, TableBody, TableCell, TableHead, TablePagination, TableRow, TextField, Typography } from "@mui/material";
import { client, unwrap } from "../api/client";
import type { Step } from "../api/types";
import { ErrorNotice, Loaded, PageTitle, StatusChip } from "../ui/common";
import { diffRows, differencesQuery, type DifferenceLine } from "./diffRows";

const KIND_LABEL: Record<string, string> = {
  only_in_source: "only in source", only_in_target: "only in target", changed: "changed",
  duplicate_in_source: "duplicate in source", duplicate_in_target: "duplicate in target",
};

interface DifferencesPage { items: DifferenceLine[]; total: number; offset: number; limit: number; columns?: string[] }

export default function StepDiffPage() {
  const { runId, step } = useParams() as { runId: string; step: string };
  const [kind, setKind] = useState("");
  const [column, setColumn] = useState("");
  const [page, setPage] = useState(0);
  const [size, setSize] = useState(25);
  const found = useQuery({ queryKey: ["step", runId, step], queryFn: () => unwrap<Step>(client.GET("/api/v1/runs/{run_id}/steps/{step}", { params: { path: { run_id: runId, step } } })) });
  const lines = useQuery({
    queryKey: ["differences", runId, step, page, size, kind, column],
    queryFn: () => unwrap<DifferencesPage>(client.GET("/api/v1/runs/{run_id}/steps/{step}/differences", {
      params: { path: { run_id: runId, step }, query: differencesQuery(page, size, kind, column) as never },
    })),
    placeholderData: keepPreviousData,
  });
  const columns = lines.data?.columns ?? [];  // every column the step's differences name (unfiltered)
  const total = lines.data?.total ?? 0;
  const shown = diffRows(lines.data?.items ?? []);
  return (
    <>
      <PageTitle title={`Differences of ${step}`} crumbs={[["Run", `/runs/${encodeURIComponent(runId)}`], [step]]} />
      <Loaded query={found}>{() => {
        const result = found.data!.result ?? {};
        const details = result.details ?? {};
        return (
          <>
            <Typography component="div" sx={{ mb: 1 }}><StatusChip status={found.data!.status} /> {found.data!.message ?? result.message}</Typography>
            <Typography color="text.secondary" sx={{ mb: 2 }}>
              Source rows {String(result.source?.rows ?? "—")} ({String(result.source?.only_in_source ?? 0)} only in source) ·
              target rows {String(result.target?.rows ?? "—")} ({String(result.target?.only_in_target ?? 0)} only in target) ·
              {" "}{String(details.changed ?? 0)} changed · match {result.match_percentage ?? "—"}%
            </Typography>
          </>
        );
      }}</Loaded>
      <Stack direction="row" spacing={2} sx={{ mb: 2, alignItems: "center" }}>
        <TextField select size="small" label="Kind" value={kind} sx={{ minWidth: 200 }} onChange={(e) => { setKind(e.target.value); setPage(0); }}>
          <MenuItem value="">all kinds</MenuItem>
          {Object.entries(KIND_LABEL).map(([k, l]) => <MenuItem key={k} value={k}>{l}</MenuItem>)}
        </TextField>
        <TextField select size="small" label="Column" value={column} sx={{ minWidth: 200 }} onChange={(e) => { setColumn(e.target.value); setPage(0); }}>
          <MenuItem value="">all columns</MenuItem>
          {columns.map((c) => <MenuItem key={c} value={c}>{c}</MenuItem>)}
        </TextField>
        <Typography data-testid="differences-total" aria-live="polite">
          {lines.data ? `${total} difference${total === 1 ? "" : "s"} in the full list` : ""}
        </Typography>
      </Stack>
      <ErrorNotice error={lines.error} />
      <Box sx={{ overflowX: "auto" }}>
        <Table size="small" aria-label="Differences, source and target side by side" aria-busy={lines.isFetching}>
          <TableHead><TableRow><TableCell>Kind</TableCell><TableCell>Key</TableCell><TableCell>Column</TableCell><TableCell>Source value</TableCell><TableCell>Target value</TableCell></TableRow></TableHead>
          <TableBody>{shown.map((r, i) => (
            <TableRow key={`${r.key}-${r.column}-${i}`}>
              <TableCell>{KIND_LABEL[r.kind] ?? r.kind}</TableCell>
              <TableCell><code>{r.key}</code></TableCell>
              <TableCell>{r.column}</TableCell>
              <TableCell sx={r.changed && r.source !== null ? { bgcolor: "#fde2e1", fontWeight: 600 } : undefined} data-changed={r.changed && r.source !== null ? "yes" : "no"}>{r.source ?? "—"}</TableCell>
              <TableCell sx={r.changed && r.target !== null ? { bgcolor: "#dff5e1", fontWeight: 600 } : undefined} data-changed={r.changed && r.target !== null ? "yes" : "no"}>{r.target ?? "—"}</TableCell>
            </TableRow>
          ))}</TableBody>
        </Table>
      </Box>
      <TablePagination component="div" count={total} page={page} rowsPerPage={size} rowsPerPageOptions={[25, 50, 100]}
        labelDisplayedRows={({ from, to, count }) => `differences ${from}–${to} of ${count}`}
        onPageChange={(_, n) => setPage(n)} onRowsPerPageChange={(e) => { setSize(Number(e.target.value)); setPage(0); }} />
    </>
  );
}
