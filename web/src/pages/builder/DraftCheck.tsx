/** "Draft a check": a sentence sent to the server's language model, which answers with a
 * custom_query step (its SQL checked by the server for both sides' dialects). The step is added to
 * the pipeline as the model's draft: it is kept only when the pipeline is saved. */
import { useState } from "react";
import { Alert, Box, Button, TextField } from "@mui/material";
import { client, unwrap } from "../../api/client";
import { explain } from "../../api/errors";
import type { Step } from "../pipelineDoc";

export function DraftCheck({ projectId, onDraft, disabled }: { projectId: string; onDraft: (step: Step, model: string) => void; disabled?: boolean }) {
  const [sentence, setSentence] = useState("");
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);
  const ask = async () => {
    setBusy(true);
    try {
      const found = await unwrap<{ step: Step; model: string }>(client.POST("/api/v1/projects/{project_id}/checks/draft", {
        params: { path: { project_id: projectId } }, body: { sentence: sentence.trim() } }));
      setProblem(null); setSentence("");
      onDraft(found.step, found.model);
    } catch (e) { setProblem(explain(e)); } finally { setBusy(false); }
  };
  return (
    <Box sx={{ mt: 2 }}>
      <TextField label="Draft a check in plain words" size="small" fullWidth multiline value={sentence}
        onChange={(e) => setSentence(e.target.value)} helperText="the language model writes a custom_query step; you save it" />
      <Button size="small" variant="outlined" sx={{ mt: 1 }} disabled={busy || disabled || sentence.trim().length < 3} onClick={ask}>Draft with the model</Button>
      {problem && <Alert severity="warning" role="status" sx={{ mt: 1 }}>{problem}</Alert>}
    </Box>
  );
}
