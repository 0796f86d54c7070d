"""The executor's event store on PostgreSQL, with its outbox relay to JetStream.

INTERIM: a compact store of the shape ARCHITECTURE.md §3 describes (events with UNIQUE(stream_id,
version), outbox column `published_at`, synchronous projections in the append transaction) until
libs/eventstore's runtime lands; the executor's domain and projections do not depend on it.

The relay also turns every `StepDispatched` event into its work message on `OMB_WORK`
(`Nats-Msg-Id` = event id + ":work"), so releasing a step is exactly as durable as the event.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
from nats.js import JetStreamContext

from ombudsman.contracts import subjects
from ombudsman.contracts.envelope import EventEnvelope
from ombudsman.contracts.replies import Conflict
from ombudsman.eventstore.streams import ensure_streams

__all__ = ["Append", "EventStore", "ensure_streams", "migrate"]

log = logging.getLogger("ombudsman.executor.store")
MIGRATIONS = Path(__file__).parent / "migrations"
Projector = Callable[[asyncpg.Connection, EventEnvelope], Awaitable[None]]


@dataclass
class Append:
    """Events for one stream, appended only if the stream is still at `expected_version`."""

    stream_id: str
    expected_version: int
    events: Sequence[EventEnvelope]


async def migrate(pool: asyncpg.Pool) -> None:
    """Apply the schema's SQL migrations (each idempotent), serialised by an advisory lock."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('omb-executor-migrate'))")
        for path in sorted(MIGRATIONS.glob("*.sql")):
            await conn.execute(path.read_text())


def _row_to_envelope(row: asyncpg.Record) -> EventEnvelope:
    meta = json.loads(row["metadata"])
    return EventEnvelope(
        event_id=str(row["event_id"]), event_type=row["event_type"], schema_version=row["schema_version"],
        stream_type=row["stream_type"], stream_id=row["stream_id"], version=row["version"],
        occurred_at=meta["occurred_at"], actor=meta["actor"], correlation_id=meta["correlation_id"],
        causation_id=meta.get("causation_id"), traceparent=meta.get("traceparent"), data=json.loads(row["data"]),
    )


class EventStore:
    """Append with optimistic concurrency, load a stream, relay the outbox to JetStream."""

    def __init__(self, pool: asyncpg.Pool, projector: Projector) -> None:
        self.pool = pool
        self.projector = projector
        self._pending = asyncio.Event()

    async def load(self, stream_id: str, conn: asyncpg.Connection | None = None) -> list[EventEnvelope]:
        """Every event of a stream, in version order."""
        sql = "SELECT * FROM executor.events WHERE stream_id = $1 ORDER BY version"
        if conn is not None:
            rows = await conn.fetch(sql, stream_id)
        else:
            async with self.pool.acquire() as c:
                rows = await c.fetch(sql, stream_id)
        return [_row_to_envelope(r) for r in rows]

    async def append(self, appends: Sequence[Append]) -> None:
        """Append to one or more streams in one transaction with their projections.

        Raises Conflict when a stream moved past its expected version (someone else wrote first)."""
        appends = [a for a in appends if a.events]
        if not appends:
            return
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                for item in appends:
                    current = await conn.fetchval(
                        "SELECT coalesce(max(version), 0) FROM executor.events WHERE stream_id = $1", item.stream_id
                    )
                    if current != item.expected_version:
                        raise Conflict(
                            f"stream {item.stream_id} is at version {current}, expected {item.expected_version}",
                            {"stream_id": item.stream_id, "version": current},
                        )
                    for env in item.events:
                        meta = {
                            "occurred_at": env.occurred_at.isoformat(), "actor": env.actor.model_dump(),
                            "correlation_id": env.correlation_id, "causation_id": env.causation_id,
                            "traceparent": env.traceparent,
                        }
                        await conn.execute(
                            "INSERT INTO executor.events (event_id, stream_type, stream_id, version, event_type,"
                            " schema_version, data, metadata) VALUES ($1,$2,$3,$4,$5,$6,$7::jsonb,$8::jsonb)",
                            env.event_id, env.stream_type, env.stream_id, env.version, env.event_type,
                            env.schema_version, json.dumps(env.data), json.dumps(meta),
                        )
                        await self.projector(conn, env)
        except asyncpg.UniqueViolationError as exc:
            raise Conflict(f"concurrent append: {exc.detail or exc}") from None
        self._pending.set()

    async def all_events(self, after: int = 0, limit: int = 1000) -> list[tuple[int, EventEnvelope]]:
        """Events in global order after a position (for replays)."""
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT * FROM executor.events WHERE global_position > $1 ORDER BY global_position LIMIT $2",
                after, limit,
            )
        return [(r["global_position"], _row_to_envelope(r)) for r in rows]

    async def relay(self, js: JetStreamContext, stop: asyncio.Event) -> None:
        """Publish unpublished events in order (and the work message of each dispatch); retry with backoff."""
        backoff = 0.1
        while not stop.is_set():
            self._pending.clear()  # before reading: a commit from now on wakes the next round
            try:
                published = await self._relay_once(js)
                backoff = 0.1
                if published:
                    continue
            except Exception as exc:  # NATS away: keep the outbox, retry later
                log.warning("outbox relay: %s (retrying in %.1fs)", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            try:
                await asyncio.wait_for(self._pending.wait(), timeout=1.0)
            except TimeoutError:
                pass

    async def _relay_once(self, js: JetStreamContext) -> int:
        async with self.pool.acquire() as conn, conn.transaction():
            if not await conn.fetchval("SELECT pg_try_advisory_xact_lock(hashtext('omb-executor-relay'))"):
                return 0
            rows = await conn.fetch(
                "SELECT * FROM executor.events WHERE published_at IS NULL ORDER BY global_position LIMIT 200"
            )
            for row in rows:
                env = _row_to_envelope(row)
                await js.publish(
                    subjects.event_subject(env.stream_type, env.stream_id, env.event_type), env.wire(),
                    headers={"Nats-Msg-Id": env.event_id},
                )
                if env.event_type == "StepDispatched":
                    work = {"run_id": env.data["run_id"], "step": env.data["step"], "dispatch": env.data["dispatch"]}
                    await js.publish(
                        subjects.step_work_subject(env.data["run_id"]), json.dumps(work).encode(),
                        headers={"Nats-Msg-Id": f"{env.event_id}:work"},
                    )
            if rows:
                await conn.execute(
                    "UPDATE executor.events SET published_at = now() WHERE global_position = ANY($1::bigint[])",
                    [r["global_position"] for r in rows],
                )
            return len(rows)


def json_default(value: Any) -> Any:
    """JSON for values asyncpg returns (datetimes, decimals)."""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)
