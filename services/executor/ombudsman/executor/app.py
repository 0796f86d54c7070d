"""Wiring of the executor service: database, event store, outbox relay, bus API, coordinator,
the max-deliveries advisory, and the clock (schedules, retention). `python -m ombudsman.executor`."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta

import asyncpg
import nats
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

from ombudsman.contracts import subjects
from ombudsman.executor import projections
from ombudsman.executor.coordinator import Coordinator
from ombudsman.executor.handlers import Handlers
from ombudsman.executor.rpc import serve
from ombudsman.executor.settings import WORK_CONSUMER, ExecutorSettings
from ombudsman.executor.store import EventStore, ensure_streams, migrate

log = logging.getLogger("ombudsman.executor")
MAX_DELIVERIES_ADVISORY = "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES"


@dataclass
class ExecutorService:
    settings: ExecutorSettings
    pool: asyncpg.Pool
    nc: NATS
    store: EventStore
    coordinator: Coordinator
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


@contextlib.asynccontextmanager
async def running(settings: ExecutorSettings) -> AsyncIterator[ExecutorService]:
    """Start the executor service; stop it on exit."""
    if not settings.database_url:
        raise RuntimeError("OMB_DATABASE_URL is not set")
    pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=8)
    assert pool is not None
    await migrate(pool)
    nc = await nats.connect(settings.nats_url, name="omb-executor", max_reconnect_attempts=-1)
    js = nc.jetstream()
    await ensure_streams(js)
    store = EventStore(pool, projections.apply)
    coordinator = Coordinator(store, nc, js, settings)
    await coordinator.ensure_work_consumer()
    service = ExecutorService(settings, pool, nc, store, coordinator)
    handlers = Handlers(coordinator)
    service.tasks.append(asyncio.create_task(store.relay(js, service.stop)))
    await serve(nc, "omb.cmd.executor", handlers.commands(), subjects.queue_group("executor"))
    await serve(nc, "omb.qry.executor", handlers.queries(), subjects.queue_group("executor"))

    async def on_max_deliveries(msg: Msg) -> None:
        advisory = json.loads(msg.data)
        try:
            await coordinator.worker_lost(int(advisory["stream_seq"]), int(advisory.get("deliveries", 0)))
        except Exception:
            log.exception("worker-lost handling failed")

    await nc.subscribe(f"{MAX_DELIVERIES_ADVISORY}.{subjects.WORK_STREAM}.{WORK_CONSUMER}",
                       queue=subjects.queue_group("executor"), cb=on_max_deliveries)
    await coordinator.recover()
    service.tasks.append(asyncio.create_task(_clock(service)))
    try:
        yield service
    finally:
        service.stop.set()
        for task in service.tasks:
            task.cancel()
        await asyncio.gather(*service.tasks, return_exceptions=True)
        with contextlib.suppress(Exception):
            await nc.drain()
        await pool.close()


async def _clock(service: ExecutorService) -> None:
    """Fire due schedules each tick; archive old results about once a minute."""
    ticks = 0
    while not service.stop.is_set():
        try:
            await service.coordinator.fire_due_schedules()
            if ticks % max(1, int(60 / service.settings.executor_tick_seconds)) == 0:
                await service.coordinator.archive_results(timedelta(days=service.settings.executor_retention_days))
        except Exception:
            log.exception("clock tick failed")
        ticks += 1
        await asyncio.sleep(service.settings.executor_tick_seconds)


def main() -> None:
    logging.basicConfig(level=os.environ.get("OMB_LOG_LEVEL", "INFO"),
                        format='{"level":"%(levelname)s","logger":"%(name)s","msg":"%(message)s"}')

    async def go() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        async with running(ExecutorSettings()):
            await stop.wait()

    asyncio.run(go())
