/** Connections of a project: list with last test, add (URL builder per kind, or a URL), test, pool, remove. */
import { useState, type FormEvent } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useParams } from "react-router";
import {
  Alert, Button, Dialog, DialogActions, DialogContent, DialogTitle, MenuItem, Stack, Table, TableBody, TableCell,
  TableHead, TableRow, TextField, Typography,
} from "@mui/material";
import { client, unwrap } from "../api/client";
import { explain } from "../api/errors";
import { canWrite } from "../api/session";
import type { Connection } from "../api/types";
import { ErrorNotice, Loaded, PageTitle, StatusChip } from "../ui/common";
import { buildUrl, FIELDS, type Kind, type UrlFields } from "./urlBuilder";

export default function ConnectionsPage() {
  const projectId = useParams().projectId!;
  const path = { project_id: projectId };
  const queries = useQueryClient();
  const [adding, setAdding] = useState(false);
  const [notes, setNotes] = useState<Record<string, string>>({});
  const connections = useQuery({
    queryKey: ["connections", projectId],
    queryFn: () => unwrap<{ items: Connection[] }>(client.GET("/api/v1/projects/{project_id}/connections", { params: { path } })),
  });
  const act = async (name: string, what: "test" | "pool" | "remove") => {
    const p = { project_id: projectId, name };
    setNotes((n) => ({ ...n, [name]: what === "test" ? "Testing…" : what === "pool" ? "Asking the workers…" : "Removing…" }));
    try {
      if (what === "test") {
        const t = await unwrap<Connection["last_test"]>(client.POST("/api/v1/projects/{project_id}/connections/{name}/test", { params: { path: p } }));
        setNotes((n) => ({ ...n, [name]: t?.ok ? `ok · ${t.server_version ?? ""} · ${Math.round((t.latency_ms ?? 0) * 10) / 10} ms` : `failed: ${t?.error ?? ""}` }));
      } else if (what === "pool") {
        const found = await unwrap<{ totals?: Record<string, number>; workers_answering?: number }>(client.GET("/api/v1/projects/{project_id}/connections/{name}/pool", { params: { path: p } }));
        const t = found.totals ?? {};
        setNotes((n) => ({ ...n, [name]: t.workers ? `${t.open} open, ${t.in_use} in use, ${t.idle} idle on ${t.workers} workers` : `none open (${found.workers_answering ?? 0} workers answering)` }));
      } else {
        await unwrap(client.DELETE("/api/v1/projects/{project_id}/connections/{name}", { params: { path: p } }));
        await queries.invalidateQueries({ queryKey: ["connections", projectId] });
      }
    } catch (e) {
      setNotes((n) => ({ ...n, [name]: explain(e) }));
    }
  };
  return (
    <>
      <PageTitle title="Connections" crumbs={[["Projects", "/projects"], [projectId, `/projects/${encodeURIComponent(projectId)}`], ["Connections"]]}
        actions={canWrite() && <Button variant="contained" onClick={() => setAdding(true)}>Add connection</Button>} />
      <Loaded query={connections}>{() => connections.data!.items.length === 0 ? <Typography>No connections yet.</Typography> : (
        <Table size="small" aria-label="Connections">
          <TableHead><TableRow>
            <TableCell>Name</TableCell><TableCell>Kind</TableCell><TableCell>Role</TableCell><TableCell>URL (secrets masked)</TableCell>
            <TableCell>Last test</TableCell><TableCell>Result</TableCell><TableCell>Actions</TableCell>
          </TableRow></TableHead>
          <TableBody>{connections.data!.items.map((c) => (
            <TableRow key={c.name}>
              <TableCell component="th" scope="row">{c.name}</TableCell>
              <TableCell>{c.kind ?? "—"}</TableCell>
              <TableCell>{c.role ?? "—"}</TableCell>
              <TableCell sx={{ wordBreak: "break-all" }}><code>{c.url_masked ?? "—"}</code></TableCell>
              <TableCell>{c.last_test ? <StatusChip status={c.last_test.ok ? "ok" : "failed"} /> : "not tested"}</TableCell>
              <TableCell aria-live="polite">{notes[c.name] ?? ""}</TableCell>
              <TableCell>
                <Stack direction="row" spacing={1}>
                  {canWrite() && <Button size="small" aria-label={`Test connection ${c.name}`} onClick={() => act(c.name, "test")}>Test</Button>}
                  <Button size="small" aria-label={`Pool of ${c.name} on the workers`} onClick={() => act(c.name, "pool")}>Pool</Button>
                  {canWrite() && <Button size="small" color="error" aria-label={`Remove connection ${c.name}`} onClick={() => act(c.name, "remove")}>Remove</Button>}
                </Stack>
              </TableCell>
            </TableRow>
          ))}</TableBody>
        </Table>
      )}</Loaded>
      {adding && <AddConnectionDialog projectId={projectId} onClose={() => setAdding(false)} />}
    </>
  );
}

function AddConnectionDialog({ projectId, onClose }: { projectId: string; onClose: () => void }) {
  const queries = useQueryClient();
  const [name, setName] = useState("");
  const [role, setRole] = useState<"source" | "target" | "other">("source");
  const [kind, setKind] = useState<Kind>("postgres");
  const [fields, setFields] = useState<UrlFields>({});
  const [problem, setProblem] = useState<string | null>(null);
  const add = useMutation({
    mutationFn: (url: string) => unwrap(client.POST("/api/v1/projects/{project_id}/connections", {
      params: { path: { project_id: projectId } }, body: { name: name.trim(), role, kind: kind === "url" ? null : kind, url },
    })),
    onSuccess: async () => { await queries.invalidateQueries({ queryKey: ["connections", projectId] }); onClose(); },
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    try { setProblem(null); add.mutate(buildUrl(kind, fields)); } catch (err) { setProblem((err as Error).message); }
  };
  return (
    <Dialog open onClose={onClose} aria-labelledby="add-conn-title" fullWidth>
      <form onSubmit={submit}>
        <DialogTitle id="add-conn-title">Add a connection</DialogTitle>
        <DialogContent>
          {problem && <Alert severity="error" role="alert">{problem}</Alert>}
          <ErrorNotice error={add.error} />
          <TextField label="Name" required autoFocus fullWidth margin="dense" value={name} onChange={(e) => setName(e.target.value)} />
          <TextField select label="Role" fullWidth margin="dense" value={role} onChange={(e) => setRole(e.target.value as typeof role)}>
            <MenuItem value="source">source</MenuItem><MenuItem value="target">target</MenuItem><MenuItem value="other">other</MenuItem>
          </TextField>
          <TextField select label="Kind" fullWidth margin="dense" value={kind} onChange={(e) => { setKind(e.target.value as Kind); setFields({}); }}>
            <MenuItem value="postgres">PostgreSQL</MenuItem><MenuItem value="sqlserver">SQL Server</MenuItem>
            <MenuItem value="snowflake">Snowflake</MenuItem><MenuItem value="duckdb">DuckDB (file)</MenuItem>
            <MenuItem value="url">Paste a URL</MenuItem>
          </TextField>
          {FIELDS[kind].map(([key, label]) => (
            <TextField key={key} label={label} fullWidth margin="dense" type={key === "password" || key === "url" ? "password" : "text"}
              autoComplete={key === "password" ? "new-password" : "off"} value={fields[key] ?? ""}
              onChange={(e) => setFields({ ...fields, [key]: e.target.value })} />
          ))}
        </DialogContent>
        <DialogActions>
          <Button onClick={onClose}>Cancel</Button>
          <Button type="submit" variant="contained" disabled={add.isPending}>{add.isPending ? "Saving…" : "Save connection"}</Button>
        </DialogActions>
      </form>
    </Dialog>
  );
}
