"""Event store throughput on real PostgreSQL + NATS JetStream (run by `make bench`, not `make test`).

1. Sustained append + publish: 4 writers append batches of 100 events (one stream each batch, one
   transaction each) while the outbox relay publishes to OMB_EVENTS with batched acks; the clock
   stops when JetStream holds every event. Aim: >= 5,000 events/s on a 2-core machine.
2. Rebuild of a 100,000-event projection from the events table (one row per event, batched
   inserts). Aim: <= 10 s.

Figures are printed (`pytest -s`); the only assertions are on correctness (counts), never on time.
The machine is shared, so next to wall-clock rates the CPU seconds spent by this process, PostgreSQL
and nats-server are printed, with the load average: events per CPU-second is the figure that does
not depend on the neighbours. OMB_BENCH_EVENTS / OMB_BENCH_BATCH override the size of part 1.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import ClassVar
from urllib.parse import parse_qsl, urlsplit

import nats
import psutil
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ombudsman.contracts.envelope import Actor, EventEnvelope
from ombudsman.eventstore.db import create_engine
from ombudsman.eventstore.embedded import EmbeddedNats
from ombudsman.eventstore.migrations import ensure_event_tables
from ombudsman.eventstore.outbox import OutboxRelay
from ombudsman.eventstore.projections import Projection, rebuild
from ombudsman.eventstore.store import EventStore
from ombudsman.eventstore.streams import ensure_streams
from ombudsman.eventstore.uow import UnitOfWork

SCHEMA = "bench"
ACTOR = Actor(id="u-bench", name="bench", role="user")
EVENTS = int(os.environ.get("OMB_BENCH_EVENTS", "50000"))
BATCH = int(os.environ.get("OMB_BENCH_BATCH", "250"))
WRITERS = 4


def batch(stream_id: str, count: int, after: int = 0) -> list[EventEnvelope]:
    return [
        EventEnvelope(event_type="StepCompleted", stream_type="run", stream_id=stream_id, version=after + i,
                      actor=ACTOR, correlation_id=stream_id,
                      data={"step": f"s{after + i}", "status": "passed", "rows": (after + i) * 17, "ms": 12.5})
        for i in range(1, count + 1)
    ]


class StepIndex(Projection):
    """One row per event: what a results read model of the executor looks like."""

    name: ClassVar[str] = "step_index"
    table = f"{SCHEMA}.step_index"

    async def setup(self, conn: AsyncConnection) -> None:
        await conn.execute(text(f"CREATE TABLE IF NOT EXISTS {self.table} (event_id text PRIMARY KEY, "
                                "run_id text NOT NULL, version integer NOT NULL, step text NOT NULL, "
                                "status text NOT NULL, rows bigint NOT NULL, at timestamptz NOT NULL)"))

    async def reset(self, conn: AsyncConnection) -> None:
        await conn.execute(text(f"TRUNCATE {self.table}"))

    async def apply(self, conn: AsyncConnection, envelope: EventEnvelope) -> None:
        await self.apply_many(conn, [envelope])

    async def apply_many(self, conn: AsyncConnection, envelopes: Sequence[EventEnvelope]) -> None:
        await conn.execute(text(
            f"INSERT INTO {self.table} SELECT * FROM unnest(CAST(:e AS text[]), CAST(:r AS text[]), "
            "CAST(:v AS integer[]), CAST(:s AS text[]), CAST(:st AS text[]), CAST(:n AS bigint[]), "
            "CAST(:at AS timestamptz[]))"
        ), {"e": [x.event_id for x in envelopes], "r": [x.stream_id for x in envelopes],
            "v": [x.version for x in envelopes], "s": [x.data["step"] for x in envelopes],
            "st": [x.data["status"] for x in envelopes], "n": [x.data["rows"] for x in envelopes],
            "at": [x.occurred_at for x in envelopes]})


def _tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) of a process and its live children."""
    try:
        root = psutil.Process(pid)
        total = 0.0
        for proc in [root, *root.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                times = proc.cpu_times()
                total += times.user + times.system
        return total
    except psutil.Error:
        return 0.0


class CpuMeter:
    """CPU seconds of this process, the PostgreSQL behind `database_url` (embedded) and nats-server."""

    def __init__(self, database_url: str, nats_pid: int) -> None:
        host = dict(parse_qsl(urlsplit(database_url).query)).get("host", "")
        pidfile = Path(host) / "postmaster.pid"
        self.pids = {"python": os.getpid(), "nats": nats_pid}
        if pidfile.exists():
            self.pids["postgres"] = int(pidfile.read_text().split()[0])

    def sample(self) -> dict[str, float]:
        return {name: _tree_cpu(pid) for name, pid in self.pids.items()}

    @staticmethod
    def report(start: dict[str, float], end: dict[str, float], events: int) -> str:
        used = {k: end[k] - start[k] for k in end}
        total = sum(used.values())
        parts = ", ".join(f"{k} {v:.1f}s" for k, v in used.items())
        return (f"CPU {total:.1f}s ({parts}) = {events / total:,.0f} events per CPU-second; "
                f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


@pytest.fixture
def own_nats(tmp_path: Path) -> Iterator[EmbeddedNats]:
    server = EmbeddedNats.start(tmp_path / "nats")
    yield server
    server.stop()


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url, pool_size=WRITERS + 2)
    async with engine.begin() as conn:
        await ensure_event_tables(conn, SCHEMA)
    yield engine
    await engine.dispose()


async def test_append_and_publish_throughput(engine: AsyncEngine, own_nats: EmbeddedNats, database_url: str) -> None:
    store = EventStore(SCHEMA)
    assert own_nats.process is not None
    meter = CpuMeter(database_url, own_nats.process.pid)
    nc = await nats.connect(own_nats.url)
    js = nc.jetstream(publish_async_max_pending=4000)
    await ensure_streams(js)
    relay = OutboxRelay(engine, SCHEMA, js, batch_size=1000)
    await relay.start()
    per_writer = EVENTS // WRITERS // BATCH
    prepared = [[batch(f"run-{w}-{b}", BATCH) for b in range(per_writer)] for w in range(WRITERS)]

    async def writer(batches: list[list[EventEnvelope]]) -> None:
        for events in batches:
            async with UnitOfWork(engine, store, on_commit=relay.notify) as uow:
                await uow.append(events, expected_version=0)

    total = WRITERS * per_writer * BATCH
    try:
        cpu_start = meter.sample()
        started = time.perf_counter()
        await asyncio.gather(*(writer(b) for b in prepared))
        appended = time.perf_counter() - started
        await relay.flush(timeout=300)
        elapsed = time.perf_counter() - started
        cpu_end = meter.sample()
    finally:
        await relay.stop()
    info = await js.stream_info("OMB_EVENTS")
    await nc.close()
    assert info.state.messages == total
    print(f"\n[eventstore] append+publish: {total} events in {elapsed:.2f}s = {total / elapsed:,.0f} events/s "
          f"sustained (append alone {total / appended:,.0f} events/s; {WRITERS} writers, {BATCH} events per "
          f"transaction; aim >= 5,000)\n[eventstore]   {CpuMeter.report(cpu_start, cpu_end, total)}")


async def test_rebuild_100k_events(engine: AsyncEngine, database_url: str) -> None:
    store = EventStore(SCHEMA)
    projection = StepIndex()
    async with engine.begin() as conn:
        await projection.setup(conn)
        for r in range(100):
            await store.append(conn, batch(f"run-{r}", 1000), expected_version=0)
        await conn.execute(text(f"TRUNCATE {SCHEMA}.outbox"))  # not publishing here
    meter = CpuMeter(database_url, os.getpid())
    cpu_start = meter.sample()
    started = time.perf_counter()
    applied = await rebuild(engine, SCHEMA, projection)
    elapsed = time.perf_counter() - started
    cpu_end = meter.sample()
    del cpu_start["nats"], cpu_end["nats"]
    async with engine.connect() as conn:
        rows = (await conn.execute(text(f"SELECT count(*) FROM {projection.table}"))).scalar_one()
    assert applied == rows == 100_000
    print(f"\n[eventstore] rebuild of a 100,000-event projection: {elapsed:.2f}s "
          f"({applied / elapsed:,.0f} events/s; aim <= 10 s)\n[eventstore]   {CpuMeter.report(cpu_start, cpu_end, applied)}")
