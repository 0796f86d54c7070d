"""The steps of one generated pipeline as they are chosen: each step is kept only when its validator
is installed and accepts every parameter given, otherwise the skip is said (`skipped`). Pure."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

ValidatorFields = Callable[[str], set[str] | None]

# no generated grouped step compares more groups than this one by one: past it the validators
# compare per hash bucket of the group key (grain.py), so a step never returns 10,000 groups
MAX_GROUPS = 1_000
GROUP_BUCKETS = 256
# distinct values of a low-cardinality attribute compared one by one at most (domain_values)
MAX_DOMAIN_VALUES = 500


class StepPlan:
    """The steps of one table pair's pipeline: `add` checks the validator and its parameters."""

    def __init__(self, source_table: str, target_table: str, columns: dict[str, str], fields: ValidatorFields) -> None:
        self.source_table = source_table
        self.target_table = target_table
        self.columns = dict(columns)  # source column → target column ({}: every column keeps its name)
        self.fields = fields
        self.steps: list[dict[str, Any]] = []
        self.skipped: list[str] = []

    def accepts(self, validator: str, parameters: dict[str, Any] | None = None) -> bool:
        """Whether the installed `validator` exists and takes every parameter named."""
        known = self.fields(validator)
        return known is not None and not (set(parameters or {}) - known)

    def add(self, step_id: str, validator: str, parameters: dict[str, Any] | None = None, **extra: Any) -> bool:
        """Add a step (True), or say why it is left out (False)."""
        known = self.fields(validator)
        if known is None:
            self.skipped.append(f"{validator}: not installed")
            return False
        unknown = set(parameters or {}) - known
        if unknown:
            self.skipped.append(f"{validator}: parameters {sorted(unknown)} not supported by the installed validator")
            return False
        taken = {s["id"] for s in self.steps}
        base, n = step_id, 1
        while step_id in taken:  # e.g. one column inferred to reference two tables: both steps, told apart
            n += 1
            step_id = f"{base}_{n}"
        step: dict[str, Any] = {
            "id": step_id,
            "validator": validator,
            "tables": {"source": self.source_table, "target": self.target_table},
        }
        if self.columns:
            step["columns"] = dict(self.columns)  # a copy per step: no YAML anchors
        if parameters:
            step["parameters"] = parameters
        step.update(extra)
        self.steps.append(step)
        return True

    def bounded(self, validator: str, parameters: dict[str, Any]) -> dict[str, Any]:
        """`parameters` with the group bounds the installed grouped validator takes (max_groups, buckets)."""
        known = self.fields(validator) or set()
        bounds = {"max_groups": MAX_GROUPS, "buckets": GROUP_BUCKETS}
        return {**parameters, **{k: v for k, v in bounds.items() if k in known}}

    def is_mapped(self, column: str) -> bool:
        """A source column that is compared: mapped onto the target (or every column when none is mapped)."""
        return not self.columns or column.lower() in {c.lower() for c in self.columns}

    def target_column(self, column: str) -> str:
        """The target's name of a source column (its own name when unmapped)."""
        lowered = {c.lower(): t for c, t in self.columns.items()}
        return lowered.get(column.lower(), column)


def step_suffix(columns: list[str]) -> str:
    """A step id suffix from column names: `["ss_customer_sk"]` → `ss_customer_sk`."""
    return "_".join(c.lower() for c in columns)
