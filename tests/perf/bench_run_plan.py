"""A price before running, checked against the run (issue 19), and what one instant per run costs.

Workload: PostgreSQL source → DuckDB target, table `items` (id BIGINT key, 7 more columns: two
DECIMAL(12,2), DOUBLE, DATE, TIMESTAMP, two VARCHAR of ~20 characters), OMB_BENCH_PLAN_ROWS rows
(default 1,000,000), identical on both sides; steps record_counts, column_aggregates (sums of the
decimals), row_hash. Prints, per step: the plan's estimated seconds (`run --plan`, statistics + a
100,000-row probe) next to the run's actual seconds, estimated vs actual rows; the time the plan
itself took; and the same pipeline run pinned per run (`defaults.snapshot: run`) and per step
(`step`), interleaved over 3 rounds (medians), with every step passing in both (exact answers).
Run: `python tests/perf/bench_run_plan.py` (machine load printed with `uptime`).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncpg

from ombudsman.contracts.pipeline import parse_pipeline
from ombudsman.engine.connectors import connect
from ombudsman.engine.pipeline import run_pipeline
from ombudsman.engine.pipeline.estimate import plan_pipeline
from tests.perf.bench_rowdiff import postgres_url

ROWS = int(os.environ.get("OMB_BENCH_PLAN_ROWS", 1_000_000))


async def load(pg_url: str, duck_url: str, rows: int) -> None:
    conn = await asyncpg.connect(pg_url)
    try:
        await conn.execute("""CREATE TABLE items (id bigint PRIMARY KEY, amount numeric(12,2), price numeric(12,2),
            ratio double precision, day date, stamp timestamp, label varchar(40), note varchar(40))""")
        await conn.execute(f"""INSERT INTO items SELECT g, (g % 100000) / 100.0, (g % 7777) / 10.0, g / 7.0,
            DATE '2020-01-01' + (g % 2000), TIMESTAMP '2020-01-01' + g * INTERVAL '1 second',
            'label-' || lpad((g % 99991)::text, 12, '0'), 'note-' || md5(g::text) FROM generate_series(1, {rows}) g""")
        await conn.execute("ANALYZE items")
    finally:
        await conn.close()
    async with connect(duck_url) as duck:
        await duck.execute("""CREATE TABLE items (id BIGINT PRIMARY KEY, amount DECIMAL(12,2), price DECIMAL(12,2),
            ratio DOUBLE, day DATE, stamp TIMESTAMP, label VARCHAR, note VARCHAR)""")
        await duck.execute(f"""INSERT INTO items SELECT g, (g % 100000) / 100.0, (g % 7777) / 10.0, g / 7.0,
            DATE '2020-01-01' + CAST(g % 2000 AS INTEGER), TIMESTAMP '2020-01-01' + g * INTERVAL 1 SECOND,
            'label-' || lpad(CAST(g % 99991 AS VARCHAR), 12, '0'), 'note-' || md5(CAST(g AS VARCHAR))
            FROM range(1, {rows + 1}) t(g)""")


def pipeline(pg_url: str, duck_url: str, snapshot: str) -> Any:
    tables = {"source": "public.items", "target": "main.items"}
    return parse_pipeline({
        "name": f"items ({snapshot})", "connections": {"source": pg_url, "target": duck_url},
        "defaults": {"snapshot": snapshot, "timeout_seconds": 3600},
        "steps": [
            {"id": "counts", "validator": "record_counts", "tables": tables},
            {"id": "sums", "validator": "column_aggregates", "tables": tables,
             "parameters": {"columns": ["amount", "price"], "aggregates": ["sum"]}},
            {"id": "rows", "validator": "row_hash", "tables": tables, "parameters": {"key": ["id"]}},
        ],
    })


async def bench(pg_url: str, duck_url: str) -> None:
    started = time.perf_counter()
    await load(pg_url, duck_url, ROWS)
    print(f"loaded {ROWS:,} rows x 8 columns per side in {time.perf_counter() - started:.1f} s")
    clock = time.perf_counter()
    plan = await plan_pipeline(pipeline(pg_url, duck_url, "run"))
    plan_seconds = time.perf_counter() - clock
    walls: dict[str, list[float]] = {"run": [], "step": []}
    last: dict[str, Any] = {}
    for _ in range(3):
        for mode in ("run", "step"):
            clock = time.perf_counter()
            result = await run_pipeline(pipeline(pg_url, duck_url, mode), max_parallel=1)
            walls[mode].append(time.perf_counter() - clock)
            assert all(s.status == "passed" for s in result.steps), [(s.step, s.status, s.message) for s in result.steps]
            last[mode] = result
    print(f"plan (run --plan) took {plan_seconds:.2f} s; estimated total {plan.seconds} s")
    print(f"{'step':8} {'est. s (plan)':>14} {'actual s':>9} {'est. rows src/tgt':>22} {'actual rows src/tgt':>22}")
    for cost, step in zip(plan.steps, last["run"].steps, strict=True):
        actual = step.details.get("cost", {}).get("actual", {})
        assert cost.source is not None and cost.target is not None
        print(f"{cost.step:8} {cost.seconds or 0:>14.3f} {step.duration_seconds:>9.3f} "
              f"{cost.source.rows!s:>10}/{cost.target.rows!s:<11} "
              f"{actual.get('source', {}).get('rows')!s:>10}/{actual.get('target', {}).get('rows')!s:<11}")
    run_median, step_median = statistics.median(walls["run"]), statistics.median(walls["step"])
    print(f"pipeline wall (median of 3, interleaved): pinned per run {run_median:.2f} s, per step {step_median:.2f} s, "
          f"ratio {run_median / step_median:.3f}; snapshots {last['run'].snapshots['source']['isolation']}")
    print("uptime:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())  # noqa: ASYNC221


def test_plan_against_the_run() -> None:
    """`make bench`: prints the figures; fails only when a step is not exact (never on timings)."""
    with postgres_url() as pg_url, tempfile.TemporaryDirectory(prefix="omb-bench-plan-") as folder:
        asyncio.run(bench(pg_url, f"duckdb:///{Path(folder) / 'target.duckdb'}"))


if __name__ == "__main__":
    test_plan_against_the_run()
