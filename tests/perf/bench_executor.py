"""Executor throughput and event latency.

A batch of 100 pipelines x 5 quick record_counts steps on DuckDB files, run by 1, 2 and 4 worker
processes (`python -m ombudsman.executor worker`, 2 steps at a time each); the executor service
runs in this process on real PostgreSQL and NATS. Prints steps/s per worker count and the time from
a StepCompleted being committed (its `recorded_at`) to the event reaching a NATS subscriber
(p50/p99). Run: `make bench` or `pytest -q -s tests/perf/bench_executor.py`
(OMB_BENCH_PIPELINES overrides the 100 pipelines).
"""

from __future__ import annotations

import json
import os
import statistics
import time
from datetime import datetime
from pathlib import Path

import nats

from ombudsman.executor.app import running
from tests.executor.conftest import Bus, Warehouse, Workers, pipeline, settings

PIPELINES = int(os.environ.get("OMB_BENCH_PIPELINES", "100"))
STEPS = 5


def _warehouse(tmp_path: Path) -> Warehouse:
    import duckdb

    wh = Warehouse(tmp_path / "source.duckdb", tmp_path / "target.duckdb")
    for path in (wh.source, wh.target):
        with duckdb.connect(str(path)) as db:
            for i in range(8):
                db.execute(f"CREATE TABLE t{i} AS SELECT i AS id, i * 2 AS amount FROM range(1000) t(i)")
    return wh


async def test_executor_throughput_and_latency(nats_url: str, database_url: str, tmp_path: Path) -> None:
    wh = _warehouse(tmp_path)
    figures: list[str] = []
    latencies: list[float] = []
    async with running(settings(nats_url, database_url, executor_ack_wait=30.0, executor_per_connection=64)) as service:
        nc = await nats.connect(nats_url)
        bus = Bus(nc, service)
        received: dict[str, float] = {}

        async def on_completed(msg: nats.aio.msg.Msg) -> None:
            received.setdefault(json.loads(msg.data)["event_id"], time.time())

        await nc.subscribe("omb.evt.run.*.StepCompleted", cb=on_completed)
        for count in (1, 2, 4):
            pool = Workers(nats_url, database_url, file_roots=str(tmp_path))  # the warehouse's DuckDB files
            try:
                for i in range(count):
                    pool.start(f"b{count}-{i}", concurrency=2, ack_wait=30.0)
                # let the workers import and bind before the clock starts
                await _warm_up(bus, wh)
                items = [{"pipeline_yaml": pipeline(wh, f"bench{i}", STEPS, tables=[f"t{(i + j) % 8}" for j in range(STEPS)])}
                         for i in range(PIPELINES)]
                batch_id = (await bus.command("create_batch", {"name": f"bench-{count}", "pipelines": items,
                                                               "max_parallel": 16}))["batch_id"]
                start = time.perf_counter()
                await bus.command("execute_batch", {"batch_id": batch_id})
                batch = await bus.wait_batch(batch_id, timeout=1800)
                elapsed = time.perf_counter() - start
                assert batch["completed"] == PIPELINES
                steps = PIPELINES * STEPS
                figures.append(f"  {count} worker(s): {steps} steps in {elapsed:6.1f} s = {steps / elapsed:6.1f} steps/s")
            finally:
                pool.stop_all()
        rows = await bus.stored("SELECT event_id::text AS id, recorded_at FROM executor.events"
                                " WHERE event_type='StepCompleted'")
        await nc.close()
    for row in rows:
        got = received.get(row["id"])
        if got is not None:
            latencies.append((got - datetime.timestamp(row["recorded_at"])) * 1000)
    latencies.sort()
    p50 = statistics.median(latencies)
    p99 = latencies[int(len(latencies) * 0.99) - 1]
    print(f"\nexecutor: batch of {PIPELINES} pipelines x {STEPS} record_counts steps on DuckDB "
          f"({os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f})")
    print("\n".join(figures))
    print(f"  StepCompleted committed -> received by a subscriber: p50 {p50:.1f} ms, p99 {p99:.1f} ms "
          f"({len(latencies)} events)")


async def _warm_up(bus: Bus, wh: Warehouse) -> None:
    run_id = (await bus.command("queue_run", {"pipeline_yaml": pipeline(wh, "warm-up", 1)}))["run_id"]
    await bus.wait_run(run_id, timeout=120)


async def test_kept_connections_against_a_connection_per_step(database_url: str) -> None:
    """Quick PostgreSQL steps run the way a worker runs them, side by side in one process: with the
    worker's kept connections, and opening both connections for every step (as before). Prints
    steps/s of each and their ratio; a remote database (a Snowflake or SQL Server login) widens it."""
    import yaml

    from ombudsman.contracts.pipeline import parse_pipeline
    from ombudsman.executor.connections import ConnectionCache
    from ombudsman.executor.worker import run_one_step
    from tests.executor.test_executor_worker_connections import make_tables, pg_pipeline

    await make_tables(database_url, broken="none")
    spec = parse_pipeline(yaml.safe_load(pg_pipeline(database_url, steps=8)))
    rounds = int(os.environ.get("OMB_BENCH_STEPS", "400"))
    cache = ConnectionCache(idle_seconds=3600)
    timings: dict[str, list[float]] = {"kept": [], "per step": []}
    try:
        for _ in range(3):  # alternate, so both see the same machine; median of 3
            for mode in ("kept", "per step"):
                start = time.perf_counter()
                for i in range(rounds):
                    result = await run_one_step(spec, f"s{i % 8}", cache if mode == "kept" else None, "bench")
                    assert result.status == "passed", result.message
                timings[mode].append(time.perf_counter() - start)
    finally:
        await cache.close()
    kept, fresh = statistics.median(timings["kept"]), statistics.median(timings["per step"])
    print(f"\nworker connections: {rounds} record_counts steps on local PostgreSQL, median of 3")
    print(f"  kept between steps: {rounds / kept:7.1f} steps/s")
    print(f"  opened per step:    {rounds / fresh:7.1f} steps/s")
    print(f"  ratio kept / per step: {fresh / kept:.2f}x")
