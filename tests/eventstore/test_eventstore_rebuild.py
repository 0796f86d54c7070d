"""Projections rebuilt from events alone give the same rows byte for byte: from the service's own
events table, from the OMB_EVENTS stream, and through `ombudsman replay`."""

from __future__ import annotations

import asyncio

import nats
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner

from ombudsman.eventstore.cli import app
from ombudsman.eventstore.outbox import OutboxRelay
from ombudsman.eventstore.projections import ProjectionConsumer, rebuild, setup_projections
from ombudsman.eventstore.store import EventStore
from ombudsman.eventstore.streams import ensure_streams
from ombudsman.eventstore.uow import UnitOfWork
from tests.eventstore.helpers import SCHEMA, CountsProjection, envelopes, table_text
from tests.support import eventually

TABLE = f"{SCHEMA}.thing_counts"


async def fill(engine: AsyncEngine, store: EventStore, projection: CountsProjection) -> None:
    """Events of 8 streams appended in several transactions, the projection applied synchronously."""
    for round_ in range(3):
        for s in range(8):
            async with UnitOfWork(engine, store, [projection]) as uow:
                batch = envelopes(f"r-{s}", 5, after=round_ * 5)
                await uow.append(batch, expected_version=round_ * 5)
    async with engine.begin() as conn:  # an event the projection does not take
        await store.append(conn, envelopes("other", 1, event_type="SomethingElse"), expected_version=0)


async def snapshot(engine: AsyncEngine) -> str:
    async with engine.connect() as conn:
        return await table_text(conn, TABLE, "stream_id")


async def test_rebuild_from_the_store_is_byte_identical(engine: AsyncEngine, store: EventStore) -> None:
    projection = CountsProjection()
    await setup_projections(engine, [projection])
    await fill(engine, store, projection)
    live = await snapshot(engine)
    assert live.count("\n") == 7 and "(r-3,15,120," in live
    async with engine.begin() as conn:  # damage the read model
        await conn.execute(text(f"UPDATE {TABLE} SET events = 0, last_label = 'x' WHERE stream_id = 'r-2'"))
        await conn.execute(text(f"DELETE FROM {TABLE} WHERE stream_id = 'r-5'"))
    assert await snapshot(engine) != live
    applied = await rebuild(engine, SCHEMA, projection)
    assert applied == 120
    assert await snapshot(engine) == live


async def test_rebuild_from_the_stream_is_byte_identical(engine: AsyncEngine, store: EventStore, nats_url: str) -> None:
    projection = CountsProjection()
    await setup_projections(engine, [projection])
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    await ensure_streams(js)
    try:
        await fill(engine, store, CountsProjection())  # own projection fed; then reset it: a consumer feeds it
        async with engine.begin() as conn:
            await projection.reset(conn)
        await OutboxRelay(engine, SCHEMA, js).flush(timeout=10)
        consumer = ProjectionConsumer(engine, SCHEMA, js, projection, durable="rebuild-live",
                                      filter_subject="omb.evt.thing.>")
        await consumer.start()
        try:
            await eventually(lambda: consumer.applied + consumer.skipped == 121, timeout=30, what="all events consumed")
            live = await snapshot(engine)
            await consumer.stop()

            applied = await rebuild(engine, SCHEMA, projection, source="stream", nats_url=nats_url,
                                    filter_subject="omb.evt.thing.>")
            assert applied == 120
            assert await snapshot(engine) == live

            # the live consumer carries on after the rebuild: only new events are applied
            resumed = ProjectionConsumer(engine, SCHEMA, js, projection, durable="rebuild-live",
                                         filter_subject="omb.evt.thing.>")
            async with UnitOfWork(engine, store) as uow:
                await uow.append(envelopes("r-0", 1, after=15), expected_version=15)
            await OutboxRelay(engine, SCHEMA, js).flush(timeout=10)
            await resumed.start()
            await eventually(lambda: resumed.applied == 1, timeout=30, what="the new event consumed")
            await resumed.stop()
            async with engine.connect() as conn:
                row = (await conn.execute(text(f"SELECT events, total FROM {TABLE} WHERE stream_id = 'r-0'"))).one()
            assert tuple(row) == (16, 136)
        finally:
            await consumer.stop()
    finally:
        await nc.close()


async def test_replay_command(engine: AsyncEngine, store: EventStore, database_url: str) -> None:
    projection = CountsProjection()
    await setup_projections(engine, [projection])
    await fill(engine, store, projection)
    live = await snapshot(engine)
    async with engine.begin() as conn:
        await conn.execute(text(f"TRUNCATE {TABLE}"))
    spec = "tests.eventstore.helpers:counts_projections"
    runner = CliRunner()
    base = ["replay", "estest", "--projections", spec, "--database-url", database_url]

    result = await asyncio.to_thread(runner.invoke, app, [*base, "thing_counts"])
    assert result.exit_code == 0, result.output
    assert "rebuilt estest.thing_counts from store: 120 events" in result.output
    assert await snapshot(engine) == live

    unknown = await asyncio.to_thread(runner.invoke, app, [*base, "nope"])
    assert unknown.exit_code == 2 and "has no projection 'nope' (has: thing_counts)" in unknown.output
    missing = await asyncio.to_thread(runner.invoke, app, ["replay", "no-such-service", "--database-url", database_url])
    assert missing.exit_code == 2 and "no projections registered for service 'no-such-service'" in missing.output
