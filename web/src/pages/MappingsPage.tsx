/** Mapping review: the suggested table mappings with confidence, evidence and each column's type
 * verdict; approve, reject or exclude one or many (select with the keyboard: Space on a row's box). */
import { useState } from "react";
import { keepPreviousData, useQuery, useQueryClient } from "@tanstack/react-query";
import { useParams } from "react-router";
import {
  Alert, Box, Button, Checkbox, Chip, Collapse, IconButton, Stack, Table, TableBody, TableCell, TableHead, TablePagination,
  TableRow, TextField, Typography,
} from "@mui/material";
import { client, unwrap } from "../api/client";
import { explain } from "../api/errors";
import { canWrite } from "../api/session";
import { Loaded, PageTitle, StatusChip } from "../ui/common";

interface ColumnSuggestion { source: string; target: string; confidence: number; type_compatibility: string; source_type: string; target_type: string; evidence?: string[]; suggested_by?: "matcher" | "model" }
interface TableSuggestion {
  source_table: string; target_table: string; confidence: number; column_coverage: number; columns: ColumnSuggestion[];
  unmapped_source_columns: string[]; unmapped_target_columns: string[]; evidence: string[];
}
interface Suggestions { tables: TableSuggestion[]; total_tables: number; unmapped_source_tables?: string[]; unmapped_target_tables?: string[] }

export const pct = (x: number) => `${Math.round(x * 100)}%`;

export default function MappingsPage() {
  const projectId = useParams().projectId!;
  const queries = useQueryClient();
  const [page, setPage] = useState(0);
  const [rows, setRows] = useState(25);
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [open, setOpen] = useState<string | null>(null);
  const [note, setNote] = useState("");
  const [outcome, setOutcome] = useState<{ ok: boolean; text: string } | null>(null);
  const suggestions = useQuery({
    queryKey: ["suggestions", projectId, page, rows],
    queryFn: () => unwrap<Suggestions>(client.GET("/api/v1/projects/{project_id}/mappings/suggestions", {
      params: { path: { project_id: projectId }, query: { offset: page * rows, limit: rows } },
    })),
    placeholderData: keepPreviousData,
  });
  const approved = useQuery({
    queryKey: ["mappings", projectId],
    queryFn: () => unwrap<{ items?: { source_table: string; target_table: string }[]; mappings?: { source_table: string }[] }>(
      client.GET("/api/v1/projects/{project_id}/mappings", { params: { path: { project_id: projectId }, query: { limit: 1000 } } })),
  });
  const approvedSet = new Set((approved.data?.items ?? approved.data?.mappings ?? []).map((m) => m.source_table));
  const tables = suggestions.data?.tables ?? [];
  const keyOf = (t: TableSuggestion) => `${t.source_table}→${t.target_table}`;
  const chosen = tables.filter((t) => selected.has(keyOf(t)));

  async function decide(action: "approve" | "reject" | "exclude") {
    if (action === "exclude" && !note.trim()) { setOutcome({ ok: false, text: "Say why in the note before excluding." }); return; }
    const done: string[] = [];
    try {
      for (const t of chosen) {
        const path = { project_id: projectId };
        if (action === "approve") await unwrap(client.POST("/api/v1/projects/{project_id}/mappings/approve", { params: { path }, body: { source_table: t.source_table, target_table: t.target_table } }));
        else if (action === "reject") await unwrap(client.POST("/api/v1/projects/{project_id}/mappings/reject", { params: { path }, body: { source_table: t.source_table, target_table: t.target_table } }));
        else await unwrap(client.POST("/api/v1/projects/{project_id}/mappings/exclude", { params: { path }, body: { source_table: t.source_table, columns: [], note: note.trim(), withdraw: false } }));
        done.push(t.source_table);
      }
      setOutcome({ ok: true, text: `${action === "approve" ? "Approved" : action === "reject" ? "Rejected" : "Excluded"}: ${done.join(", ")}` });
      setSelected(new Set());
    } catch (e) {
      setOutcome({ ok: false, text: `${done.length ? `Done for ${done.join(", ")}; then: ` : ""}${explain(e)}` });
    }
    await queries.invalidateQueries({ queryKey: ["mappings", projectId] });
    await queries.invalidateQueries({ queryKey: ["suggestions", projectId] });
  }

  const toggle = (k: string) => setSelected((s) => { const n = new Set(s); if (n.has(k)) n.delete(k); else n.add(k); return n; });
  return (
    <>
      <PageTitle title="Mapping review" crumbs={[["Projects", "/projects"], [projectId, `/projects/${encodeURIComponent(projectId)}`], ["Mappings"]]} />
      {outcome && <Alert severity={outcome.ok ? "success" : "error"} role="status" sx={{ mb: 2 }}>{outcome.text}</Alert>}
      {canWrite() && (
        <Stack direction="row" spacing={1} sx={{ mb: 2, alignItems: "center", flexWrap: "wrap" }} role="group" aria-label="Decide on the selected mappings">
          <Typography>{chosen.length} selected</Typography>
          <Button variant="contained" disabled={!chosen.length} onClick={() => decide("approve")}>Approve selected</Button>
          <Button variant="outlined" disabled={!chosen.length} onClick={() => decide("reject")}>Reject selected</Button>
          <TextField size="small" label="Note (why exclude)" value={note} onChange={(e) => setNote(e.target.value)} />
          <Button variant="outlined" color="warning" disabled={!chosen.length} onClick={() => decide("exclude")}>Exclude selected</Button>
        </Stack>
      )}
      <Loaded query={suggestions}>{() => (
        <>
          {(suggestions.data!.unmapped_source_tables?.length ?? 0) > 0 && (
            <Alert severity="warning" sx={{ mb: 2 }}>Unmapped source tables: {suggestions.data!.unmapped_source_tables!.join(", ")}</Alert>
          )}
          <Table size="small" aria-label="Table mapping suggestions">
            <TableHead><TableRow>
              <TableCell padding="checkbox">
                <Checkbox slotProps={{ input: { "aria-label": "Select all on this page" } as object }} checked={tables.length > 0 && chosen.length === tables.length}
                  onChange={(e) => setSelected(e.target.checked ? new Set(tables.map(keyOf)) : new Set())} />
              </TableCell>
              <TableCell>Source table</TableCell><TableCell>Target table</TableCell><TableCell>Confidence</TableCell>
              <TableCell>Column coverage</TableCell><TableCell>Unmapped columns</TableCell><TableCell>State</TableCell><TableCell>Columns</TableCell>
            </TableRow></TableHead>
            <TableBody>{tables.map((t) => {
              const k = keyOf(t);
              const unmapped = t.unmapped_source_columns.length + t.unmapped_target_columns.length;
              return [
                <TableRow key={k} selected={selected.has(k)} hover>
                  <TableCell padding="checkbox"><Checkbox checked={selected.has(k)} onChange={() => toggle(k)} slotProps={{ input: { "aria-label": `Select ${t.source_table}` } as object }} /></TableCell>
                  <TableCell component="th" scope="row">{t.source_table}</TableCell>
                  <TableCell>{t.target_table}</TableCell>
                  <TableCell>{pct(t.confidence)}</TableCell>
                  <TableCell>{pct(t.column_coverage)}</TableCell>
                  <TableCell>{unmapped ? <Box component="span" sx={{ color: "warning.dark", fontWeight: 600 }}>{unmapped} unmapped</Box> : "none"}</TableCell>
                  <TableCell><StatusChip status={approvedSet.has(t.source_table) ? "approved" : "pending"} /></TableCell>
                  <TableCell>
                    <IconButton size="small" aria-expanded={open === k} aria-label={`Columns of ${t.source_table}`} onClick={() => setOpen(open === k ? null : k)}>
                      {open === k ? "▾" : "▸"}
                    </IconButton>
                  </TableCell>
                </TableRow>,
                <TableRow key={`${k}-cols`}>
                  <TableCell colSpan={8} sx={{ py: 0, borderBottom: open === k ? undefined : "none" }}>
                    <Collapse in={open === k} unmountOnExit>
                      <Typography variant="body2" sx={{ my: 1 }}>Evidence: {t.evidence.join("; ") || "—"}</Typography>
                      <Table size="small" aria-label={`Column mappings of ${t.source_table}`}>
                        <TableHead><TableRow><TableCell>Source column</TableCell><TableCell>Type</TableCell><TableCell>Target column</TableCell><TableCell>Type</TableCell><TableCell>Type map</TableCell><TableCell>Confidence</TableCell></TableRow></TableHead>
                        <TableBody>
                          {t.columns.map((c) => (
                            <TableRow key={c.source}><TableCell>{c.source}</TableCell><TableCell>{c.source_type}</TableCell><TableCell>{c.target}</TableCell>
                              <TableCell>{c.target_type}</TableCell><TableCell><StatusChip status={c.type_compatibility} /></TableCell><TableCell>{pct(c.confidence)}{c.suggested_by === "model" && (
                                <Chip size="small" variant="outlined" color="secondary" label="suggested by model" sx={{ ml: 1 }}
                                  title={(c.evidence ?? []).join("; ")} />)}</TableCell></TableRow>
                          ))}
                          {t.unmapped_source_columns.map((c) => (
                            <TableRow key={`u-${c}`} sx={{ bgcolor: "warning.light" }}><TableCell>{c}</TableCell><TableCell colSpan={5}>no target column (unmapped)</TableCell></TableRow>
                          ))}
                        </TableBody>
                      </Table>
                    </Collapse>
                  </TableCell>
                </TableRow>,
              ];
            })}</TableBody>
          </Table>
          <TablePagination component="div" count={suggestions.data!.total_tables ?? tables.length} page={page} rowsPerPage={rows}
            rowsPerPageOptions={[10, 25, 50, 100]} onPageChange={(_, n) => setPage(n)} onRowsPerPageChange={(e) => { setRows(Number(e.target.value)); setPage(0); }} />
        </>
      )}</Loaded>
    </>
  );
}
