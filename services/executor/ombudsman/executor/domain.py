"""Aggregates of the executor: Run, Batch, Schedule, Discrepancy. State is folded from events;
decisions turn a state (and the time) into new events. Pure: no I/O."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, Literal

from croniter import croniter

from ombudsman.contracts import events as ev
from ombudsman.contracts.envelope import EventEnvelope
from ombudsman.contracts.pipeline import PipelineSpec, load_pipeline
from ombudsman.contracts.registry import Event, decode
from ombudsman.contracts.replies import Conflict, Invalid, NotFound

TERMINAL_STEP = ("passed", "failed", "warning", "error", "skipped")
NOT_PASSED = ("failed", "error", "skipped")
MAX_RESULT_BYTES = 256 * 1024
MAX_CATCHUP_FIRINGS = 100


@lru_cache(maxsize=256)
def parse_spec(yaml_text: str) -> PipelineSpec:
    """The pipeline of a run (cached: every fold of a run parses the same text)."""
    return load_pipeline(yaml_text)


def connection_key(spec: PipelineSpec, name: str, project_id: str | None) -> str:
    """What 'the same connection' means for per-connection limits: a project's named connection,
    or the URL text of an inline pipeline."""
    if project_id:
        return f"{project_id}:{name}"
    url = spec.connections[name].url if name in spec.connections else name
    return "url:" + hashlib.sha256(url.encode()).hexdigest()[:16]


# --- Run ------------------------------------------------------------------------------------

RunStatus = Literal["new", "queued", "running", "completed", "failed", "cancelled"]


@dataclass
class RunState:
    run_id: str
    version: int = 0
    status: RunStatus = "new"
    project_id: str | None = None
    pipeline_id: str | None = None
    pipeline_name: str = ""
    batch_id: str | None = None
    retry_of: str | None = None
    pipeline_yaml: str = ""
    inline_connections: bool = False
    steps: list[str] = field(default_factory=list)
    max_parallel: int = 4
    dispatched: dict[str, int] = field(default_factory=dict)
    attempts: dict[str, int] = field(default_factory=dict)
    results: dict[str, str] = field(default_factory=dict)
    snapshots: dict[str, dict[str, Any]] | None = None  # the run's pins (RunSnapshotsPinned), once pinned
    warnings: int = 0
    queued_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None

    @property
    def spec(self) -> PipelineSpec:
        return parse_spec(self.pipeline_yaml)

    @property
    def in_flight(self) -> list[str]:
        return [s for s in self.dispatched if s not in self.results]

    @property
    def finished(self) -> bool:
        return self.status in ("completed", "failed", "cancelled")

    def step_connections(self, step_id: str) -> list[str]:
        spec = self.spec
        step = spec.step(step_id)
        names = {spec.source_connection(step), spec.target_connection(step)}
        return sorted(connection_key(spec, n, self.project_id) for n in names)


class RunAggregate:
    """The Run aggregate's fold (`ombudsman.eventstore.aggregate.Aggregate`): `apply` changes the
    state it is given."""

    stream_type = "run"

    def initial(self, stream_id: str) -> RunState:
        return RunState(run_id=stream_id)

    def apply(self, state: RunState, env: EventEnvelope) -> RunState:
        state.version = env.version
        data = decode(env)
        if isinstance(data, ev.RunQueued):
            state.status = "queued"
            state.project_id, state.pipeline_id = data.project_id, data.pipeline_id
            state.pipeline_name, state.batch_id, state.retry_of = data.pipeline_name, data.batch_id, data.retry_of
            state.pipeline_yaml, state.steps, state.max_parallel = data.pipeline_yaml, list(data.steps), data.max_parallel
            state.inline_connections = data.inline_connections
            state.queued_at = env.occurred_at
        elif isinstance(data, ev.RunStarted):
            state.status, state.started_at = "running", env.occurred_at
        elif isinstance(data, ev.StepDispatched):
            state.dispatched[data.step] = data.dispatch
        elif isinstance(data, ev.RunSnapshotsPinned):
            state.snapshots = state.snapshots if state.snapshots is not None else dict(data.snapshots)
        elif isinstance(data, ev.StepStarted):
            state.attempts[data.step] = max(state.attempts.get(data.step, 0), data.attempt)
        elif isinstance(data, ev.StepCompleted):
            state.results.setdefault(data.step, data.status)
            if data.status == "warning":
                state.warnings += 1
        elif isinstance(data, ev.StepSkipped):
            state.results.setdefault(data.step, "skipped")
        elif isinstance(data, ev.RunCompleted):
            state.status, state.finished_at = data.status, env.occurred_at
        elif isinstance(data, ev.RunCancelled):
            state.status, state.finished_at = "cancelled", env.occurred_at
        return state


RUN = RunAggregate()


def queue_run(
    run_id: str, spec_yaml: str, *, project_id: str | None, pipeline_id: str | None, name: str | None,
    batch_id: str | None = None, only: list[str] | None = None, max_parallel: int = 4, retry_of: str | None = None,
    inline_connections: bool = False,
) -> ev.RunQueued:
    """Decide a new run: the pipeline must load; `only` limits it to some of its steps."""
    spec = parse_spec(spec_yaml)
    order = spec.topological_order()
    if only is not None:
        unknown = sorted(set(only) - set(order))
        if unknown:
            raise Invalid(f"steps: unknown step(s) {', '.join(unknown)}", {"field": "steps", "unknown": unknown})
        order = [s for s in order if s in only]
    if max_parallel < 1:
        raise Invalid("max_parallel: must be at least 1", {"field": "max_parallel"})
    return ev.RunQueued(
        run_id=run_id, project_id=project_id, pipeline_id=pipeline_id, pipeline_name=name or spec.name,
        batch_id=batch_id, steps=order, pipeline_yaml=spec_yaml, max_parallel=max_parallel, retry_of=retry_of,
        inline_connections=inline_connections,
    )


def inline_connections(spec: PipelineSpec, saved: set[str] | None) -> list[str]:
    """The pipeline's connections that are not saved connections of its project (all of them for a
    run without a project): their URLs are written in the pipeline itself."""
    return sorted(name for name in spec.connections if saved is None or name not in saved)


def admit_inline(inline: list[str], role: str, allowed_by_setting: bool) -> None:
    """Connection URLs written in a pipeline are for admins only (and nobody when the setting
    OMB_ALLOW_INLINE_CONNECTIONS is false): `Invalid` (422) naming the first such connection."""
    if not inline or (role == "admin" and allowed_by_setting):
        return
    who = "nobody (OMB_ALLOW_INLINE_CONNECTIONS=false)" if not allowed_by_setting else "admins only"
    raise Invalid(
        f"connections.{inline[0]}: {inline[0]!r} is not a connection of the project; connection URLs written in "
        f"a pipeline are allowed for {who}: add it to the project and name it here",
        {"field": f"connections.{inline[0]}", "connections": inline},
    )


@dataclass
class Capacity:
    """Steps in flight per connection key (across runs) and the limit per connection."""

    in_flight: dict[str, int] = field(default_factory=dict)
    per_connection: int = 8
    blocked: bool = False  # a ready step waited for a connection slot

    def fits(self, keys: list[str]) -> bool:
        return all(self.in_flight.get(k, 0) < self.per_connection for k in keys)

    def take(self, keys: list[str]) -> None:
        for k in keys:
            self.in_flight[k] = self.in_flight.get(k, 0) + 1

    def release(self, keys: list[str]) -> None:
        for k in keys:
            self.in_flight[k] = max(0, self.in_flight.get(k, 0) - 1)


def advance_run(state: RunState, capacity: Capacity, now: datetime) -> list[Event]:
    """What the coordinator does next for a run: skip steps blocked by a failed dependency,
    release ready steps within the run's and the connections' limits, finish a run whose steps
    all have a result. `capacity` is updated with the steps released."""
    if state.status not in ("queued", "running"):
        return []
    spec = state.spec
    chosen = set(state.steps)
    results = dict(state.results)
    out: list[Event] = []
    if state.status == "queued":
        out.append(ev.RunStarted(run_id=state.run_id))
    in_flight = len(state.in_flight)
    progressed = True
    while progressed:  # a skip can unblock further skips
        progressed = False
        for step_id in state.steps:
            if step_id in results or step_id in state.dispatched:
                continue
            step = spec.step(step_id)
            deps = [d for d in step.depends_on if d in chosen]
            if any(d not in results for d in deps):
                continue
            blocked = [d for d in deps if results[d] in NOT_PASSED]
            if blocked and spec.skip_on_failure(step):
                reason = f"dependency {', '.join(repr(b) for b in blocked)} did not pass"
                out.append(ev.StepSkipped(run_id=state.run_id, step=step_id, reason=reason))
                results[step_id] = "skipped"
                progressed = True
                continue
            if in_flight >= state.max_parallel:
                continue
            keys = state.step_connections(step_id)
            if not capacity.fits(keys):
                capacity.blocked = True
                continue
            capacity.take(keys)
            in_flight += 1
            out.append(ev.StepDispatched(run_id=state.run_id, step=step_id, dispatch=1))
    if all(s in results for s in state.steps):
        out.append(run_completed(state, results, now))
    return out


def run_completed(state: RunState, results: dict[str, str], now: datetime) -> ev.RunCompleted:
    statuses = [results[s] for s in state.steps]
    failed = sum(1 for s in statuses if s in ("failed", "error"))
    started = state.started_at or now
    return ev.RunCompleted(
        run_id=state.run_id, status="failed" if failed else "completed", total_steps=len(statuses),
        successful_steps=sum(1 for s in statuses if s in ("passed", "warning")), failed_steps=failed,
        warnings=sum(1 for s in statuses if s == "warning"),
        duration_seconds=round(max(0.0, (now - started).total_seconds()), 3),
    )


def bound_result(result: dict[str, Any]) -> dict[str, Any]:
    """A StepResult as JSON of at most MAX_RESULT_BYTES: samples are trimmed first, then details."""
    text = json.dumps(result, default=str)
    if len(text) <= MAX_RESULT_BYTES:
        return result
    bounded = dict(result)
    sample = list(bounded.get("sample") or [])
    while sample and len(json.dumps({**bounded, "sample": sample}, default=str)) > MAX_RESULT_BYTES:
        sample = sample[: len(sample) // 2]
    bounded["sample"] = sample
    bounded["truncated"] = True
    if len(json.dumps(bounded, default=str)) > MAX_RESULT_BYTES:
        bounded["details"] = {"truncated": True}
        bounded["sql"] = {}
    return bounded


def fit_steps(steps: list[dict[str, Any]], budget: int) -> list[dict[str, Any]]:
    """Step rows whose results fit `budget` bytes of JSON together (a run's detail must fit one bus
    message). The largest samples are left out first (`result.sample_omitted` = the rows left out),
    then the largest details (`result.details_omitted`); the `step` query reads one step whole."""
    def size(value: Any) -> int:
        return len(json.dumps(value, default=str))

    total = size(steps)
    if total <= budget:
        return steps
    fitted = [dict(s, result=dict(s["result"])) if isinstance(s.get("result"), dict) else dict(s) for s in steps]
    for key, marker in (("sample", "sample_omitted"), ("details", "details_omitted")):
        candidates = sorted((s for s in fitted if isinstance(s.get("result"), dict) and s["result"].get(key)),
                            key=lambda s: size(s["result"][key]), reverse=True)
        for step in candidates:
            if total <= budget:
                return fitted
            removed = step["result"].pop(key)
            step["result"][marker] = len(removed) if isinstance(removed, list) else True
            total -= size(removed)
    return fitted


def record_step_result(state: RunState, step: str, status: str, result: dict[str, Any]) -> list[Event]:
    """Record a step's result once: a redelivered step whose result is already recorded adds nothing."""
    if step not in state.steps:
        raise Invalid(f"step: run {state.run_id} has no step {step!r}", {"field": "step"})
    if step in state.results:
        return []
    return [ev.StepCompleted(run_id=state.run_id, step=step, status=status, result=bound_result(result))]  # type: ignore[arg-type]


def cancel_run(state: RunState, reason: str) -> list[Event]:
    """Cancel: steps in flight finish, nothing new starts, steps not released are skipped."""
    if state.status == "new":
        raise NotFound(f"run {state.run_id} does not exist", {"run_id": state.run_id})
    if state.finished:
        raise Conflict(f"run {state.run_id} is already {state.status}", {"status": state.status})
    out: list[Event] = [
        ev.StepSkipped(run_id=state.run_id, step=s, reason="run cancelled")
        for s in state.steps if s not in state.results and s not in state.dispatched
    ]
    out.append(ev.RunCancelled(run_id=state.run_id, reason=reason))
    return out


def quality_score(statuses: list[str]) -> float | None:
    """Data-quality score 0-100: passed counts 1, warning 0.5, failed/error 0; skipped steps are left out."""
    counted = [s for s in statuses if s != "skipped"]
    if not counted:
        return None
    points = sum(1.0 if s == "passed" else 0.5 if s == "warning" else 0.0 for s in counted)
    return round(100.0 * points / len(counted), 2)


# --- Batch ----------------------------------------------------------------------------------

BatchStatus = Literal["new", "created", "running", "completed", "failed", "cancelled", "deleted"]


@dataclass
class BatchState:
    batch_id: str
    version: int = 0
    status: BatchStatus = "new"
    name: str = ""
    pipelines: list[dict[str, Any]] = field(default_factory=list)
    max_parallel: int = 4
    continue_on_error: bool = True
    runs: dict[int, str] = field(default_factory=dict)  # index -> latest run id
    outcomes: dict[int, str] = field(default_factory=dict)  # index -> completed|failed|cancelled
    running: set[int] = field(default_factory=set)
    pending: list[int] = field(default_factory=list)
    retry_steps: dict[int, list[str]] = field(default_factory=dict)
    attempt: int = 0
    started_at: datetime | None = None
    # the role of whoever started (or last retried) the batch: its later launches, made by the executor
    # itself, admit inline connection URLs as that person could (domain.admit_inline)
    launched_by_role: str = ""

    @property
    def progress(self) -> dict[str, int]:
        return {
            "total": len(self.pipelines), "completed": sum(1 for o in self.outcomes.values() if o == "completed"),
            "failed": sum(1 for o in self.outcomes.values() if o != "completed"), "running": len(self.running),
            "pending": len(self.pending),
        }


class BatchAggregate:
    """The Batch aggregate's fold (`ombudsman.eventstore.aggregate.Aggregate`): `apply` changes the
    state it is given."""

    stream_type = "batch"

    def initial(self, stream_id: str) -> BatchState:
        return BatchState(batch_id=stream_id)

    def apply(self, state: BatchState, env: EventEnvelope) -> BatchState:
        state.version = env.version
        data = decode(env)
        if isinstance(data, ev.BatchCreated):
            state.status, state.name, state.pipelines = "created", data.name, list(data.pipelines)
            state.max_parallel, state.continue_on_error = data.max_parallel, data.continue_on_error
        elif isinstance(data, ev.BatchStarted):
            state.status, state.started_at, state.launched_by_role = "running", env.occurred_at, env.actor.role
            state.pending = list(range(len(state.pipelines)))
            state.outcomes, state.runs, state.running = {}, {}, set()
        elif isinstance(data, ev.BatchPipelineStarted):
            state.runs[data.index] = data.run_id
            state.running.add(data.index)
            if data.index in state.pending:
                state.pending.remove(data.index)
        elif isinstance(data, ev.BatchPipelineFinished):
            if state.runs.get(data.index) == data.run_id:
                state.running.discard(data.index)
                state.outcomes[data.index] = data.status
        elif isinstance(data, ev.BatchCompleted):
            state.status = data.status
        elif isinstance(data, ev.BatchCancelled):
            state.status = "cancelled"
            state.pending = []
        elif isinstance(data, ev.BatchRetried):
            state.status, state.attempt, state.launched_by_role = "running", data.attempt, env.actor.role
            state.retry_steps = {int(k): v for k, v in data.steps.items()}
            for index in state.retry_steps:
                state.outcomes.pop(index, None)
            state.pending = sorted(state.retry_steps)
        elif isinstance(data, ev.BatchDeleted):
            state.status = "deleted"
        return state


BATCH = BatchAggregate()


def advance_batch(state: BatchState, now: datetime) -> tuple[list[int], list[Event]]:
    """Pipelines to launch now (indices) and, when nothing is left to run, the batch's completion."""
    if state.status != "running":
        return [], []
    stop = not state.continue_on_error and any(o != "completed" for o in state.outcomes.values())
    launch: list[int] = []
    if not stop:
        free = state.max_parallel - len(state.running)
        launch = state.pending[: max(0, free)]
    if not launch and not state.running and (stop or not state.pending):
        p = state.progress
        started = state.started_at or now
        return [], [ev.BatchCompleted(
            batch_id=state.batch_id, status="failed" if p["failed"] else "completed", total=p["total"],
            completed=p["completed"], failed=p["failed"],
            duration_seconds=round(max(0.0, (now - started).total_seconds()), 3),
        )]
    return launch, []


# --- Schedule -------------------------------------------------------------------------------


@dataclass
class ScheduleState:
    schedule_id: str
    version: int = 0
    cron: str = ""
    project_id: str | None = None
    pipeline_id: str | None = None
    batch_id: str | None = None
    created_at: datetime | None = None
    last_instant: datetime | None = None
    deleted: bool = False


class ScheduleAggregate:
    """The Schedule aggregate's fold (`ombudsman.eventstore.aggregate.Aggregate`): `apply` changes the
    state it is given."""

    stream_type = "schedule"

    def initial(self, stream_id: str) -> ScheduleState:
        return ScheduleState(schedule_id=stream_id)

    def apply(self, state: ScheduleState, env: EventEnvelope) -> ScheduleState:
        state.version = env.version
        data = decode(env)
        if isinstance(data, ev.ScheduleCreated):
            state.cron, state.project_id = data.cron, data.project_id
            state.pipeline_id, state.batch_id, state.created_at = data.pipeline_id, data.batch_id, env.occurred_at
        elif isinstance(data, ev.ScheduleFired):
            instant = datetime.fromisoformat(data.instant)
            if state.last_instant is None or instant > state.last_instant:
                state.last_instant = instant
        elif isinstance(data, ev.ScheduleDeleted):
            state.deleted = True
        return state


SCHEDULE = ScheduleAggregate()


def check_cron(expression: str) -> str:
    if not croniter.is_valid(expression):
        raise Invalid(f"cron: not a valid cron expression: {expression!r}", {"field": "cron"})
    return expression


def due_instants(state: ScheduleState, now: datetime) -> list[datetime]:
    """Every scheduled instant after the last one fired (or the creation) up to now, oldest first:
    after a restart the missed instants fire once each, an instant already fired never again."""
    if state.deleted or not state.cron or state.created_at is None:
        return []
    start = state.last_instant or (state.created_at - timedelta(microseconds=1))
    it = croniter(state.cron, start)
    due: list[datetime] = []
    while len(due) < MAX_CATCHUP_FIRINGS:
        instant = it.get_next(datetime)
        if instant > now:
            break
        due.append(instant)
    return due


def next_instant(state: ScheduleState, now: datetime) -> datetime | None:
    if state.deleted or not state.cron:
        return None
    return croniter(state.cron, state.last_instant or now).get_next(datetime)


def upcoming(cron: str, after: datetime, count: int = 3) -> list[datetime]:
    """The next `count` instants a cron expression names after `after` (a schedule's next-run
    preview); none for an expression croniter cannot read."""
    if not croniter.is_valid(cron):
        return []
    it = croniter(cron, after)
    return [it.get_next(datetime) for _ in range(count)]


# --- Discrepancy ----------------------------------------------------------------------------


def fingerprint(scope: str, step: str, validator: str, table: str | None, result: dict[str, Any]) -> str:
    """Digest of a finding's figures: the same check on the same table finding the same figures and
    columns. An acceptance covers these figures; when they change the discrepancy reopens."""
    body = json.dumps(
        [scope, step, validator, table, sorted(result.get("affected_columns") or []),
         result.get("source") or {}, result.get("target") or {}],
        sort_keys=True, default=str,
    )
    return hashlib.sha256(body.encode()).hexdigest()[:32]


def discrepancy_type(validator: str, result: dict[str, Any]) -> str:
    return str((result.get("details") or {}).get("discrepancy_type") or validator)


def finding_identity(scope: str, table: str | None, validator: str, kind: str, columns: list[str]) -> str:
    """Identity of a finding across runs: where (scope, table), what checked it (validator), what
    kind of difference, and on which columns (or key). Not its figures: the same finding with other
    figures is the same discrepancy, changed."""
    body = json.dumps([scope, table, validator, kind, sorted(columns)])
    return hashlib.sha256(body.encode()).hexdigest()[:32]


def discrepancy_id_of(finding: str) -> str:
    """The discrepancy stream of a finding: derived from it, so two runs seeing the same finding at
    the same time meet on one stream (the event store's version guard orders them)."""
    return f"dsc_{finding}"


@dataclass
class DiscrepancyState:
    discrepancy_id: str
    version: int = 0
    status: Literal["new", "open", "resolved", "accepted"] = "new"
    fingerprint: str = ""  # figures of the latest occurrence
    accepted_fingerprint: str = ""  # figures the acceptance covers
    occurrences: int = 0
    last_run_id: str = ""


class DiscrepancyAggregate:
    """The Discrepancy aggregate's fold (`ombudsman.eventstore.aggregate.Aggregate`): `apply` changes the
    state it is given."""

    stream_type = "discrepancy"

    def initial(self, stream_id: str) -> DiscrepancyState:
        return DiscrepancyState(discrepancy_id=stream_id)

    def apply(self, state: DiscrepancyState, env: EventEnvelope) -> DiscrepancyState:
        state.version = env.version
        data = decode(env)
        if isinstance(data, ev.DiscrepancyRecorded):
            state.status, state.fingerprint, state.occurrences = "open", data.fingerprint, 1
            state.last_run_id = data.run_id
        elif isinstance(data, ev.DiscrepancyOccurred):
            state.fingerprint, state.last_run_id = data.fingerprint, data.run_id
            state.occurrences += 1
        elif isinstance(data, ev.DiscrepancyReopened):
            state.status, state.accepted_fingerprint = "open", ""
        elif isinstance(data, ev.DiscrepancyResolved):
            state.status, state.accepted_fingerprint = "resolved", ""
        elif isinstance(data, ev.DiscrepancyAccepted):
            state.status, state.accepted_fingerprint = "accepted", data.fingerprint
        return state


DISCREPANCY = DiscrepancyAggregate()


def decide_discrepancy(state: DiscrepancyState, action: Literal["resolve", "accept"], note: str) -> Event:
    if state.status == "new":
        raise NotFound(f"discrepancy {state.discrepancy_id} does not exist", {"discrepancy_id": state.discrepancy_id})
    if state.status != "open":
        raise Conflict(f"discrepancy {state.discrepancy_id} is already {state.status}", {"status": state.status})
    if action == "resolve":
        return ev.DiscrepancyResolved(discrepancy_id=state.discrepancy_id, note=note)
    return ev.DiscrepancyAccepted(discrepancy_id=state.discrepancy_id, fingerprint=state.fingerprint, note=note)


def observe_finding(state: DiscrepancyState, recorded: ev.DiscrepancyRecorded) -> tuple[list[Event], bool]:
    """A run found `recorded` (whose discrepancy is `state`): the events, and whether the finding is
    covered by an acceptance (the step then counts as a warning, not a failure).

    First time: recorded. Seen again: one more occurrence; an accepted one stays accepted while its
    figures are unchanged and reopens when they change; a resolved one reopens (it is back)."""
    if state.status == "new":
        return [recorded], False
    seen = ev.DiscrepancyOccurred(discrepancy_id=state.discrepancy_id, run_id=recorded.run_id, step=recorded.step,
                                  message=recorded.message, sample=recorded.sample,
                                  fingerprint=recorded.fingerprint)
    if state.status == "accepted":
        if recorded.fingerprint == state.accepted_fingerprint:
            return [seen], True
        return [seen, ev.DiscrepancyReopened(discrepancy_id=state.discrepancy_id, run_id=recorded.run_id,
                                             reason="changed")], False
    if state.status == "resolved":
        return [seen, ev.DiscrepancyReopened(discrepancy_id=state.discrepancy_id, run_id=recorded.run_id,
                                             reason="recurred")], False
    return [seen], False


def resolve_absent(state: DiscrepancyState, run_id: str, step: str) -> list[Event]:
    """A run in which the step that found this discrepancy no longer finds it resolves it (open or
    accepted alike: the difference is gone). Nothing for one already resolved."""
    if state.status not in ("open", "accepted"):
        return []
    return [ev.DiscrepancyResolved(discrepancy_id=state.discrepancy_id, run_id=run_id,
                                   note=f"no longer found by step {step} of run {run_id}")]
