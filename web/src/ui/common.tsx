/** Small shared pieces of the pages: the page heading, errors, status chips, dates. */
import { useEffect, useRef, type ReactNode } from "react";
import { Alert, Box, Breadcrumbs, Chip, LinearProgress, Link, Typography } from "@mui/material";
import { Link as RouterLink } from "react-router";
import { explain } from "../api/errors";

/** The page's <h1>; it takes focus when the page opens so screen readers announce it. */
export function PageTitle({ title, crumbs, actions }: { title: string; crumbs?: [string, string?][]; actions?: ReactNode }) {
  const ref = useRef<HTMLHeadingElement>(null);
  useEffect(() => { document.title = `${title} · Ombudsman Studio`; ref.current?.focus(); }, [title]);
  return (
    <Box sx={{ mb: 2 }}>
      {crumbs && (
        <Breadcrumbs aria-label="Breadcrumb" sx={{ mb: 1 }}>
          {crumbs.map(([text, to], i) => to
            ? <Link key={i} component={RouterLink} to={to}>{text}</Link>
            : <Typography key={i} color="text.primary" aria-current="page">{text}</Typography>)}
        </Breadcrumbs>
      )}
      <Box sx={{ display: "flex", alignItems: "center", gap: 2, flexWrap: "wrap" }}>
        <Typography variant="h4" component="h1" tabIndex={-1} ref={ref} sx={{ outline: "none", flexGrow: 1 }}>{title}</Typography>
        {actions}
      </Box>
    </Box>
  );
}

export function ErrorNotice({ error }: { error: unknown }) {
  if (!error) return null;
  return <Alert severity="error" role="alert" sx={{ my: 1 }}>{explain(error)}</Alert>;
}

/** Loading bar, error or the content: the three states of a query. */
export function Loaded({ query, children }: { query: { isPending: boolean; error: unknown }; children: () => ReactNode }) {
  if (query.error) return <ErrorNotice error={query.error} />;
  if (query.isPending) return <LinearProgress aria-label="Loading" />;
  return <>{children()}</>;
}

const COLOURS: Record<string, "success" | "error" | "warning" | "info" | "default"> = {
  completed: "success", passed: "success", ok: "success", resolved: "success", accepted: "info", approved: "success",
  failed: "error", error: "error", critical: "error", high: "error", broken: "error",
  running: "info", started: "info", queued: "default", pending: "default", warning: "warning", medium: "warning",
  cancelled: "default", skipped: "default", open: "warning", low: "default", lossless: "success", lossy: "warning",
  incompatible: "error",
};

/** A status as a chip whose text says it (colour is never the only signal). */
export function StatusChip({ status }: { status?: string | null }) {
  const s = status || "unknown";
  return <Chip size="small" label={s} color={COLOURS[s] ?? "default"} variant={COLOURS[s] ? "filled" : "outlined"} />;
}

export const when = (iso?: string | null) => (iso ? new Date(iso).toLocaleString() : "—");
export const seconds = (s?: number | null) => (typeof s === "number" ? `${s.toFixed(s < 10 ? 2 : 1)} s` : "—");
