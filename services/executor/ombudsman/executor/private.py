"""The executor's private store: what must never enter an event, kept in its own schema only.

- `pipeline_secrets`: the pipeline YAML as given, when it held secrets inline (an inline run or an
  inline pipeline of a batch). Events carry the redacted YAML (`contracts.privacy`); the worker gets
  this text from the `step_task` query to open its connections. Keyed by `run:<run_id>` or
  `batch:<batch_id>:<index>` (a batch's runs and retries are queued from it).
- `step_samples`: each step's full result (unmasked sample rows, up to the engine's sample limit).
  `StepCompleted` carries a bounded, masked copy; the run/step read queries show this one while it
  is kept.
- `step_differences`: every difference a row diff found (one line per differing column), however
  many, sent by the worker page by page (`differences.py`); read in pages by the `differences` query.

All are removed after `executor_private_retention_days` (settings) by the clock; they are not read
models (a replay does not rebuild them; after retention the masked event content is what remains).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from ombudsman.executor.projections import SCHEMA

TABLES = (
    f"""CREATE TABLE IF NOT EXISTS {SCHEMA}.pipeline_secrets (
        key text PRIMARY KEY, pipeline_yaml text NOT NULL, created_at timestamptz NOT NULL DEFAULT now())""",
    f"""CREATE TABLE IF NOT EXISTS {SCHEMA}.step_samples (
        run_id text NOT NULL, step text NOT NULL, result jsonb NOT NULL,
        recorded_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (run_id, step))""",
    f"CREATE INDEX IF NOT EXISTS step_samples_recorded ON {SCHEMA}.step_samples (recorded_at)",
)
# every difference a row diff found (one line per differing column), shipped by the worker in pages
DIFFERENCE_TABLES = (
    f"""CREATE TABLE IF NOT EXISTS {SCHEMA}.step_differences (
        run_id text NOT NULL, step text NOT NULL, position integer NOT NULL, line jsonb NOT NULL,
        recorded_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (run_id, step, position))""",
    f"CREATE INDEX IF NOT EXISTS step_differences_recorded ON {SCHEMA}.step_differences (recorded_at)",
)


def run_key(run_id: str) -> str:
    return f"run:{run_id}"


def batch_key(batch_id: str, index: int) -> str:
    return f"batch:{batch_id}:{index}"


async def keep_pipeline(conn: AsyncConnection, key: str, pipeline_yaml: str) -> None:
    """Keep the YAML (with its secrets) of a run or of a batch's pipeline."""
    await conn.execute(text(
        f"INSERT INTO {SCHEMA}.pipeline_secrets (key, pipeline_yaml) VALUES (:k, :y) "
        "ON CONFLICT (key) DO UPDATE SET pipeline_yaml=excluded.pipeline_yaml"), {"k": key, "y": pipeline_yaml})


async def pipeline_of(conn: AsyncConnection, key: str) -> str | None:
    """The YAML kept under `key`, or None (the pipeline had no inline secret, or retention removed it)."""
    row = (await conn.execute(text(f"SELECT pipeline_yaml FROM {SCHEMA}.pipeline_secrets WHERE key=:k"),
                              {"k": key})).first()
    return row.pipeline_yaml if row else None


async def keep_result(conn: AsyncConnection, run_id: str, step: str, result: dict[str, Any]) -> None:
    """Keep a step's full result (its first recording wins, like the event's)."""
    await conn.execute(text(
        f"INSERT INTO {SCHEMA}.step_samples (run_id, step, result) VALUES (:r, :s, CAST(:res AS jsonb)) "
        "ON CONFLICT DO NOTHING"), {"r": run_id, "s": step, "res": json.dumps(result, default=str)})


async def keep_differences(conn: AsyncConnection, run_id: str, step: str, offset: int,
                           lines: list[dict[str, Any]]) -> None:
    """Keep a page of a step's differences at positions offset.. (a page sent twice changes nothing)."""
    if lines:
        await conn.execute(text(
            f"INSERT INTO {SCHEMA}.step_differences (run_id, step, position, line) "
            "VALUES (:r, :s, :p, CAST(:l AS jsonb)) ON CONFLICT DO NOTHING"),
            [{"r": run_id, "s": step, "p": offset + i, "l": json.dumps(line, default=str)}
             for i, line in enumerate(lines)])


async def differences_page(conn: AsyncConnection, run_id: str, step: str, offset: int, limit: int,
                           kind: str | None = None, column: str | None = None
                           ) -> tuple[list[dict[str, Any]], int, list[str]]:
    """A page of a step's kept differences in the order found (only those of `kind` and naming
    `column` when given), how many match, and every column the step's differences name."""
    where = (f"FROM {SCHEMA}.step_differences WHERE run_id=:r AND step=:s"
             " AND (CAST(:k AS text) IS NULL OR line->>'kind' = :k)"
             " AND (CAST(:c AS text) IS NULL OR line->>'column' = :c)")
    bind = {"r": run_id, "s": step, "k": kind, "c": column}
    total = (await conn.execute(text(f"SELECT count(*) {where}"), bind)).scalar_one()
    rows = (await conn.execute(text(f"SELECT line {where} ORDER BY position OFFSET :o LIMIT :n"),
                               {**bind, "o": offset, "n": limit})).all()
    columns = (await conn.execute(text(
        f"SELECT DISTINCT line->>'column' AS c FROM {SCHEMA}.step_differences WHERE run_id=:r AND step=:s"
        " AND line->>'column' IS NOT NULL ORDER BY c LIMIT 1000"), {"r": run_id, "s": step})).scalars().all()
    return [json.loads(r.line) if isinstance(r.line, str) else r.line for r in rows], int(total), list(columns)


async def purge(conn: AsyncConnection, before: datetime) -> int:
    """Remove what was kept before `before`; how many rows went."""
    removed = 0
    for table, column in (("step_samples", "recorded_at"), ("step_differences", "recorded_at"),
                          ("pipeline_secrets", "created_at")):
        result = await conn.execute(text(f"DELETE FROM {SCHEMA}.{table} WHERE {column} < :t"), {"t": before})
        removed += result.rowcount or 0
    return removed
