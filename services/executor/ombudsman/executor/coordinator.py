"""The coordinator: the executor's single writer. It records what workers report, releases steps
whose dependencies are done (bounded per run and per connection), moves batches on, fires
schedules, turns exhausted work messages into `error: worker lost`, and archives old results."""

from __future__ import annotations

import asyncio
import json
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from ombudsman.contracts import events as ev
from ombudsman.contracts import subjects
from ombudsman.contracts.envelope import Actor, EventEnvelope, Metadata, new_id
from ombudsman.contracts.privacy import mask_result, redact_pipeline_yaml
from ombudsman.contracts.registry import Event
from ombudsman.contracts.replies import Conflict, Invalid, NotFound, OmbudsmanError
from ombudsman.eventstore.decide import RetryPolicy, retry_conflicts
from ombudsman.eventstore.rpc import request
from ombudsman.eventstore.runtime import ServiceContext
from ombudsman.executor import domain, private
from ombudsman.executor.discrepancies import StepFindings
from ombudsman.executor.projections import SCHEMA
from ombudsman.executor.settings import WORK_CONSUMER, ExecutorSettings

log = logging.getLogger("ombudsman.executor")
SERVICE_META = Metadata(actor=Actor.service("executor"))
CONFLICT_RETRY = RetryPolicy(attempts=20)
REQUEST_TIMEOUT = 30.0
# (stream id, expected version, events): one stream's part of an append
Append = tuple[str, int, Sequence[Event]]
# a write to the executor's private tables, in the same transaction as the events
PrivateWrite = Callable[[AsyncConnection], Awaitable[None]]


def work_consumer_config(settings: ExecutorSettings) -> ConsumerConfig:
    """The one durable pull consumer every worker shares (the service and workers agree on it)."""
    return ConsumerConfig(
        durable_name=WORK_CONSUMER, ack_policy=AckPolicy.EXPLICIT, ack_wait=settings.executor_ack_wait,
        max_deliver=settings.executor_max_deliver, filter_subject=f"{subjects.WORK_PREFIX}.step.>",
        max_ack_pending=10_000,
    )


def now_utc() -> datetime:
    return datetime.now(UTC)


def queued_run(run_id: str, yaml_text: str, **decision: Any) -> tuple[ev.RunQueued, list[PrivateWrite]]:
    """The RunQueued of a new run, its pipeline redacted (no secret enters an event), and the private
    write keeping the YAML as given when redaction changed it (the worker runs from that)."""
    redacted = redact_pipeline_yaml(yaml_text)
    queued = domain.queue_run(run_id, redacted, **decision)
    if redacted == yaml_text:
        return queued, []

    async def keep(conn: AsyncConnection) -> None:
        await private.keep_pipeline(conn, private.run_key(run_id), yaml_text)

    return queued, [keep]


class Coordinator:
    """Runs, batches, schedules and discrepancies: load, decide, append (retrying on conflict)."""

    def __init__(self, ctx: ServiceContext, settings: ExecutorSettings) -> None:
        self.ctx = ctx
        self.settings = settings
        self.capacity = domain.Capacity(per_connection=settings.executor_per_connection)
        self.active_runs: set[str] = set()
        self.blocked_runs: set[str] = set()  # runs with a ready step waiting for a connection slot
        self._locks: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self.findings = StepFindings(self._events, self._fetch)

    # --- mechanics ------------------------------------------------------------------------

    @property
    def nc(self) -> NATS:
        return self.ctx.nc

    @property
    def js(self) -> JetStreamContext:
        return self.ctx.js

    async def _events(self, stream_id: str) -> list[EventEnvelope]:
        async with self.ctx.engine.connect() as conn:
            return await self.ctx.store.load_stream(conn, stream_id)

    async def _append(self, meta: Metadata, *appends: Append, private_writes: Sequence[PrivateWrite] = ()) -> None:
        """Append to one or more streams in one unit of work (events, outbox, read models, and the
        private rows of `private_writes`).

        Raises Conflict when a stream moved past its expected version (another writer got there first)."""
        appends = tuple(a for a in appends if a[2])
        if not appends:
            return
        async with self.ctx.uow() as uow:
            for stream_id, expected_version, events in appends:
                await uow.emit(stream_id, events, meta, expected_version=expected_version)
            for write in private_writes:
                await write(uow.conn)

    async def _kept_pipeline(self, key: str) -> str | None:
        async with self.ctx.engine.connect() as conn:
            return await private.pipeline_of(conn, key)

    def masked(self, result: dict[str, Any], keep: list[str]) -> dict[str, Any]:
        """A step result as it may enter an event: samples bounded, personal values masked."""
        key = self.settings.executor_mask_key.encode() if self.settings.executor_mask_key else None
        return mask_result(result, limit=self.settings.executor_event_sample_rows, keep=keep, key=key)

    async def _fetch(self, sql: str, params: dict[str, Any] | None = None) -> list[Any]:
        async with self.ctx.engine.connect() as conn:
            return list((await conn.execute(text(sql), params or {})).all())

    async def _retrying(self, key: str, attempt: Callable[[], Awaitable[Any]]) -> Any:
        # one writer per stream in this process (step results of one run arrive at once); the
        # retry covers the other replicas
        async with self._locks[key]:
            return await retry_conflicts(attempt, stream_id=key, policy=CONFLICT_RETRY)

    async def load_run(self, run_id: str) -> domain.RunState:
        return domain.fold_run(run_id, await self._events(run_id))

    async def existing_run(self, run_id: str) -> domain.RunState:
        state = await self.load_run(run_id)
        if state.status == "new":
            raise NotFound(f"run {run_id} not found", {"run_id": run_id})
        return state

    async def existing_batch(self, batch_id: str) -> domain.BatchState:
        state = domain.fold_batch(batch_id, await self._events(batch_id))
        if state.status in ("new", "deleted"):
            raise NotFound(f"batch {batch_id} not found", {"batch_id": batch_id})
        return state

    # --- startup --------------------------------------------------------------------------

    async def recover(self) -> None:
        """After a (re)start: rebuild in-flight counts, move on every unfinished run and batch."""
        run_ids = [r.run_id for r in await self._fetch(
            f"SELECT run_id FROM {SCHEMA}.runs WHERE status IN ('queued','running') ORDER BY queued_at")]
        batch_ids = [r.batch_id for r in await self._fetch(
            f"SELECT batch_id FROM {SCHEMA}.batches WHERE status='running' AND NOT deleted")]
        for run_id in run_ids:
            state = await self.load_run(run_id)
            for step in state.in_flight:
                self.capacity.take(state.step_connections(step))
            self.active_runs.add(run_id)
        for run_id in run_ids:
            await self.advance(run_id)
        for batch_id in batch_ids:
            await self.advance_batch(batch_id)

    async def ensure_work_consumer(self) -> None:
        try:
            await self.js.consumer_info(subjects.WORK_STREAM, WORK_CONSUMER)
        except Exception:
            await self.js.add_consumer(subjects.WORK_STREAM, work_consumer_config(self.settings))

    # --- runs -----------------------------------------------------------------------------

    async def resolve_pipeline(self, project_id: str | None, pipeline_id: str | None, yaml_text: str | None,
                               meta: Metadata) -> tuple[str, str | None]:
        """The pipeline YAML of a run and its name: inline, or from the projects service."""
        if yaml_text:
            return yaml_text, None
        if not project_id or not pipeline_id:
            raise Invalid("give pipeline_yaml, or project_id and pipeline_id", {"field": "pipeline_yaml"})
        found = await request(self.nc, subjects.query_subject("projects", "pipeline"),
                              {"project_id": project_id, "pipeline_id": pipeline_id}, meta=meta,
                              timeout=REQUEST_TIMEOUT)
        return found["yaml"], found.get("name")

    async def admit_pipeline(self, yaml_text: str, project_id: str | None, meta: Metadata,
                             role: str | None = None) -> bool:
        """Check a pipeline before it is queued (the executor's sandbox, whatever the gateway did):
        its user SQL passes the engine's guard, connection URLs written in it are allowed to this
        actor (`domain.admit_inline`) and point neither at the platform nor outside OMB_FILE_ROOTS.
        True when the run uses such inline URLs (the worker may then open them)."""
        from ombudsman.engine.connectors.sandbox import check_connection_url
        from ombudsman.engine.pipeline import check_pipeline_sql

        spec = check_pipeline_sql(domain.parse_spec(yaml_text))
        saved = await self.project_connection_names(project_id, meta) if project_id else None
        inline = domain.inline_connections(spec, saved)
        domain.admit_inline(inline, role or meta.actor.role, self.settings.allow_inline_connections)
        for name in inline:
            url = spec.connections[name].url
            if "${" not in url:
                check_connection_url(url, field=f"connections.{name}", env=self.settings.platform_env())
        return bool(inline)

    async def project_connection_names(self, project_id: str, meta: Metadata) -> set[str]:
        """The names of a project's saved connections (from the projects service)."""
        found = await request(self.nc, subjects.query_subject("projects", "connections"), {"project_id": project_id},
                              meta=meta, timeout=REQUEST_TIMEOUT)
        return {c["name"] for c in found.get("items", [])}

    async def queue_run(self, *, yaml_text: str, project_id: str | None, pipeline_id: str | None,
                        name: str | None, meta: Metadata, only: list[str] | None = None,
                        max_parallel: int | None = None, retry_of: str | None = None) -> str:
        run_id = new_id()
        inline = await self.admit_pipeline(yaml_text, project_id, meta)
        queued, keep = queued_run(
            run_id, yaml_text, project_id=project_id, pipeline_id=pipeline_id, name=name, only=only,
            max_parallel=max_parallel or self.settings.executor_run_parallel, retry_of=retry_of,
            inline_connections=inline,
        )
        await self._append(meta, (run_id, 0, [queued]), private_writes=keep)
        self.active_runs.add(run_id)
        await self.advance(run_id, meta)
        return run_id

    async def advance(self, run_id: str, meta: Metadata = SERVICE_META) -> domain.RunState:
        """Release what can run now; finish the run when every step has a result."""

        async def attempt() -> tuple[domain.RunState, list[Event]]:
            state = await self.load_run(run_id)
            taken = domain.Capacity(dict(self.capacity.in_flight), self.capacity.per_connection)
            decided = domain.advance_run(state, taken, now_utc())
            await self._append(meta, (run_id, state.version, decided))
            self.capacity.in_flight = taken.in_flight
            if taken.blocked:
                self.blocked_runs.add(run_id)
            else:
                self.blocked_runs.discard(run_id)
            return state, decided

        state, decided = await self._retrying(run_id, attempt)
        finished = next((e for e in decided if isinstance(e, ev.RunCompleted)), None)
        if finished is not None:
            self.active_runs.discard(run_id)
            self.blocked_runs.discard(run_id)
            if state.batch_id:
                await self.run_finished_in_batch(state.batch_id, run_id, finished.status)
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
            await self._append(meta, (run_id, state.version, [event]))
            return {"recorded": True}

        return await self._retrying(run_id, go)

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

            await self._append(meta, *appends, private_writes=[keep])
            return True, state

        recorded, state = await self._retrying(run_id, go)
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
            await self._append(meta, (run_id, state.version, decided))
            return state

        state = await self._retrying(run_id, go)
        self.active_runs.discard(run_id)
        self.blocked_runs.discard(run_id)
        if state.batch_id:
            await self.run_finished_in_batch(state.batch_id, run_id, "cancelled")
        return {"run_id": run_id, "status": "cancelled"}

    async def step_task(self, run_id: str, step: str) -> dict[str, Any]:
        """What a worker needs to run one step (or that it need not)."""
        state = await self.existing_run(run_id)
        if step not in state.steps:
            raise NotFound(f"run {run_id} has no step {step!r}")
        if step in state.results:
            return {"action": "done"}
        if state.status == "cancelled":
            return {"action": "cancelled"}
        kept = await self._kept_pipeline(private.run_key(run_id))
        return {"action": "run", "pipeline_yaml": kept or state.pipeline_yaml, "project_id": state.project_id,
                "inline_connections": state.inline_connections}

    async def worker_lost(self, stream_seq: int, deliveries: int) -> None:
        """A work message ran out of deliveries: its step ends as `error: worker lost`."""
        try:
            msg = await self.js.get_msg(subjects.WORK_STREAM, stream_seq)
        except Exception as exc:
            log.warning("worker lost: message %s is gone (%s)", stream_seq, exc)
            return
        work = json.loads(msg.data or b"{}")
        result = {
            "step": work["step"], "validator": "", "status": "error", "severity": "critical",
            "message": f"error: worker lost (no result after {deliveries} deliveries)",
        }
        try:
            await self.record_step_result(work["run_id"], work["step"], result, SERVICE_META)
        finally:
            try:
                await self.js.delete_msg(subjects.WORK_STREAM, stream_seq)
            except Exception:  # already gone
                pass

    # --- batches --------------------------------------------------------------------------

    async def create_batch(self, payload: dict[str, Any], meta: Metadata) -> str:
        name = str(payload.get("name") or "").strip()
        if not name:
            raise Invalid("name: required", {"field": "name"})
        pipelines = payload.get("pipelines")
        if not isinstance(pipelines, list) or not pipelines:
            raise Invalid("pipelines: give at least one pipeline", {"field": "pipelines"})
        clean = []
        for i, item in enumerate(pipelines):
            if not isinstance(item, dict):
                raise Invalid(f"pipelines[{i}]: must be an object", {"field": f"pipelines[{i}]"})
            if item.get("pipeline_yaml"):
                domain.parse_spec(str(item["pipeline_yaml"]))
            elif not (item.get("project_id") and item.get("pipeline_id")):
                raise Invalid(f"pipelines[{i}]: give project_id and pipeline_id, or pipeline_yaml",
                              {"field": f"pipelines[{i}]"})
            clean.append({k: item[k] for k in ("project_id", "pipeline_id", "pipeline_yaml", "name") if item.get(k)})
            if clean[-1].get("pipeline_yaml"):
                clean[-1]["pipeline_yaml"] = redact_pipeline_yaml(str(item["pipeline_yaml"]))
        max_parallel = 1 if payload.get("sequential") else int(payload.get("max_parallel") or 4)
        if max_parallel < 1:
            raise Invalid("max_parallel: must be at least 1", {"field": "max_parallel"})
        batch_id = new_id()
        created = ev.BatchCreated(batch_id=batch_id, name=name, pipelines=clean, max_parallel=max_parallel,
                                  continue_on_error=bool(payload.get("continue_on_error", True)))
        secret = {i: str(item["pipeline_yaml"]) for i, item in enumerate(pipelines)
                  if item.get("pipeline_yaml") and clean[i]["pipeline_yaml"] != item["pipeline_yaml"]}

        async def keep(conn: AsyncConnection) -> None:
            for index, yaml_text in secret.items():
                await private.keep_pipeline(conn, private.batch_key(batch_id, index), yaml_text)

        await self._append(meta, (batch_id, 0, [created]), private_writes=[keep] if secret else [])
        return batch_id

    async def execute_batch(self, batch_id: str, meta: Metadata) -> dict[str, Any]:
        async def go() -> None:
            state = await self.existing_batch(batch_id)
            if state.status == "running":
                raise Conflict(f"batch {batch_id} is already running")
            for index in range(len(state.pipelines)):  # refused at once (422), not as step errors later
                yaml_text, project_id, _, _ = await self._pipeline_of(state, index, meta)
                await self.admit_pipeline(yaml_text, project_id, meta)
            started = ev.BatchStarted(batch_id=batch_id, total=len(state.pipelines))
            await self._append(meta, (batch_id, state.version, [started]))

        await self._retrying(batch_id, go)
        await self.advance_batch(batch_id, meta)
        return {"batch_id": batch_id, "status": "running"}

    async def _pipeline_of(self, batch: domain.BatchState, index: int, meta: Metadata) -> tuple[str, str | None, str | None, str]:
        item = batch.pipelines[index]
        inline = item.get("pipeline_yaml") and await self._kept_pipeline(private.batch_key(batch.batch_id, index))
        yaml_text, found_name = await self.resolve_pipeline(
            item.get("project_id"), item.get("pipeline_id"), inline or item.get("pipeline_yaml"), meta)
        return yaml_text, item.get("project_id"), item.get("pipeline_id"), item.get("name") or found_name or ""

    async def advance_batch(self, batch_id: str, meta: Metadata = SERVICE_META) -> None:
        """Start pipelines while fewer than max_parallel run; complete the batch when all are done."""
        launched: list[str] = []

        async def go() -> None:
            launched.clear()
            batch = domain.fold_batch(batch_id, await self._events(batch_id))
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
                    inline = await self.admit_pipeline(yaml_text, project_id, meta, role=launcher)
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
            await self._append(meta, *appends, private_writes=keeps)

        await self._retrying(batch_id, go)
        for run_id in launched:
            self.active_runs.add(run_id)
        for run_id in launched:
            await self.advance(run_id)
        if not launched:
            # runs that finished while the batch lock was held elsewhere are caught by recover()
            return

    async def run_finished_in_batch(self, batch_id: str, run_id: str, status: str) -> None:
        async def go() -> bool:
            batch = domain.fold_batch(batch_id, await self._events(batch_id))
            index = next((i for i, r in batch.runs.items() if r == run_id), None)
            if index is None or index not in batch.running:
                return False
            finished = ev.BatchPipelineFinished(batch_id=batch_id, index=index, run_id=run_id, status=status)  # type: ignore[arg-type]
            await self._append(SERVICE_META, (batch_id, batch.version, [finished]))
            return True

        if await self._retrying(batch_id, go):
            await self.advance_batch(batch_id)

    async def cancel_batch(self, batch_id: str, meta: Metadata) -> dict[str, Any]:
        """Nothing new starts; steps already running finish; the batch's unfinished runs are cancelled."""

        async def go() -> domain.BatchState:
            batch = await self.existing_batch(batch_id)
            if batch.status != "running":
                raise Conflict(f"batch {batch_id} is {batch.status}, not running", {"status": batch.status})
            cancelled = ev.BatchCancelled(batch_id=batch_id, reason="cancelled")
            await self._append(meta, (batch_id, batch.version, [cancelled]))
            return batch

        batch = await self._retrying(batch_id, go)
        for index in sorted(batch.running):
            run_id = batch.runs[index]
            try:
                await self.cancel_run(run_id, "batch cancelled", meta)
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
                run = await self.load_run(run_id)
                steps = [s for s in run.steps if run.results.get(s) not in ("passed", "warning")]
                if steps:
                    redo[str(index)] = steps
            if not redo:
                raise Conflict(f"batch {batch_id} has nothing to retry: every step passed")
            retried = ev.BatchRetried(batch_id=batch_id, attempt=batch.attempt + 1, steps=redo)
            await self._append(meta, (batch_id, batch.version, [retried]))
            return redo

        redo = await self._retrying(batch_id, go)
        await self.advance_batch(batch_id, meta)
        return {"batch_id": batch_id, "retried": {k: len(v) for k, v in redo.items()}}

    async def delete_batch(self, batch_id: str, meta: Metadata) -> dict[str, Any]:
        async def go() -> None:
            batch = await self.existing_batch(batch_id)
            if batch.status == "running":
                raise Conflict(f"batch {batch_id} is running: cancel it first")
            deleted = ev.BatchDeleted(batch_id=batch_id)
            await self._append(meta, (batch_id, batch.version, [deleted]))

        await self._retrying(batch_id, go)
        return {"batch_id": batch_id, "deleted": True}

    # --- schedules ------------------------------------------------------------------------

    async def create_schedule(self, payload: dict[str, Any], meta: Metadata) -> str:
        cron = domain.check_cron(str(payload.get("cron") or ""))
        batch_id, pipeline_id = payload.get("batch_id"), payload.get("pipeline_id")
        if bool(batch_id) == bool(pipeline_id):
            raise Invalid("give either pipeline_id (with project_id) or batch_id", {"field": "pipeline_id"})
        if pipeline_id and not payload.get("project_id"):
            raise Invalid("project_id: required with pipeline_id", {"field": "project_id"})
        if batch_id:
            await self.existing_batch(batch_id)
        schedule_id = new_id()
        created = ev.ScheduleCreated(schedule_id=schedule_id, cron=cron, project_id=payload.get("project_id"),
                                     pipeline_id=pipeline_id, batch_id=batch_id)
        await self._append(meta, (schedule_id, 0, [created]))
        return schedule_id

    async def delete_schedule(self, schedule_id: str, meta: Metadata) -> dict[str, Any]:
        """Stop a schedule: `ScheduleDeleted` (its firings stay in the log)."""
        async def go() -> None:
            state = domain.fold_schedule(schedule_id, await self._events(schedule_id))
            if state.version == 0 or state.deleted:
                raise NotFound(f"schedule {schedule_id} not found", {"schedule_id": schedule_id})
            await self._append(meta, (schedule_id, state.version, [ev.ScheduleDeleted(schedule_id=schedule_id)]))

        await self._retrying(schedule_id, go)
        return {"schedule_id": schedule_id, "deleted": True}

    async def fire_due_schedules(self, now: datetime | None = None) -> int:
        """Fire every due instant of every schedule once: the `ScheduleFired` event is appended at
        the schedule's expected version, so two coordinators (or a restart) cannot fire it twice."""
        now = now or now_utc()
        ids = [r.schedule_id for r in await self._fetch(f"SELECT schedule_id FROM {SCHEMA}.schedules WHERE NOT deleted")]
        fired = 0
        for schedule_id in ids:
            while True:
                async def fire_next(schedule_id: str = schedule_id) -> tuple[domain.ScheduleState, datetime] | None:
                    state = domain.fold_schedule(schedule_id, await self._events(schedule_id))
                    due = domain.due_instants(state, now)
                    if due:
                        event = ev.ScheduleFired(schedule_id=schedule_id, instant=due[0].isoformat(),
                                                 batch_id=state.batch_id)
                        await self._append(SERVICE_META, (schedule_id, state.version, [event]))
                    return (state, due[0]) if due else None

                fired_next = await retry_conflicts(fire_next, stream_id=schedule_id, policy=CONFLICT_RETRY)
                if fired_next is None:
                    break
                state, instant = fired_next
                fired += 1
                try:
                    if state.batch_id:
                        batch = await self.existing_batch(state.batch_id)
                        if batch.status == "running":
                            log.warning("schedule %s: batch %s still running at %s", schedule_id, state.batch_id, instant)
                        else:
                            await self.execute_batch(state.batch_id, SERVICE_META)
                    else:
                        yaml_text, name = await self.resolve_pipeline(state.project_id, state.pipeline_id, None, SERVICE_META)
                        await self.queue_run(yaml_text=yaml_text, project_id=state.project_id,
                                                      pipeline_id=state.pipeline_id, name=name, meta=SERVICE_META)
                except OmbudsmanError as exc:
                    log.warning("schedule %s at %s could not start: %s", schedule_id, instant, exc.message)
        return fired

    # --- discrepancies --------------------------------------------------------------------

    async def decide_discrepancy(self, discrepancy_id: str, action: str, note: str, meta: Metadata) -> dict[str, Any]:
        if action not in ("resolve", "accept"):
            raise Invalid("action: resolve or accept")

        async def go() -> str:
            state = domain.fold_discrepancy(discrepancy_id, await self._events(discrepancy_id))
            decided = domain.decide_discrepancy(state, action, note)  # type: ignore[arg-type]
            await self._append(meta, (discrepancy_id, state.version, [decided]))
            return "resolved" if action == "resolve" else "accepted"

        status = await self._retrying(discrepancy_id, go)
        return {"discrepancy_id": discrepancy_id, "status": status}

    # --- retention ------------------------------------------------------------------------

    async def archive_results(self, older_than: timedelta, meta: Metadata = SERVICE_META) -> int:
        """Archive (gzip) the step results of runs finished before now - older_than; remove the private
        rows (full samples, inline-secret pipelines) older than the private retention."""
        async with self.ctx.engine.begin() as conn:
            await private.purge(conn, now_utc() - timedelta(days=self.settings.executor_private_retention_days))
        cutoff = now_utc() - older_than
        run_ids = [r.run_id for r in await self._fetch(
            f"SELECT run_id FROM {SCHEMA}.runs WHERE finished_at < :cutoff AND NOT archived"
            " AND status IN ('completed','failed','cancelled') ORDER BY finished_at LIMIT 500", {"cutoff": cutoff})]
        archived = 0
        for run_id in run_ids:
            async def go(run_id: str = run_id) -> None:
                state = await self.load_run(run_id)
                size = (await self._fetch(
                    f"SELECT coalesce(sum(length(CAST(result AS text))), 0) AS n FROM {SCHEMA}.steps WHERE run_id=:r",
                    {"r": run_id}))[0].n
                event = ev.ResultsArchived(run_id=run_id, archived_bytes=int(size))
                await self._append(meta, (run_id, state.version, [event]))

            await self._retrying(run_id, go)
            archived += 1
        return archived
