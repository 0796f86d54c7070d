/** The frame of every signed-in page: a skip link, the top bar with the main navigation and the
 * user, and the page in a <main> landmark. */
import { Outlet, Link as RouterLink, useNavigate, useParams } from "react-router";
import { AppBar, Box, Button, Container, Link, Toolbar, Typography } from "@mui/material";
import { logout } from "../api/client";
import { session } from "../api/session";
import { queryClient } from "../api/query";

export function Layout() {
  const navigate = useNavigate();
  const { projectId } = useParams();
  const user = session.get()?.user;
  const nav: [string, string][] = [["Dashboard", "/"], ["Projects", "/projects"], ["Audit", "/audit"], ["Notifications", "/notifications"], ["Profile", "/profile"]];
  if (user?.role === "admin") nav.push(["Users", "/admin/users"]);
  if (projectId) {
    const p = `/projects/${encodeURIComponent(projectId)}`;
    nav.push(["Connections", `${p}/connections`], ["Catalog", `${p}/catalog`], ["Mappings", `${p}/mappings`], ["Pipelines", `${p}/pipelines`],
      ["Runs", `${p}/runs`], ["Schedules", `${p}/schedules`], ["Discrepancies", `${p}/discrepancies`]);
    nav.push(["Members", `${p}/members`]);
    nav.push(["Relationships", `${p}/relationships`], ["Workload", `${p}/workload`]);
  }
  return (
    <>
      <Link href="#main" className="skip-link" sx={{ position: "absolute", left: -9999, "&:focus": { left: 8, top: 8, zIndex: 2000, bgcolor: "background.paper", p: 1 } }}
        onClick={(e) => { e.preventDefault(); document.getElementById("main")?.focus(); }}>Skip to content</Link>
      <AppBar position="static" component="header">
        <Toolbar sx={{ gap: 1, flexWrap: "wrap" }}>
          <Typography component={RouterLink} to="/" variant="h6" sx={{ color: "inherit", textDecoration: "none", mr: 2 }}>
            Ombudsman Studio
          </Typography>
          <Box component="nav" aria-label="Main" sx={{ display: "flex", gap: 0.5, flexWrap: "wrap", flexGrow: 1 }}>
            {nav.map(([label, to]) => (
              <Button key={to} component={RouterLink} to={to} color="inherit">{label}</Button>
            ))}
          </Box>
          {user && (
            <Box sx={{ display: "flex", alignItems: "center", gap: 1 }}>
              <Typography component="span">{user.username} ({user.role})</Typography>
              <Button color="inherit" variant="outlined" onClick={async () => {
                await logout(); queryClient.clear(); navigate("/login");
              }}>Log out</Button>
            </Box>
          )}
        </Toolbar>
      </AppBar>
      <Container component="main" id="main" tabIndex={-1} maxWidth="xl" sx={{ py: 3, outline: "none" }}>
        <Outlet />
      </Container>
    </>
  );
}
