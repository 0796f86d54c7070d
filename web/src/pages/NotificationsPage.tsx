/** In-app alerts: the notifications of the projects you belong to (an admin also sees platform
 * alerts), newest first, each marked read (dismissed) with one button; and a form to subscribe a
 * project's events to in-app notifications. */
import { useState, type FormEvent } from "react";
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { Alert, Box, Button, Stack, Table, TableBody, TableCell, TableHead, TableRow, TextField, Typography } from "@mui/material";
import { client, unwrap } from "../api/client";
import { explain } from "../api/errors";
import { Loaded, PageTitle, StatusChip, when } from "../ui/common";
import { eventTypesOf } from "./notifications";

export interface Notification {
  id: number | string; rule_id?: string; event_id?: string; project_id?: string | null; severity?: string;
  summary?: string; created_at?: string; dismissed_at?: string | null;
}

export default function NotificationsPage() {
  const queries = useQueryClient();
  const [problem, setProblem] = useState("");
  const found = useQuery({
    queryKey: ["notifications"],
    queryFn: () => unwrap<{ items: Notification[]; total: number }>(client.GET("/api/v1/notifications")),
  });
  const markRead = async (id: Notification["id"]) => {
    setProblem("");
    try {
      await unwrap(client.POST("/api/v1/notifications/{notification_id}/dismiss", { params: { path: { notification_id: String(id) } } }));
      await queries.invalidateQueries({ queryKey: ["notifications"] });
    } catch (e) { setProblem(explain(e)); }
  };
  return (
    <>
      <PageTitle title="Notifications" />
      {problem && <Alert severity="error" role="alert" sx={{ mb: 2 }}>{problem}</Alert>}
      <Loaded query={found}>{() => found.data!.items.length === 0
        ? <Typography sx={{ mb: 3 }}>No unread notifications.</Typography>
        : (
          <Table size="small" aria-label="Notifications" sx={{ mb: 3 }}>
            <TableHead><TableRow><TableCell>When</TableCell><TableCell>Severity</TableCell><TableCell>Project</TableCell><TableCell>What happened</TableCell><TableCell>Action</TableCell></TableRow></TableHead>
            <TableBody>{found.data!.items.map((n) => (
              <TableRow key={n.id}>
                <TableCell>{when(n.created_at)}</TableCell>
                <TableCell><StatusChip status={n.severity} /></TableCell>
                <TableCell>{n.project_id ?? "platform"}</TableCell>
                <TableCell>{n.summary}</TableCell>
                <TableCell><Button size="small" aria-label={`Mark read: ${n.summary ?? n.id}`} onClick={() => markRead(n.id)}>Mark read</Button></TableCell>
              </TableRow>
            ))}</TableBody>
          </Table>
        )}</Loaded>
      <Subscribe />
    </>
  );
}

function Subscribe() {
  const [project, setProject] = useState("");
  const [types, setTypes] = useState("RunCompleted, RunCancelled");
  const [note, setNote] = useState<{ ok: boolean; text: string } | null>(null);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const eventTypes = eventTypesOf(types);
    if (!project.trim() || eventTypes.length === 0) {
      setNote({ ok: false, text: "Give the project and at least one event type." });
      return;
    }
    try {
      await unwrap(client.POST("/api/v1/notifications/subscribe", {
        body: { name: `${project.trim()}: ${eventTypes.join(", ")}`, project_id: project.trim(), event_types: eventTypes, channel: "notification" },
      }));
      setNote({ ok: true, text: `Subscribed: ${eventTypes.join(", ")} in ${project.trim()} will notify you here.` });
    } catch (err) { setNote({ ok: false, text: explain(err) }); }
  };
  return (
    <Box component="form" onSubmit={submit} aria-labelledby="subscribe-title">
      <Typography variant="h6" component="h2" id="subscribe-title" sx={{ mb: 1 }}>Subscribe to a project's events</Typography>
      <Stack direction="row" spacing={2} sx={{ flexWrap: "wrap", alignItems: "flex-start" }}>
        <TextField size="small" label="Project" value={project} onChange={(e) => setProject(e.target.value)} required />
        <TextField size="small" label="Event types (comma separated)" value={types} sx={{ minWidth: 320 }} onChange={(e) => setTypes(e.target.value)} />
        <Button type="submit" variant="contained">Subscribe</Button>
      </Stack>
      {note && <Alert severity={note.ok ? "success" : "error"} role={note.ok ? "status" : "alert"} sx={{ mt: 1 }}>{note.text}</Alert>}
    </Box>
  );
}
