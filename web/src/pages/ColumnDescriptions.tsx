/** Column descriptions in the catalog browser: the approved one, the language model's pending draft
 * ("suggested by model", approved or rejected by a person), and a button asking the model to draft
 * a table's descriptions. With no model configured the server's 409 says so; approving a text of
 * your own never needs the model. */
import { useState } from "react";
import { useQueryClient } from "@tanstack/react-query";
import { Alert, Box, Button, Stack, Typography } from "@mui/material";
import { client, unwrap } from "../api/client";
import { explain } from "../api/errors";
import { canWrite } from "../api/session";

export interface DescribedColumn {
  name: string;
  description?: string;
  description_by?: { suggested_by?: string | null; model?: string | null; approved_by?: string | null };
  description_draft?: { text: string; model: string; suggested_by: string };
}

type Side = "source" | "target";

/** Who a description is from: "by model gpt-x, approved by ana" or "written by ana". */
export function describedBy(c: DescribedColumn): string {
  const by = c.description_by;
  if (!by) return "";
  return by.suggested_by === "model" ? `by model ${by.model ?? "?"}, approved by ${by.approved_by ?? "?"}` : `written by ${by.approved_by ?? "?"}`;
}

export function DescriptionCell({ projectId, side, table, column }: { projectId: string; side: Side; table: string; column: DescribedColumn }) {
  const queries = useQueryClient();
  const [error, setError] = useState<string | null>(null);
  const decide = async (action: "approve" | "reject") => {
    const path = action === "approve" ? "/api/v1/projects/{project_id}/catalog/descriptions/approve" as const
      : "/api/v1/projects/{project_id}/catalog/descriptions/reject" as const;
    try {
      await unwrap(client.POST(path, { params: { path: { project_id: projectId } }, body: { table, side, column: column.name } }));
      setError(null);
      await queries.invalidateQueries({ queryKey: ["catalog", projectId] });
    } catch (e) { setError(explain(e)); }
  };
  const draft = column.description_draft;
  return (
    <Box>
      {column.description && <Typography variant="body2">{column.description} <Typography component="span" variant="caption" color="text.secondary">({describedBy(column)})</Typography></Typography>}
      {draft && (
        <Stack direction="row" spacing={1} sx={{ alignItems: "center" }} data-testid={`draft-${column.name}`}>
          <Typography variant="body2" color="text.secondary"><em>Suggested by model {draft.model}:</em> {draft.text}</Typography>
          {canWrite() && <Button size="small" onClick={() => decide("approve")} aria-label={`Approve the description of ${column.name}`}>Approve</Button>}
          {canWrite() && <Button size="small" color="warning" onClick={() => decide("reject")} aria-label={`Reject the description of ${column.name}`}>Reject</Button>}
        </Stack>
      )}
      {error && <Alert severity="error" role="status">{error}</Alert>}
    </Box>
  );
}

export function DraftDescriptions({ projectId, side, table }: { projectId: string; side: Side; table: string }) {
  const queries = useQueryClient();
  const [note, setNote] = useState<{ ok: boolean; text: string } | null>(null);
  const [busy, setBusy] = useState(false);
  if (!canWrite()) return null;
  const ask = async () => {
    setBusy(true);
    try {
      const found = await unwrap<{ drafts: Record<string, string>; model: string }>(client.POST(
        "/api/v1/projects/{project_id}/catalog/descriptions/suggest", { params: { path: { project_id: projectId } }, body: { table, side } }));
      setNote({ ok: true, text: `Model ${found.model} drafted ${Object.keys(found.drafts).length} descriptions: approve or reject each below.` });
      await queries.invalidateQueries({ queryKey: ["catalog", projectId] });
    } catch (e) { setNote({ ok: false, text: explain(e) }); } finally { setBusy(false); }
  };
  return (
    <Box sx={{ mb: 1 }}>
      <Button size="small" variant="outlined" disabled={busy} onClick={ask} aria-label={`Draft descriptions of ${table}`}>Draft descriptions</Button>
      {note && <Alert severity={note.ok ? "info" : "warning"} role="status" sx={{ mt: 1 }}>{note.text}</Alert>}
    </Box>
  );
}
