"""The worker's per-step memory cap (issue 24): a step whose worker grows past the cap is stopped
with a clear error, its connections are not kept, and the worker runs the next step as usual."""

from __future__ import annotations

import asyncio

import pytest

from ombudsman.contracts.pipeline import parse_pipeline
from ombudsman.executor.connections import ConnectionCache
from ombudsman.executor.memguard import StepMemoryExceeded, run_with_memory_cap
from ombudsman.executor.settings import ExecutorSettings
from ombudsman.executor.worker import run_one_step
from tests.executor.conftest import Warehouse


async def _hog(chunks: int) -> int:
    held = []
    for _ in range(chunks):
        held.append(bytearray(8 * 1024 * 1024))  # touched: counted in RSS
        await asyncio.sleep(0.02)  # the behaviour under test: a step growing over time, sampled by the cap
    return len(held)


async def test_the_cap_stops_a_growing_step_and_lets_a_small_one_finish() -> None:
    with pytest.raises(StepMemoryExceeded, match="step exceeded its memory cap of 64 MB"):
        await run_with_memory_cap(_hog(40), 64)  # 320 MB wanted
    assert await run_with_memory_cap(_hog(2), 64) == 2
    assert await run_with_memory_cap(_hog(1), 0) == 1  # 0: no cap


def test_the_setting_defaults_to_1024_mb(monkeypatch: pytest.MonkeyPatch) -> None:
    assert ExecutorSettings().worker_step_memory_mb == 1024
    monkeypatch.setenv("OMB_WORKER_STEP_MEMORY_MB", "256")
    assert ExecutorSettings().worker_step_memory_mb == 256


async def test_a_step_over_its_cap_errors_and_the_worker_carries_on(warehouse: Warehouse) -> None:
    # every row of `numbers` (10,000) padded to 40 kB, fetched on both sides: ~800 MB if let run
    heavy = "SELECT n.i, repeat('x', 40000) AS pad FROM numbers n"
    spec = parse_pipeline({
        "name": "mem", "connections": {"source": warehouse.source_url, "target": warehouse.target_url},
        "steps": [
            {"id": "heavy", "validator": "custom_query",
             "parameters": {"source_sql": heavy, "key_columns": ["i"], "max_rows": 100_000}},
            {"id": "light", "validator": "record_counts", "table": "main.t0"},
        ],
    })
    cache = ConnectionCache(idle_seconds=300)
    try:
        heavy_result = await run_one_step(spec, "heavy", cache, "p1", memory_cap_mb=48)
        assert heavy_result.status == "error", heavy_result.message
        assert heavy_result.message.startswith("step exceeded its memory cap of 48 MB")
        assert heavy_result.details["memory_cap_mb"] == 48
        assert cache.stats() == []
        light = await run_one_step(spec, "light", cache, "p1", memory_cap_mb=48)
        assert light.status == "passed", light.message
    finally:
        await cache.close()
