/** Your profile: who you are (from /auth/me) and a password change (POST /auth/password, the
 * current password required; your other sessions cannot refresh afterwards). */
import { useState, type FormEvent } from "react";
import { useQuery } from "@tanstack/react-query";
import { Alert, Box, Button, Stack, TextField, Typography } from "@mui/material";
import { client, unwrap } from "../api/client";
import { explain } from "../api/errors";
import { Loaded, PageTitle, when } from "../ui/common";
import { passwordProblem } from "./notifications";

interface Me { id: string; username: string; role: string; last_login_at?: string | null; created_at?: string | null }

export default function ProfilePage() {
  const me = useQuery({ queryKey: ["me"], queryFn: () => unwrap<Me>(client.GET("/api/v1/auth/me")) });
  const [current, setCurrent] = useState("");
  const [next, setNext] = useState("");
  const [again, setAgain] = useState("");
  const [note, setNote] = useState<{ ok: boolean; text: string } | null>(null);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const problem = passwordProblem(current, next, again);
    if (problem) { setNote({ ok: false, text: problem }); return; }
    try {
      await unwrap(client.POST("/api/v1/auth/password", { body: { current_password: current, new_password: next } }));
      setCurrent(""); setNext(""); setAgain("");
      setNote({ ok: true, text: "Password changed. Use the new one next time you log in." });
    } catch (err) { setNote({ ok: false, text: explain(err) }); }
  };
  return (
    <>
      <PageTitle title="Profile" />
      <Loaded query={me}>{() => (
        <Typography sx={{ mb: 3 }}>
          Signed in as <strong>{me.data!.username}</strong> (role {me.data!.role}) · account created {when(me.data!.created_at)} ·
          last login {when(me.data!.last_login_at)}
        </Typography>
      )}</Loaded>
      <Box component="form" onSubmit={submit} aria-labelledby="password-title" sx={{ maxWidth: 420 }}>
        <Typography variant="h6" component="h2" id="password-title" sx={{ mb: 1 }}>Change password</Typography>
        <Stack spacing={2}>
          <TextField type="password" label="Current password" autoComplete="current-password" value={current} onChange={(e) => setCurrent(e.target.value)} required />
          <TextField type="password" label="New password" autoComplete="new-password" value={next} onChange={(e) => setNext(e.target.value)} required helperText="8 to 128 characters" />
          <TextField type="password" label="New password again" autoComplete="new-password" value={again} onChange={(e) => setAgain(e.target.value)} required />
          <Button type="submit" variant="contained">Change password</Button>
        </Stack>
        {note && <Alert severity={note.ok ? "success" : "error"} role={note.ok ? "status" : "alert"} sx={{ mt: 2 }}>{note.text}</Alert>}
      </Box>
    </>
  );
}
