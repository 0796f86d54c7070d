/** The Studio: theme, server state (TanStack Query) and the routes, each page loaded on demand so
 * the login page's script stays small. Hash routing: the gateway serves one page at `/`. */
import { lazy, Suspense, type ReactNode } from "react";
import { createHashRouter, Navigate, RouterProvider, useLocation } from "react-router";
import { QueryClientProvider } from "@tanstack/react-query";
import { queryClient } from "./api/query";
import { CssBaseline, LinearProgress, ThemeProvider, createTheme } from "@mui/material";
import { session } from "./api/session";
import { setUnauthorizedHandler } from "./api/client";
import { Layout } from "./ui/Layout";
import { LoginPage } from "./pages/LoginPage";

const DashboardPage = lazy(() => import("./pages/DashboardPage"));
const ProjectsPage = lazy(() => import("./pages/ProjectsPage"));
const ProjectPage = lazy(() => import("./pages/ProjectPage"));
const ConnectionsPage = lazy(() => import("./pages/ConnectionsPage"));
const MappingsPage = lazy(() => import("./pages/MappingsPage"));
const PipelinesPage = lazy(() => import("./pages/PipelinesPage"));
const RunsPage = lazy(() => import("./pages/RunsPage"));
const RunPage = lazy(() => import("./pages/RunPage"));
const StepDiffPage = lazy(() => import("./pages/StepDiffPage"));
const DiscrepanciesPage = lazy(() => import("./pages/DiscrepanciesPage"));
const AuditPage = lazy(() => import("./pages/AuditPage"));
const AdminPage = lazy(() => import("./pages/AdminPage"));
const NotificationsPage = lazy(() => import("./pages/NotificationsPage"));
const ProfilePage = lazy(() => import("./pages/ProfilePage"));
const SchedulesPage = lazy(() => import("./pages/SchedulesPage"));
const CatalogPage = lazy(() => import("./pages/CatalogPage"));
const MembersPage = lazy(() => import("./pages/MembersPage"));
const BuilderPage = lazy(() => import("./pages/BuilderPage"));
const RelationshipsPage = lazy(() => import("./pages/RelationshipsPage"));
const WorkloadPage = lazy(() => import("./pages/WorkloadPage"));

const theme = createTheme({
  // warning and info darker than MUI's defaults: white chip text on them keeps a 4.5:1 contrast (WCAG AA)
  palette: {
    primary: { main: "#1d4f91" }, secondary: { main: "#7b3fa0" },
    warning: { main: "#a34a00", dark: "#7a3700" }, info: { main: "#01579b" },
  },
  components: { MuiButtonBase: { defaultProps: { disableRipple: false } } },
});


function RequireLogin({ children }: { children: ReactNode }) {
  const location = useLocation();
  if (!session.token()) return <Navigate to="/login" replace state={{ from: location.pathname }} />;
  return <Suspense fallback={<LinearProgress aria-label="Loading the page" />}>{children}</Suspense>;
}

const page = (element: ReactNode) => <RequireLogin>{element}</RequireLogin>;

export const router = createHashRouter([
  { path: "/login", element: <LoginPage /> },
  {
    element: <Layout />,
    children: [
      { path: "/", element: page(<DashboardPage />) },
      { path: "/projects", element: page(<ProjectsPage />) },
      { path: "/projects/:projectId", element: page(<ProjectPage />) },
      { path: "/projects/:projectId/connections", element: page(<ConnectionsPage />) },
      { path: "/projects/:projectId/mappings", element: page(<MappingsPage />) },
      { path: "/projects/:projectId/pipelines", element: page(<PipelinesPage />) },
      { path: "/projects/:projectId/runs", element: page(<RunsPage />) },
      { path: "/projects/:projectId/discrepancies", element: page(<DiscrepanciesPage />) },
      { path: "/projects/:projectId/audit", element: page(<AuditPage />) },
      { path: "/audit", element: page(<AuditPage />) },
      { path: "/projects/:projectId/schedules", element: page(<SchedulesPage />) },
      { path: "/projects/:projectId/catalog", element: page(<CatalogPage />) },
      { path: "/projects/:projectId/members", element: page(<MembersPage />) },
      { path: "/projects/:projectId/builder/:pipelineId?", element: page(<BuilderPage />) },
      { path: "/projects/:projectId/relationships", element: page(<RelationshipsPage />) },
      { path: "/projects/:projectId/workload", element: page(<WorkloadPage />) },
      { path: "/admin/users", element: page(<AdminPage />) },
      { path: "/notifications", element: page(<NotificationsPage />) },
      { path: "/profile", element: page(<ProfilePage />) },
      { path: "/runs/:runId", element: page(<RunPage />) },
      { path: "/runs/:runId/steps/:step", element: page(<StepDiffPage />) },
      { path: "*", element: <Navigate to="/" replace /> },
    ],
  },
]);

setUnauthorizedHandler(() => {
  queryClient.clear();
  void router.navigate("/login", { state: { expired: true } });
});

export function App() {
  return (
    <ThemeProvider theme={theme}>
      <CssBaseline />
      <QueryClientProvider client={queryClient}>
        <RouterProvider router={router} />
      </QueryClientProvider>
    </ThemeProvider>
  );
}
