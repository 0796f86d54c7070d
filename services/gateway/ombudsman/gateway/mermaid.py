"""A pipeline as a Mermaid flowchart: one node per step, an arrow per dependency."""

from __future__ import annotations

import re

from ombudsman.contracts.pipeline import PipelineSpec

_UNSAFE = re.compile(r'["\[\]{}()<>|#;`]')


def _node_id(index: int) -> str:
    return f"s{index}"


def _label(text: str) -> str:
    return _UNSAFE.sub(" ", text).strip() or "step"


def pipeline_mermaid(spec: PipelineSpec) -> str:
    """`flowchart TD` text; step ids and validators are sanitised so no input can break the syntax."""
    ids = {step.id: _node_id(i) for i, step in enumerate(spec.steps)}
    lines = ["flowchart TD"]
    for step in spec.steps:
        table = step.source_table
        where = f"<br/>{_label(str(table))}" if table else ""
        lines.append(f'    {ids[step.id]}["{_label(step.id)}<br/><i>{_label(step.validator)}</i>{where}"]')
    for step in spec.steps:
        for dep in step.depends_on:
            lines.append(f"    {ids[dep]} --> {ids[step.id]}")
    return "\n".join(lines) + "\n"
