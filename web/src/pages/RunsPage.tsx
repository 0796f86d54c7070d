/** Runs of a project, newest first: a virtualised list fetched a page at a time from the server,
 * so ten thousand runs scroll smoothly; the batches with their progress. */
import { useEffect, useRef } from "react";
import { useInfiniteQuery, useQuery } from "@tanstack/react-query";
import { useVirtualizer } from "@tanstack/react-virtual";
import { Link as RouterLink, useParams, useSearchParams } from "react-router";
import { Alert, Box, LinearProgress, Link, Typography } from "@mui/material";
import { client, unwrap } from "../api/client";
import type { Page, Run } from "../api/types";
import { ErrorNotice, PageTitle, StatusChip, seconds, when } from "../ui/common";

const PAGE = 100;
const ROW = 44;
const COLUMNS = "2fr 1fr 1fr 1fr 1fr 2fr";

interface Batch { batch_id: string; name: string; status: string; progress?: { completed?: number; failed?: number; total?: number }; pipelines?: { run_id?: string; status?: string; pipeline_id?: string }[] }

export default function RunsPage() {
  const projectId = useParams().projectId!;
  const [search] = useSearchParams();
  const batchId = search.get("batch");
  const runs = useInfiniteQuery({
    queryKey: ["runs", projectId, "all"],
    initialPageParam: 0,
    queryFn: ({ pageParam }) => unwrap<Page<Run>>(client.GET("/api/v1/runs", { params: { query: { project_id: projectId, offset: pageParam, limit: PAGE } } })),
    getNextPageParam: (last) => (last.offset + last.items.length < last.total ? last.offset + last.items.length : undefined),
    refetchInterval: 5000,
  });
  const batch = useQuery({
    queryKey: ["batch", batchId],
    enabled: Boolean(batchId),
    queryFn: () => unwrap<Batch>(client.GET("/api/v1/batches/{batch_id}", { params: { path: { batch_id: batchId! } } })),
    refetchInterval: (q) => (q.state.data && ["completed", "failed", "cancelled"].includes(q.state.data.status) ? false : 1000),
  });
  const items = runs.data?.pages.flatMap((p) => p.items) ?? [];
  const total = runs.data?.pages[0]?.total ?? 0;
  const scroller = useRef<HTMLDivElement>(null);
  const virtual = useVirtualizer({ count: total, getScrollElement: () => scroller.current, estimateSize: () => ROW, overscan: 10 });
  const shown = virtual.getVirtualItems();
  const lastShown = shown.length ? shown[shown.length - 1].index : 0;
  useEffect(() => {
    if (lastShown >= items.length - 1 && runs.hasNextPage && !runs.isFetchingNextPage) void runs.fetchNextPage();
  }, [lastShown, items.length, runs]);

  return (
    <>
      <PageTitle title="Runs" crumbs={[["Projects", "/projects"], [projectId, `/projects/${encodeURIComponent(projectId)}`], ["Runs"]]} />
      {batchId && (
        <Box component="section" aria-labelledby="batch-h" sx={{ mb: 3 }}>
          <Typography id="batch-h" variant="h6" component="h2">Batch {batch.data?.name ?? batchId} <StatusChip status={batch.data?.status} /></Typography>
          <ErrorNotice error={batch.error} />
          {batch.data?.progress && (
            <Box aria-live="polite">
              <LinearProgress variant="determinate" aria-label="Batch progress"
                value={100 * ((batch.data.progress.completed ?? 0) + (batch.data.progress.failed ?? 0)) / Math.max(1, batch.data.progress.total ?? batch.data.pipelines?.length ?? 1)} />
              <Typography>{batch.data.progress.completed ?? 0} completed, {batch.data.progress.failed ?? 0} failed of {batch.data.progress.total ?? batch.data.pipelines?.length ?? 0} pipelines</Typography>
            </Box>
          )}
          <ul>{(batch.data?.pipelines ?? []).map((p, i) => (
            <li key={i}>{p.pipeline_id} <StatusChip status={p.status} /> {p.run_id && <Link component={RouterLink} to={`/runs/${encodeURIComponent(p.run_id)}`}>watch the run</Link>}</li>
          ))}</ul>
        </Box>
      )}
      <ErrorNotice error={runs.error} />
      {runs.isPending ? <LinearProgress aria-label="Loading" /> : total === 0 ? <Alert severity="info">No runs yet.</Alert> : (
        <Box role="table" aria-label={`Runs (${total})`} aria-rowcount={total + 1}>
          <Box role="rowgroup">
            <Box role="row" aria-rowindex={1} sx={{ display: "grid", gridTemplateColumns: COLUMNS, fontWeight: 600, borderBottom: 1, borderColor: "divider", py: 1 }}>
              {["Pipeline", "Status", "Steps passed", "Score", "Duration", "Queued"].map((h) => <span role="columnheader" key={h}>{h}</span>)}
            </Box>
          </Box>
          <Box role="rowgroup" ref={scroller} sx={{ height: 520, overflowY: "auto" }} tabIndex={0} aria-label="Runs, scrollable">
            <Box role="none" sx={{ height: virtual.getTotalSize(), position: "relative" }}>
              {shown.map((row) => {
                const r = items[row.index];
                return (
                  <Box role="row" aria-rowindex={row.index + 2} key={row.key}
                    sx={{ position: "absolute", top: 0, left: 0, right: 0, height: ROW, transform: `translateY(${row.start}px)`, display: "grid", gridTemplateColumns: COLUMNS, alignItems: "center", borderBottom: 1, borderColor: "divider" }}>
                    {r ? (
                      <>
                        <span role="cell"><Link component={RouterLink} to={`/runs/${encodeURIComponent(r.run_id)}`}>{r.pipeline_name || r.run_id}</Link></span>
                        <span role="cell"><StatusChip status={r.status} /></span>
                        <span role="cell">{r.successful_steps ?? 0}/{r.total_steps ?? 0}</span>
                        <span role="cell">{r.score ?? "—"}</span>
                        <span role="cell">{seconds(r.duration_seconds)}</span>
                        <span role="cell">{when(r.queued_at)}</span>
                      </>
                    ) : <span role="cell">Loading…</span>}
                  </Box>
                );
              })}
            </Box>
          </Box>
        </Box>
      )}
    </>
  );
}
