"""The outbox relay against a real nats-server that we stop and restart: nothing is lost, nothing
is published twice, order is kept, and a service's graceful stop flushes its outbox."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nats
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from ombudsman.contracts.envelope import EventEnvelope
from ombudsman.eventstore import rpc
from ombudsman.eventstore.embedded import EmbeddedNats, free_port
from ombudsman.eventstore.outbox import OutboxRelay
from ombudsman.eventstore.runtime import Service, ServiceContext
from ombudsman.eventstore.settings import Settings
from ombudsman.eventstore.store import EventStore
from ombudsman.eventstore.streams import ensure_streams
from ombudsman.eventstore.uow import UnitOfWork
from tests.eventstore.helpers import SCHEMA, envelopes, read_stream
from tests.support import eventually


@pytest.fixture
def own_nats(tmp_path: Path) -> Iterator[EmbeddedNats]:
    """A nats-server on a fixed port and data folder, so the test can stop and restart it."""
    server = EmbeddedNats.start(tmp_path / "nats", port=free_port())
    yield server
    server.stop()


async def test_events_appended_while_nats_is_down_arrive_once_in_order(
    engine: AsyncEngine, store: EventStore, own_nats: EmbeddedNats, tmp_path: Path
) -> None:
    nc = await nats.connect(own_nats.url, max_reconnect_attempts=-1, reconnect_time_wait=0.2)
    js = nc.jetstream()
    await ensure_streams(js)
    own_nats.stop()  # NATS goes away before the relay even starts
    relay = OutboxRelay(engine, SCHEMA, js, batch_size=200, max_backoff=0.5)
    await relay.start()
    try:
        appended: list[EventEnvelope] = []
        for s in range(10):  # 10 streams x 100 events, committed in 20 transactions, interleaved
            for half in range(2):
                async with UnitOfWork(engine, store, on_commit=relay.notify) as uow:
                    batch = envelopes(f"st-{s}", 50, after=half * 50)
                    await uow.append(batch, expected_version=half * 50)
                appended += batch
        tried = relay.rounds
        await eventually(lambda: relay.rounds > tried + 1, what="two relay rounds after the last commit")
        assert await relay.pending() == 1000 and relay.published == 0  # nothing could go out

        restarted = EmbeddedNats.start(own_nats.data_dir, port=own_nats.port)
        try:
            await relay.flush(timeout=60)
            messages = await read_stream(restarted.url, expect=1000)
        finally:
            await relay.stop()
            await nc.close()
            restarted.stop()
    finally:
        if relay._task is not None:
            await relay.stop(flush=False)

    ids = [m.headers["Nats-Msg-Id"] for m in messages]
    assert len(messages) == 1000 and len(set(ids)) == 1000  # all arrived, none twice
    assert ids == [e.event_id for e in appended]  # in commit order
    bodies = [EventEnvelope.from_wire(m.data) for m in messages]
    assert bodies == appended  # the published envelope is the appended one
    assert [m.subject for m in messages[:2]] == ["omb.evt.thing.st-0.ThingCounted"] * 2
    assert relay.published == 1000


async def test_acked_rows_are_never_published_again(engine: AsyncEngine, store: EventStore, nats_url: str) -> None:
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    await ensure_streams(js)
    try:
        async with engine.begin() as conn:
            await store.append(conn, envelopes("r-1", 30), expected_version=0)
        first = OutboxRelay(engine, SCHEMA, js)
        await first.flush(timeout=10)  # a relay without a background task drains on flush
        # another relay (a restart, or a second replica) has nothing left to publish
        second = OutboxRelay(engine, SCHEMA, js)
        await second.start()
        second.notify()
        await eventually(lambda: second.rounds >= 1, what="a round of the second relay")
        await second.stop()
        assert first.published == 30 and second.published == 0
        messages = await read_stream(nats_url)
        assert len(messages) == 30
        info = await js.stream_info("OMB_EVENTS")
        assert info.state.messages == 30
    finally:
        await nc.close()


async def test_two_relays_on_one_schema_keep_the_order(engine: AsyncEngine, store: EventStore, nats_url: str) -> None:
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    await ensure_streams(js)
    relays = [OutboxRelay(engine, SCHEMA, js, batch_size=37), OutboxRelay(engine, SCHEMA, js, batch_size=53)]
    for relay in relays:
        await relay.start()
    appended: list[str] = []
    try:
        for i in range(20):
            async with UnitOfWork(engine, store, on_commit=lambda: [r.notify() for r in relays]) as uow:
                batch = envelopes("shared", 25, after=i * 25)
                await uow.append(batch, expected_version=i * 25)
            appended += [e.event_id for e in batch]
        for relay in relays:
            await relay.flush(timeout=20)
    finally:
        for relay in relays:
            await relay.stop()
        await nc.close()
    messages = await read_stream(nats_url, expect=500)
    assert [m.headers["Nats-Msg-Id"] for m in messages] == appended
    assert sum(r.published for r in relays) == 500


async def test_graceful_stop_flushes_the_outbox(database_url: str, nats_url: str) -> None:
    service = Service("estest", schema=SCHEMA, settings=Settings(database_url=database_url, nats_url=nats_url))

    @service.command("record")
    async def record(payload: dict[str, Any], meta: Any, ctx: ServiceContext) -> int:
        async with ctx.uow() as uow:
            await uow.append(envelopes(payload["id"], 100), expected_version=0)
        return 100

    await service.start()
    assert service.relay is not None
    await service.relay.pause()  # committed events wait in the outbox: only the stop may publish them
    nc = await nats.connect(nats_url)
    try:
        for i in range(5):
            msg = await nc.request("omb.cmd.estest.record", f'{{"id": "g-{i}"}}'.encode(), timeout=10,
                                   headers=rpc.request_headers(None))
            assert b'"ok":true' in msg.data
    finally:
        await nc.close()
    held, published = await service.relay.pending(), service.relay.published
    await service.stop()
    assert (held, published) == (500, 0)  # every event was still in the outbox when stop began
    messages = await read_stream(nats_url)
    assert len(messages) == 500 and len({m.headers["Nats-Msg-Id"] for m in messages}) == 500


async def test_a_paused_relay_holds_committed_events_until_resumed(
    engine: AsyncEngine, store: EventStore, nats_url: str
) -> None:
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    await ensure_streams(js)
    relay = OutboxRelay(engine, SCHEMA, js)
    await relay.start()
    try:
        await relay.pause()
        paused_at = relay.rounds
        async with UnitOfWork(engine, store, on_commit=relay.notify) as uow:
            await uow.append(envelopes("p-1", 20), expected_version=0)
        # woken by the commit, the paused relay runs a round and publishes nothing
        await eventually(lambda: relay.rounds > paused_at, what="a paused round after the commit")
        assert (await relay.pending(), relay.published) == (20, 0)
        relay.resume()  # the background loop, woken by resume, publishes them
        await eventually(lambda: relay.published == 20, timeout=30, what="the resumed relay to publish")
        assert (await relay.pending(), relay.published) == (0, 20)
    finally:
        await relay.stop()
        await nc.close()
    assert len(await read_stream(nats_url)) == 20
