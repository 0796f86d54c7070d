"""Batches: several pipelines run as one, at most `max_parallel` at a time; a batch moves on as
its runs finish, and may be cancelled, retried (only what failed) or deleted."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from ombudsman.contracts import events as ev
from ombudsman.contracts.commands.executor import CreateBatch
from ombudsman.contracts.envelope import Metadata, new_id
from ombudsman.contracts.privacy import redact_pipeline_yaml
from ombudsman.contracts.registry import Event
from ombudsman.contracts.replies import Conflict, Invalid, NotFound
from ombudsman.eventstore.aggregate import fold
from ombudsman.executor import domain, metrics, private
from ombudsman.executor.pipelines import Pipelines, queued_run
from ombudsman.executor.runs import Runs
from ombudsman.executor.settings import ExecutorSettings
from ombudsman.executor.streams import SERVICE_META, Append, PrivateWrite, Streams, now_utc


class Batches:
    """The batch aggregate's writer; it launches its pipelines as runs and hears when they end."""

    def __init__(self, streams: Streams, runs: Runs, pipelines: Pipelines, settings: ExecutorSettings) -> None:
        self.streams = streams
        self.runs = runs
        self.pipelines = pipelines
        self.settings = settings
        runs.on_finished = self.run_finished_in_batch

    async def existing_batch(self, batch_id: str) -> domain.BatchState:
        state = fold(domain.BATCH, batch_id, await self.streams.events(batch_id))
        if state.status in ("new", "deleted"):
            raise NotFound(f"batch {batch_id} not found", {"batch_id": batch_id})
        return state


    async def create_batch(self, cmd: CreateBatch, meta: Metadata) -> str:
        """Record a new batch; pipeline YAML with inline secrets is kept whole only in the private store."""
        for item in cmd.pipelines:
            if item.pipeline_yaml:
                domain.parse_spec(item.pipeline_yaml)
        clean = [{k: v for k, v in item.model_dump(include={"project_id", "pipeline_id", "pipeline_yaml", "name"}).items()
                  if v} for item in cmd.pipelines]
        secret: dict[int, str] = {}
        for index, item in enumerate(clean):
            if item.get("pipeline_yaml"):
                item["pipeline_yaml"] = redact_pipeline_yaml(item["pipeline_yaml"])
                if item["pipeline_yaml"] != cmd.pipelines[index].pipeline_yaml:
                    secret[index] = str(cmd.pipelines[index].pipeline_yaml)
        batch_id = new_id()
        created = ev.BatchCreated(batch_id=batch_id, name=cmd.name.strip(), pipelines=clean,
                                  max_parallel=cmd.parallel(), continue_on_error=cmd.continue_on_error)

        async def keep(conn: AsyncConnection) -> None:
            for index, yaml_text in secret.items():
                await private.keep_pipeline(conn, private.batch_key(batch_id, index), yaml_text)

        await self.streams.append(meta, (batch_id, 0, [created]), private_writes=[keep] if secret else [])
        return batch_id

    async def execute_batch(self, batch_id: str, meta: Metadata) -> dict[str, Any]:
        async def go() -> None:
            state = await self.existing_batch(batch_id)
            if state.status == "running":
                raise Conflict(f"batch {batch_id} is already running")
            for index in range(len(state.pipelines)):  # refused at once (422), not as step errors later
                yaml_text, project_id, _, _ = await self._pipeline_of(state, index, meta)
                await self.pipelines.admit_pipeline(yaml_text, project_id, meta)
            started = ev.BatchStarted(batch_id=batch_id, total=len(state.pipelines))
            await self.streams.append(meta, (batch_id, state.version, [started]))

        await self.streams.retrying(batch_id, go)
        await self.advance_batch(batch_id, meta)
        return {"batch_id": batch_id, "status": "running"}

    async def _pipeline_of(self, batch: domain.BatchState, index: int, meta: Metadata) -> tuple[str, str | None, str | None, str]:
        item = batch.pipelines[index]
        inline = item.get("pipeline_yaml") and await self.streams.kept_pipeline(private.batch_key(batch.batch_id, index))
        yaml_text, found_name = await self.pipelines.resolve_pipeline(
            item.get("project_id"), item.get("pipeline_id"), inline or item.get("pipeline_yaml"), meta)
        return yaml_text, item.get("project_id"), item.get("pipeline_id"), item.get("name") or found_name or ""

    async def advance_batch(self, batch_id: str, meta: Metadata = SERVICE_META) -> None:
        """Start pipelines while fewer than max_parallel run; complete the batch when all are done."""
        launched: list[str] = []

        async def go() -> None:
            launched.clear()
            batch = fold(domain.BATCH, batch_id, await self.streams.events(batch_id))
            launch, decided = domain.advance_batch(batch, now_utc())
            appends: list[Append] = [(batch_id, batch.version, decided)]
            batch_events: list[Event] = []
            keeps: list[PrivateWrite] = []
            for index in launch:
                yaml_text, project_id, pipeline_id, name = await self._pipeline_of(batch, index, meta)
                run_id = new_id()
                only = batch.retry_steps.get(index)
                # inline URLs only when the person who started the batch may use them; else the worker refuses them
                launcher = batch.launched_by_role if meta.actor.role == "service" else meta.actor.role
                try:
                    inline = await self.pipelines.admit_pipeline(yaml_text, project_id, meta, role=launcher)
                except Invalid:
                    inline = False
                queued, keep = queued_run(
                    run_id, yaml_text, project_id=project_id, pipeline_id=pipeline_id, name=name or None,
                    batch_id=batch_id, only=only, max_parallel=self.settings.executor_run_parallel,
                    retry_of=batch.runs.get(index) if only is not None else None, inline_connections=inline,
                )
                keeps += keep
                appends.append((run_id, 0, [queued]))
                batch_events.append(ev.BatchPipelineStarted(batch_id=batch_id, index=index, run_id=run_id))
                launched.append(run_id)
            if batch_events:
                appends[0] = (batch_id, batch.version, batch_events)
            await self.streams.append(meta, *appends, private_writes=keeps)

        await self.streams.retrying(batch_id, go)
        for run_id in launched:
            self.runs.active_runs.add(run_id)
        for run_id in launched:
            await self.runs.advance(run_id)
        if not launched:
            # runs that finished while the batch lock was held elsewhere are caught by recover()
            return

    async def run_finished_in_batch(self, batch_id: str, run_id: str, status: str) -> None:
        async def go() -> bool:
            batch = fold(domain.BATCH, batch_id, await self.streams.events(batch_id))
            index = next((i for i, r in batch.runs.items() if r == run_id), None)
            if index is None or index not in batch.running:
                return False
            finished = ev.BatchPipelineFinished(batch_id=batch_id, index=index, run_id=run_id, status=status)  # type: ignore[arg-type]
            await self.streams.append(SERVICE_META, (batch_id, batch.version, [finished]))
            metrics.batch_pipeline_finished(status)
            return True

        if await self.streams.retrying(batch_id, go):
            await self.advance_batch(batch_id)

    async def cancel_batch(self, batch_id: str, meta: Metadata) -> dict[str, Any]:
        """Nothing new starts; steps already running finish; the batch's unfinished runs are cancelled."""

        async def go() -> domain.BatchState:
            batch = await self.existing_batch(batch_id)
            if batch.status != "running":
                raise Conflict(f"batch {batch_id} is {batch.status}, not running", {"status": batch.status})
            cancelled = ev.BatchCancelled(batch_id=batch_id, reason="cancelled")
            await self.streams.append(meta, (batch_id, batch.version, [cancelled]))
            return batch

        batch = await self.streams.retrying(batch_id, go)
        for index in sorted(batch.running):
            run_id = batch.runs[index]
            try:
                await self.runs.cancel_run(run_id, "batch cancelled", meta)
            except Conflict:
                pass  # finished meanwhile
        return {"batch_id": batch_id, "status": "cancelled"}

    async def retry_batch(self, batch_id: str, meta: Metadata) -> dict[str, Any]:
        """Run again only what failed: per failed pipeline, its steps that did not pass."""

        async def go() -> dict[str, list[str]]:
            batch = await self.existing_batch(batch_id)
            if batch.status not in ("completed", "failed", "cancelled"):
                raise Conflict(f"batch {batch_id} is {batch.status}; retry a finished batch", {"status": batch.status})
            redo: dict[str, list[str]] = {}
            for index in range(len(batch.pipelines)):
                run_id = batch.runs.get(index)
                if run_id is None:  # never started (cancelled or stopped early): run all of it
                    yaml_text, *_ = await self._pipeline_of(batch, index, meta)
                    redo[str(index)] = domain.parse_spec(yaml_text).topological_order()
                    continue
                run = await self.runs.load_run(run_id)
                steps = [s for s in run.steps if run.results.get(s) not in ("passed", "warning")]
                if steps:
                    redo[str(index)] = steps
            if not redo:
                raise Conflict(f"batch {batch_id} has nothing to retry: every step passed")
            retried = ev.BatchRetried(batch_id=batch_id, attempt=batch.attempt + 1, steps=redo)
            await self.streams.append(meta, (batch_id, batch.version, [retried]))
            return redo

        redo = await self.streams.retrying(batch_id, go)
        await self.advance_batch(batch_id, meta)
        return {"batch_id": batch_id, "retried": {k: len(v) for k, v in redo.items()}}

    async def delete_batch(self, batch_id: str, meta: Metadata) -> dict[str, Any]:
        async def go() -> None:
            batch = await self.existing_batch(batch_id)
            if batch.status == "running":
                raise Conflict(f"batch {batch_id} is running: cancel it first")
            deleted = ev.BatchDeleted(batch_id=batch_id)
            await self.streams.append(meta, (batch_id, batch.version, [deleted]))

        await self.streams.retrying(batch_id, go)
        return {"batch_id": batch_id, "deleted": True}
