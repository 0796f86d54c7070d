/** "Explain" on a failed step of a run: the server's language model says in plain words why it
 * failed (it is told the step's names and counts, never its values). The answer is marked as the
 * model's; with no model configured the server's 409 says so. */
import { useState } from "react";
import { Alert, Button } from "@mui/material";
import { client, unwrap } from "../api/client";
import { explain } from "../api/errors";

export const EXPLAINED = ["failed", "error", "warning"];

type Explanation = { explanation: string; model: string; suggested_by: string };

export function StepExplain({ runId, step }: { runId: string; step: string }) {
  const [answer, setAnswer] = useState<{ ok: boolean; text: string; model?: string } | null>(null);
  const [busy, setBusy] = useState(false);
  const ask = async () => {
    setBusy(true);
    try {
      const found = await unwrap<Explanation>(client.POST("/api/v1/runs/{run_id}/steps/{step}/explain",
        { params: { path: { run_id: runId, step } } }));
      setAnswer({ ok: true, text: found.explanation, model: found.model });
    } catch (e) {
      setAnswer({ ok: false, text: explain(e) });
    } finally {
      setBusy(false);
    }
  };
  return (
    <>
      <Button size="small" variant="text" disabled={busy} onClick={ask} aria-label={`Explain step ${step}`}>Explain</Button>
      {answer && (
        <Alert severity={answer.ok ? "info" : "warning"} role="status" sx={{ mt: 1 }} data-testid={`explanation-${step}`}>
          {answer.ok && <strong>Suggested by model {answer.model}: </strong>}{answer.text}
        </Alert>
      )}
    </>
  );
}
