"""The coordinator: the executor's single writer, put together from one part per aggregate or
backing concern. It records what workers report and releases steps whose dependencies are done
(runs.py), moves batches on (batches.py), fires schedules (schedules.py), records decisions on
discrepancies (discrepancies.py), archives old results (retention.py), and turns exhausted work
messages into `error: worker lost` (work_queue.py); all of them write through streams.py."""

from __future__ import annotations

from datetime import datetime, timedelta

from ombudsman.contracts.envelope import Metadata
from ombudsman.eventstore.runtime import ServiceContext
from ombudsman.executor.batches import Batches
from ombudsman.executor.discrepancies import DiscrepancyDecisions
from ombudsman.executor.pipelines import Pipelines
from ombudsman.executor.projections import SCHEMA
from ombudsman.executor.retention import Retention
from ombudsman.executor.runs import Runs
from ombudsman.executor.schedules import Schedules
from ombudsman.executor.settings import ExecutorSettings
from ombudsman.executor.streams import SERVICE_META, Streams
from ombudsman.executor.work import work_consumer_config
from ombudsman.executor.work_queue import WorkQueue

__all__ = ["SERVICE_META", "Coordinator", "work_consumer_config"]


class Coordinator:
    """The executor's writers, wired together, and what the service's start-up and clock call."""

    def __init__(self, ctx: ServiceContext, settings: ExecutorSettings) -> None:
        self.ctx = ctx
        self.settings = settings
        self.streams = Streams(ctx)
        self.pipelines = Pipelines(ctx, settings)
        self.runs = Runs(self.streams, self.pipelines, settings)
        self.batches = Batches(self.streams, self.runs, self.pipelines, settings)
        self.schedules = Schedules(self.streams, self.runs, self.batches, self.pipelines)
        self.discrepancies = DiscrepancyDecisions(self.streams)
        self.retention = Retention(self.streams, self.runs, settings)
        self.work_queue = WorkQueue(ctx, self.runs, settings)

    async def recover(self) -> int:
        """On taking the lease: rebuild the in-flight counts from the store (whatever this process
        counted before is forgotten), move on every unfinished run and batch; the number of runs."""
        self.runs.capacity.in_flight.clear()
        self.runs.active_runs.clear()
        self.runs.blocked_runs.clear()
        run_ids = [r.run_id for r in await self.streams.fetch(
            f"SELECT run_id FROM {SCHEMA}.runs WHERE status IN ('queued','running') ORDER BY queued_at")]
        batch_ids = [r.batch_id for r in await self.streams.fetch(
            f"SELECT batch_id FROM {SCHEMA}.batches WHERE status='running' AND NOT deleted")]
        for run_id in run_ids:
            state = await self.runs.load_run(run_id)
            for step in state.in_flight:
                self.runs.capacity.take(state.step_connections(step))
            self.runs.active_runs.add(run_id)
        for run_id in run_ids:
            await self.runs.advance(run_id)
        for batch_id in batch_ids:
            await self.batches.advance_batch(batch_id)
        return len(run_ids)

    async def ensure_work_consumer(self) -> None:
        """Create the workers' durable consumer and the worker-lost advisories' stream unless they exist."""
        await self.work_queue.ensure_work_consumer()

    async def fire_due_schedules(self, now: datetime | None = None) -> int:
        """Fire every due instant of every schedule once (the clock calls it each tick)."""
        return await self.schedules.fire_due_schedules(now)

    async def archive_results(self, older_than: timedelta, meta: Metadata = SERVICE_META) -> int:
        """Archive the step results of runs finished before now - older_than (see retention.py)."""
        return await self.retention.archive_results(older_than, meta)
