"""A run on the platform reads each PostgreSQL side at one snapshot, pinned by the worker that took its
first step and held until the run ends (services/executor/.../run_pins.py): a writer that inserts
rows between the two steps of a run is not seen by the second step, and is seen when the pipeline
pins per step. Real PostgreSQL (warehouse server), real NATS, worker processes.

The writer's timing is made certain with a lock, not a sleep: it holds `gate` ACCESS EXCLUSIVE from
before the run, the second step's filter reads `gate`, so the second step waits for the writer, which
inserts its rows once the first step has a result and commits (releasing the lock)."""

from __future__ import annotations

import json
from typing import Any

import asyncpg
import yaml

from tests.executor.conftest import Bus, Workers
from tests.support import eventually

ROWS, INSERTED = 100, 9
GATE = "(SELECT count(*) FROM public.gate) >= 0"


async def _tables(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("CREATE TABLE public.loading (id int PRIMARY KEY, amount int)")
        await conn.execute(f"INSERT INTO public.loading SELECT g, g FROM generate_series(1, {ROWS}) g")
        await conn.execute("CREATE TABLE public.gate (x int)")
    finally:
        await conn.close()


def _pipeline(url: str, snapshot: str) -> str:
    return yaml.safe_dump({
        "name": f"loading ({snapshot})", "connections": {"source": url, "target": url},
        "defaults": {"snapshot": snapshot},
        "steps": [
            {"id": "first", "validator": "record_counts", "table": "public.loading"},
            {"id": "second", "validator": "record_counts", "table": "public.loading", "depends_on": ["first"],
             "filters": {"source": GATE, "target": GATE}},
        ],
    })


async def _run_with_writer(bus: Bus, url: str, snapshot: str) -> tuple[str, dict[str, int]]:
    writer = await asyncpg.connect(url)
    try:
        transaction = writer.transaction()
        await transaction.start()
        await writer.execute("LOCK TABLE public.gate IN ACCESS EXCLUSIVE MODE")
        run_id = (await bus.command("queue_run", {"pipeline_yaml": _pipeline(url, snapshot)}))["run_id"]

        async def first_done() -> bool:
            steps = await bus.query("steps", {"run_id": run_id})
            return any(s["step"] == "first" and s["status"] not in ("queued", "running", "pending") and s.get("result")
                       for s in steps)

        await eventually(first_done, timeout=60, what="the first step's result")
        start = await writer.fetchval("SELECT max(id) FROM public.loading")
        await writer.execute("INSERT INTO public.loading SELECT g, g FROM generate_series($1::int, $2::int) g",
                             start + 1, start + INSERTED)
        await transaction.commit()
    finally:
        await writer.close()
    run = await bus.wait_run(run_id)
    assert run["status"] == "completed", run
    counts = {}
    for name in ("first", "second"):
        result: dict[str, Any] = (await bus.query("step", {"run_id": run_id, "step": name}))["result"]
        assert result["status"] == "passed", result
        counts[name] = result["source"]["row_count"]
    return run_id, counts


async def test_a_run_reads_one_snapshot_while_a_writer_inserts_between_its_steps(
        bus: Bus, workers: Workers, warehouse_url: str) -> None:
    await _tables(warehouse_url)
    workers.start("w1")
    workers.start("w2")
    run_id, counts = await _run_with_writer(bus, warehouse_url, "run")
    assert counts == {"first": ROWS, "second": ROWS}

    pinned = await bus.stored("SELECT data FROM executor.events WHERE stream_id=$1 AND event_type='RunSnapshotsPinned'",
                              run_id)
    assert len(pinned) == 1
    data = json.loads(pinned[0]["data"])
    snapshot = data["snapshots"]["source"]
    assert snapshot["isolation"] == "repeatable read" and snapshot["at"] and data["worker"] in ("w1", "w2")
    assert (await bus.query("run", {"run_id": run_id}))["snapshots"]["source"]["snapshot_id"] == snapshot["snapshot_id"]

    # the holding worker lets the snapshot go once the run has ended
    async def released() -> bool:
        conn = await asyncpg.connect(warehouse_url)
        try:
            async with conn.transaction(isolation="repeatable_read", readonly=True):
                await conn.execute(f"SET TRANSACTION SNAPSHOT '{snapshot['snapshot_id']}'")
            return False
        except asyncpg.PostgresError:
            return True
        finally:
            await conn.close()

    await eventually(released, timeout=30, what="the run's snapshot to be released")


async def test_pinned_per_step_the_second_step_sees_the_writer(bus: Bus, workers: Workers, warehouse_url: str) -> None:
    await _tables(warehouse_url)
    workers.start("w1")
    run_id, counts = await _run_with_writer(bus, warehouse_url, "step")
    assert counts == {"first": ROWS, "second": ROWS + INSERTED}
    assert await bus.stored("SELECT 1 FROM executor.events WHERE stream_id=$1 AND event_type='RunSnapshotsPinned'",
                            run_id) == []
