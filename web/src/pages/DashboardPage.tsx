/** Dashboard: the user's projects with their health, the latest batches. */
import { useQuery, useQueries } from "@tanstack/react-query";
import { Link as RouterLink } from "react-router";
import { Card, CardContent, Grid, Link, Table, TableBody, TableCell, TableHead, TableRow, Typography } from "@mui/material";
import { client, unwrap } from "../api/client";
import type { Discrepancy, Page, Project, Run } from "../api/types";
import { Loaded, PageTitle, StatusChip, when } from "../ui/common";

export default function DashboardPage() {
  const projects = useQuery({
    queryKey: ["projects", "dashboard"],
    queryFn: () => unwrap<Page<Project>>(client.GET("/api/v1/projects", { params: { query: { limit: 20 } } })),
  });
  const batches = useQuery({
    queryKey: ["batches", "latest"],
    queryFn: () => unwrap<Page<{ batch_id: string; name: string; status: string; created_at?: string }>>(
      client.GET("/api/v1/batches", { params: { query: { limit: 5 } } })),
  });
  const items = projects.data?.items ?? [];
  const latest = useQueries({
    queries: items.slice(0, 10).map((p) => ({
      queryKey: ["runs", p.id, "latest"],
      queryFn: () => unwrap<Page<Run>>(client.GET("/api/v1/runs", { params: { query: { project_id: p.id, limit: 1 } } })),
    })),
  });
  const open = useQueries({
    queries: items.slice(0, 10).map((p) => ({
      queryKey: ["discrepancies", p.id],
      queryFn: () => unwrap<Discrepancy[]>(client.GET("/api/v1/projects/{project_id}/discrepancies", { params: { path: { project_id: p.id } } })),
    })),
  });
  return (
    <>
      <PageTitle title="Dashboard" />
      <Grid container spacing={2}>
        <Grid size={{ xs: 12, lg: 8 }}>
          <Card component="section" aria-labelledby="health-h"><CardContent>
            <Typography id="health-h" variant="h6" component="h2">Projects' health</Typography>
            <Loaded query={projects}>{() => items.length === 0
              ? <Typography>No projects yet. <Link component={RouterLink} to="/projects">Create one</Link>.</Typography>
              : (
                <Table size="small">
                  <TableHead><TableRow>
                    <TableCell>Project</TableCell><TableCell>Latest run</TableCell><TableCell>Score</TableCell>
                    <TableCell>Open discrepancies</TableCell><TableCell>Connections</TableCell><TableCell>Pipelines</TableCell>
                  </TableRow></TableHead>
                  <TableBody>{items.map((p, i) => {
                    const run = latest[i]?.data?.items?.[0];
                    const found = open[i]?.data;
                    return (
                      <TableRow key={p.id}>
                        <TableCell component="th" scope="row"><Link component={RouterLink} to={`/projects/${encodeURIComponent(p.id)}`}>{p.name || p.id}</Link></TableCell>
                        <TableCell>{run ? <><StatusChip status={run.status} /> {when(run.queued_at)}</> : "—"}</TableCell>
                        <TableCell>{run?.score ?? "—"}</TableCell>
                        <TableCell>{Array.isArray(found) ? found.filter((d) => d.status === "open").length : "—"}</TableCell>
                        <TableCell>{p.counts?.connections ?? "—"}</TableCell>
                        <TableCell>{p.counts?.pipelines ?? "—"}</TableCell>
                      </TableRow>
                    );
                  })}</TableBody>
                </Table>
              )}</Loaded>
          </CardContent></Card>
        </Grid>
        <Grid size={{ xs: 12, lg: 4 }}>
          <Card component="section" aria-labelledby="batches-h"><CardContent>
            <Typography id="batches-h" variant="h6" component="h2">Latest batches</Typography>
            <Loaded query={batches}>{() => (batches.data?.items.length ?? 0) === 0
              ? <Typography color="text.secondary">No batches yet.</Typography>
              : (
                <Table size="small"><TableBody>{batches.data!.items.map((b) => (
                  <TableRow key={b.batch_id}><TableCell>{b.name}</TableCell><TableCell><StatusChip status={b.status} /></TableCell></TableRow>
                ))}</TableBody></Table>
              )}</Loaded>
          </CardContent></Card>
        </Grid>
      </Grid>
    </>
  );
}
