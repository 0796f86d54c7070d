"""Durable JetStream consumers with tracking on real NATS + PostgreSQL: failures are retried,
redelivery (nak, lost acks, a consumer recreated from scratch) changes nothing in the projection."""

from __future__ import annotations

from typing import Any, ClassVar

import nats
import pytest
from nats.js import JetStreamContext
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ombudsman.contracts.envelope import EventEnvelope
from ombudsman.eventstore.outbox import OutboxRelay
from ombudsman.eventstore.projections import ProjectionConsumer, setup_projections
from ombudsman.eventstore.store import EventStore
from ombudsman.eventstore.streams import ensure_streams
from tests.eventstore.helpers import SCHEMA, CountsProjection, envelopes, table_text
from tests.support import eventually


class FlakyCounts(CountsProjection):
    """Fails the first time it sees each event whose n is a multiple of 7."""

    failed: ClassVar[set[str]] = set()

    async def apply(self, conn: AsyncConnection, envelope: EventEnvelope) -> None:
        await super().apply(conn, envelope)  # written, then rolled back by the failure below
        if envelope.data["n"] % 7 == 0 and envelope.event_id not in self.failed:
            self.failed.add(envelope.event_id)
            raise RuntimeError("transient failure")


class AckLosingConsumer(ProjectionConsumer):
    """Commits every event but 'crashes' before acking the first delivery of each."""

    async def _handle(self, msg: Any) -> None:
        if msg.metadata.num_delivered == 1:
            await self._apply(EventEnvelope.from_wire(msg.data), msg.metadata.sequence.stream)
            return  # no ack: JetStream redelivers after ack_wait
        await super()._handle(msg)


async def publish(engine: AsyncEngine, js: JetStreamContext, streams: int = 5, per_stream: int = 10) -> None:
    store = EventStore(SCHEMA)
    async with engine.begin() as conn:
        for s in range(streams):
            await store.append(conn, envelopes(f"c-{s}", per_stream), expected_version=0)
    await OutboxRelay(engine, SCHEMA, js).flush(timeout=10)


async def settle(js: JetStreamContext, durable: str, wait: float = 30.0) -> Any:
    """Wait until the durable consumer has nothing pending or unacked; return its info."""

    async def settled() -> Any:
        info = await js.consumer_info("OMB_EVENTS", durable)
        return info if info.num_pending == 0 and info.num_ack_pending == 0 else None

    return await eventually(settled, timeout=wait, what=f"consumer {durable} to settle")


async def counts(engine: AsyncEngine) -> dict[str, tuple[int, int]]:
    async with engine.connect() as conn:
        rows = (await conn.execute(text(f"SELECT stream_id, events, total FROM {SCHEMA}.thing_counts"))).all()
    return {r.stream_id: (r.events, r.total) for r in rows}


@pytest.fixture
async def js(nats_url: str):  # type: ignore[no-untyped-def]
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    await ensure_streams(js)
    yield js
    await nc.close()


async def test_failures_are_retried_and_redelivery_changes_nothing(engine: AsyncEngine, js: JetStreamContext) -> None:
    projection = FlakyCounts()
    await setup_projections(engine, [projection])
    await publish(engine, js)
    consumer = ProjectionConsumer(engine, SCHEMA, js, projection, durable="counts", filter_subject="omb.evt.thing.>")
    await consumer.start()
    try:
        await settle(js, "counts", wait=60)
    finally:
        await consumer.stop()
    expected = {f"c-{s}": (10, 55) for s in range(5)}
    assert len(FlakyCounts.failed) == 5  # n = 7 in each stream failed once, then was nak'ed and redelivered
    assert await counts(engine) == expected
    assert consumer.applied == 50
    async with engine.connect() as conn:
        before = await table_text(conn, f"{SCHEMA}.thing_counts", "stream_id")

    # Recreate the durable from scratch: JetStream delivers all 50 events again.
    await js.delete_consumer("OMB_EVENTS", "counts")
    again = ProjectionConsumer(engine, SCHEMA, js, projection, durable="counts", filter_subject="omb.evt.thing.>")
    await again.start()
    try:
        info = await settle(js, "counts")
    finally:
        await again.stop()
    assert info.delivered.stream_seq == 50  # everything was delivered a second time ...
    assert again.applied == 0 and again.skipped == 50  # ... and tracking skipped all of it
    async with engine.connect() as conn:
        assert await table_text(conn, f"{SCHEMA}.thing_counts", "stream_id") == before


async def test_lost_acks_and_restarts_apply_each_event_once(engine: AsyncEngine, js: JetStreamContext) -> None:
    projection = CountsProjection()
    await setup_projections(engine, [projection])
    await publish(engine, js, streams=3, per_stream=20)
    losing = AckLosingConsumer(engine, SCHEMA, js, projection, durable="lossy", ack_wait=1.0)
    await losing.start()
    await eventually(lambda: losing.applied == 60, timeout=30, what="every event committed once")
    await losing.stop()  # every event committed, none acked: a crash between commit and ack
    resumed = AckLosingConsumer(engine, SCHEMA, js, projection, durable="lossy", ack_wait=1.0)
    await resumed.start()
    try:
        info = await settle(js, "lossy")
    finally:
        await resumed.stop()
    assert info.num_pending == 0
    # every event was delivered twice (its first ack was lost) and applied once
    assert losing.applied == 60 and resumed.applied == 0
    assert losing.skipped + resumed.skipped == 60  # redeliveries (some may reach `losing` before it stopped)
    assert await counts(engine) == {f"c-{s}": (20, 210) for s in range(3)}
    async with engine.connect() as conn:
        tracked = (await conn.execute(text(f"SELECT count(*), count(DISTINCT event_id) FROM {SCHEMA}.tracking "
                                           "WHERE consumer = 'thing_counts'"))).one()
    assert tuple(tracked) == (60, 60)


async def test_a_consumer_applies_events_published_after_it_started(engine: AsyncEngine, js: JetStreamContext) -> None:
    projection = CountsProjection()
    await setup_projections(engine, [projection])
    consumer = ProjectionConsumer(engine, SCHEMA, js, projection, durable="live")
    await consumer.start()
    try:
        await publish(engine, js, streams=2, per_stream=5)
        await settle(js, "live")

        async def applied() -> bool:
            return await counts(engine) == {"c-0": (5, 15), "c-1": (5, 15)}

        await eventually(applied, timeout=10, what="both streams applied")
    finally:
        await consumer.stop()
    assert await counts(engine) == {"c-0": (5, 15), "c-1": (5, 15)}
