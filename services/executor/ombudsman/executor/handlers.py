"""The executor's bus API: each command validates its payload (contracts.commands.executor) and calls the writer
of its aggregate (through the coordinator); each query is the read side's (queries.py)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from ombudsman.contracts.commands.executor import (
    BatchRef,
    CreateBatch,
    DifferencesIn,
    DiscrepancyDecision,
    FileCheckpointIn,
    QueueRun,
    RunRef,
    ScheduleRef,
    SnapshotsIn,
    StepRef,
    StepResultIn,
    StepStartedIn,
)
from ombudsman.contracts.envelope import Metadata
from ombudsman.contracts.replies import Invalid, validated
from ombudsman.eventstore.runtime import Handler, ServiceContext
from ombudsman.executor import file_loads, private
from ombudsman.executor.coordinator import Coordinator
from ombudsman.executor.queries import Queries


class Handlers:
    """The executor's bus API (see the README): `commands()` and `queries()` by name, for the runtime."""

    def __init__(self, coordinator: Coordinator) -> None:
        self.c = coordinator
        self.read = Queries(coordinator.ctx, coordinator.settings, coordinator.runs)

    @staticmethod
    def _bound(method: Any) -> Handler:
        async def handle(payload: dict[str, Any], meta: Metadata, ctx: ServiceContext) -> Any:
            return await method(payload, meta)

        handle.__name__ = method.__name__
        return handle

    def commands(self) -> dict[str, Handler]:
        return {name: self._bound(m) for name, m in self._commands().items()}

    def queries(self) -> dict[str, Handler]:
        return {name: self._bound(m) for name, m in self._queries().items()}

    def _commands(self) -> dict[str, Any]:
        return {
            "queue_run": self.queue_run, "cancel_run": self.cancel_run,
            "record_step_started": self.record_step_started, "record_step_result": self.record_step_result,
            "record_differences": self.record_differences, "record_run_snapshots": self.record_run_snapshots,
            "record_file_checkpoint": self.record_file_checkpoint,
            "create_batch": self.create_batch, "execute_batch": self.execute_batch,
            "cancel_batch": self.cancel_batch, "retry_batch": self.retry_batch, "delete_batch": self.delete_batch,
            "schedule": self.schedule, "delete_schedule": self.delete_schedule,
            "resolve_discrepancy": self.resolve_discrepancy,
            "accept_discrepancy": self.accept_discrepancy, "archive_results": self.archive_results,
        }

    def _queries(self) -> dict[str, Any]:
        r = self.read
        return {  # `health` is the runtime's
            "runs": r.runs, "run": r.run, "steps": r.steps, "step_task": self.step_task, "plan_run": self.plan_run,
            "file_loads": self.file_loads,
            "history": r.history, "trends": r.trends, "table_scores": r.table_scores,
            "step": r.step, "compare": r.compare, "export": r.export, "batch": r.batch, "batches": r.batches,
            "discrepancies": r.discrepancies, "schedules": r.schedules, "differences": r.differences,
        }

    # --- commands -------------------------------------------------------------------------

    async def queue_run(self, payload: dict[str, Any], meta: Metadata) -> dict[str, Any]:
        body = QueueRun.model_validate(payload)
        yaml_text, name = await self.c.pipelines.resolve_pipeline(body.project_id, body.pipeline_id, body.pipeline_yaml, meta)
        run_id = await self.c.runs.queue_run(yaml_text=yaml_text, project_id=body.project_id, pipeline_id=body.pipeline_id,
                                        name=body.name or name, meta=meta, only=body.steps,
                                        max_parallel=body.max_parallel)
        return {"run_id": run_id}

    async def plan_run(self, payload: dict[str, Any], meta: Metadata) -> Any:
        """The price of a run before running it (no run is queued or recorded): see Pipelines.price."""
        body = QueueRun.model_validate(payload)
        yaml_text, _ = await self.c.pipelines.resolve_pipeline(body.project_id, body.pipeline_id, body.pipeline_yaml, meta)
        return await self.c.pipelines.price(yaml_text, body.project_id, body.steps, meta)

    async def cancel_run(self, payload: dict[str, Any], meta: Metadata) -> dict[str, Any]:
        return await self.c.runs.cancel_run(RunRef.model_validate(payload).run_id, "cancelled", meta)

    async def record_step_started(self, payload: dict[str, Any], meta: Metadata) -> dict[str, Any]:
        body = StepStartedIn.model_validate(payload)
        return await self.c.runs.record_step_started(body.run_id, body.step, body.worker, body.attempt, meta)

    async def record_run_snapshots(self, payload: dict[str, Any], meta: Metadata) -> dict[str, Any]:
        """A worker pinned the run's connections: the first pins recorded are the run's (the reply
        says which are, and whether these were recorded)."""
        body = SnapshotsIn.model_validate(payload)
        return await self.c.runs.record_run_snapshots(body.run_id, body.snapshots, body.worker, meta)

    async def record_step_result(self, payload: dict[str, Any], meta: Metadata) -> dict[str, Any]:
        body = StepResultIn.model_validate(payload)
        if body.result.get("status") not in ("passed", "failed", "warning", "error", "skipped"):
            raise Invalid("result.status: one of passed, failed, warning, error, skipped", {"field": "result.status"})
        return await self.c.runs.record_step_result(body.run_id, body.step, body.result, meta)

    async def record_differences(self, payload: dict[str, Any], meta: Metadata) -> dict[str, Any]:
        """A page of a step's full list of differences, from the worker that ran it (private store)."""
        body = DifferencesIn.model_validate(payload)
        state = await self.c.runs.existing_run(body.run_id)
        if body.step not in state.steps:
            raise Invalid(f"step: run {body.run_id} has no step {body.step!r}", {"field": "step"})
        async with self.c.ctx.engine.begin() as conn:
            await private.keep_differences(conn, body.run_id, body.step, body.offset, body.lines)
        return {"recorded": len(body.lines)}

    async def record_file_checkpoint(self, payload: dict[str, Any], meta: Metadata) -> dict[str, Any]:
        """A file_load step's checkpoint for one file (started, progress, completed, failed), from its
        worker: an event on the run's stream (file_loads.py)."""
        return await file_loads.record_checkpoint(self.c.runs, FileCheckpointIn.model_validate(payload), meta)

    async def file_loads(self, payload: dict[str, Any], meta: Metadata) -> dict[str, Any]:
        """The file checkpoints recorded for a file_load step's project and target connection, across
        runs: what a resumed load skips (file_loads.py)."""
        body = StepRef.model_validate(payload)
        state = await self.c.runs.existing_run(body.run_id)
        if body.step not in state.steps:
            raise Invalid(f"step: run {body.run_id} has no step {body.step!r}", {"field": "step"})
        scope, target = file_loads.load_keys(state, body.step)
        async with self.c.ctx.engine.connect() as conn:
            return {"scope": scope, "target": target, "files": await file_loads.recorded_loads(conn, scope, target)}

    async def create_batch(self, payload: dict[str, Any], meta: Metadata) -> dict[str, Any]:
        body = validated(CreateBatch, payload)
        return {"batch_id": await self.c.batches.create_batch(body, meta)}

    async def execute_batch(self, payload: dict[str, Any], meta: Metadata) -> dict[str, Any]:
        return await self.c.batches.execute_batch(BatchRef.model_validate(payload).batch_id, meta)

    async def cancel_batch(self, payload: dict[str, Any], meta: Metadata) -> dict[str, Any]:
        return await self.c.batches.cancel_batch(BatchRef.model_validate(payload).batch_id, meta)

    async def retry_batch(self, payload: dict[str, Any], meta: Metadata) -> dict[str, Any]:
        return await self.c.batches.retry_batch(BatchRef.model_validate(payload).batch_id, meta)

    async def delete_batch(self, payload: dict[str, Any], meta: Metadata) -> dict[str, Any]:
        return await self.c.batches.delete_batch(BatchRef.model_validate(payload).batch_id, meta)

    async def schedule(self, payload: dict[str, Any], meta: Metadata) -> dict[str, Any]:
        return {"schedule_id": await self.c.schedules.create_schedule(payload, meta)}

    async def delete_schedule(self, payload: dict[str, Any], meta: Metadata) -> dict[str, Any]:
        return await self.c.schedules.delete_schedule(ScheduleRef.model_validate(payload).schedule_id, meta)

    async def resolve_discrepancy(self, payload: dict[str, Any], meta: Metadata) -> dict[str, Any]:
        body = DiscrepancyDecision.model_validate(payload)
        return await self.c.discrepancies.decide_discrepancy(body.discrepancy_id, "resolve", body.note, meta)

    async def accept_discrepancy(self, payload: dict[str, Any], meta: Metadata) -> dict[str, Any]:
        body = DiscrepancyDecision.model_validate(payload)
        return await self.c.discrepancies.decide_discrepancy(body.discrepancy_id, "accept", body.note, meta)

    async def archive_results(self, payload: dict[str, Any], meta: Metadata) -> dict[str, Any]:
        days = float(payload.get("older_than_days", self.c.settings.executor_retention_days))
        if days < 0:
            raise Invalid("older_than_days: must be 0 or more", {"field": "older_than_days"})
        return {"archived": await self.c.archive_results(timedelta(days=days), meta)}

    # --- the worker's query (through the run's writer) --------------------------------------

    async def step_task(self, payload: dict[str, Any], meta: Metadata) -> dict[str, Any]:
        body = StepRef.model_validate(payload)
        return await self.c.runs.step_task(body.run_id, body.step)
