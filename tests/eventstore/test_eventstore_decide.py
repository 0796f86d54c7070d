"""The one conflict-retry (ombudsman.eventstore.decide) on real PostgreSQL: two deciders racing on one
stream both land, in order, each deciding on the other's result; a stream that keeps moving fails
after the bound with a clear error; a decision's own refusal is not retried."""

from __future__ import annotations

import asyncio
from typing import ClassVar

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from ombudsman.contracts.envelope import EventEnvelope, Metadata
from ombudsman.contracts.registry import Event, event
from ombudsman.contracts.replies import Conflict
from ombudsman.eventstore.decide import CONFLICT_RETRIES, ConflictsExhausted, RetryPolicy, decide
from ombudsman.eventstore.store import EventStore
from ombudsman.eventstore.uow import UnitOfWork
from tests.eventstore.helpers import ACTOR

META = Metadata(actor=ACTOR)


@event
class EsDecideCounted(Event):
    """Test-only event: the n-th event of its stream, decided by `by`."""

    stream_type: ClassVar[str] = "thing"
    n: int
    by: str


def next_count(by: str):
    """A pure decision: one event numbered after the history it was shown."""

    def decision(history: list[EventEnvelope]) -> list[Event]:
        return [EsDecideCounted(n=len(history) + 1, by=by)]

    return decision


class RacingUnitOfWork(UnitOfWork):
    """Every writer's first load waits until all writers have loaded: they all decide on the same
    version, so all but one must meet a version conflict."""

    def __init__(self, engine: AsyncEngine, store: EventStore, barrier: asyncio.Barrier, first: set[str], who: str):
        super().__init__(engine, store)
        self.barrier, self.first, self.who = barrier, first, who

    async def load(self, stream_id: str) -> list[EventEnvelope]:
        history = await super().load(stream_id)
        if self.who not in self.first:
            self.first.add(self.who)
            await self.barrier.wait()
        return history


async def test_two_concurrent_deciders_both_land_in_order(engine: AsyncEngine, store: EventStore) -> None:
    barrier, first = asyncio.Barrier(2), set[str]()
    retried_before = CONFLICT_RETRIES["retried"]

    def uow_of(who: str):
        return lambda: RacingUnitOfWork(engine, store, barrier, first, who)

    decided = await asyncio.gather(
        decide(uow_of("a"), "race-1", next_count("a"), META),
        decide(uow_of("b"), "race-1", next_count("b"), META),
    )
    async with engine.connect() as conn:
        stream = await store.load_stream(conn, "race-1")
    assert [e.version for e in stream] == [1, 2]
    # the loser decided again on the winner's event: n follows the stream, no lost update
    assert [e.data["n"] for e in stream] == [1, 2]
    assert sorted(e.data["by"] for e in stream) == ["a", "b"]
    assert sorted(d.version for d in decided) == [1, 2]
    loser = next(d for d in decided if d.version == 2)
    assert [e.data["by"] for e in loser.history] == [stream[0].data["by"]]
    assert CONFLICT_RETRIES["retried"] == retried_before + 1


class MovingUnitOfWork(UnitOfWork):
    """After every load another writer appends to the stream (committed): the load is always stale."""

    loads = 0

    async def load(self, stream_id: str) -> list[EventEnvelope]:
        history = await super().load(stream_id)
        MovingUnitOfWork.loads += 1
        async with UnitOfWork(self.engine, self.store) as other:
            version = await other.version(stream_id)
            await other.emit(stream_id, [EsDecideCounted(n=version + 1, by="other")], META,
                             expected_version=version)
        return history


async def test_a_stream_that_keeps_moving_fails_after_the_bound(engine: AsyncEngine, store: EventStore) -> None:
    MovingUnitOfWork.loads = 0
    policy = RetryPolicy(attempts=4, first_delay=0.001, max_delay=0.01)
    gave_up_before = CONFLICT_RETRIES["gave_up"]
    with pytest.raises(ConflictsExhausted) as refused:
        await decide(lambda: MovingUnitOfWork(engine, store), "busy-1", next_count("me"), META, policy=policy)
    assert isinstance(refused.value, Conflict) and refused.value.http_status == 409
    assert "busy-1" in refused.value.message and "4 attempts" in refused.value.message
    assert refused.value.details == {"stream_id": "busy-1", "attempts": 4}
    assert MovingUnitOfWork.loads == 4
    async with engine.connect() as conn:
        stream = await store.load_stream(conn, "busy-1")
    assert [e.data["by"] for e in stream] == ["other"] * 4  # nothing of the refused command landed
    assert CONFLICT_RETRIES["gave_up"] == gave_up_before + 1


async def test_a_decision_refusing_is_not_retried(engine: AsyncEngine, store: EventStore) -> None:
    calls = 0

    def refuse(history: list[EventEnvelope]) -> list[Event]:
        nonlocal calls
        calls += 1
        raise Conflict("thing already exists", {"field": "id"})

    with pytest.raises(Conflict) as refused:
        await decide(lambda: UnitOfWork(engine, store), "refuse-1", refuse, META)
    assert not isinstance(refused.value, ConflictsExhausted) and refused.value.message == "thing already exists"
    assert calls == 1


async def test_also_writes_in_the_same_transaction(engine: AsyncEngine, store: EventStore) -> None:
    async def also(work: UnitOfWork, events: object) -> None:
        await work.conn.execute(text("CREATE TABLE IF NOT EXISTS estest.decide_side (n integer)"))
        await work.conn.execute(text("INSERT INTO estest.decide_side VALUES (1)"))
        raise Conflict("refused after writing", {})

    with pytest.raises(Conflict):
        await decide(lambda: UnitOfWork(engine, store), "side-1", next_count("me"), META, also=also)
    async with engine.connect() as conn:
        assert await store.stream_version(conn, "side-1") == 0  # rolled back with the private write
        exists = (await conn.execute(text("SELECT to_regclass('estest.decide_side')"))).scalar_one()
    assert exists is None
