/** Log in: username and password exchanged for a token pair kept in this tab, or single sign-on
 * ("Sign in with SSO" when the gateway has an OIDC provider): the gateway sends the browser back
 * to the Studio with a one-time `sso_code`, exchanged here for the token pair. */
import { useEffect, useRef, useState, type FormEvent } from "react";
import { useLocation, useNavigate } from "react-router";
import { Alert, Box, Button, Paper, TextField, Typography } from "@mui/material";
import { authProviders, exchangeSsoCode, login, type AuthProviders } from "../api/client";
import { ApiError, explain } from "../api/errors";

export function LoginPage() {
  const navigate = useNavigate();
  const location = useLocation();
  const expired = (location.state as { expired?: boolean } | null)?.expired;
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [providers, setProviders] = useState<AuthProviders | null>(null);
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => { document.title = "Log in · Ombudsman Studio"; }, []);
  useEffect(() => {
    let live = true;
    authProviders().then((found) => { if (live) setProviders(found); }).catch(() => { /* password only */ });
    return () => { live = false; };
  }, []);
  useEffect(() => {
    const code = new URLSearchParams(window.location.search).get("sso_code");
    if (!code) return;
    // the code works once: drop it from the address bar before using it
    window.history.replaceState(null, "", window.location.pathname + window.location.hash);
    setBusy(true);
    exchangeSsoCode(code)
      .then(() => navigate("/", { replace: true }))
      .catch((e) => setError(e instanceof ApiError && e.status === 401 ? "Single sign-on did not finish; please sign in again." : explain(e)))
      .finally(() => setBusy(false));
  }, [navigate]);

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
        {providers?.oidc && (
          <Button href={providers.oidc.start_url} variant="outlined" fullWidth disabled={busy} sx={{ mt: 1 }}>
            Sign in with SSO
          </Button>
        )}
      </Paper>
    </Box>
  );
}
