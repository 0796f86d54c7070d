"""A pipeline's DAG as a Mermaid flowchart (optionally coloured by a run's results). Pure: shared by the
engine's CLI and the gateway."""

from __future__ import annotations

from ombudsman.contracts.pipeline import PipelineSpec
from ombudsman.contracts.results import PipelineResult

_STYLE = {
    "passed": "fill:#d4edda,stroke:#28a745",
    "failed": "fill:#f8d7da,stroke:#dc3545",
    "error": "fill:#f8d7da,stroke:#721c24",
    "warning": "fill:#fff3cd,stroke:#ffc107",
    "skipped": "fill:#e2e3e5,stroke:#6c757d",
}


def _label(text: str) -> str:
    return text.replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")


def to_mermaid(spec: PipelineSpec, result: PipelineResult | None = None) -> str:
    """`flowchart TD` with one node per step (id and validator) and an edge per dependency."""
    node = {s.id: f"s{i}" for i, s in enumerate(spec.steps)}
    lines = ["flowchart TD"]
    for step in spec.steps:
        table = f"<br/>{_label(str(step.source_table))}" if step.source_table else ""
        lines.append(f'    {node[step.id]}["{_label(step.id)}<br/><i>{_label(step.validator)}</i>{table}"]')
    for step in spec.steps:
        for dep in step.depends_on:
            arrow = "-.->" if spec.skip_on_failure(step) else "-->"
            lines.append(f"    {node[dep]} {arrow} {node[step.id]}")
    if result is not None:
        for status, style in _STYLE.items():
            lines.append(f"    classDef {status} {style}")
        for r in result.steps:
            if r.step in node:
                lines.append(f"    class {node[r.step]} {r.status}")
    return "\n".join(lines) + "\n"
