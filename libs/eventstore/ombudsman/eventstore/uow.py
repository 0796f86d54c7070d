"""One transaction: events, their outbox rows and the synchronous projections commit together."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import TracebackType

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ombudsman.contracts.envelope import EventEnvelope, Metadata
from ombudsman.contracts.registry import Event, envelope_for
from ombudsman.eventstore import metrics
from ombudsman.eventstore.projections import Projection
from ombudsman.eventstore.store import EventStore
from ombudsman.eventstore.tracing import current_traceparent


class UnitOfWork:
    """`async with UnitOfWork(...) as uow:` load, decide, `append`; commits on success, rolls back on error.

    After a commit that appended events, `on_commit` runs (the service passes the relay's `notify`).
    """

    conn: AsyncConnection

    def __init__(
        self,
        engine: AsyncEngine,
        store: EventStore,
        projections: Sequence[Projection] = (),
        on_commit: Callable[[], None] | None = None,
    ) -> None:
        self.engine = engine
        self.store = store
        self.projections = tuple(projections)
        self.on_commit = on_commit
        self.appended: list[EventEnvelope] = []
        self.positions: list[int] = []

    async def __aenter__(self) -> UnitOfWork:
        self._tx = self.engine.begin()
        self.conn = await self._tx.__aenter__()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._tx.__aexit__(exc_type, exc, tb)
        if exc_type is None and self.appended:
            metrics.observe_appended(self.store.schema, [e.stream_type for e in self.appended])
            if self.on_commit is not None:
                self.on_commit()

    async def load(self, stream_id: str) -> list[EventEnvelope]:
        """The stream's events in version order (upcast to current schemas)."""
        return await self.store.load_stream(self.conn, stream_id)

    async def version(self, stream_id: str) -> int:
        return await self.store.stream_version(self.conn, stream_id)

    async def append(self, envelopes: Sequence[EventEnvelope], *, expected_version: int) -> None:
        """Append to one stream (raises `Conflict` if it moved) and apply the synchronous projections."""
        if not envelopes:
            return
        self.positions += await self.store.append(self.conn, envelopes, expected_version=expected_version)
        self.appended += envelopes
        for projection in self.projections:
            wanted = [envelope for envelope in envelopes if projection.wants(envelope)]
            if wanted:
                await projection.apply_many(self.conn, wanted)

    async def emit(
        self, stream_id: str, events: Sequence[Event], meta: Metadata, *, expected_version: int
    ) -> list[EventEnvelope]:
        """Wrap typed events at versions `expected_version+1...` and append them. Returns the envelopes.

        The envelopes carry `meta`'s traceparent, or the current span's when `meta` has none.
        """
        if meta.traceparent is None:
            meta = meta.model_copy(update={"traceparent": current_traceparent()})
        envelopes = [
            envelope_for(event, stream_id=stream_id, version=expected_version + offset, meta=meta)
            for offset, event in enumerate(events, start=1)
        ]
        await self.append(envelopes, expected_version=expected_version)
        return envelopes
