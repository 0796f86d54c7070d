/** The comparison viewer of a row_hash step: rows only in source, only in target and changed,
 * side by side with the differing cells highlighted; filter by kind and column; paged. It shows the
 * step's stored sample of differences (the full list is in the step's output file when one was set). */
import { useState } from "react";
import { useQuery } from "@tanstack/react-query";
import { useParams } from "react-router";
import { Box, MenuItem, Stack, Table, TableBody, TableCell, TableHead, TablePagination, TableRow, TextField, Typography } from "@mui/material";
import { client, unwrap } from "../api/client";
import type { Step } from "../api/types";
import { Loaded, PageTitle, StatusChip } from "../ui/common";
import { columnsOf, diffRows } from "./diffRows";

const KIND_LABEL: Record<string, string> = { only_in_source: "only in source", only_in_target: "only in target", changed: "changed" };

export default function StepDiffPage() {
  const { runId, step } = useParams() as { runId: string; step: string };
  const [kind, setKind] = useState("");
  const [column, setColumn] = useState("");
  const [page, setPage] = useState(0);
  const [rows, setRows] = useState(25);
  const found = useQuery({ queryKey: ["step", runId, step], queryFn: () => unwrap<Step>(client.GET("/api/v1/runs/{run_id}/steps/{step}", { params: { path: { run_id: runId, step } } })) });
  return (
    <>
      <PageTitle title={`Differences of ${step}`} crumbs={[["Run", `/runs/${encodeURIComponent(runId)}`], [step]]} />
      <Loaded query={found}>{() => {
        const result = found.data!.result ?? {};
        const sample = Array.isArray(result.sample) ? result.sample : [];
        const all = diffRows(sample, kind, column);
        const shown = all.slice(page * rows, page * rows + rows);
        const details = result.details ?? {};
        return (
          <>
            <Typography sx={{ mb: 1 }}><StatusChip status={found.data!.status} /> {found.data!.message ?? result.message}</Typography>
            <Typography color="text.secondary" sx={{ mb: 2 }}>
              Source rows {String(result.source?.rows ?? "—")} ({String(result.source?.only_in_source ?? 0)} only in source) ·
              target rows {String(result.target?.rows ?? "—")} ({String(result.target?.only_in_target ?? 0)} only in target) ·
              {" "}{String(details.changed ?? 0)} changed · match {result.match_percentage ?? "—"}% · {sample.length} differences in the sample
            </Typography>
            <Stack direction="row" spacing={2} sx={{ mb: 2 }}>
              <TextField select size="small" label="Kind" value={kind} sx={{ minWidth: 180 }} onChange={(e) => { setKind(e.target.value); setPage(0); }}>
                <MenuItem value="">all kinds</MenuItem>
                {Object.entries(KIND_LABEL).map(([k, l]) => <MenuItem key={k} value={k}>{l}</MenuItem>)}
              </TextField>
              <TextField select size="small" label="Column" value={column} sx={{ minWidth: 180 }} onChange={(e) => { setColumn(e.target.value); setPage(0); }}>
                <MenuItem value="">all columns</MenuItem>
                {columnsOf(sample).map((c) => <MenuItem key={c} value={c}>{c}</MenuItem>)}
              </TextField>
            </Stack>
            <Box sx={{ overflowX: "auto" }}>
              <Table size="small" aria-label="Differences, source and target side by side">
                <TableHead><TableRow><TableCell>Kind</TableCell><TableCell>Key</TableCell><TableCell>Column</TableCell><TableCell>Source value</TableCell><TableCell>Target value</TableCell></TableRow></TableHead>
                <TableBody>{shown.map((r, i) => (
                  <TableRow key={`${r.key}-${r.column}-${i}`}>
                    <TableCell>{KIND_LABEL[r.kind]}</TableCell>
                    <TableCell><code>{r.key}</code></TableCell>
                    <TableCell>{r.column}</TableCell>
                    <TableCell sx={r.changed && r.source !== null ? { bgcolor: "#fde2e1", fontWeight: 600 } : undefined} data-changed={r.changed && r.source !== null ? "yes" : "no"}>{r.source ?? "—"}</TableCell>
                    <TableCell sx={r.changed && r.target !== null ? { bgcolor: "#dff5e1", fontWeight: 600 } : undefined} data-changed={r.changed && r.target !== null ? "yes" : "no"}>{r.target ?? "—"}</TableCell>
                  </TableRow>
                ))}</TableBody>
              </Table>
            </Box>
            <TablePagination component="div" count={all.length} page={page} rowsPerPage={rows} rowsPerPageOptions={[25, 50, 100]}
              onPageChange={(_, n) => setPage(n)} onRowsPerPageChange={(e) => { setRows(Number(e.target.value)); setPage(0); }} />
          </>
        );
      }}</Loaded>
    </>
  );
}
