"""Running a pipeline: check it against the validator registry, open its connections, run its steps
as a DAG with bounded parallelism, report progress, collect a PipelineResult."""

from __future__ import annotations

import asyncio
import datetime
import inspect
import time
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import ValidationError

from ombudsman.contracts.pipeline import PipelineError, PipelineSpec, Step, step_label
from ombudsman.contracts.replies import Unavailable
from ombudsman.contracts.results import PipelineResult, StepResult
from ombudsman.engine.connectors.base import Connector
from ombudsman.engine.pipeline.estimate import RUN_PROBE_ROWS, actual_vs_estimated, estimate_step
from ombudsman.engine.snapshots import PinnedConnector, pin_connectors, pinned_connectors, release_all
from ombudsman.engine.validators.base import (
    ValidationContext,
    format_params_error,
    get_validator,
    run_validator,
    validators,
)


@dataclass(frozen=True)
class StepEvent:
    """A progress report: a step started, or completed with its result."""

    kind: Literal["started", "completed"]
    step_id: str
    validator: str
    index: int  # position in the pipeline
    total: int
    result: StepResult | None = None


ProgressCallback = Callable[[StepEvent], Awaitable[None] | None]


class ConnectionUnavailable(Unavailable):
    """A pipeline connection could not be opened (the message names it; the URL is masked)."""


def validate_pipeline(spec: PipelineSpec) -> PipelineSpec:
    """Check every step against the registry: known validator, valid parameters, a table when needed,
    and the SQL a person wrote (custom queries, filters) against `ombudsman.engine.sqlguard`.

    Raises PipelineError listing every problem as `steps[i] 'id': field: message`."""
    errors: list[str] = []
    known = validators()
    for index, step in enumerate(spec.steps):
        label = step_label(index, step.id)
        if step.validator not in known:
            errors.append(f"{label}: validator: unknown validator {step.validator!r}")
            continue
        validator = known[step.validator]
        try:
            params = validator.parse_params(step.parameters)
        except ValidationError as exc:
            errors += [f"{label}: {line}" for line in format_params_error(exc)]
        else:
            kinds = {"source": connection_kind(spec, spec.source_connection(step)),
                     "target": connection_kind(spec, spec.target_connection(step))}
            errors += [f"{label}: {line}" for line in validator.connection_errors(params, kinds)]
        if validator.needs_table and step.source_table is None:
            errors.append(f"{label}: table: field required (validator {step.validator!r} compares a table pair)")
    errors += pipeline_sql_errors(spec)
    if errors:
        raise PipelineError(errors)
    return spec


def pipeline_sql_errors(spec: PipelineSpec) -> list[str]:
    """Every piece of SQL a person wrote in the pipeline (validators' `user_sql`, step filters) that
    `ombudsman.engine.sqlguard` refuses, as `steps[i] 'id': parameters.source_sql: what`. Steps
    with an unknown validator or invalid parameters are left to `validate_pipeline`."""
    errors: list[str] = []
    known = validators()
    for index, step in enumerate(spec.steps):
        label = step_label(index, step.id)
        validator = known.get(step.validator)
        if validator is not None:
            try:
                params = validator.parse_params(step.parameters)
            except ValidationError:
                params = None
            for field, side, text in validator.user_sql(params) if params is not None else ():
                errors += _sql_errors(spec, step, side, f"{label}: parameters.{field}", text, query=True)
        for side, text in (("source", step.filters.source), ("target", step.filters.target)) if step.filters else ():
            if text:
                errors += _sql_errors(spec, step, side, f"{label}: filters.{side}", text, query=False)
    return errors


def check_pipeline_sql(spec: PipelineSpec) -> PipelineSpec:
    """`spec` when all its user SQL passes the guard; PipelineError (invalid, HTTP 422) naming each
    refused piece otherwise. For services that store or queue pipelines (projects, executor)."""
    errors = pipeline_sql_errors(spec)
    if errors:
        raise PipelineError(errors)
    return spec


def connection_kind(spec: PipelineSpec, name: str) -> str | None:
    """The connector kind of a pipeline connection (`postgres`, `duckdb`, `snowflake`, `file`, …) when its
    URL says; None for `${VAR}` references, project connection names and unknown schemes."""
    from ombudsman.engine.connectors.urls import SCHEME_KINDS

    connection = spec.connections.get(name)
    if connection is None or "${" in connection.url or "://" not in connection.url:
        return None
    return SCHEME_KINDS.get(connection.url.split("://", 1)[0].lower().partition("+")[0])


def connection_dialect(spec: PipelineSpec, name: str) -> str | None:
    """The sqlglot dialect of a pipeline connection, when its URL says (None for `${VAR}` references,
    project connection names and unknown schemes: its SQL is then checked in every dialect)."""
    from ombudsman.engine.connectors.urls import SCHEME_KINDS
    from ombudsman.engine.dialects import DIALECT_BY_KIND

    connection = spec.connections.get(name)
    if connection is None or "${" in connection.url or "://" not in connection.url:
        return None
    scheme = connection.url.split("://", 1)[0].lower().partition("+")[0]
    return DIALECT_BY_KIND.get(SCHEME_KINDS.get(scheme, ""))


def _sql_errors(spec: PipelineSpec, step: Step, side: str, where: str, text: str, *, query: bool) -> list[str]:
    """The guard's refusal of one piece of user SQL (`ombudsman.engine.sqlguard`), as pipeline errors."""
    from ombudsman.engine import sqlguard

    name = spec.source_connection(step) if side == "source" else spec.target_connection(step)
    dialect = connection_dialect(spec, name)
    try:
        if dialect is not None:
            (sqlguard.check_user_query if query else sqlguard.check_user_condition)(text, dialect, where)
        else:
            check_any = sqlguard.check_user_query_any if query else sqlguard.check_user_condition_any
            check_any(text, sqlguard.GUARDED_DIALECTS, where)
    except sqlguard.UnsafeSql as exc:
        return [exc.message]
    return []


def _mask(url: str) -> str:
    try:
        from ombudsman.engine.connectors.urls import mask_url

        return mask_url(url)
    except Exception:
        return "<url>"


def _scrub(text: str, url: str) -> str:
    """`text` without the URL's secrets, masked only where they stand as values (contracts.privacy)."""
    from ombudsman.contracts.privacy import scrub_secrets

    return scrub_secrets(text, url)


async def _open(name: str, url_template: str, env: Mapping[str, str] | None, statement_timeout: float) -> Connector:
    from ombudsman.contracts.pipeline import expand_env
    from ombudsman.engine.connectors import connect

    try:
        url = expand_env(url_template, env)
    except PipelineError as exc:
        raise PipelineError([f"connections.{name}: {e}" for e in exc.errors]) from None
    try:
        connector = connect(url, timeout=statement_timeout)
    except Exception as exc:
        detail = str(getattr(exc, "message", None) or exc)
        raise PipelineError([f"connections.{name}: {_scrub(detail, url)}"]) from None
    try:
        await connector.open()
    except Exception as exc:
        detail = _scrub(str(getattr(exc, "message", None) or exc or type(exc).__name__), url)
        raise ConnectionUnavailable(f"connection {name!r} ({_mask(url)}) cannot be opened: {detail}") from None
    return connector


def _status(results: list[StepResult]) -> Literal["passed", "failed", "warning"]:
    if any(r.status in ("failed", "error") and r.severity == "critical" for r in results):
        return "failed"
    if any(r.status in ("failed", "error", "warning") for r in results):
        return "warning"
    return "passed"


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds")


async def _notify(callback: ProgressCallback | None, event: StepEvent) -> None:
    if callback is None:
        return
    outcome = callback(event)
    if inspect.isawaitable(outcome):
        await outcome


async def run_pipeline(
    spec: PipelineSpec,
    *,
    max_parallel: int = 4,
    on_progress: ProgressCallback | None = None,
    env: Mapping[str, str] | None = None,
    connectors: Mapping[str, Connector] | None = None,
    only: list[str] | None = None,
    snapshots: Mapping[str, Mapping[str, Any]] | None = None,
) -> PipelineResult:
    """Run every step (or those in `only`) as a DAG, at most `max_parallel` at a time.

    A step whose dependency did not pass (failed, error or skipped) is skipped when its
    `skip_on_failure` is set, otherwise it runs anyway. Connections are opened once per run
    (`connectors` supplies already-open ones by name). With `defaults.snapshot: run` (the default)
    each connection is pinned once before the first step and every step reads at that pin
    (ombudsman.engine.snapshots), released when the run ends; `snapshots` gives pins made elsewhere
    (the executor's run, pinned by a worker) instead. Raises PipelineError for a bad pipeline and
    ConnectionUnavailable when a connection cannot be opened; step errors become `error` results.
    """
    validate_pipeline(spec)
    if max_parallel < 1:
        raise PipelineError([f"max_parallel must be at least 1 (got {max_parallel})"])
    steps = [s for s in spec.steps if only is None or s.id in only]
    chosen = {s.id for s in steps}
    started_at, clock = _now(), time.perf_counter()
    async with AsyncExitStack() as stack:
        opened = await open_for_steps(stack, spec, steps, connectors, env=env)
        records: dict[str, dict[str, Any]] = {n: dict(r) for n, r in (snapshots or {}).items()}
        if snapshots is None and spec.defaults.snapshot == "run":
            pins = await pin_connectors({n: opened[n] for n in sorted(connections_of(spec, steps))})
            stack.push_async_callback(release_all, pins)
            records = {n: p.record for n, p in pins.items()}
        opened = pinned_connectors(opened, records)

        semaphore = asyncio.Semaphore(max_parallel)
        done: dict[str, asyncio.Future[StepResult]] = {s.id: asyncio.get_running_loop().create_future() for s in steps}
        index_of = {s.id: i for i, s in enumerate(spec.steps)}

        async def run_node(step: Step) -> None:
            deps = [d for d in step.depends_on if d in chosen]
            dep_results = [await done[d] for d in deps]
            blocked = [r.step for r in dep_results if r.status in ("failed", "error", "skipped")]
            if blocked and spec.skip_on_failure(step):
                result = StepResult(
                    step=step.id, validator=step.validator, status="skipped",
                    message=f"skipped: dependency {', '.join(repr(b) for b in blocked)} did not pass",
                    details={"blocked_by": blocked},
                )
            else:
                async with semaphore:
                    await _notify(on_progress, StepEvent("started", step.id, step.validator, index_of[step.id], len(steps)))
                    result = await run_step(spec, step.id, opened)
            result.severity = spec.severity(step)
            done[step.id].set_result(result)
            await _notify(on_progress, StepEvent("completed", step.id, step.validator, index_of[step.id], len(steps), result))

        await asyncio.gather(*[run_node(s) for s in steps])
        results = [done[s.id].result() for s in steps]
    counts: dict[str, int] = {}
    for r in results:
        counts[r.status] = counts.get(r.status, 0) + 1
    return PipelineResult(
        name=spec.name, status=_status(results), started_at=started_at, finished_at=_now(),
        duration_seconds=round(time.perf_counter() - clock, 6), steps=results, counts=counts,
        snapshots=records,
    )


def connections_of(spec: PipelineSpec, steps: list[Step]) -> set[str]:
    """The names of the connections `steps` read (source and target of each)."""
    return {spec.source_connection(s) for s in steps} | {spec.target_connection(s) for s in steps}


async def open_for_steps(stack: AsyncExitStack, spec: PipelineSpec, steps: list[Step],
                         connectors: Mapping[str, Connector] | None = None, *,
                         env: Mapping[str, str] | None = None) -> dict[str, Connector]:
    """The connections `steps` read: those given in `connectors` as they are, the others opened now
    and closed when `stack` closes."""
    opened: dict[str, Connector] = dict(connectors or {})
    fresh = await open_connections(spec, sorted(connections_of(spec, steps) - set(opened)), env=env)
    for connector in fresh.values():
        stack.push_async_callback(connector.close)
    return {**opened, **fresh}


async def open_connections(
    spec: PipelineSpec, names: list[str] | None = None, *, env: Mapping[str, str] | None = None
) -> dict[str, Connector]:
    """Open the named connections (default: all) concurrently; close them with `.close()`.

    PipelineError for a bad URL or a missing ${VAR}, ConnectionUnavailable for one that cannot be
    opened (the others are closed again)."""
    names = list(spec.connections) if names is None else names
    unknown = [n for n in names if n not in spec.connections]
    if unknown:
        raise PipelineError([f"connections: unknown connection {n!r}" for n in unknown])
    outcomes = await asyncio.gather(
        *[_open(n, spec.connections[n].url, env, spec.defaults.timeout_seconds) for n in names], return_exceptions=True
    )
    opened = {n: o for n, o in zip(names, outcomes, strict=True) if isinstance(o, Connector)}
    failures = [o for o in outcomes if isinstance(o, BaseException)]
    if failures:
        await asyncio.gather(*[c.close() for c in opened.values()], return_exceptions=True)
        raise failures[0]
    return opened


async def run_step(spec: PipelineSpec, step_id: str, connectors: Mapping[str, Connector]) -> StepResult:
    """Run one step of a checked pipeline with open connectors (by connection name); never raises
    for database errors (status `error`). The executor's workers call this per step."""
    step = spec.step(step_id)
    sides = _sides(spec, step, connectors)
    unpinned_before = {side: set(getattr(c, "unpinned", {})) for side, c in sides.items()}
    try:  # the price before the step (statistics, a bounded probe), then what it actually took
        estimated = await asyncio.wait_for(
            estimate_step(spec, step, connectors, catalog_widths=False, probe_rows=RUN_PROBE_ROWS),
            min(ESTIMATE_SECONDS, spec.timeout(step)))
    except Exception:  # an unknown validator or table (the validator's own error says it), or too slow
        estimated = None
    result = await run_validator(
        get_validator(step.validator), _context(spec, step, connectors), step.parameters,
        timeout_seconds=spec.timeout(step),
    )
    result.severity = spec.severity(step)
    if estimated is not None and estimated.source is not None:
        result.details["cost"] = actual_vs_estimated(estimated, result)
    unpinned = {side: {t: why for t, why in c.unpinned.items() if t not in unpinned_before[side]}
                for side, c in sides.items() if isinstance(c, PinnedConnector)}
    unpinned = {side: tables for side, tables in unpinned.items() if tables}
    if unpinned:  # read live: the table keeps no time travel
        result.details["unpinned"] = unpinned
    return result


ESTIMATE_SECONDS = 30.0  # a step's recorded estimate never holds it up longer


def _sides(spec: PipelineSpec, step: Step, connectors: Mapping[str, Connector]) -> dict[str, Connector]:
    return {"source": connectors[spec.source_connection(step)], "target": connectors[spec.target_connection(step)]}


def _context(spec: PipelineSpec, step: Step, opened: Mapping[str, Connector]) -> ValidationContext:
    return ValidationContext(
        source=opened[spec.source_connection(step)],
        target=opened[spec.target_connection(step)],
        source_table=step.source_table,
        target_table=step.target_table,
        column_map=dict(step.columns),
        tolerance=spec.tolerance(step),
        sample_limit=spec.sample_limit(step),
        source_filter=step.filters.source if step.filters else None,
        target_filter=step.filters.target if step.filters else None,
        step_id=step.id,
        source_case=spec.identifier_case(step, "source"),
        target_case=spec.identifier_case(step, "target"),
    )


def run_pipeline_sync(spec: PipelineSpec, **options: Any) -> PipelineResult:
    """run_pipeline for code without an event loop."""
    return asyncio.run(run_pipeline(spec, **options))
