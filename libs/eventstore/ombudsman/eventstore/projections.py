"""Projections (read models) and the JetStream consumers that feed them, plus rebuild by replay.

Two ways a projection is fed:
- synchronously, from the service's own events, inside the `UnitOfWork` that appends them;
- by a `ProjectionConsumer`: a durable pull consumer on `OMB_EVENTS` for events of OTHER services
  (or of all services: the audit log). Each message is applied in ONE transaction that also inserts
  its row in `<schema>.tracking` (consumer = the projection's name, keyed by event id); a message
  whose event is already tracked is acked and skipped, so redelivery changes nothing.

Failures are nak'ed with a backoff growing to 30 s, at most `max_deliver` (50: about 20 minutes of
a database outage) times; then the event is logged as given up and a replay from the stream repairs
the projection.

Ordering: messages are applied in stream order; a message that failed is nak'ed with a backoff and
may come back after later ones, so consumer-fed projections must not depend on strict cross-stream
order (per-event tracking keeps them exactly-once regardless).

`rebuild` drops a projection's rows (`reset`) and replays from the service's own events table or
from the `OMB_EVENTS` stream, in one transaction, giving the same rows as the live feed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import ClassVar, Literal

import nats
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ombudsman.contracts.access import event_origin_error
from ombudsman.contracts.envelope import EventEnvelope
from ombudsman.contracts.registry import to_current
from ombudsman.contracts.subjects import EVENTS_STREAM, all_events
from ombudsman.eventstore.db import quote_ident
from ombudsman.eventstore.store import EventStore
from ombudsman.eventstore.tracing import SpanKind, span

log = logging.getLogger(__name__)


class Projection(ABC):
    """A read model in the service's schema, built only from events.

    `apply` must be deterministic (no clock, no randomness: take times from the envelope) so that a
    rebuild gives the same rows byte for byte.
    """

    name: ClassVar[str]
    event_types: ClassVar[frozenset[str] | None] = None  # None = every event type
    # How `ombudsman replay` rebuilds it: from the service's own events, or from OMB_EVENTS.
    replay_source: ClassVar[Literal["store", "stream"]] = "store"
    replay_filter: ClassVar[str] = all_events()

    def wants(self, envelope: EventEnvelope) -> bool:
        return self.event_types is None or envelope.event_type in self.event_types

    @abstractmethod
    async def setup(self, conn: AsyncConnection) -> None:
        """Create its tables (CREATE TABLE IF NOT EXISTS ... in the service schema)."""

    @abstractmethod
    async def reset(self, conn: AsyncConnection) -> None:
        """Remove all its rows, before a rebuild."""

    @abstractmethod
    async def apply(self, conn: AsyncConnection, envelope: EventEnvelope) -> None:
        """Fold one event into the rows, in the caller's transaction."""

    async def apply_many(self, conn: AsyncConnection, envelopes: Sequence[EventEnvelope]) -> None:
        """Fold several events in order (override with a batched statement where it pays)."""
        for envelope in envelopes:
            await self.apply(conn, envelope)


async def setup_projections(engine: AsyncEngine, projections: Sequence[Projection]) -> None:
    """Run every projection's `setup` in one transaction."""
    if not projections:
        return
    async with engine.begin() as conn:
        for projection in projections:
            await projection.setup(conn)


def _backoff(attempt: int) -> float:
    return float(min(30.0, 0.5 * 2 ** max(0, attempt - 1)))


class ProjectionConsumer:
    """A durable pull consumer on OMB_EVENTS applying events to one projection, exactly once."""

    def __init__(
        self,
        engine: AsyncEngine,
        schema: str,
        js: JetStreamContext,
        projection: Projection,
        *,
        durable: str,
        filter_subject: str = "omb.evt.>",
        batch: int = 100,
        max_deliver: int = 50,
        ack_wait: float = 30.0,
    ) -> None:
        self.engine = engine
        self.schema = quote_ident(schema)
        self.js = js
        self.projection = projection
        self.durable = durable
        self.filter_subject = filter_subject
        self.batch = batch
        self.max_deliver = max_deliver
        self.ack_wait = ack_wait
        self.applied = 0  # events applied by this instance
        self.skipped = 0  # redelivered events tracking said were applied already
        self.rejected = 0  # events whose envelope disagrees with the subject they came on (never applied)
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._fetching = False
        # Tracking first: the row is claimed in the projection's transaction; a conflict = applied before.
        self._track = text(f"INSERT INTO {self.schema}.tracking (consumer, event_id, stream_sequence) "
                           "VALUES (:c, :e, :s) ON CONFLICT DO NOTHING RETURNING 1")

    async def start(self) -> None:
        """Create (or bind to) the durable consumer and start applying."""
        config = ConsumerConfig(
            durable_name=self.durable,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            filter_subject=self.filter_subject,
            max_deliver=self.max_deliver,
            ack_wait=self.ack_wait,
            max_ack_pending=max(1000, self.batch * 2),
        )
        self._sub = await self.js.pull_subscribe(
            self.filter_subject, durable=self.durable, stream=EVENTS_STREAM, config=config
        )
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name=f"consumer-{self.durable}")

    async def stop(self) -> None:
        """Stop after the message in hand; unacked messages are redelivered to the next start."""
        self._stopping = True
        if self._task is None:
            return
        if self._fetching:
            self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
        with contextlib.suppress(Exception):
            await self._sub.unsubscribe()

    async def _run(self) -> None:
        while not self._stopping:
            self._fetching = True
            try:
                messages = await self._sub.fetch(self.batch, timeout=1.0)
            except (TimeoutError, nats.errors.TimeoutError):
                continue
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # NATS away: try again shortly
                log.warning("consumer %s: fetch failed: %s", self.durable, exc)
                await asyncio.sleep(1.0)
                continue
            finally:
                self._fetching = False
            for index, msg in enumerate(messages):
                if self._stopping:
                    for rest in messages[index:]:
                        with contextlib.suppress(Exception):
                            await rest.nak()
                    return
                await self._handle(msg)

    async def _handle(self, msg: Msg) -> None:
        meta = msg.metadata
        sequence = meta.sequence.stream
        try:
            received = EventEnvelope.from_wire(msg.data)
            envelope = to_current(received)
        except Exception as exc:  # not an event envelope: nothing will ever apply it
            log.error("consumer %s: message %s is not an event envelope (%s); terminated",
                      self.durable, sequence, exc)
            await msg.term()
            return
        distrust = event_origin_error(msg.subject, received.model_dump(include={"stream_type", "stream_id", "event_type"}))
        if distrust is not None:  # never act on an event its subject's owner could not have published
            log.error("consumer %s: event at stream sequence %s rejected: %s", self.durable, sequence, distrust)
            self.rejected += 1
            with contextlib.suppress(Exception):
                await msg.term()
            return
        try:
            with span(f"apply {self.projection.name}", kind=SpanKind.CONSUMER, parent_headers=msg.headers or {},
                      attributes={"omb.event_type": envelope.event_type, "omb.event_id": envelope.event_id}):
                await self._apply(envelope, sequence)
        except Exception as exc:
            delay = _backoff(meta.num_delivered)
            if 0 < self.max_deliver <= meta.num_delivered:  # max_deliver -1: retry for ever
                log.error("consumer %s: event %s (seq %s) failed %s times, giving up (%s); "
                          "`ombudsman replay <service> %s --source stream` rebuilds the projection with it",
                          self.durable, envelope.event_id, sequence, meta.num_delivered, exc, self.projection.name)
                with contextlib.suppress(Exception):
                    await msg.term()
                return
            log.warning("consumer %s: event %s (seq %s, delivery %s) failed: %s; retry in %.1fs",
                        self.durable, envelope.event_id, sequence, meta.num_delivered, exc, delay)
            with contextlib.suppress(Exception):
                await msg.nak(delay=delay)
            return
        with contextlib.suppress(Exception):  # a lost ack means a redelivery, which tracking skips
            await msg.ack()

    async def _apply(self, envelope: EventEnvelope, sequence: int) -> None:
        async with self.engine.begin() as conn:
            params = {"c": self.projection.name, "e": envelope.event_id, "s": sequence}
            if (await conn.execute(self._track, params)).first() is None:
                self.skipped += 1
                return
            if self.projection.wants(envelope):
                await self.projection.apply(conn, envelope)
        self.applied += 1


async def _rebuild_from_store(conn: AsyncConnection, schema: str, projection: Projection) -> int:
    store = EventStore(schema)
    position, applied = 0, 0
    while True:
        page = await store.read_all(conn, after_position=position, limit=5000)
        if not page:
            return applied
        position = page[-1][0]
        wanted = [envelope for _, envelope in page if projection.wants(envelope)]
        if wanted:
            await projection.apply_many(conn, wanted)
            applied += len(wanted)


async def _rebuild_from_stream(conn: AsyncConnection, schema: str, projection: Projection, nats_url: str,
                               filter_subject: str) -> int:
    from ombudsman.eventstore.natsauth import client_credentials
    from ombudsman.eventstore.runtime import connect_nats

    user, password = client_credentials()
    nc = await connect_nats(nats_url, name="omb-replay", timeout=10, user=user, password=password, reconnect=False)
    try:
        js = nc.jetstream()
        info = await js.stream_info(EVENTS_STREAM)
        last = info.state.last_seq
        sub = await js.pull_subscribe(
            filter_subject, stream=EVENTS_STREAM,
            config=ConsumerConfig(ack_policy=AckPolicy.NONE, deliver_policy=DeliverPolicy.ALL,
                                  filter_subject=filter_subject, inactive_threshold=60.0),
        )
        track = text(f"INSERT INTO {schema}.tracking (consumer, event_id, stream_sequence) "
                     "SELECT :c, e, s FROM unnest(CAST(:e AS text[]), CAST(:s AS bigint[])) AS t(e, s) "
                     "ON CONFLICT DO NOTHING")
        applied = 0
        while True:
            pending = (await sub.consumer_info()).num_pending or 0
            if pending == 0:
                break
            try:
                messages = await sub.fetch(min(1000, pending), timeout=5.0)
            except (TimeoutError, nats.errors.TimeoutError):
                break
            batch: list[EventEnvelope] = []
            sequences: list[int] = []
            for msg in messages:
                sequence = msg.metadata.sequence.stream
                if sequence > last:
                    continue
                envelope = to_current(EventEnvelope.from_wire(msg.data))
                batch.append(envelope)
                sequences.append(sequence)
            wanted = [e for e in batch if projection.wants(e)]
            if wanted:
                await projection.apply_many(conn, wanted)
                applied += len(wanted)
            if batch:
                await conn.execute(track, {"c": projection.name, "e": [e.event_id for e in batch], "s": sequences})
            if messages and messages[-1].metadata.sequence.stream >= last:
                break
        with contextlib.suppress(Exception):
            await sub.unsubscribe()
        return applied
    finally:
        await nc.close()


async def rebuild(
    engine: AsyncEngine,
    schema: str,
    projection: Projection,
    *,
    source: Literal["store", "stream"] = "store",
    nats_url: str | None = None,
    filter_subject: str | None = None,
) -> int:
    """Drop `projection`'s rows and rebuild them from events, in one transaction. Returns events applied.

    `source="store"`: the service's own `<schema>.events` in global order. `source="stream"`: the
    `OMB_EVENTS` stream (needs `nats_url`), for projections fed by other services' events; its
    tracking rows are rewritten too, so its live consumer carries on without applying anything twice.
    """
    schema = quote_ident(schema)
    async with engine.begin() as conn:
        await conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": f"rebuild:{schema}:{projection.name}"})
        await projection.setup(conn)
        await projection.reset(conn)
        if source == "store":
            return await _rebuild_from_store(conn, schema, projection)
        if not nats_url:
            raise ValueError("rebuilding from the stream needs nats_url")
        await conn.execute(text(f"DELETE FROM {schema}.tracking WHERE consumer = :c"), {"c": projection.name})
        return await _rebuild_from_stream(conn, schema, projection, nats_url,
                                          filter_subject or projection.replay_filter)

