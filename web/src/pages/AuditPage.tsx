/** The audit log: filters (actor, event type, stream, time), server paging, event detail, chain
 * verification, and a project's state as of any instant (replayed by the audit service). */
import { useState, type FormEvent } from "react";
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { useParams } from "react-router";
import {
  Alert, Box, Button, Card, CardContent, Dialog, DialogContent, DialogTitle, Stack, Table, TableBody, TableCell, TableHead,
  TablePagination, TableRow, TextField, Typography,
} from "@mui/material";
import { client, unwrap } from "../api/client";
import { explain } from "../api/errors";
import type { AuditEntry, Page } from "../api/types";
import { Loaded, PageTitle, when } from "../ui/common";

interface Filters { actor: string; action: string; stream_type: string; since: string; until: string; project_id: string }
const EMPTY: Filters = { actor: "", action: "", stream_type: "", since: "", until: "", project_id: "" };
const iso = (local: string) => (local ? new Date(local).toISOString() : undefined);

export default function AuditPage() {
  const routeProject = useParams().projectId;
  const [draft, setDraft] = useState<Filters>({ ...EMPTY, project_id: routeProject ?? "" });
  const [filters, setFilters] = useState<Filters>(draft);
  const [page, setPage] = useState(0);
  const [rows, setRows] = useState(25);
  const [detail, setDetail] = useState<AuditEntry | null>(null);
  const logs = useQuery({
    queryKey: ["audit", filters, page, rows],
    queryFn: () => unwrap<Page<AuditEntry>>(client.GET("/api/v1/audit/logs", {
      params: { query: {
        offset: page * rows, limit: rows, actor: filters.actor || undefined, action: filters.action || undefined,
        stream_type: filters.stream_type || undefined, project_id: filters.project_id || undefined,
        since: iso(filters.since), until: iso(filters.until),
      } },
    })),
    placeholderData: keepPreviousData,
  });
  const apply = (e: FormEvent) => { e.preventDefault(); setPage(0); setFilters(draft); };
  const set = (k: keyof Filters) => (e: { target: { value: string } }) => setDraft({ ...draft, [k]: e.target.value });
  return (
    <>
      <PageTitle title="Audit log" crumbs={routeProject ? [["Projects", "/projects"], [routeProject, `/projects/${encodeURIComponent(routeProject)}`], ["Audit"]] : undefined} />
      <Verify />
      <Card component="form" onSubmit={apply} aria-label="Search the audit log" sx={{ mb: 2 }}><CardContent>
        <Stack direction="row" spacing={1} sx={{ flexWrap: "wrap", gap: 1 }}>
          <TextField size="small" label="Project" value={draft.project_id} onChange={set("project_id")} />
          <TextField size="small" label="Actor" value={draft.actor} onChange={set("actor")} />
          <TextField size="small" label="Event type" value={draft.action} onChange={set("action")} />
          <TextField size="small" label="Stream type" value={draft.stream_type} onChange={set("stream_type")} />
          <TextField size="small" label="From" type="datetime-local" value={draft.since} onChange={set("since")} slotProps={{ inputLabel: { shrink: true } }} />
          <TextField size="small" label="Until" type="datetime-local" value={draft.until} onChange={set("until")} slotProps={{ inputLabel: { shrink: true } }} />
          <Button type="submit" variant="contained">Search</Button>
        </Stack>
      </CardContent></Card>
      <Loaded query={logs}>{() => (
        <>
          <Box sx={{ overflowX: "auto" }}>
            <Table size="small" aria-label="Audit events">
              <TableHead><TableRow><TableCell>#</TableCell><TableCell>When</TableCell><TableCell>Event</TableCell><TableCell>Stream</TableCell><TableCell>Actor</TableCell><TableCell>Detail</TableCell></TableRow></TableHead>
              <TableBody>{logs.data!.items.map((e) => (
                <TableRow key={e.position} hover>
                  <TableCell>{e.position}</TableCell>
                  <TableCell>{when(e.occurred_at)}</TableCell>
                  <TableCell>{e.event_type}</TableCell>
                  <TableCell>{e.stream_type}/{e.stream_id}</TableCell>
                  <TableCell>{e.actor?.name || e.actor?.id || "—"}</TableCell>
                  <TableCell><Button size="small" aria-label={`Details of event ${e.position}`} onClick={() => setDetail(e)}>Details</Button></TableCell>
                </TableRow>
              ))}</TableBody>
            </Table>
          </Box>
          <TablePagination component="div" count={logs.data!.total} page={page} rowsPerPage={rows} rowsPerPageOptions={[25, 50, 100]}
            onPageChange={(_, n) => setPage(n)} onRowsPerPageChange={(e) => { setRows(Number(e.target.value)); setPage(0); }} />
        </>
      )}</Loaded>
      {filters.project_id && <AsOf projectId={filters.project_id} />}
      <Dialog open={Boolean(detail)} onClose={() => setDetail(null)} aria-labelledby="event-title" fullWidth maxWidth="md">
        <DialogTitle id="event-title">Event {detail?.position}: {detail?.event_type}</DialogTitle>
        <DialogContent><Box component="pre" sx={{ whiteSpace: "pre-wrap", wordBreak: "break-word", fontSize: 13 }}>{JSON.stringify(detail, null, 2)}</Box></DialogContent>
      </Dialog>
    </>
  );
}

function Verify() {
  const [state, setState] = useState<{ severity: "success" | "error" | "info"; text: string } | null>(null);
  async function verify() {
    setState({ severity: "info", text: "Verifying the hash chain…" });
    try {
      const v = await unwrap<{ ok: boolean; checked?: number; first_position?: number; last_position?: number; broken_at?: number; reason?: string }>(client.GET("/api/v1/audit/verify"));
      setState(v.ok
        ? { severity: "success", text: `Chain intact: ${v.checked} entries checked (positions ${v.first_position}–${v.last_position}).` }
        : { severity: "error", text: `Chain broken at position ${v.broken_at}: ${v.reason || "hash mismatch"}.` });
    } catch (e) { setState({ severity: "error", text: explain(e) }); }
  }
  return (
    <Stack direction="row" spacing={2} sx={{ mb: 2, alignItems: "center" }}>
      <Button variant="outlined" onClick={verify}>Verify the chain</Button>
      {state && <Alert severity={state.severity} role="status">{state.text}</Alert>}
    </Stack>
  );
}

function AsOf({ projectId }: { projectId: string }) {
  const [at, setAt] = useState("");
  const [asked, setAsked] = useState<string | null>(null);
  const state = useQuery({
    queryKey: ["as-of", projectId, asked],
    enabled: Boolean(asked),
    queryFn: () => unwrap<unknown>(client.GET("/api/v1/audit/as-of", { params: { query: { stream_type: "project", stream_id: projectId, at: asked! } } })),
  });
  return (
    <Card component="section" aria-labelledby="asof-h" sx={{ mt: 2 }}><CardContent>
      <Typography id="asof-h" variant="h6" component="h2">Project {projectId} as of an instant</Typography>
      <Stack direction="row" spacing={1} sx={{ my: 1 }} component="form" onSubmit={(e: FormEvent) => { e.preventDefault(); if (at) setAsked(new Date(at).toISOString()); }}>
        <TextField size="small" label="At" type="datetime-local" value={at} onChange={(e) => setAt(e.target.value)} slotProps={{ inputLabel: { shrink: true }, htmlInput: { step: 1 } }} />
        <Button type="submit" variant="outlined">Show as of</Button>
      </Stack>
      {asked && <Loaded query={state}>{() => <Box component="pre" data-testid="as-of" sx={{ whiteSpace: "pre-wrap", fontSize: 13 }}>{JSON.stringify(state.data, null, 2)}</Box>}</Loaded>}
    </CardContent></Card>
  );
}
