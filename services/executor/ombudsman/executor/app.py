"""Wiring of the executor service on the libs/eventstore runtime: `python -m ombudsman.executor`.

The runtime brings migrations, the read models (fed in the append transaction), the outbox relay,
the bus API and graceful stop. `ExecutorService` adds what is the executor's own: the step-work
dispatcher (`work.py`), the work-queue consumer every worker shares, the max-deliveries advisories
kept in `OMB_WORK_LOST` (→ `error: worker lost`, work_queue.py), recovery of unfinished runs and
batches, and the clock (schedules, retention).

Replicas: the coordinator keeps per-connection counts of steps in flight in memory, so one replica
at a time coordinates: it holds the leader lease (`eventstore.lease`, a PostgreSQL advisory lock)
and alone answers the commands that release steps (`LEADER_COMMANDS`), reads the max-deliveries
advisories (those published while no replica led first) and runs the clock. The others stand by; every replica answers the queries, the other
commands and dispatches step work. A standby that takes the lease rebuilds the counts from the
store (`Coordinator.recover`) before it answers, and logs how long its takeover took.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

from ombudsman.contracts import subjects
from ombudsman.eventstore.lease import LeaderLease
from ombudsman.eventstore.projections import ProjectionConsumer
from ombudsman.eventstore.runtime import Service
from ombudsman.executor import metrics
from ombudsman.executor.coordinator import Coordinator
from ombudsman.executor.handlers import Handlers
from ombudsman.executor.projections import SCHEMA, all_projections
from ombudsman.executor.settings import WORK_CONSUMER, ExecutorSettings
from ombudsman.executor.work import DURABLE as DISPATCHER
from ombudsman.executor.work import step_work_consumer
from ombudsman.executor.work_queue import LOST_CONSUMER

log = logging.getLogger("ombudsman.executor")
MIGRATIONS = Path(__file__).parent / "migrations"
LEASE = "executor-coordinator"
# the commands that move runs and batches on, deciding with the in-memory counts: the leader's alone
LEADER_COMMANDS = ("queue_run", "cancel_run", "record_step_result", "execute_batch", "cancel_batch", "retry_batch")


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
        self.hold(*(subjects.command_subject("executor", name) for name in LEADER_COMMANDS))
        self.lease: LeaderLease | None = None
        self.dispatcher: ProjectionConsumer | None = None
        self._lost: asyncio.Task[None] | None = None
        self._clock: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._closing = False  # stop() began: a lease taken from now on must not start leading

    async def start(self) -> None:
        await super().start()
        try:
            await self.coordinator.ensure_work_consumer()
            assert self.engine is not None and self.js is not None and self.nc is not None
            self.dispatcher = step_work_consumer(self.engine, self.schema, self.js)
            await self.dispatcher.start()
            assert self.settings.database_url
            self.lease = LeaderLease(self.settings.database_url, LEASE, on_acquired=self._lead,
                                     on_lost=self._stand_by, poll=self.settings.executor_lease_poll,
                                     check=self.settings.executor_lease_check)
            await self.lease.start()
            metrics.watch(id(self), lambda: self.leading, self.coordinator.runs)
            if not self.lease.held:
                log.info("coordinator standing by: another replica holds the lease")
        except BaseException:
            await self.stop()
            raise

    def durable_consumers(self) -> list[tuple[str, str]]:
        """The runtime's, the dispatcher's and the workers' shared consumer of step work."""
        return [*super().durable_consumers(), (subjects.EVENTS_STREAM, DISPATCHER),
                (subjects.WORK_STREAM, WORK_CONSUMER), (subjects.WORK_LOST_STREAM, LOST_CONSUMER)]

    @property
    def leading(self) -> bool:
        """Whether this replica holds the coordinator's lease."""
        return self.lease is not None and self.lease.held

    async def _lead(self) -> None:
        """Lease taken: rebuild the counts from the store, move every unfinished run and batch on,
        then answer the leader's commands, hear the advisory and run the clock."""
        if self._closing:  # the lease came back while the process stops: nothing may start on a closing bus
            return
        began = time.monotonic()
        recovered = await self.coordinator.recover()
        await self.open_held()
        self._stopping.clear()
        self._lost = asyncio.create_task(self.coordinator.work_queue.follow_lost(self._stopping),
                                         name="executor-worker-lost")
        self._clock = asyncio.create_task(self._tick(), name="executor-clock")
        seconds = time.monotonic() - began
        log.info("coordinator leading: recovered %d unfinished run(s) in %.2f s", recovered, seconds,
                 extra={"recovered_runs": recovered, "takeover_seconds": round(seconds, 3)})

    async def _stand_by(self) -> None:
        """Lease lost (or stopping): stop deciding; requests already taken finish."""
        await self.close_held()
        await self._stop_leading()
        log.info("coordinator stepped down")

    async def _stop_leading(self) -> None:
        for task in (self._clock, self._lost):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._clock = self._lost = None

    async def stop(self) -> None:
        self._closing = True
        self._stopping.set()
        metrics.forget(id(self))
        await self._stop_leading()
        if self.dispatcher is not None:  # what it has not dispatched yet, the durable keeps for the next start
            await self.dispatcher.stop()
            self.dispatcher = None
        await super().stop()  # finishes requests in flight and flushes the outbox
        if self.lease is not None:  # only now, quiet: a standby takes over at its next poll
            await self.lease.stop()
            self.lease = None

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
