/** The catalog's tools beside the browser: what changed since the previous extraction, the whole
 * catalog as a YAML file, and DDL uploaded instead of extracting (pasted, or a .sql file). */
import { useState, type FormEvent } from "react";
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { Alert, Box, Button, Card, CardContent, MenuItem, Stack, Table, TableBody, TableCell, TableHead, TableRow, TextField, Typography } from "@mui/material";
import { authFetch, client, download, unwrap } from "../api/client";
import { ApiError, explain, toApiError } from "../api/errors";
import { canWrite } from "../api/session";
import { Loaded } from "../ui/common";
import { catalogChangeRows, type CatalogDiff } from "./results";

type Side = "source" | "target";
const DIALECTS = ["tsql", "snowflake", "postgres"] as const; // the DDL parser's (metadata.ddl); DuckDB DDL is not read
type Dialect = (typeof DIALECTS)[number];

export function CatalogChanges({ projectId, side }: { projectId: string; side: Side }) {
  const changes = useQuery({
    queryKey: ["catalog-changes", projectId, side],
    queryFn: () => unwrap<CatalogDiff>(client.GET("/api/v1/projects/{project_id}/catalog/changes", { params: { path: { project_id: projectId }, query: { side } } })),
  });
  const [note, setNote] = useState<{ ok: boolean; text: string } | null>(null);
  const exportYaml = async () => {
    try {
      const file = await download(`/api/v1/projects/${encodeURIComponent(projectId)}/catalog/export`, { side }, `${projectId}-${side}-catalog.yaml`);
      setNote({ ok: true, text: `Downloaded ${file}` });
    } catch (e) { setNote({ ok: false, text: explain(e) }); }
  };
  return (
    <Card component="section" aria-labelledby="changes-h" sx={{ mb: 2 }}><CardContent>
      <Stack direction="row" sx={{ alignItems: "center", gap: 2, flexWrap: "wrap" }}>
        <Typography id="changes-h" variant="h6" component="h2" sx={{ flexGrow: 1 }}>Changes in the {side} since the previous extraction</Typography>
        <Button variant="outlined" onClick={exportYaml}>Export {side} catalog as YAML</Button>
      </Stack>
      {note && <Alert severity={note.ok ? "success" : "error"} role={note.ok ? "status" : "alert"} sx={{ my: 1 }}>{note.text}</Alert>}
      {changes.error instanceof ApiError && changes.error.status === 404
        ? <Typography color="text.secondary">No {side} catalog yet: extract it or upload its DDL.</Typography>
        : <Loaded query={changes}>{() => {
          const d = changes.data!;
          const rows = catalogChangeRows(d);
          if (d.first_extraction) return <Typography data-testid="catalog-changes-summary">First extraction: {d.tables_added.length} tables, nothing to compare with yet.</Typography>;
          if (!rows.length) return <Typography data-testid="catalog-changes-summary">No change since the previous extraction.</Typography>;
          return (
            <>
              <Typography data-testid="catalog-changes-summary" sx={{ mb: 1 }}>{rows.length} change{rows.length === 1 ? "" : "s"} since the previous extraction.</Typography>
              <Box sx={{ overflowX: "auto", maxHeight: 360 }}>
                <Table size="small" aria-label={`Catalog changes of the ${side}`}>
                  <TableHead><TableRow><TableCell>Table</TableCell><TableCell>Change</TableCell><TableCell>Column</TableCell><TableCell>Before</TableCell><TableCell>After</TableCell></TableRow></TableHead>
                  <TableBody>{rows.map((r, i) => (
                    <TableRow key={i}><TableCell>{r.table}</TableCell><TableCell>{r.change}</TableCell><TableCell>{r.column}</TableCell><TableCell><code>{r.before}</code></TableCell><TableCell><code>{r.after}</code></TableCell></TableRow>
                  ))}</TableBody>
                </Table>
              </Box>
            </>
          );
        }}</Loaded>}
    </CardContent></Card>
  );
}

/** Upload CREATE TABLE statements for a side: pasted text goes inline, a file goes as multipart
 * (no size limit of a bus message). */
export function DdlUpload({ projectId, side }: { projectId: string; side: Side }) {
  const queries = useQueryClient();
  const [dialect, setDialect] = useState<Dialect>("tsql");
  const [ddl, setDdl] = useState("");
  const [file, setFile] = useState<File | null>(null);
  const [note, setNote] = useState<{ ok: boolean; text: string } | null>(null);
  const [busy, setBusy] = useState(false);
  if (!canWrite()) return null;
  async function submit(e: FormEvent) {
    e.preventDefault();
    setNote(null);
    if (!file && !ddl.trim()) { setNote({ ok: false, text: "Paste CREATE TABLE statements or choose a .sql file." }); return; }
    setBusy(true);
    try {
      let reply: { tables?: number; columns?: number };
      if (file) {
        const form = new FormData();
        form.append("file", file);
        form.append("side", side);
        form.append("dialect", dialect);
        const response = await authFetch(new Request(`/api/v1/projects/${encodeURIComponent(projectId)}/ddl/file`, { method: "POST", body: form }));
        if (!response.ok) throw toApiError(response.status, response.statusText, await response.json().catch(() => null));
        reply = await response.json();
      } else {
        reply = await unwrap(client.POST("/api/v1/projects/{project_id}/ddl", { params: { path: { project_id: projectId } }, body: { side, dialect, ddl } }));
      }
      setNote({ ok: true, text: `Uploaded the ${side}'s DDL: ${reply.tables ?? 0} tables, ${reply.columns ?? 0} columns.` });
      setDdl(""); setFile(null);
      await queries.invalidateQueries({ queryKey: ["catalog", projectId] });
      await queries.invalidateQueries({ queryKey: ["catalog-changes", projectId] });
    } catch (err) { setNote({ ok: false, text: explain(err) }); } finally { setBusy(false); }
  }
  return (
    <Card component="form" onSubmit={submit} aria-labelledby="ddl-h" sx={{ mb: 2 }}><CardContent>
      <Typography id="ddl-h" variant="h6" component="h2">Upload the {side}'s DDL instead of extracting</Typography>
      {note && <Alert severity={note.ok ? "success" : "error"} role={note.ok ? "status" : "alert"} sx={{ my: 1 }}>{note.text}</Alert>}
      <Stack spacing={1} sx={{ mt: 1 }}>
        <TextField select size="small" label="Dialect" value={dialect} sx={{ maxWidth: 200 }} onChange={(e) => setDialect(e.target.value as Dialect)}>
          {DIALECTS.map((d) => <MenuItem key={d} value={d}>{d}</MenuItem>)}
        </TextField>
        <TextField label="CREATE TABLE statements" multiline minRows={4} value={ddl} onChange={(e) => setDdl(e.target.value)} slotProps={{ htmlInput: { spellCheck: false, style: { fontFamily: "monospace" } } }} />
        <Stack direction="row" spacing={1} sx={{ alignItems: "center" }}>
          <Typography component="label" htmlFor="ddl-file">Or a .sql file:</Typography>
          <input id="ddl-file" type="file" accept=".sql,text/plain" onChange={(e) => setFile(e.target.files?.[0] ?? null)} />
        </Stack>
        <Box><Button type="submit" variant="contained" disabled={busy}>{busy ? "Uploading…" : "Upload DDL"}</Button></Box>
      </Stack>
    </CardContent></Card>
  );
}
