/** Runs of a project, newest first: a virtualised list (only the rows on screen are in the DOM)
 * whose rows are read from the server a page at a time — the pages on screen once the scroll rests
 * on them for a moment, so ten thousand runs scroll smoothly and a jump to the end asks for the
 * last page only; the batches with their progress. */
import { useEffect, useRef, useState } from "react";
import { keepPreviousData, useQueries, useQuery } from "@tanstack/react-query";
import { useVirtualizer } from "@tanstack/react-virtual";
import { Link as RouterLink, useParams, useSearchParams } from "react-router";
import { Alert, Box, LinearProgress, Link, Typography } from "@mui/material";
import { client, unwrap } from "../api/client";
import type { Page, Run } from "../api/types";
import { ErrorNotice, PageTitle, StatusChip, seconds, when } from "../ui/common";
import { pagesFor, samePages } from "./runPages";

const PAGE = 100;
const ROW = 44;
const COLUMNS = "2fr 1fr 1fr 1fr 1fr 2fr";
const SETTLE_MS = 80;  // a page on screen this long is fetched; pages flung past are not

interface Batch { batch_id: string; name: string; status: string; progress?: { completed?: number; failed?: number; total?: number }; pipelines?: { run_id?: string; status?: string; pipeline_id?: string }[] }

const fetchPage = (projectId: string, page: number) =>
  unwrap<Page<Run>>(client.GET("/api/v1/runs", { params: { query: { project_id: projectId, offset: page * PAGE, limit: PAGE } } }));

export default function RunsPage() {
  const projectId = useParams().projectId!;
  const [search] = useSearchParams();
  const batchId = search.get("batch");
  const first = useQuery({ queryKey: ["runs", projectId, "page", 0], queryFn: () => fetchPage(projectId, 0), refetchInterval: 5000, placeholderData: keepPreviousData });
  const total = first.data?.total ?? 0;
  const batch = useQuery({
    queryKey: ["batch", batchId],
    enabled: Boolean(batchId),
    queryFn: () => unwrap<Batch>(client.GET("/api/v1/batches/{batch_id}", { params: { path: { batch_id: batchId! } } })),
    refetchInterval: (q) => (q.state.data && ["completed", "failed", "cancelled"].includes(q.state.data.status) ? false : 1000),
  });
  const scroller = useRef<HTMLDivElement>(null);
  const virtual = useVirtualizer({ count: total, getScrollElement: () => scroller.current, estimateSize: () => ROW, overscan: 10 });
  const shown = virtual.getVirtualItems();
  const onScreen = pagesFor(shown[0]?.index ?? 0, shown[shown.length - 1]?.index ?? -1, PAGE);
  const [wanted, setWanted] = useState<number[]>([0]);
  useEffect(() => {
    if (samePages(onScreen, wanted)) return;
    const timer = setTimeout(() => setWanted(onScreen), SETTLE_MS);
    return () => clearTimeout(timer);
  }, [onScreen.join(","), wanted]); // eslint-disable-line react-hooks/exhaustive-deps
  const pages = useQueries({
    queries: wanted.filter((p) => p > 0).map((p) => ({
      queryKey: ["runs", projectId, "page", p], queryFn: () => fetchPage(projectId, p), refetchInterval: 5000, staleTime: 4000,
    })),
  });
  const byPage = new Map<number, Run[]>([[0, first.data?.items ?? []]]);
  wanted.filter((p) => p > 0).forEach((p, i) => { const d = pages[i]?.data; if (d) byPage.set(p, d.items); });
  const runAt = (index: number): Run | undefined => byPage.get(Math.floor(index / PAGE))?.[index % PAGE];
  const pageError = pages.find((q) => q.error)?.error;

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
      <ErrorNotice error={first.error ?? pageError} />
      {first.isPending ? <LinearProgress aria-label="Loading" /> : total === 0 ? <Alert severity="info">No runs yet.</Alert> : (
        <Box role="table" aria-label={`Runs (${total})`} aria-rowcount={total + 1}>
          <Box role="rowgroup">
            <Box role="row" aria-rowindex={1} sx={{ display: "grid", gridTemplateColumns: COLUMNS, fontWeight: 600, borderBottom: 1, borderColor: "divider", py: 1 }}>
              {["Pipeline", "Status", "Steps passed", "Score", "Duration", "Queued"].map((h) => <span role="columnheader" key={h}>{h}</span>)}
            </Box>
          </Box>
          <Box role="rowgroup" ref={scroller} sx={{ height: 520, overflowY: "auto" }} tabIndex={0} aria-label="Runs, scrollable (Home and End keys go to the first and last run)" data-testid="runs-scroller">
            <Box role="none" sx={{ height: virtual.getTotalSize(), position: "relative" }}>
              {shown.map((row) => {
                const r = runAt(row.index);
                return (
                  <Box role="row" aria-rowindex={row.index + 2} key={row.key}
                    sx={{ position: "absolute", top: 0, left: 0, right: 0, height: ROW, transform: `translateY(${row.start}px)`, display: "grid", gridTemplateColumns: COLUMNS, alignItems: "center", borderBottom: 1, borderColor: "divider" }}>
                    {r ? (
                      <>
                        <span role="cell"><Link component={RouterLink} to={`/runs/${encodeURIComponent(r.run_id)}`} data-run-id={r.run_id}>{r.pipeline_name || r.run_id}</Link></span>
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
