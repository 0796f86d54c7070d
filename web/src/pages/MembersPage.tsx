/** A project's members: who they are and their role, add one by username, remove one; an admin also
 * changes a member's role (roles are platform-wide: admin, user, viewer). */
import { useState, type FormEvent } from "react";
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useParams } from "react-router";
import { Alert, Button, Card, CardContent, MenuItem, Stack, Table, TableBody, TableCell, TableHead, TableRow, TextField, Typography } from "@mui/material";
import { client, unwrap } from "../api/client";
import { explain } from "../api/errors";
import { canWrite, session } from "../api/session";
import { Loaded, PageTitle } from "../ui/common";

type Role = "admin" | "user" | "viewer";
interface Member { user_id: string; username: string | null; role: Role | null }
const ROLES: Role[] = ["admin", "user", "viewer"];

export default function MembersPage() {
  const projectId = useParams().projectId!;
  const path = { project_id: projectId };
  const queries = useQueryClient();
  const isAdmin = session.get()?.user.role === "admin";
  const [note, setNote] = useState<{ ok: boolean; text: string } | null>(null);
  const members = useQuery({
    queryKey: ["members", projectId],
    queryFn: () => unwrap<{ items: Member[]; total: number }>(client.GET("/api/v1/projects/{project_id}/members", { params: { path } })),
  });
  const refresh = () => queries.invalidateQueries({ queryKey: ["members", projectId] });
  const act = async (work: () => Promise<unknown>, done: string) => {
    try { await work(); setNote({ ok: true, text: done }); await refresh(); } catch (e) { setNote({ ok: false, text: explain(e) }); }
  };
  const name = (m: Member) => m.username ?? m.user_id;
  return (
    <>
      <PageTitle title="Members" crumbs={[["Projects", "/projects"], [projectId, `/projects/${encodeURIComponent(projectId)}`], ["Members"]]} />
      {note && <Alert severity={note.ok ? "success" : "error"} role={note.ok ? "status" : "alert"} sx={{ mb: 2 }}>{note.text}</Alert>}
      {canWrite() && <AddMember projectId={projectId} onAdded={(who) => act(async () => undefined, `${who} added to ${projectId}.`)} />}
      <Loaded query={members}>{() => (
        <Table size="small" aria-label="Members" sx={{ mt: 2 }}>
          <TableHead><TableRow><TableCell>User</TableCell><TableCell>Role (platform-wide)</TableCell><TableCell>User id</TableCell><TableCell>Action</TableCell></TableRow></TableHead>
          <TableBody>{members.data!.items.map((m) => (
            <TableRow key={m.user_id}>
              <TableCell component="th" scope="row">{name(m)}</TableCell>
              <TableCell>{isAdmin && m.role ? (
                <TextField select size="small" value={m.role} slotProps={{ htmlInput: { "aria-label": `Role of ${name(m)}` } }}
                  onChange={(e) => act(() => unwrap(client.PATCH("/api/v1/users/{user_id}", { params: { path: { user_id: m.user_id } }, body: { role: e.target.value as Role } })),
                    `${name(m)} is now ${e.target.value}.`)}>
                  {ROLES.map((r) => <MenuItem key={r} value={r}>{r}</MenuItem>)}
                </TextField>
              ) : (m.role ?? "unknown user")}</TableCell>
              <TableCell><code>{m.user_id}</code></TableCell>
              <TableCell>{canWrite() && (
                <Button size="small" color="warning" aria-label={`Remove ${name(m)} from the project`}
                  onClick={() => act(() => unwrap(client.DELETE("/api/v1/projects/{project_id}/members/{user_id}", { params: { path: { project_id: projectId, user_id: m.user_id } } })),
                    `${name(m)} removed from ${projectId}.`)}>Remove</Button>
              )}</TableCell>
            </TableRow>
          ))}</TableBody>
        </Table>
      )}</Loaded>
    </>
  );
}

function AddMember({ projectId, onAdded }: { projectId: string; onAdded: (username: string) => void }) {
  const [username, setUsername] = useState("");
  const [problem, setProblem] = useState<string | null>(null);
  async function submit(e: FormEvent) {
    e.preventDefault();
    setProblem(null);
    const who = username.trim();
    try {
      await unwrap(client.POST("/api/v1/projects/{project_id}/members", { params: { path: { project_id: projectId } }, body: { username: who } }));
      setUsername("");
      onAdded(who);
    } catch (err) { setProblem(explain(err)); }
  }
  return (
    <Card component="form" onSubmit={submit} aria-labelledby="add-member-h"><CardContent>
      <Typography id="add-member-h" variant="h6" component="h2">Add a member</Typography>
      {problem && <Alert severity="error" role="alert" sx={{ my: 1 }}>{problem}</Alert>}
      <Stack direction="row" spacing={1} sx={{ mt: 1, alignItems: "center" }}>
        <TextField size="small" label="Member's username" required value={username} onChange={(e) => setUsername(e.target.value)} />
        <Button type="submit" variant="contained">Add member</Button>
      </Stack>
    </CardContent></Card>
  );
}
