"""Prometheus metrics of the executor, scraped over HTTP after a real run (real NATS, PostgreSQL,
a worker process)."""

from __future__ import annotations

import asyncio

import httpx
import nats
from prometheus_client.parser import text_string_to_metric_families

from ombudsman.eventstore.embedded import free_port
from ombudsman.executor.app import running
from tests.executor.conftest import Bus, Warehouse, Workers, pipeline, settings
from tests.executor.test_executor_worker_connections import make_tables, pg_pipeline
from tests.support import eventually


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
        before = await scrape(port)  # counters are per process: compare with what earlier tests left
        nc = await nats.connect(nats_url)
        bus = Bus(nc, service)
        run_id = (await bus.command("queue_run", {"pipeline_yaml": pipeline(warehouse, "metrics", 6)}))["run_id"]
        await bus.wait_run(run_id)
        await bus.close()
        await nc.close()
        after = await scrape(port)

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


async def scrape(port: int) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Scrape from a thread: the outbox and consumer series are sampled on the service's event loop,
    which is this test's (a scrape blocking it would wait for nothing)."""
    return await asyncio.to_thread(_scrape, port)


async def test_outbox_lag_consumers_quality_and_worker_series(nats_url: str, database_url: str, workers: Workers,
                                                              warehouse_url: str) -> None:
    """A run of four PostgreSQL steps (one table broken: 3 passed, 1 failed) with the outbox held
    first and no worker yet, then a worker process serving its own /metrics."""
    await make_tables(warehouse_url)
    port, worker_port = free_port(), free_port()
    cfg = settings(nats_url, database_url, metrics_port=port)
    async with running(cfg) as service:
        nc = await nats.connect(nats_url)
        bus = Bus(nc, service)
        try:
            before = await scrape(port)
            assert service.relay is not None
            await service.relay.pause()  # committed events wait in the outbox
            run_id = (await bus.command("queue_run", {"pipeline_yaml": pg_pipeline(warehouse_url, 4, "pg-metrics")}))["run_id"]
            waiting = (await bus.stored("SELECT count(*) AS n FROM executor.outbox"))[0]["n"]
            assert waiting >= 3  # RunQueued, RunStarted and the steps dispatched, at least
            held = await scrape(port)
            assert _value(held, "omb_outbox_pending_events", service="executor") == waiting
            assert _value(held, "omb_outbox_oldest_event_seconds", service="executor") > 0

            service.relay.resume()
            await service.relay.flush()
            work = {"service": "executor", "stream": "OMB_WORK", "consumer": "omb-executor-workers"}

            async def queued_for_workers() -> bool:
                now = await scrape(port)
                return _value(now, "omb_consumer_pending", **work) == 4  # four steps dispatched, no worker yet

            await eventually(queued_for_workers, timeout=30, what="the four step messages pending for workers")
            after_flush = await scrape(port)
            assert _value(after_flush, "omb_outbox_pending_events", service="executor") == 0
            assert _value(after_flush, "omb_outbox_oldest_event_seconds", service="executor") == 0

            workers.start("w1", concurrency=1, env_extra={"OMB_METRICS_PORT": str(worker_port)})
            run = await bus.wait_run(run_id)
            assert run["status"] == "failed"

            async def drained() -> dict[tuple[str, frozenset[tuple[str, str]]], float] | None:
                now = await scrape(port)
                quiet = all(_value(now, name, **labels) == 0 and (name, frozenset(labels.items())) in now
                            for name in ("omb_consumer_pending", "omb_consumer_ack_pending", "omb_consumer_redelivered")
                            for labels in (work, {**work, "stream": "OMB_EVENTS", "consumer": "executor-step-work"}))
                return now if quiet and _value(now, "omb_outbox_pending_events", service="executor") == 0 else None

            after = await eventually(drained, timeout=30, what="the outbox and the executor's consumers drained")
        finally:
            await bus.close()
            await nc.close()

    assert _value(after, "omb_executor_quality_score", project="", pipeline="pg-metrics") == 75.0  # 3 of 4 passed
    grown = _value(after, "omb_executor_run_seconds_count", status="failed") - \
        _value(before, "omb_executor_run_seconds_count", status="failed")
    assert grown == 1

    def worker_scrape() -> dict[tuple[str, frozenset[tuple[str, str]]], float] | None:
        try:
            return _scrape(worker_port)
        except httpx.HTTPError:
            return None

    mine = await eventually(lambda: asyncio.to_thread(worker_scrape), timeout=15, what="the worker's /metrics")
    assert _value(mine, "omb_worker_steps_total", validator="record_counts", status="passed") == 3
    assert _value(mine, "omb_worker_steps_total", validator="record_counts", status="failed") == 1
    assert _value(mine, "omb_worker_step_seconds_count", validator="record_counts", status="passed") == 3
    assert _value(mine, "omb_worker_steps_running") == 0
    # one connection per connection name, kept from step to step (connections.py)
    assert _value(mine, "omb_worker_connections_opened_total", kind="postgres") == 2
    assert _value(mine, "omb_worker_connections", state="open") >= 2
    assert _value(mine, "omb_worker_connections", state="in_use") == 0
    assert ("omb_worker_in_progress_acks_total", frozenset()) in mine
