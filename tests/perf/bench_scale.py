"""Scaling of step throughput: steps/s with 1, 2, 4 and 8 worker processes, on one NATS node and
through a 3-node NATS JetStream cluster (R3 streams), printed as ratios to one worker.

The stack is the launcher's (`ombudsman up`'s machinery, as tests/faults uses it): embedded NATS — one
node, or `nats_cluster=3` — the executor service, and 8 step workers (`python -m ombudsman.executor
worker`, one step at a time each, `OMB_WORKER_CONCURRENCY=1`, so processes = steps in flight); the
platform's database is a fresh one on the test PostgreSQL server. Steps do real pushed-down work on a
warehouse PostgreSQL (a second server, as pipelines may not reach the platform's): `record_counts`
(COUNT(*)) and `nulls` (one NULL count per column) over 8 tables of 5,000 rows, source and target.

Per topology the workers are stopped 8 → 4 → 2 → 1 (SIGTERM; each worker finishes its step first).
Each configuration: a warm-up batch that estimates the rate, then a measured batch sized for at least
TARGET_SECONDS. Run: `pytest -q -s tests/perf/bench_scale.py` (also in `make bench`);
OMB_BENCH_SCALE_SECONDS overrides TARGET_SECONDS, OMB_BENCH_SCALE_WORKERS the counts ("1,2,4,8").
Timings on a shared 2-core machine are provisional: read the ratios beside the load average.
"""

from __future__ import annotations

import asyncio
import math
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import psutil
import pytest
import yaml

from ombudsman.eventstore import launcher, natsauth
from ombudsman.eventstore.bustoken import PRIVATE_KEY_ENV
from ombudsman.eventstore.embedded import free_port
from tests.faults.conftest import FaultStack
from tests.support import fresh_database

TARGET_SECONDS = float(os.environ.get("OMB_BENCH_SCALE_SECONDS", "10"))
WORKER_COUNTS = sorted(int(n) for n in os.environ.get("OMB_BENCH_SCALE_WORKERS", "1,2,4,8").split(","))
TOPOLOGIES = {"1 NATS node": 1, "3-node cluster": 3}
TABLES, ROWS = 8, 5_000
STEPS_PER_PIPELINE = 20
WARM_UP_STEPS = 40
pytestmark = pytest.mark.timeout(3600)


async def _warehouse_tables(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        for i in range(TABLES):
            await conn.execute(f"CREATE TABLE public.t{i} (id int PRIMARY KEY, amount numeric, name text, "
                               "code varchar(8), created date, note text)")
            await conn.execute(f"INSERT INTO public.t{i} SELECT g, g * 1.5, 'n' || g, CASE WHEN g % 7 = 0 THEN NULL "
                               "ELSE 'c' || (g % 100) END, DATE '2020-01-01' + (g % 1000), CASE WHEN g % 3 = 0 "
                               f"THEN NULL ELSE 'x' END FROM generate_series(1, {ROWS}) g")
    finally:
        await conn.close()


def _pipeline(name: str, url: str, steps: int) -> str:
    body = [{"id": f"s{i:03d}", "validator": "record_counts" if i % 2 == 0 else "nulls", "table": f"public.t{i % TABLES}"}
            for i in range(steps)]
    return yaml.safe_dump({"name": name, "connections": {"source": url, "target": url}, "steps": body})


async def _batch(stack: FaultStack, url: str, label: str, steps: int) -> float:
    """Run a batch of about `steps` steps to the end; returns the steps/s from execute to completed."""
    pipelines = max(1, math.ceil(steps / STEPS_PER_PIPELINE))
    items = [{"name": f"{label}-{i}", "pipeline_yaml": _pipeline(f"{label}-{i}", url, STEPS_PER_PIPELINE)}
             for i in range(pipelines)]
    batch_id = (await stack.call("executor", "cmd", "create_batch",
                                 {"name": label, "pipelines": items, "max_parallel": 16}))["batch_id"]
    started = time.perf_counter()
    await stack.call("executor", "cmd", "execute_batch", {"batch_id": batch_id})
    batch = await stack.wait_batch(batch_id, timeout=1800)
    elapsed = time.perf_counter() - started
    assert batch["status"] == "completed", batch
    done = await stack.sql("SELECT count(*) AS n FROM executor.steps s JOIN executor.runs r USING (run_id)"
                           " WHERE r.batch_id = $1 AND s.status = 'passed'", batch_id)
    assert done[0]["n"] == pipelines * STEPS_PER_PIPELINE, done  # every step ran and passed
    return pipelines * STEPS_PER_PIPELINE / elapsed


async def _measure(stack: FaultStack, url: str, label: str) -> float:
    """Steps/s of a batch sized for TARGET_SECONDS at the rate a warm-up batch showed."""
    await stack.connect()
    try:
        estimate = await _batch(stack, url, f"warm-{label}", WARM_UP_STEPS)
        return await _batch(stack, url, f"bench-{label}", int(estimate * TARGET_SECONDS * 1.2))
    finally:
        await stack.close()


def _stop_workers(stack: FaultStack, keep: int) -> None:
    """SIGTERM the workers beyond the first `keep` and wait until they are gone."""
    for label in stack.labels("worker")[keep:]:
        pid = stack.pid(label)
        if launcher._alive(pid):
            os.kill(pid, signal.SIGTERM)
            psutil.Process(pid).wait(timeout=60)


@pytest.fixture
def scale_home(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    base = Path(tempfile.mkdtemp(prefix="omb-bench-scale-"))
    for name in ("OMB_NATS_URL", "OMB_NATS_USER", "OMB_NATS_PASSWORD", "OMB_GATEWAY_PORT", "OMB_EVENTS_REPLICAS",
                 "OMB_NATS_CLUSTER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OMB_WORKER_CONCURRENCY", "1")
    monkeypatch.setenv("OMB_EXECUTOR_PER_CONNECTION", "64")  # the connection limit is not what is measured
    monkeypatch.setenv("OMB_LOG_LEVEL", "WARNING")
    try:
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_steps_per_second_by_workers_and_nats_topology(
        scale_home: Path, pg_server_url: str, warehouse_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # not a coroutine: the launcher runs event loops of its own while it starts the stack
    asyncio.run(_warehouse_tables(warehouse_url))
    rates: dict[tuple[str, int], float] = {}
    loads: list[float] = []
    for topology, nodes in TOPOLOGIES.items():
        home = scale_home / f"home-{nodes}"
        (home / "nats").mkdir(parents=True)
        monkeypatch.setenv("OMB_HOME", str(home))
        private, _ = natsauth.bus_keys(home)
        monkeypatch.setenv(PRIVATE_KEY_ENV, private.read_text())  # the bench plays the gateway: it signs bus tokens
        with fresh_database(pg_server_url, "omb_scale_") as database_url:
            monkeypatch.setenv("OMB_DATABASE_URL", database_url)
            stack = launcher.start_stack(detach=True, workers=max(WORKER_COUNTS), only=["executor"], timeout=180,
                                         nats_port=free_port(), nats_cluster=nodes)
            bench = FaultStack(stack, home, scale_home)
            try:
                for count in sorted(WORKER_COUNTS, reverse=True):
                    _stop_workers(bench, keep=count)
                    rates[topology, count] = asyncio.run(_measure(bench, warehouse_url, f"{nodes}-{count}"))
                    loads.append(os.getloadavg()[0])
                    print(f"  {topology}, {count} worker(s): {rates[topology, count]:6.1f} steps/s"
                          f" (load {loads[-1]:.1f})", flush=True)
            finally:
                launcher.stop_stack(stack)

    lines = [f"\nsteps/s by worker processes (ratio to 1 worker on the same NATS; load average "
             f"{min(loads):.1f}-{max(loads):.1f}, {os.cpu_count()} cores; provisional)"]
    lines.append(f"  {'workers':>7} | " + " | ".join(f"{t:^24}" for t in TOPOLOGIES) + " | cluster/single")
    for count in WORKER_COUNTS:
        cells = [f"{rates[t, count]:7.1f} steps/s  x{rates[t, count] / rates[t, WORKER_COUNTS[0]]:4.2f}"
                 for t in TOPOLOGIES]
        single, cluster = (rates[t, count] for t in TOPOLOGIES)
        lines.append(f"  {count:>7} | " + " | ".join(f"{c:^24}" for c in cells) + f" | {cluster / single:5.2f}")
    print("\n".join(lines))
    assert all(rate > 0 for rate in rates.values())
