/** A Mermaid diagram rendered to SVG (Mermaid is loaded only when a diagram is shown). */
import { useEffect, useId, useState } from "react";
import { Alert, Box } from "@mui/material";

export function MermaidDiagram({ source, label }: { source: string; label: string }) {
  const id = `m${useId().replace(/[^A-Za-z0-9]/g, "")}`;
  const [svg, setSvg] = useState<string | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  useEffect(() => {
    let live = true;
    import("mermaid").then(async ({ default: mermaid }) => {
      mermaid.initialize({ startOnLoad: false, securityLevel: "strict" });
      const { svg: out } = await mermaid.render(id, source);
      if (live) setSvg(out);
    }).catch((e: unknown) => live && setProblem(String(e)));
    return () => { live = false; };
  }, [id, source]);
  if (problem) return <Alert severity="warning">The diagram could not be drawn: {problem}</Alert>;
  return <Box role="img" aria-label={label} sx={{ overflowX: "auto", "& svg": { maxWidth: "100%" } }} dangerouslySetInnerHTML={{ __html: svg ?? "" }} />;
}
