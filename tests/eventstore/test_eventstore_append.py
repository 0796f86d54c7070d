"""The event store on real PostgreSQL: append and read back, optimistic concurrency with real
concurrent writers, upcasting on read, the outbox rows written in the same transaction."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import ClassVar

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from ombudsman.contracts.envelope import EventEnvelope
from ombudsman.contracts.registry import Event, event, upcaster
from ombudsman.contracts.replies import Conflict, Invalid
from ombudsman.eventstore.store import EventStore
from ombudsman.eventstore.uow import UnitOfWork
from tests.eventstore.helpers import ACTOR, SCHEMA, envelopes


@event
class EsTestRenamed(Event):
    """Test-only event type at schema version 2: v1 had `name`, v2 splits it into first/last."""

    stream_type: ClassVar[str] = "thing"
    schema_version: ClassVar[int] = 2
    first: str
    last: str


@upcaster("EsTestRenamed", 1)
def _split_name(data: dict[str, object]) -> dict[str, object]:
    first, _, last = str(data.pop("name")).partition(" ")
    return {**data, "first": first, "last": last}


async def test_append_and_read_back(engine: AsyncEngine, store: EventStore) -> None:
    async with engine.begin() as conn:
        positions = await store.append(conn, envelopes("s-1", 3), expected_version=0)
        await store.append(conn, envelopes("s-2", 2), expected_version=0)
        more = await store.append(conn, envelopes("s-1", 2, after=3), expected_version=3)
    assert positions == sorted(positions) and more[0] > positions[-1]
    async with engine.connect() as conn:
        s1 = await store.load_stream(conn, "s-1")
        assert [e.version for e in s1] == [1, 2, 3, 4, 5]
        assert [e.data["label"] for e in s1] == [f"s-1#{i}" for i in range(1, 6)]
        assert s1[0].actor == ACTOR and s1[0].correlation_id == "corr-s-1"
        assert await store.stream_version(conn, "s-1") == 5
        assert await store.stream_version(conn, "nothing") == 0
        everything = await store.read_all(conn)
        assert [e.stream_id for _, e in everything] == ["s-1"] * 3 + ["s-2"] * 2 + ["s-1"] * 2
        positions_all = [p for p, _ in everything]
        assert positions_all == sorted(positions_all)
        assert [e.version for _, e in await store.read_all(conn, after_position=positions_all[4], limit=1)] == [4]
        # every event also waits in the outbox, in the same order
        outbox = (await conn.execute(text(f"SELECT global_position FROM {SCHEMA}.outbox ORDER BY 1"))).scalars()
        assert list(outbox) == positions_all


async def test_wrong_expected_version_is_a_conflict(engine: AsyncEngine, store: EventStore) -> None:
    async with engine.begin() as conn:
        await store.append(conn, envelopes("s-1", 2), expected_version=0)
    for expected in (0, 1, 5):  # behind, behind, ahead: all refused
        with pytest.raises(Conflict) as conflict:
            async with engine.begin() as conn:
                await store.append(conn, envelopes("s-1", 1, after=expected), expected_version=expected)
        assert conflict.value.details["stream_id"] == "s-1"
    async with engine.connect() as conn:
        assert await store.stream_version(conn, "s-1") == 2
        assert (await conn.execute(text(f"SELECT count(*) FROM {SCHEMA}.outbox"))).scalar() == 2


async def test_envelopes_must_follow_the_expected_version(engine: AsyncEngine, store: EventStore) -> None:
    async with engine.begin() as conn:
        with pytest.raises(ValueError, match="version 3, expected 1"):
            await store.append(conn, envelopes("s-1", 1, after=2), expected_version=0)
        with pytest.raises(ValueError, match="one stream"):
            await store.append(conn, envelopes("a", 1) + envelopes("b", 1, after=1), expected_version=0)


async def test_unpublishable_events_are_refused(engine: AsyncEngine, store: EventStore) -> None:
    async with engine.begin() as conn:
        with pytest.raises(ValueError, match=r"stream id 'a\.b' cannot be a NATS subject token"):
            await store.append(conn, envelopes("a.b", 1), expected_version=0)
        huge = envelopes("big", 1)[0].model_copy(update={"data": {"blob": "x" * 1_000_000}})
        with pytest.raises(Invalid, match="too large"):
            await store.append(conn, [huge], expected_version=0)


async def test_two_concurrent_writers_exactly_one_wins(engine: AsyncEngine, store: EventStore) -> None:
    """Two transactions on two connections both read version 0, then both append version 1."""
    both_read = asyncio.Barrier(2)

    async def writer(name: str) -> str:
        try:
            async with engine.begin() as conn:
                current = await store.stream_version(conn, "race")
                await both_read.wait()  # both hold an open transaction that saw version 0
                batch = [e.model_copy(update={"data": {**e.data, "writer": name}})
                         for e in envelopes("race", 2, after=current)]
                await store.append(conn, batch, expected_version=current)
            return "won"
        except Conflict:
            return "conflict"

    outcomes = await asyncio.gather(writer("a"), writer("b"))
    assert sorted(outcomes) == ["conflict", "won"]
    async with engine.connect() as conn:
        stream = await store.load_stream(conn, "race")
    assert [e.version for e in stream] == [1, 2]
    assert len({e.data["writer"] for e in stream}) == 1  # all events from the winner, none from the loser


async def test_many_writers_with_retries_leave_a_gapless_stream(engine: AsyncEngine, store: EventStore) -> None:
    conflicts = 0

    async def writer(name: str) -> None:
        nonlocal conflicts
        for i in range(10):
            while True:
                try:
                    async with UnitOfWork(engine, store) as uow:
                        current = await uow.version("hot")
                        batch = envelopes("hot", 1, after=current)
                        await uow.append([batch[0].model_copy(update={"data": {"w": name, "i": i}})],
                                         expected_version=current)
                    break
                except Conflict:
                    conflicts += 1

    await asyncio.gather(*(writer(f"w{k}") for k in range(6)))
    async with engine.connect() as conn:
        stream = await store.load_stream(conn, "hot")
    assert [e.version for e in stream] == list(range(1, 61))
    for k in range(6):  # each writer's events kept their own order
        assert [e.data["i"] for e in stream if e.data["w"] == f"w{k}"] == list(range(10))
    assert conflicts > 0


async def test_old_schema_versions_are_upcast_on_read(engine: AsyncEngine, store: EventStore) -> None:
    old = EventEnvelope(event_type="EsTestRenamed", schema_version=1, stream_type="thing", stream_id="p-1",
                        version=1, actor=ACTOR, correlation_id="c", data={"name": "Ada Lovelace"})
    async with engine.begin() as conn:
        await store.append(conn, [old], expected_version=0)
    async with engine.connect() as conn:
        (loaded,) = await store.load_stream(conn, "p-1")
        stored = (await conn.execute(text(f"SELECT schema_version, data FROM {SCHEMA}.events"))).one()
    assert loaded.schema_version == 2 and loaded.data == {"first": "Ada", "last": "Lovelace"}
    assert stored.schema_version == 1 and stored.data == {"name": "Ada Lovelace"}  # history untouched


async def test_load_stream_as_of(engine: AsyncEngine, store: EventStore) -> None:
    batch = envelopes("t-1", 3)
    start = batch[0].occurred_at
    batch = [e.model_copy(update={"occurred_at": start + timedelta(hours=i)}) for i, e in enumerate(batch)]
    async with engine.begin() as conn:
        await store.append(conn, batch, expected_version=0)
    async with engine.connect() as conn:
        as_of = await store.load_stream(conn, "t-1", up_to=start + timedelta(minutes=90))
    assert [e.version for e in as_of] == [1, 2]


async def test_failed_unit_of_work_leaves_nothing(engine: AsyncEngine, store: EventStore) -> None:
    notified: list[int] = []
    with pytest.raises(RuntimeError):
        async with UnitOfWork(engine, store, on_commit=lambda: notified.append(1)) as uow:
            await uow.append(envelopes("u-1", 2), expected_version=0)
            raise RuntimeError("decision failed after the append")
    async with engine.connect() as conn:
        assert await store.stream_version(conn, "u-1") == 0
        assert (await conn.execute(text(f"SELECT count(*) FROM {SCHEMA}.outbox"))).scalar() == 0
    assert notified == []
    async with UnitOfWork(engine, store, on_commit=lambda: notified.append(1)) as uow:
        await uow.append(envelopes("u-1", 2), expected_version=0)
    assert notified == [1]
