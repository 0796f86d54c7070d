/** Admin: the users (server-paged, searchable), add one, change a role, unlock a locked account. */
import { useState, type FormEvent } from "react";
import { keepPreviousData, useQuery, useQueryClient } from "@tanstack/react-query";
import {
  Alert, Button, Card, CardContent, MenuItem, Stack, Table, TableBody, TableCell, TableHead, TablePagination, TableRow, TextField, Typography,
} from "@mui/material";
import { client, unwrap } from "../api/client";
import { explain } from "../api/errors";
import type { Page } from "../api/types";
import { Loaded, PageTitle, when } from "../ui/common";

type Role = "admin" | "user" | "viewer";
interface User { id: string; username: string; role: Role; created_at?: string | null; last_login_at?: string | null; locked_until?: string | null }
const ROLES: Role[] = ["admin", "user", "viewer"];

export default function AdminPage() {
  const queries = useQueryClient();
  const [q, setQ] = useState("");
  const [page, setPage] = useState(0);
  const [rows, setRows] = useState(25);
  const [note, setNote] = useState<{ ok: boolean; text: string } | null>(null);
  const users = useQuery({
    queryKey: ["users", q, page, rows],
    queryFn: () => unwrap<Page<User>>(client.GET("/api/v1/users", { params: { query: { q: q || undefined, offset: page * rows, limit: rows } } })),
    placeholderData: keepPreviousData,
  });
  const refresh = () => queries.invalidateQueries({ queryKey: ["users"] });
  async function changeRole(u: User, role: Role) {
    try {
      await unwrap(client.PATCH("/api/v1/users/{user_id}", { params: { path: { user_id: u.id } }, body: { role } }));
      setNote({ ok: true, text: `${u.username} is now ${role}.` });
      await refresh();
    } catch (e) { setNote({ ok: false, text: explain(e) }); }
  }
  async function unlock(u: User) {
    try {
      await unwrap(client.POST("/api/v1/users/{user_id}/unlock", { params: { path: { user_id: u.id } } }));
      setNote({ ok: true, text: `${u.username} unlocked.` });
      await refresh();
    } catch (e) { setNote({ ok: false, text: explain(e) }); }
  }
  return (
    <>
      <PageTitle title="Users" />
      {note && <Alert severity={note.ok ? "success" : "error"} role="status" sx={{ mb: 2 }}>{note.text}</Alert>}
      <NewUserForm onCreated={async (name) => { setNote({ ok: true, text: `${name} added.` }); await refresh(); }} />
      <TextField label="Search users" type="search" size="small" value={q} sx={{ my: 2 }} onChange={(e) => { setQ(e.target.value); setPage(0); }} />
      <Loaded query={users}>{() => (
        <>
          <Table size="small" aria-label="Users">
            <TableHead><TableRow><TableCell>User</TableCell><TableCell>Role</TableCell><TableCell>Created</TableCell><TableCell>Last login</TableCell><TableCell>Locked until</TableCell></TableRow></TableHead>
            <TableBody>{users.data!.items.map((u) => (
              <TableRow key={u.id}>
                <TableCell component="th" scope="row">{u.username}</TableCell>
                <TableCell>
                  <TextField select size="small" value={u.role} onChange={(e) => changeRole(u, e.target.value as Role)}
                    slotProps={{ htmlInput: { "aria-label": `Role of ${u.username}` } }}>
                    {ROLES.map((r) => <MenuItem key={r} value={r}>{r}</MenuItem>)}
                  </TextField>
                </TableCell>
                <TableCell>{when(u.created_at)}</TableCell>
                <TableCell>{when(u.last_login_at)}</TableCell>
                <TableCell>{u.locked_until ? <>{when(u.locked_until)} <Button size="small" onClick={() => unlock(u)}>Unlock</Button></> : "—"}</TableCell>
              </TableRow>
            ))}</TableBody>
          </Table>
          <TablePagination component="div" count={users.data!.total} page={page} rowsPerPage={rows} rowsPerPageOptions={[25, 50, 100]}
            onPageChange={(_, n) => setPage(n)} onRowsPerPageChange={(e) => { setRows(Number(e.target.value)); setPage(0); }} />
        </>
      )}</Loaded>
    </>
  );
}

function NewUserForm({ onCreated }: { onCreated: (username: string) => void }) {
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [role, setRole] = useState<Role>("user");
  const [problem, setProblem] = useState<string | null>(null);
  async function submit(e: FormEvent) {
    e.preventDefault();
    setProblem(null);
    try {
      await unwrap(client.POST("/api/v1/users", { body: { username: username.trim(), password, role } }));
      onCreated(username.trim());
      setUsername(""); setPassword("");
    } catch (err) { setProblem(explain(err)); }
  }
  return (
    <Card component="form" onSubmit={submit} aria-labelledby="new-user-h"><CardContent>
      <Typography id="new-user-h" variant="h6" component="h2">Add a user</Typography>
      {problem && <Alert severity="error" role="alert" sx={{ my: 1 }}>{problem}</Alert>}
      <Stack direction="row" spacing={1} sx={{ mt: 1, flexWrap: "wrap", gap: 1 }}>
        <TextField size="small" label="New username" required value={username} onChange={(e) => setUsername(e.target.value)} />
        <TextField size="small" label="Initial password" type="password" autoComplete="new-password" required value={password} onChange={(e) => setPassword(e.target.value)} />
        <TextField select size="small" label="New user's role" value={role} onChange={(e) => setRole(e.target.value as Role)} sx={{ minWidth: 140 }}>
          {ROLES.map((r) => <MenuItem key={r} value={r}>{r}</MenuItem>)}
        </TextField>
        <Button type="submit" variant="contained">Add user</Button>
      </Stack>
    </CardContent></Card>
  );
}
