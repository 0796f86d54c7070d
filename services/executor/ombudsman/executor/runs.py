"""Runs: queue a run, release its steps as their dependencies finish (bounded per run and per
connection), record what workers report (with the discrepancies of its findings), cancel it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from ombudsman.contracts import events as ev
from ombudsman.contracts.envelope import Metadata, new_id
from ombudsman.contracts.privacy import mask_result
from ombudsman.contracts.registry import Event
from ombudsman.contracts.replies import Invalid, NotFound
from ombudsman.eventstore.aggregate import fold
from ombudsman.executor import domain, metrics, private
from ombudsman.executor.discrepancies import StepFindings
from ombudsman.executor.pipelines import Pipelines, queued_run
from ombudsman.executor.settings import ExecutorSettings
from ombudsman.executor.streams import SERVICE_META, Streams, now_utc

# (batch id, run id, status): told when a run of a batch ends
RunFinished = Callable[[str, str, str], Awaitable[None]]


async def _no_batch(batch_id: str, run_id: str, status: str) -> None:
    return None


class Runs:
    """The run aggregate's writer, and the in-memory counts of steps in flight per connection."""

    def __init__(self, streams: Streams, pipelines: Pipelines, settings: ExecutorSettings) -> None:
        self.streams = streams
        self.pipelines = pipelines
        self.settings = settings
        self.capacity = domain.Capacity(per_connection=settings.executor_per_connection)
        self.active_runs: set[str] = set()
        self.blocked_runs: set[str] = set()  # runs with a ready step waiting for a connection slot
        self.findings = StepFindings(streams.events, streams.fetch)
        self.on_finished: RunFinished = _no_batch  # the batches set theirs (a run does not know batches)

    def masked(self, result: dict[str, Any], keep: list[str]) -> dict[str, Any]:
        """A step result as it may enter an event: samples bounded, personal values masked."""
        key = self.settings.executor_mask_key.encode() if self.settings.executor_mask_key else None
        return mask_result(result, limit=self.settings.executor_event_sample_rows, keep=keep, key=key)

    async def load_run(self, run_id: str) -> domain.RunState:
        return fold(domain.RUN, run_id, await self.streams.events(run_id))

    async def existing_run(self, run_id: str) -> domain.RunState:
        state = await self.load_run(run_id)
        if state.status == "new":
            raise NotFound(f"run {run_id} not found", {"run_id": run_id})
        return state

    async def queue_run(self, *, yaml_text: str, project_id: str | None, pipeline_id: str | None,
                        name: str | None, meta: Metadata, only: list[str] | None = None,
                        max_parallel: int | None = None, retry_of: str | None = None) -> str:
        run_id = new_id()
        inline = await self.pipelines.admit_pipeline(yaml_text, project_id, meta)
        queued, keep = queued_run(
            run_id, yaml_text, project_id=project_id, pipeline_id=pipeline_id, name=name, only=only,
            max_parallel=max_parallel or self.settings.executor_run_parallel, retry_of=retry_of,
            inline_connections=inline,
        )
        await self.streams.append(meta, (run_id, 0, [queued]), private_writes=keep)
        self.active_runs.add(run_id)
        await self.advance(run_id, meta)
        return run_id

    async def advance(self, run_id: str, meta: Metadata = SERVICE_META) -> domain.RunState:
        """Release what can run now; finish the run when every step has a result."""

        async def attempt() -> tuple[domain.RunState, list[Event]]:
            state = await self.load_run(run_id)
            taken = domain.Capacity(dict(self.capacity.in_flight), self.capacity.per_connection)
            decided = domain.advance_run(state, taken, now_utc())
            await self.streams.append(meta, (run_id, state.version, decided))
            self.capacity.in_flight = taken.in_flight
            if taken.blocked:
                self.blocked_runs.add(run_id)
            else:
                self.blocked_runs.discard(run_id)
            return state, decided

        state, decided = await self.streams.retrying(run_id, attempt)
        finished = next((e for e in decided if isinstance(e, ev.RunCompleted)), None)
        if finished is not None:
            statuses = [*state.results.values(), *("skipped" for e in decided if isinstance(e, ev.StepSkipped))]
            metrics.run_finished(state.project_id, state.pipeline_name, finished.status,
                                 domain.quality_score(statuses), finished.duration_seconds)
            self.active_runs.discard(run_id)
            self.blocked_runs.discard(run_id)
            if state.batch_id:
                await self.on_finished(state.batch_id, run_id, finished.status)
        return state

    async def advance_waiting(self) -> None:
        """Connection capacity was freed: give the runs waiting for a slot a chance."""
        for run_id in list(self.blocked_runs):
            await self.advance(run_id)

    async def record_step_started(self, run_id: str, step: str, worker: str | None, attempt: int,
                                  meta: Metadata) -> dict[str, Any]:
        async def go() -> dict[str, Any]:
            state = await self.existing_run(run_id)
            if step not in state.steps:
                raise Invalid(f"step: run {run_id} has no step {step!r}", {"field": "step"})
            if step in state.results:
                return {"recorded": False}
            event = ev.StepStarted(run_id=run_id, step=step, worker=worker, attempt=attempt)
            await self.streams.append(meta, (run_id, state.version, [event]))
            return {"recorded": True}

        return await self.streams.retrying(run_id, go)

    async def record_run_snapshots(self, run_id: str, snapshots: dict[str, dict[str, Any]], worker: str | None,
                                   meta: Metadata) -> dict[str, Any]:
        """Record the run's pins once: a second worker's pins (two first steps started at once) are
        not recorded, and it reads at the recorded ones."""

        async def go() -> dict[str, Any]:
            state = await self.existing_run(run_id)
            if state.snapshots is not None:
                return {"recorded": False, "snapshots": state.snapshots, "run_status": state.status}
            event = ev.RunSnapshotsPinned(run_id=run_id, snapshots=snapshots, worker=worker)
            await self.streams.append(meta, (run_id, state.version, [event]))
            return {"recorded": True, "snapshots": snapshots, "run_status": state.status}

        return await self.streams.retrying(run_id, go)

    async def record_step_result(self, run_id: str, step: str, reported: dict[str, Any], meta: Metadata) -> dict[str, Any]:
        """Commit a step's result once (a redelivered step's second result is dropped), with what it
        does to the discrepancies of its findings (discrepancies.py); then release what depended on it."""

        async def go() -> tuple[bool, domain.RunState]:
            state = await self.existing_run(run_id)
            if step not in state.steps:
                raise Invalid(f"step: run {run_id} has no step {step!r}", {"field": "step"})
            if step in state.results:
                return False, state
            result = dict(reported)
            status = str(result.get("status", "error"))
            spec = state.spec
            spec_step = spec.step(step)
            table = str(spec_step.source_table) if spec_step.source_table else None
            scope = state.project_id or f"pipeline:{state.pipeline_name}"
            unmasked = spec.unmasked_columns(spec_step)
            finding = None
            if status == "failed":
                kind = domain.discrepancy_type(spec_step.validator, result)
                columns = list(result.get("affected_columns") or [])
                identity = domain.finding_identity(scope, table, spec_step.validator, kind, columns)
                finding = ev.DiscrepancyRecorded(
                    discrepancy_id=domain.discrepancy_id_of(identity), run_id=run_id, step=step,
                    project_id=state.project_id, pipeline=state.pipeline_name, type=kind,
                    severity=result.get("severity") or spec.severity(spec_step), table=table, columns=columns,
                    message=str(self.masked({"message": result.get("message", "")}, unmasked)["message"]),
                    sample=list(self.masked(result, unmasked).get("sample") or [])[:20],
                    fingerprint=domain.fingerprint(scope, step, spec_step.validator, table, result),
                    finding=identity, scope=scope,
                )
            outcome = await self.findings.decide(run_id=run_id, step=step, scope=scope, pipeline=state.pipeline_name,
                                                 status=status, result=result, finding=finding)
            status, result, appends = outcome.status, outcome.result, outcome.appends
            full = {**result, "status": status}
            decided = domain.record_step_result(state, step, status, self.masked(full, unmasked))
            appends.insert(0, (run_id, state.version, decided))

            async def keep(conn: AsyncConnection) -> None:
                await private.keep_result(conn, run_id, step, full)

            await self.streams.append(meta, *appends, private_writes=[keep])
            metrics.step_recorded(spec_step.validator, status, float(result.get("duration_seconds") or 0.0))
            return True, state

        recorded, state = await self.streams.retrying(run_id, go)
        if recorded and step in state.dispatched:
            self.capacity.release(state.step_connections(step))
        await self.advance(run_id)
        if recorded:
            await self.advance_waiting()
        return {"recorded": recorded}

    async def cancel_run(self, run_id: str, reason: str, meta: Metadata) -> dict[str, Any]:
        async def go() -> domain.RunState:
            state = await self.existing_run(run_id)
            decided = domain.cancel_run(state, reason)
            await self.streams.append(meta, (run_id, state.version, decided))
            return state

        state = await self.streams.retrying(run_id, go)
        self.active_runs.discard(run_id)
        self.blocked_runs.discard(run_id)
        if state.batch_id:
            await self.on_finished(state.batch_id, run_id, "cancelled")
        return {"run_id": run_id, "status": "cancelled"}

    async def step_task(self, run_id: str, step: str) -> dict[str, Any]:
        """What a worker needs to run one step (or that it need not); `run_status` also tells a worker
        holding the run's snapshots when it may let them go; `snapshots`: the run's pins, once pinned."""
        state = await self.existing_run(run_id)
        if step not in state.steps:
            raise NotFound(f"run {run_id} has no step {step!r}")
        if step in state.results:
            return {"action": "done", "run_status": state.status}
        if state.status == "cancelled":
            return {"action": "cancelled", "run_status": state.status}
        kept = await self.streams.kept_pipeline(private.run_key(run_id))
        return {"action": "run", "pipeline_yaml": kept or state.pipeline_yaml, "project_id": state.project_id,
                "inline_connections": state.inline_connections, "snapshots": state.snapshots,
                "run_status": state.status}
