/** Projects: search, list (server-paged) and create. */
import { useState, type FormEvent } from "react";
import { keepPreviousData, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Link as RouterLink, useNavigate } from "react-router";
import {
  Button, Dialog, DialogActions, DialogContent, DialogTitle, Link, Table, TableBody, TableCell, TableHead,
  TablePagination, TableRow, TextField,
} from "@mui/material";
import { client, unwrap } from "../api/client";
import { canWrite } from "../api/session";
import type { Page, Project } from "../api/types";
import { ErrorNotice, Loaded, PageTitle } from "../ui/common";

export default function ProjectsPage() {
  const [q, setQ] = useState("");
  const [page, setPage] = useState(0);
  const [rows, setRows] = useState(20);
  const [creating, setCreating] = useState(false);
  const projects = useQuery({
    queryKey: ["projects", q, page, rows],
    queryFn: () => unwrap<Page<Project>>(client.GET("/api/v1/projects", {
      params: { query: { q: q || undefined, offset: page * rows, limit: rows } },
    })),
    placeholderData: keepPreviousData,
  });
  return (
    <>
      <PageTitle title="Projects" actions={canWrite() && <Button variant="contained" onClick={() => setCreating(true)}>New project</Button>} />
      <TextField label="Search projects" type="search" size="small" value={q} sx={{ mb: 2 }}
        onChange={(e) => { setQ(e.target.value); setPage(0); }} />
      <Loaded query={projects}>{() => (
        <>
          <Table size="small" aria-label="Projects">
            <TableHead><TableRow>
              <TableCell>Name</TableCell><TableCell>Id</TableCell><TableCell>Description</TableCell>
              <TableCell>Connections</TableCell><TableCell>Pipelines</TableCell><TableCell>Members</TableCell>
            </TableRow></TableHead>
            <TableBody>{projects.data!.items.map((p) => (
              <TableRow key={p.id} hover>
                <TableCell component="th" scope="row"><Link component={RouterLink} to={`/projects/${encodeURIComponent(p.id)}`}>{p.name || p.id}</Link></TableCell>
                <TableCell><code>{p.id}</code></TableCell>
                <TableCell>{p.description || "—"}</TableCell>
                <TableCell>{p.counts?.connections ?? "—"}</TableCell>
                <TableCell>{p.counts?.pipelines ?? "—"}</TableCell>
                <TableCell>{p.counts?.members ?? "—"}</TableCell>
              </TableRow>
            ))}</TableBody>
          </Table>
          <TablePagination component="div" count={projects.data!.total} page={page} rowsPerPage={rows}
            onPageChange={(_, n) => setPage(n)} onRowsPerPageChange={(e) => { setRows(Number(e.target.value)); setPage(0); }} />
        </>
      )}</Loaded>
      {creating && <CreateProjectDialog onClose={() => setCreating(false)} />}
    </>
  );
}

function CreateProjectDialog({ onClose }: { onClose: () => void }) {
  const navigate = useNavigate();
  const queries = useQueryClient();
  const [form, setForm] = useState({ id: "", name: "", description: "", source_schemas: "", target_schemas: "" });
  const split = (s: string) => s.split(",").map((x) => x.trim()).filter(Boolean);
  const create = useMutation({
    mutationFn: () => unwrap<Project>(client.POST("/api/v1/projects", {
      body: { id: form.id.trim(), name: form.name.trim(), description: form.description,
        source_schemas: split(form.source_schemas), target_schemas: split(form.target_schemas) } as never,
    })),
    onSuccess: async (project) => {
      await queries.invalidateQueries({ queryKey: ["projects"] });
      navigate(`/projects/${encodeURIComponent(project.id ?? form.id)}`);
    },
  });
  const field = (key: keyof typeof form, label: string, extra: object = {}) => (
    <TextField label={label} fullWidth margin="dense" value={form[key]} {...extra}
      onChange={(e) => setForm({ ...form, [key]: e.target.value })} />
  );
  return (
    <Dialog open onClose={onClose} aria-labelledby="new-project-title" fullWidth>
      <form onSubmit={(e: FormEvent) => { e.preventDefault(); create.mutate(); }}>
        <DialogTitle id="new-project-title">New project</DialogTitle>
        <DialogContent>
          <ErrorNotice error={create.error} />
          {field("id", "Id (lower case, digits, - and _)", { required: true, autoFocus: true })}
          {field("name", "Name", { required: true })}
          {field("description", "Description", { multiline: true })}
          {field("source_schemas", "Source schemas (comma-separated)")}
          {field("target_schemas", "Target schemas (comma-separated)")}
        </DialogContent>
        <DialogActions>
          <Button onClick={onClose}>Cancel</Button>
          <Button type="submit" variant="contained" disabled={create.isPending}>{create.isPending ? "Creating…" : "Create"}</Button>
        </DialogActions>
      </form>
    </Dialog>
  );
}
