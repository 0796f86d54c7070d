/** Text safe inside a quoted Mermaid label: quotes and angle brackets as Mermaid's entity codes
 * (the same escaping as the server's diagrams, ombudsman.contracts.mermaid). */
export const mermaidLabel = (text: string): string =>
  text.replace(/"/g, "#quot;").replace(/</g, "#lt;").replace(/>/g, "#gt;");
