"""Prometheus metrics of the executor, scraped over HTTP after a real run (real NATS, PostgreSQL,
a worker process)."""

from __future__ import annotations

import httpx
import nats
from prometheus_client.parser import text_string_to_metric_families

from ombudsman.eventstore.embedded import free_port
from ombudsman.executor.app import running
from tests.executor.conftest import Bus, Warehouse, Workers, pipeline, settings


def _scrape(port: int) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def _value(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], metric: str, **labels: str) -> float:
    return samples.get((metric, frozenset(labels.items())), 0.0)


async def test_metrics_after_a_run(nats_url: str, database_url: str, workers: Workers, warehouse: Warehouse) -> None:
    port = free_port()
    cfg = settings(nats_url, database_url, metrics_port=port)
    workers.start("w1", concurrency=2)
    async with running(cfg) as service:
        before = _scrape(port)  # counters are per process: compare with what earlier tests left
        nc = await nats.connect(nats_url)
        bus = Bus(nc, service)
        run_id = (await bus.command("queue_run", {"pipeline_yaml": pipeline(warehouse, "metrics", 6)}))["run_id"]
        await bus.wait_run(run_id)
        await bus.close()
        await nc.close()
        after = _scrape(port)

    def grew(metric: str, **labels: str) -> float:
        return _value(after, metric, **labels) - _value(before, metric, **labels)

    assert grew("omb_executor_steps_total", validator="record_counts", status="passed") == 6
    assert grew("omb_executor_step_seconds_count", validator="record_counts", status="passed") == 6
    assert grew("omb_requests_total", service="executor", kind="command", name="record_step_result", outcome="ok") == 6
    assert grew("omb_request_seconds_count", service="executor", kind="command", name="queue_run") == 1
    # RunQueued, RunStarted, RunSnapshotsPinned (the run's instants, issue 19), 6 x (StepDispatched,
    # StepStarted, StepCompleted), RunCompleted
    assert grew("omb_events_appended_total", service="executor", stream_type="run") == 4 + 6 * 3
    assert _value(after, "omb_db_pool_connections", service="executor", state="size") == cfg.db_pool_size
    assert _value(after, "omb_executor_leader") == 1.0
    assert _value(after, "omb_executor_runs_active") == 0.0
