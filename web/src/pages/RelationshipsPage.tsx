/** Relationships and classification of a side's catalog: the graph of inferred relationships
 * (Mermaid), each relationship with its evidence, the table classes (fact, dimension, …) with their
 * column classes, and each table's key, which a person confirms or overrides. */
import { useState } from "react";
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useParams } from "react-router";
import {
  Alert, Box, Button, Chip, Dialog, DialogActions, DialogContent, DialogTitle, MenuItem, Stack, Table, TableBody,
  TableCell, TableHead, TableRow, TextField, Typography,
} from "@mui/material";
import { client, unwrap } from "../api/client";
import { explain } from "../api/errors";
import { canWrite } from "../api/session";
import { Loaded, PageTitle, StatusChip } from "../ui/common";
import { MermaidDiagram } from "../ui/MermaidDiagram";
import { keyColumns, percent, relationshipsMermaid, type Relationship, type TableClass, type TableKey } from "./relationshipsView";

type Side = "source" | "target";

export default function RelationshipsPage() {
  const projectId = useParams().projectId!;
  const queries = useQueryClient();
  const [side, setSide] = useState<Side>("source");
  const [note, setNote] = useState<{ ok: boolean; text: string } | null>(null);
  const [overriding, setOverriding] = useState<TableKey | null>(null);
  const path = { project_id: projectId };
  const rels = useQuery({
    queryKey: ["relationships", projectId, side],
    queryFn: () => unwrap<{ relationships: Relationship[] }>(client.GET("/api/v1/projects/{project_id}/relationships", { params: { path, query: { side } } })),
  });
  const classes = useQuery({
    queryKey: ["classification", projectId, side],
    queryFn: () => unwrap<{ tables: TableClass[]; counts: Record<string, number> }>(client.GET("/api/v1/projects/{project_id}/classification", { params: { path, query: { side } } })),
  });
  const keys = useQuery({
    queryKey: ["keys", projectId, side],
    queryFn: () => unwrap<{ keys: TableKey[] }>(client.GET("/api/v1/projects/{project_id}/keys", { params: { path, query: { side } } })),
  });
  const keyOf = new Map((keys.data?.keys ?? []).map((k) => [k.table.toLowerCase(), k]));

  async function act(what: string, call: () => Promise<unknown>, keysOnly = true) {
    setNote(null);
    try {
      await call();
      setNote({ ok: true, text: what });
      await queries.invalidateQueries({ queryKey: ["keys", projectId, side] });
      if (!keysOnly) {
        await queries.invalidateQueries({ queryKey: ["relationships", projectId, side] });
        await queries.invalidateQueries({ queryKey: ["classification", projectId, side] });
      }
    } catch (e) { setNote({ ok: false, text: explain(e) }); }
  }
  const confirm = (k: TableKey) => act(`Key of ${k.table} confirmed: ${k.columns.join(", ")}.`, () => unwrap(client.POST(
    "/api/v1/projects/{project_id}/keys/confirm", { params: { path }, body: { table: k.table, side, columns: k.columns } })));

  return (
    <>
      <PageTitle title="Relationships and classification" crumbs={[["Projects", "/projects"], [projectId, `/projects/${encodeURIComponent(projectId)}`], ["Relationships"]]}
        actions={<Stack direction="row" spacing={1} sx={{ alignItems: "center" }}>
          <TextField select size="small" label="Side" value={side} onChange={(e) => setSide(e.target.value as Side)} sx={{ minWidth: 140 }}>
            <MenuItem value="source">source</MenuItem><MenuItem value="target">target</MenuItem>
          </TextField>
          {canWrite() && <Button variant="outlined" onClick={() => act("Relationships inferred and tables classified again.", async () => {
            await unwrap(client.POST("/api/v1/projects/{project_id}/infer-relationships", { params: { path, query: { side } } }));
            await unwrap(client.POST("/api/v1/projects/{project_id}/classify", { params: { path, query: { side } } }));
          }, false)}>Infer and classify again</Button>}
        </Stack>} />
      {note && <Alert severity={note.ok ? "success" : "error"} role="status" sx={{ mb: 2 }}>{note.text}</Alert>}
      <Typography variant="h5" component="h2" gutterBottom>Relationship graph</Typography>
      <Loaded query={{ isPending: rels.isPending || classes.isPending, error: rels.error ?? classes.error }}>{() => {
        const list = rels.data!.relationships;
        if (!list.length) return <Typography sx={{ mb: 2 }}>No relationships inferred on the {side} side yet: automate the project, or infer them.</Typography>;
        return (
          <>
            <Typography data-testid="relationship-summary" sx={{ mb: 1 }}>
              {list.length} relationships between {new Set(list.flatMap((r) => [r.child_table, r.parent_table])).size} tables
            </Typography>
            <MermaidDiagram source={relationshipsMermaid(list, classes.data!.tables)} label={`Relationship graph of the ${side}: ${list.length} relationships`} />
            <Table size="small" aria-label="Relationships with their evidence" sx={{ mt: 2, mb: 4 }}>
              <TableHead><TableRow><TableCell>References</TableCell><TableCell>Referenced</TableCell><TableCell>Confidence</TableCell><TableCell>Evidence</TableCell></TableRow></TableHead>
              <TableBody>{list.map((r, i) => (
                <TableRow key={i}>
                  <TableCell>{r.child_table} ({r.child_columns.join(", ")}){r.role ? ` as ${r.role}` : ""}{r.hierarchy ? " · hierarchy" : ""}</TableCell>
                  <TableCell>{r.parent_table} ({r.parent_columns.join(", ")})</TableCell>
                  <TableCell>{percent(r.confidence)}</TableCell>
                  <TableCell>{r.evidence.map((e, j) => (
                    <Box key={j}><Chip size="small" variant="outlined" label={`${e.kind} ${percent(e.confidence)}`} sx={{ mr: 1 }} />{e.detail}</Box>
                  ))}</TableCell>
                </TableRow>
              ))}</TableBody>
            </Table>
          </>
        );
      }}</Loaded>
      <Typography variant="h5" component="h2" gutterBottom>Classes and keys</Typography>
      <Loaded query={classes}>{() => (
        <>
          <Typography data-testid="class-counts" sx={{ mb: 1 }}>
            {Object.entries(classes.data!.counts).map(([k, v]) => `${v} ${k}`).join(" · ") || "No table classified yet."}
          </Typography>
          <Table size="small" aria-label="Table classes and keys">
            <TableHead><TableRow>
              <TableCell>Table</TableCell><TableCell>Class</TableCell><TableCell>Key</TableCell><TableCell>Column classes</TableCell><TableCell>Evidence</TableCell>
            </TableRow></TableHead>
            <TableBody>{classes.data!.tables.map((c) => {
              const k = keyOf.get(c.table.toLowerCase());
              return (
                <TableRow key={c.table}>
                  <TableCell component="th" scope="row">{c.table}</TableCell>
                  <TableCell><StatusChip status={c.role} /> {percent(c.confidence)}{c.fact_kind ? ` · ${c.fact_kind}` : ""}
                    {c.dimension_kinds?.length ? ` · ${c.dimension_kinds.join(", ")}` : ""}{c.scd2 ? " · SCD2" : ""}</TableCell>
                  <TableCell>
                    <Box>{k ? `${k.columns.join(", ") || "none"} (${k.status}${k.by ? ` by ${k.by}` : ""})` : "—"}</Box>
                    {canWrite() && k && (
                      <Stack direction="row" spacing={1} sx={{ mt: 0.5 }}>
                        {k.status === "discovered" && <Button size="small" variant="outlined" onClick={() => confirm(k)} aria-label={`Confirm key of ${c.table}`}>Confirm</Button>}
                        <Button size="small" onClick={() => setOverriding(k)} aria-label={`Override key of ${c.table}`}>Override</Button>
                      </Stack>
                    )}
                  </TableCell>
                  <TableCell sx={{ fontSize: 13 }}>{Object.entries(c.columns ?? {}).map(([col, role]) => `${col}: ${role.replace(/_/g, " ")}`).join(" · ")}</TableCell>
                  <TableCell sx={{ fontSize: 13 }}>{(c.evidence ?? []).join("; ")}</TableCell>
                </TableRow>
              );
            })}</TableBody>
          </Table>
        </>
      )}</Loaded>
      {overriding && <OverrideDialog keyOf={overriding} onClose={() => setOverriding(null)} onSave={(columns, why) => {
        const k = overriding; setOverriding(null);
        return act(`Key of ${k.table} set to ${columns.join(", ")}.`, () => unwrap(client.POST("/api/v1/projects/{project_id}/keys/override", {
          params: { path }, body: { table: k.table, side, columns, note: why } })));
      }} />}
    </>
  );
}

function OverrideDialog({ keyOf, onClose, onSave }: { keyOf: TableKey; onClose: () => void; onSave: (columns: string[], note: string) => void }) {
  const [text, setText] = useState(keyOf.columns.join(", "));
  const [why, setWhy] = useState("");
  const columns = keyColumns(text);
  return (
    <Dialog open onClose={onClose} aria-labelledby="override-title">
      <DialogTitle id="override-title">Key of {keyOf.table}</DialogTitle>
      <DialogContent>
        <Stack spacing={2} sx={{ pt: 1 }}>
          <TextField autoFocus label="Key columns" value={text} onChange={(e) => setText(e.target.value)} required
            error={!columns} helperText={columns ? "comma separated, in this side's names" : "name at least one column"} />
          <TextField label="Why" value={why} onChange={(e) => setWhy(e.target.value)} multiline minRows={2} />
        </Stack>
      </DialogContent>
      <DialogActions>
        <Button onClick={onClose}>Cancel</Button>
        <Button variant="contained" disabled={!columns} onClick={() => columns && onSave(columns, why)}>Save key</Button>
      </DialogActions>
    </Dialog>
  );
}
