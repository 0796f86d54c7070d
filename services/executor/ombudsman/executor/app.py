"""Wiring of the executor service on the libs/eventstore runtime: `python -m ombudsman.executor`.

The runtime brings migrations, the read models (fed in the append transaction), the outbox relay,
the bus API and graceful stop. `ExecutorService` adds what is the executor's own: the step-work
dispatcher (`work.py`), the work-queue consumer every worker shares, the max-deliveries advisory
(→ `error: worker lost`), start-up recovery of unfinished runs and batches, and the clock
(schedules, retention).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from ombudsman.contracts import subjects
from ombudsman.eventstore.projections import ProjectionConsumer
from ombudsman.eventstore.runtime import Service
from ombudsman.executor.coordinator import Coordinator
from ombudsman.executor.handlers import Handlers
from ombudsman.executor.projections import SCHEMA, all_projections
from ombudsman.executor.settings import WORK_CONSUMER, ExecutorSettings
from ombudsman.executor.work import step_work_consumer

log = logging.getLogger("ombudsman.executor")
MIGRATIONS = Path(__file__).parent / "migrations"
MAX_DELIVERIES_ADVISORY = "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES"


class ExecutorService(Service):
    """The runtime plus the step-work dispatcher, the worker-lost advisory, recovery and the clock."""

    settings: ExecutorSettings

    def __init__(self, settings: ExecutorSettings) -> None:
        super().__init__("executor", schema=SCHEMA, settings=settings, migrations=MIGRATIONS,
                         projections=all_projections())
        self.coordinator = Coordinator(self.ctx, settings)
        handlers = Handlers(self.coordinator)
        for name, handler in handlers.commands().items():
            self.command(name)(handler)
        for name, handler in handlers.queries().items():
            self.query(name)(handler)
        self.dispatcher: ProjectionConsumer | None = None
        self._advisory: Subscription | None = None
        self._clock: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    async def start(self) -> None:
        await super().start()
        try:
            await self.coordinator.ensure_work_consumer()
            assert self.engine is not None and self.js is not None and self.nc is not None
            self.dispatcher = step_work_consumer(self.engine, self.schema, self.js)
            await self.dispatcher.start()
            self._advisory = await self.nc.subscribe(
                f"{MAX_DELIVERIES_ADVISORY}.{subjects.WORK_STREAM}.{WORK_CONSUMER}",
                queue=subjects.queue_group("executor"), cb=self._on_max_deliveries)
            await self.coordinator.recover()
            self._stopping.clear()
            self._clock = asyncio.create_task(self._tick(), name="executor-clock")
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        self._stopping.set()
        if self._clock is not None:
            self._clock.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._clock
            self._clock = None
        if self._advisory is not None:
            with contextlib.suppress(Exception):
                await self._advisory.unsubscribe()
            self._advisory = None
        if self.dispatcher is not None:  # what it has not dispatched yet, the durable keeps for the next start
            await self.dispatcher.stop()
            self.dispatcher = None
        await super().stop()  # finishes requests in flight and flushes the outbox

    async def _on_max_deliveries(self, msg: Msg) -> None:
        advisory = json.loads(msg.data)
        try:
            await self.coordinator.worker_lost(int(advisory["stream_seq"]), int(advisory.get("deliveries", 0)))
        except Exception:
            log.exception("worker-lost handling failed")

    async def _tick(self) -> None:
        """Fire due schedules each tick; archive old results about once a minute."""
        every = self.settings.executor_tick_seconds
        ticks = 0
        while not self._stopping.is_set():
            try:
                await self.coordinator.fire_due_schedules()
                if ticks % max(1, int(60 / every)) == 0:
                    await self.coordinator.archive_results(timedelta(days=self.settings.executor_retention_days))
            except Exception:
                log.exception("clock tick failed")
            ticks += 1
            await asyncio.sleep(every)


def create_service(settings: ExecutorSettings | None = None) -> ExecutorService:
    """The executor service with its handlers, read models and background tasks."""
    return ExecutorService(settings or ExecutorSettings())


@contextlib.asynccontextmanager
async def running(settings: ExecutorSettings) -> AsyncIterator[ExecutorService]:
    """Start the executor service; stop it on exit (tests, benchmarks, embedding)."""
    service = create_service(settings)
    await service.start()
    try:
        yield service
    finally:
        await service.stop()


def main() -> None:
    create_service().run()
