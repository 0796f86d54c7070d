/** Discrepancies of a project: accept as known or mark resolved, with a note (kept in the audit log). */
import { useState } from "react";
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { Link as RouterLink, useParams } from "react-router";
import { Box, Button, Link, Stack, Table, TableBody, TableCell, TableHead, TableRow, TextField, Typography } from "@mui/material";
import { client, unwrap } from "../api/client";
import { explain } from "../api/errors";
import { canWrite } from "../api/session";
import type { Discrepancy } from "../api/types";
import { Loaded, PageTitle, StatusChip, when } from "../ui/common";

export default function DiscrepanciesPage() {
  const projectId = useParams().projectId!;
  const queries = useQueryClient();
  const found = useQuery({
    queryKey: ["discrepancies", projectId],
    queryFn: () => unwrap<Discrepancy[]>(client.GET("/api/v1/projects/{project_id}/discrepancies", { params: { path: { project_id: projectId } } })),
  });
  const [notes, setNotes] = useState<Record<string, string>>({});
  const [problems, setProblems] = useState<Record<string, string>>({});
  async function decide(d: Discrepancy, how: "accept" | "resolve") {
    const path = { project_id: projectId, discrepancy_id: d.discrepancy_id };
    const body = { note: (notes[d.discrepancy_id] ?? "").trim() };
    try {
      if (how === "accept") await unwrap(client.POST("/api/v1/projects/{project_id}/discrepancies/{discrepancy_id}/accept", { params: { path }, body }));
      else await unwrap(client.POST("/api/v1/projects/{project_id}/discrepancies/{discrepancy_id}/resolve", { params: { path }, body }));
      await queries.invalidateQueries({ queryKey: ["discrepancies", projectId] });
    } catch (e) { setProblems((p) => ({ ...p, [d.discrepancy_id]: explain(e) })); }
  }
  return (
    <>
      <PageTitle title="Discrepancies" crumbs={[["Projects", "/projects"], [projectId, `/projects/${encodeURIComponent(projectId)}`], ["Discrepancies"]]} />
      <Typography color="text.secondary" sx={{ mb: 2 }}>
        Every failed check leaves a discrepancy, once per finding. Accept one as a known difference (later runs stop failing on it) or mark it resolved once the data is fixed.
      </Typography>
      <Loaded query={found}>{() => {
        const all = found.data ?? [];
        const sorted = [...all.filter((d) => d.status === "open"), ...all.filter((d) => d.status !== "open")];
        if (!sorted.length) return <Typography>No discrepancies: every check passed.</Typography>;
        return (
          <Box sx={{ overflowX: "auto" }}>
            <Table size="small" aria-label="Discrepancies">
              <caption>{all.filter((d) => d.status === "open").length} open of {all.length}</caption>
              <TableHead><TableRow>
                <TableCell>Step</TableCell><TableCell>Table</TableCell><TableCell>Severity</TableCell><TableCell>What differs</TableCell>
                <TableCell>Run</TableCell><TableCell>Status</TableCell><TableCell>Decision</TableCell>
              </TableRow></TableHead>
              <TableBody>{sorted.map((d) => (
                <TableRow key={d.discrepancy_id}>
                  <TableCell component="th" scope="row">{d.step}</TableCell>
                  <TableCell>{d.table_name ?? "—"}</TableCell>
                  <TableCell><StatusChip status={d.severity} /></TableCell>
                  <TableCell sx={{ maxWidth: 420, wordBreak: "break-word" }}>{d.message || d.type}</TableCell>
                  <TableCell><Link component={RouterLink} to={`/runs/${encodeURIComponent(d.run_id)}`}>{when(d.recorded_at)}</Link></TableCell>
                  <TableCell><StatusChip status={d.status} />{d.note ? ` — ${d.note}` : ""}{d.decided_by ? ` (${d.decided_by})` : ""}</TableCell>
                  <TableCell>
                    {d.status === "open" && canWrite() ? (
                      <Stack direction="row" spacing={1} sx={{ alignItems: "center" }}>
                        <TextField size="small" label="Why" value={notes[d.discrepancy_id] ?? ""}
                          slotProps={{ htmlInput: { "aria-label": `Why (discrepancy of ${d.step})`, maxLength: 5000 } }}
                          onChange={(e) => setNotes({ ...notes, [d.discrepancy_id]: e.target.value })} />
                        <Button size="small" variant="outlined" onClick={() => decide(d, "accept")}>Accept as known</Button>
                        <Button size="small" variant="outlined" onClick={() => decide(d, "resolve")}>Resolved</Button>
                      </Stack>
                    ) : null}
                    {problems[d.discrepancy_id] && <Typography color="error" role="alert">{problems[d.discrepancy_id]}</Typography>}
                  </TableCell>
                </TableRow>
              ))}</TableBody>
            </Table>
          </Box>
        );
      }}</Loaded>
    </>
  );
}
