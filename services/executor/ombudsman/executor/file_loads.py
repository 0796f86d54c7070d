"""File loads run as steps (`file_load`): the checkpoint of each file as events on the run's stream, and
the read model a later run resumes from.

A worker loading a file reports `started` (the current file), `progress` (bytes read), `completed`
(rows) or `failed` (the message, values left out) through `record_file_checkpoint`; each becomes a
FileLoad* event on the run's stream, so the run's WebSocket shows it like the step events. The events
carry the run's scope (its project) and the step's target connection, which the executor decides (never
the worker): the projection `file_loads` keeps, per scope, target, family and file, the last checkpoint,
and `file_loads` (the worker's query) answers it for a step, across runs — that is what `resume` skips.
A completed file stays completed: a later `started` or `failed` for it changes nothing.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from ombudsman.contracts import events as ev
from ombudsman.contracts.commands.executor import FileCheckpointIn
from ombudsman.contracts.envelope import EventEnvelope, Metadata
from ombudsman.contracts.registry import Event, decode
from ombudsman.contracts.replies import Invalid
from ombudsman.eventstore.projections import Projection
from ombudsman.executor import domain

SCHEMA = "executor"
LOAD_VALIDATOR = "file_load"
_QUOTED = re.compile(r'"[^"\n]*"')
_SINGLE_QUOTED = re.compile(r"(?<![A-Za-z])'[^'\n]*'")  # not an apostrophe (Snowflake's)


def without_values(message: str) -> str:
    """A database's load error with the quoted data values left out (an event carries no data values):
    `invalid input syntax for type bigint: "…"` (PostgreSQL, DuckDB), `Numeric value '…' is not recognized`
    (Snowflake), the line number and column kept."""
    return _SINGLE_QUOTED.sub("'…'", _QUOTED.sub('"…"', message))[:2000]


def load_keys(state: domain.RunState, step: str) -> tuple[str, str]:
    """(scope, target) of a file_load step: the run's project (or its pipeline's name) and the step's
    target connection, as the per-connection limits name it."""
    spec = state.spec
    scope = state.project_id or f"pipeline:{state.pipeline_name}"
    return scope, domain.connection_key(spec, spec.target_connection(spec.step(step)), state.project_id)


def checkpoint_event(state: domain.RunState, body: FileCheckpointIn) -> Event:
    """The event a worker's checkpoint becomes; `Invalid` for a step that is not a load of this run,
    or that has its result already (a stale worker)."""
    if body.step not in state.steps:
        raise Invalid(f"step: run {body.run_id} has no step {body.step!r}", {"field": "step"})
    if state.spec.step(body.step).validator != LOAD_VALIDATOR:
        raise Invalid(f"step: {body.step!r} is not a {LOAD_VALIDATOR} step", {"field": "step"})
    if body.step in state.results or state.finished:
        raise Invalid(f"step {body.step!r} of run {body.run_id} has its result already", {"field": "step"})
    scope, target = load_keys(state, body.step)
    common: dict[str, Any] = {"run_id": body.run_id, "step": body.step, "scope": scope, "target": target,
                              "spec": body.spec, "file": body.file, "bytes": body.bytes}
    if body.status == "started":
        return ev.FileLoadStarted(**common)
    if body.status == "progress":
        return ev.FileLoadProgressed(**common, bytes_read=body.bytes_read)
    if body.status == "completed":
        return ev.FileLoadCompleted(**common, rows=body.rows, seconds=body.seconds, reconciled=body.reconciled)
    return ev.FileLoadFailed(**common, message=without_values(body.message))


async def recorded_loads(conn: AsyncConnection, scope: str, target: str) -> list[dict[str, Any]]:
    """Every file checkpoint of a scope and target connection (the projection's rows)."""
    rows = await conn.execute(text(
        f"SELECT spec, file, status, bytes, bytes_read, rows, run_id, step, message FROM {SCHEMA}.file_loads "
        "WHERE scope = :s AND target = :t ORDER BY spec, file"), {"s": scope, "t": target})
    return [dict(r._mapping) for r in rows]


class FileLoads(Projection):
    """The last checkpoint of each file per scope and target connection (`executor.file_loads`)."""

    name = "file_loads"
    event_types = frozenset({"FileLoadStarted", "FileLoadProgressed", "FileLoadCompleted", "FileLoadFailed"})

    async def setup(self, conn: AsyncConnection) -> None:
        await conn.execute(text(f"""CREATE TABLE IF NOT EXISTS {SCHEMA}.file_loads (
            scope text NOT NULL, target text NOT NULL, spec text NOT NULL, file text NOT NULL,
            status text NOT NULL, bytes bigint NOT NULL DEFAULT 0, bytes_read bigint NOT NULL DEFAULT 0,
            rows bigint NOT NULL DEFAULT 0, run_id text NOT NULL, step text NOT NULL,
            message text NOT NULL DEFAULT '', updated_at timestamptz NOT NULL,
            PRIMARY KEY (scope, target, spec, file))"""))

    async def reset(self, conn: AsyncConnection) -> None:
        await conn.execute(text(f"DELETE FROM {SCHEMA}.file_loads"))

    async def apply(self, conn: AsyncConnection, envelope: EventEnvelope) -> None:
        data = decode(envelope)
        assert isinstance(data, ev.FileLoadStarted | ev.FileLoadProgressed | ev.FileLoadCompleted | ev.FileLoadFailed)
        row = {"scope": data.scope, "target": data.target, "spec": data.spec, "file": data.file, "bytes": data.bytes,
               "run_id": data.run_id, "step": data.step, "at": envelope.occurred_at, "read": 0, "rows": 0, "m": ""}
        if isinstance(data, ev.FileLoadProgressed):
            await conn.execute(text(f"""UPDATE {SCHEMA}.file_loads SET bytes_read = :read, updated_at = :at
                WHERE scope = :scope AND target = :target AND spec = :spec AND file = :file AND status = 'current'"""),
                               {**row, "read": data.bytes_read})
            return
        if isinstance(data, ev.FileLoadCompleted):
            row.update(status="completed", read=data.bytes, rows=data.rows)
        elif isinstance(data, ev.FileLoadFailed):
            row.update(status="failed", m=data.message)
        else:
            row.update(status="current")
        await conn.execute(text(f"""INSERT INTO {SCHEMA}.file_loads AS f (scope, target, spec, file, status, bytes,
                bytes_read, rows, run_id, step, message, updated_at)
            VALUES (:scope, :target, :spec, :file, :status, :bytes, :read, :rows, :run_id, :step, :m, :at)
            ON CONFLICT (scope, target, spec, file) DO UPDATE SET status = excluded.status, bytes = excluded.bytes,
                bytes_read = excluded.bytes_read, rows = excluded.rows, run_id = excluded.run_id,
                step = excluded.step, message = excluded.message, updated_at = excluded.updated_at
            WHERE f.status <> 'completed'"""), row)


async def record_checkpoint(runs: Any, body: FileCheckpointIn, meta: Metadata) -> dict[str, Any]:
    """Append the checkpoint's event to the run's stream (retried on a version conflict)."""

    async def go() -> dict[str, Any]:
        state = await runs.existing_run(body.run_id)
        event = checkpoint_event(state, body)
        await runs.streams.append(meta, (body.run_id, state.version, [event]))
        return {"recorded": True, "event": event.event_type()}

    result: dict[str, Any] = await runs.streams.retrying(body.run_id, go)
    return result
