/** Log in: username and password exchanged for a token pair kept in this tab. */
import { useEffect, useRef, useState, type FormEvent } from "react";
import { useLocation, useNavigate } from "react-router";
import { Alert, Box, Button, Paper, TextField, Typography } from "@mui/material";
import { login } from "../api/client";
import { ApiError, explain } from "../api/errors";

export function LoginPage() {
  const navigate = useNavigate();
  const location = useLocation();
  const expired = (location.state as { expired?: boolean } | null)?.expired;
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => { document.title = "Log in · Ombudsman Studio"; }, []);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await login(username.trim(), password);
      const from = (location.state as { from?: string } | null)?.from;
      navigate(from && from !== "/login" ? from : "/", { replace: true });
    } catch (e) {
      setError(e instanceof ApiError && e.status === 401 ? "Wrong username or password (or the account is locked)." : explain(e));
    } finally {
      setBusy(false);
    }
  }

  return (
    <Box component="main" id="main" sx={{ display: "grid", placeItems: "center", minHeight: "100vh", bgcolor: "grey.100", p: 2 }}>
      <Paper component="form" onSubmit={submit} aria-labelledby="login-title" sx={{ p: 4, width: "100%", maxWidth: 420 }}>
        <Typography id="login-title" ref={heading} variant="h4" component="h1" gutterBottom>Ombudsman Studio</Typography>
        <Typography color="text.secondary" sx={{ mb: 2 }}>Log in to validate your data migration.</Typography>
        {expired && !error && <Alert severity="info" sx={{ mb: 2 }}>Your session has ended; please log in again.</Alert>}
        {error && <Alert severity="error" role="alert" sx={{ mb: 2 }}>{error}</Alert>}
        <TextField label="Username" name="username" autoComplete="username" required fullWidth autoFocus margin="normal"
          value={username} onChange={(e) => setUsername(e.target.value)} slotProps={{ htmlInput: { maxLength: 64 } }} />
        <TextField label="Password" name="password" type="password" autoComplete="current-password" required fullWidth margin="normal"
          value={password} onChange={(e) => setPassword(e.target.value)} slotProps={{ htmlInput: { maxLength: 128 } }} />
        <Button type="submit" variant="contained" fullWidth disabled={busy} sx={{ mt: 2 }}>
          {busy ? "Logging in…" : "Log in"}
        </Button>
      </Paper>
    </Box>
  );
}
