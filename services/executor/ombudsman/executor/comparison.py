"""A run against a baseline run, read as a CI gate. Pure: no I/O.

- a step in both runs is better, worse or the same by the rank of its status;
- a step only in the run is `added`, and also `worse` when it fails (a new failing check is a
  regression, not an improvement);
- a step only in the baseline is `removed`: reported, not worse (the caller decides; the CLI's
  `--strict` fails on it);
- runs of different pipelines are refused unless forced (their steps share names by accident).
"""

from __future__ import annotations

from typing import Any

from ombudsman.contracts.replies import Invalid

RANK = {"passed": 3, "warning": 2, "skipped": 1, "failed": 0, "error": 0}
FAILING = ("failed", "error")


def pipeline_of(run: dict[str, Any]) -> str:
    """What identifies a run's pipeline: its saved pipeline id, else its name."""
    return str(run.get("pipeline_id") or f"name:{run.get('pipeline_name') or ''}")


def check_same_pipeline(run: dict[str, Any], baseline: dict[str, Any], force: bool) -> bool:
    """True when both runs ran the same pipeline; Invalid when they did not and `force` is off."""
    same = pipeline_of(run) == pipeline_of(baseline)
    if not same and not force:
        raise Invalid(
            f"run {run['run_id']} ran pipeline {run.get('pipeline_name')!r} but baseline {baseline['run_id']} ran "
            f"{baseline.get('pipeline_name')!r}: runs of different pipelines are not compared (force to compare anyway)",
            {"fields": [{"field": "baseline", "message": "a run of another pipeline"}]},
        )
    return same


def compare_steps(current: dict[str, str | None], baseline: dict[str, str | None]) -> dict[str, list[dict[str, Any]]]:
    """Steps (name -> status) of a run against its baseline's: better, worse, same, added, removed."""
    out: dict[str, list[dict[str, Any]]] = {"better": [], "worse": [], "same": [], "added": [], "removed": []}
    for step in sorted(set(current) | set(baseline)):
        item = {"step": step, "baseline": baseline.get(step), "current": current.get(step)}
        if step not in baseline:
            out["added"].append(item)
            if current[step] in FAILING:
                out["worse"].append(item)
        elif step not in current:
            out["removed"].append(item)
        else:
            now, then = RANK.get(current[step] or "", -1), RANK.get(baseline[step] or "", -1)
            out["better" if now > then else "worse" if now < then else "same"].append(item)
    return out
