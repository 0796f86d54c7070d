/** The step library: every validator of the engine's registry (GET /validators), grouped by
 * category and searchable; choosing one adds a step of it to the pipeline. */
import { useState } from "react";
import { Box, List, ListItemButton, ListItemText, TextField, Typography } from "@mui/material";
import type { ValidatorEntry } from "./StepEditor";

export function StepLibrary({ validators, onAdd, disabled }: { validators: ValidatorEntry[]; onAdd: (v: ValidatorEntry) => void; disabled?: boolean }) {
  const [q, setQ] = useState("");
  const needle = q.trim().toLowerCase();
  const shown = validators.filter((v) => !v.alias_of && (!needle || `${v.name} ${v.category} ${v.description}`.toLowerCase().includes(needle)));
  const categories = [...new Set(shown.map((v) => v.category))].sort();
  return (
    <Box component="section" aria-label="Step library">
      <TextField label="Find a validator" size="small" fullWidth value={q} onChange={(e) => setQ(e.target.value)} sx={{ mb: 1 }} />
      <Box sx={{ maxHeight: 560, overflowY: "auto", border: 1, borderColor: "divider", borderRadius: 1 }}>
        {categories.map((c) => (
          <Box key={c} role="group" aria-labelledby={`lib-${c}`}>
            <Typography id={`lib-${c}`} component="h3" variant="overline" sx={{ px: 2, display: "block", bgcolor: "grey.100" }}>{c}</Typography>
            <List dense component="div" disablePadding>
              {shown.filter((v) => v.category === c).map((v) => (
                <ListItemButton key={v.name} disabled={disabled} onClick={() => onAdd(v)}>
                  <ListItemText primary={v.name} secondary={v.description.length > 90 ? `${v.description.slice(0, 90)}…` : v.description} />
                </ListItemButton>
              ))}
            </List>
          </Box>
        ))}
        {!shown.length && <Box sx={{ p: 2 }}>No validator matches “{q}”.</Box>}
      </Box>
    </Box>
  );
}
