"""The executor's write mechanics, shared by runs, batches, schedules, discrepancies and retention:
load a stream, append to one or more streams in one unit of work (with private rows), read the
projections, and retry a decision on a version conflict (one writer per stream in this process)."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from ombudsman.contracts.envelope import Actor, EventEnvelope, Metadata
from ombudsman.contracts.registry import Event
from ombudsman.eventstore.decide import RetryPolicy, retry_conflicts
from ombudsman.eventstore.runtime import ServiceContext
from ombudsman.executor import private

SERVICE_META = Metadata(actor=Actor.service("executor"))
CONFLICT_RETRY = RetryPolicy(attempts=20)
# (stream id, expected version, events): one stream's part of an append
Append = tuple[str, int, Sequence[Event]]
# a write to the executor's private tables, in the same transaction as the events
PrivateWrite = Callable[[AsyncConnection], Awaitable[None]]


def now_utc() -> datetime:
    return datetime.now(UTC)


class Streams:
    """Load, append and retry over the executor's event streams and read models."""

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self._locks: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    async def events(self, stream_id: str) -> list[EventEnvelope]:
        """Every event of one stream, oldest first."""
        async with self.ctx.engine.connect() as conn:
            return await self.ctx.store.load_stream(conn, stream_id)

    async def append(self, meta: Metadata, *appends: Append, private_writes: Sequence[PrivateWrite] = ()) -> None:
        """Append to one or more streams in one unit of work (events, outbox, read models, and the
        private rows of `private_writes`).

        Raises Conflict when a stream moved past its expected version (another writer got there first)."""
        appends = tuple(a for a in appends if a[2])
        if not appends:
            return
        async with self.ctx.uow() as uow:
            for stream_id, expected_version, events in appends:
                await uow.emit(stream_id, events, meta, expected_version=expected_version)
            for write in private_writes:
                await write(uow.conn)

    async def fetch(self, sql: str, params: dict[str, Any] | None = None) -> list[Any]:
        """The rows of one query on the executor's tables."""
        async with self.ctx.engine.connect() as conn:
            return list((await conn.execute(text(sql), params or {})).all())

    async def kept_pipeline(self, key: str) -> str | None:
        """A pipeline's YAML as given (secrets included), while the private store keeps it."""
        async with self.ctx.engine.connect() as conn:
            return await private.pipeline_of(conn, key)

    async def retrying(self, key: str, attempt: Callable[[], Awaitable[Any]]) -> Any:
        """Run `attempt` (load, decide, append), again on a version conflict."""
        # one writer per stream in this process (step results of one run arrive at once); the
        # retry covers the other replicas
        async with self._locks[key]:
            return await retry_conflicts(attempt, stream_id=key, policy=CONFLICT_RETRY)
