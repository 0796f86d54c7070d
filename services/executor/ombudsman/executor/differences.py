"""The full list of a row diff's differences, from the worker's disk to the executor's private store.

A step whose validator can write every difference to a file (`row_hash`: parameter `output`) gets
a file in the worker's scratch directory when the pipeline names none; after the step the worker
reads it (CSV or Parquet) and sends it page by page with `record_differences`, before the step's
result, so that when a run is finished its differences are there. The person's own `output` file is
read the same way and left in place. At most `MAX_LINES` lines are kept per step.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ombudsman.contracts.commands.executor import DIFFERENCE_PAGE_LINES, MAX_DIFFERENCE_LINES
from ombudsman.contracts.pipeline import PipelineSpec

PAGE_LINES = DIFFERENCE_PAGE_LINES
MAX_LINES = MAX_DIFFERENCE_LINES
LINE_FIELDS = ("kind", "key", "column", "source_value", "target_value", "source_count", "target_count")


def with_differences_file(spec: PipelineSpec, step_id: str, scratch: Path) -> tuple[PipelineSpec, Path | None, bool]:
    """The spec to run, the file the step will write its differences to (None when its validator
    writes none) and whether that file is the worker's own (to remove once sent)."""
    from ombudsman.engine.validators.base import validators

    step = spec.step(step_id)
    validator = validators().get(step.validator)
    params_model = getattr(validator, "Params", None)
    if validator is None or params_model is None or "output" not in params_model.model_fields:
        return spec, None, False
    given = (step.parameters or {}).get("output")
    if given:
        return spec, Path(str(given)), False
    path = scratch / f"{os.getpid()}-{abs(hash((step_id, id(spec))))}-{os.urandom(4).hex()}.csv"
    changed = step.model_copy(update={"parameters": {**(step.parameters or {}), "output": str(path)}})
    steps = [changed if s.id == step_id else s for s in spec.steps]
    return spec.model_copy(update={"steps": steps}), path, True


def read_pages(path: Path, page: int = PAGE_LINES, limit: int = MAX_LINES) -> Iterator[list[dict[str, Any]]]:
    """The lines of a differences file (CSV or Parquet), `page` at a time, at most `limit` in all."""
    sent = 0
    if path.suffix.lower() == ".csv":
        with open(path, newline="", encoding="utf-8") as f:
            batch: list[dict[str, Any]] = []
            for row in csv.DictReader(f):
                if sent >= limit:
                    break
                batch.append({k: _typed(k, row.get(k)) for k in LINE_FIELDS})
                sent += 1
                if len(batch) == page:
                    yield batch
                    batch = []
            if batch:
                yield batch
        return
    import pyarrow.parquet as pq

    for record_batch in pq.ParquetFile(path).iter_batches(batch_size=page):
        lines = record_batch.to_pylist()[: max(0, limit - sent)]
        if not lines:
            break
        sent += len(lines)
        yield lines


def _typed(name: str, value: str | None) -> Any:
    """CSV text back to the line's types: empty is None, counts are integers."""
    if value is None or value == "":
        return None
    return int(value) if name.endswith("_count") else value
