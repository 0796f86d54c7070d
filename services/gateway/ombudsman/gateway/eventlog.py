"""The gateway's access to its event store (schema `gateway`).

INTERIM: libs/eventstore is being written at the same time; until its EventStore lands, this
adapter appends to `gateway.events` with the table layout of ARCHITECTURE.md §3 (UNIQUE
(stream_id, version) as the concurrency guard). Swap `EventLog` for the eventstore's and delete this.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Sequence
from typing import Any, Protocol

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from ombudsman.contracts.envelope import EventEnvelope, Metadata
from ombudsman.contracts.registry import Event, envelope_for, to_current
from ombudsman.contracts.replies import Conflict
from ombudsman.contracts.subjects import event_subject

SCHEMA = "gateway"


class EventLog(Protocol):
    async def load(self, conn: AsyncConnection, stream_id: str) -> list[EventEnvelope]: ...

    async def append(self, conn: AsyncConnection, stream_id: str, expected_version: int,
                     events: Sequence[Event], meta: Metadata) -> list[EventEnvelope]: ...


def event_log_ddl(schema: str = SCHEMA) -> list[str]:
    return [
        f"CREATE SCHEMA IF NOT EXISTS {schema}",
        f"""CREATE TABLE IF NOT EXISTS {schema}.events (
            global_position bigserial PRIMARY KEY,
            stream_id text NOT NULL,
            version int NOT NULL,
            event_id text NOT NULL UNIQUE,
            event_type text NOT NULL,
            schema_version int NOT NULL,
            data jsonb NOT NULL,
            metadata jsonb NOT NULL,
            recorded_at timestamptz NOT NULL DEFAULT now(),
            published_at timestamptz,
            UNIQUE (stream_id, version)
        )""",
        f"CREATE INDEX IF NOT EXISTS events_unpublished ON {schema}.events (global_position) WHERE published_at IS NULL",
    ]


class InterimEventLog:
    """Events in `gateway.events`; the outbox is the `published_at IS NULL` rows, drained in order
    to JetStream by `relay()` (with `Nats-Msg-Id` so a re-publish inside the window is dropped)."""

    def __init__(self, engine: Any, nc: Any, schema: str = SCHEMA):
        self.engine = engine
        self.nc = nc
        self.schema = schema
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._relay_forever())

    async def close(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    async def load(self, conn: AsyncConnection, stream_id: str) -> list[EventEnvelope]:
        rows = (
            await conn.execute(
                text(f"SELECT * FROM {self.schema}.events WHERE stream_id = :s ORDER BY version"), {"s": stream_id}
            )
        ).mappings().all()
        return [to_current(_envelope(r)) for r in rows]

    async def append(self, conn: AsyncConnection, stream_id: str, expected_version: int,
                     events: Sequence[Event], meta: Metadata) -> list[EventEnvelope]:
        envelopes = [envelope_for(e, stream_id=stream_id, version=expected_version + i + 1, meta=meta)
                     for i, e in enumerate(events)]
        for env in envelopes:
            try:
                async with conn.begin_nested():
                    await conn.execute(
                        text(f"""INSERT INTO {self.schema}.events (stream_id, version, event_id, event_type,
                                 schema_version, data, metadata, recorded_at)
                                 VALUES (:s, :v, :id, :t, :sv, CAST(:d AS jsonb), CAST(:m AS jsonb), :at)"""),
                        {"s": stream_id, "v": env.version, "id": env.event_id, "t": env.event_type,
                         "sv": env.schema_version, "d": json.dumps(env.data),
                         "m": env.model_dump_json(exclude={"data"}), "at": env.occurred_at},
                    )
            except IntegrityError:
                raise Conflict(f"stream {stream_id} changed concurrently", {"stream_id": stream_id}) from None
        if envelopes:
            self._wake.set()
        return envelopes

    async def relay_once(self) -> int:
        js = self.nc.jetstream()
        published = 0
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(
                    text(f"""SELECT * FROM {self.schema}.events WHERE published_at IS NULL
                             ORDER BY global_position LIMIT 100""")
                )
            ).mappings().all()
        for row in rows:
            env = _envelope(row)
            await js.publish(event_subject(env.stream_type, env.stream_id, env.event_type), env.wire(),
                             headers={"Nats-Msg-Id": env.event_id})
            async with self.engine.begin() as conn:
                await conn.execute(
                    text(f"UPDATE {self.schema}.events SET published_at = now() WHERE global_position = :p"),
                    {"p": row["global_position"]},
                )
            published += 1
        return published

    async def _relay_forever(self) -> None:
        delay = 0.2
        while True:
            try:
                self._wake.clear()
                while await self.relay_once():
                    pass
                delay = 0.2
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), 1.0)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # NATS away or stream missing: retry with backoff
                logging.getLogger("ombudsman.gateway.outbox").warning("relay retry: %s", exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10)


def _envelope(row: Any) -> EventEnvelope:
    meta = row["metadata"] if isinstance(row["metadata"], dict) else json.loads(row["metadata"])
    data = row["data"] if isinstance(row["data"], dict) else json.loads(row["data"])
    return EventEnvelope.model_validate({**meta, "data": data})


async def open_event_log(engine: Any, nc: Any) -> InterimEventLog:
    log = InterimEventLog(engine, nc)
    log.start()
    return log
