"""A step worker: `python -m ombudsman.executor worker`. Any number of them, anywhere that reaches NATS.

Each takes step messages from the one durable pull consumer on `OMB_WORK`, runs the step with the
engine, and reports the result with the command `omb.cmd.executor.record_step_result`. The message
is acked only after that command's reply, so the executor stays the single writer of its event
store and a worker needs no database access. While a step runs the worker sends in-progress acks;
a worker that dies leaves its message unacked, so JetStream redelivers it to another worker after
`ack_wait`.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import shutil
import signal
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeout

from ombudsman.contracts import subjects
from ombudsman.contracts.envelope import Actor, Metadata
from ombudsman.contracts.pipeline import PipelineSpec, expand_env
from ombudsman.contracts.replies import ErrorCode, Invalid, NotFound, OmbudsmanError, Reply
from ombudsman.contracts.results import StepResult
from ombudsman.engine.connectors.sandbox import trust_output_dir
from ombudsman.engine.files.checkpoints import SINK
from ombudsman.eventstore import metrics as service_metrics
from ombudsman.eventstore import rpc
from ombudsman.eventstore.runtime import connect_nats
from ombudsman.eventstore.streams import ensure_streams
from ombudsman.executor import differences, metrics
from ombudsman.executor.connections import ConnectionCache
from ombudsman.executor.domain import parse_spec
from ombudsman.executor.load_checkpoints import WorkerCheckpoints
from ombudsman.executor.memguard import StepMemoryExceeded, run_with_memory_cap
from ombudsman.executor.pricing import answer_plan
from ombudsman.executor.run_pins import RunPins
from ombudsman.executor.settings import DEFAULT_STEP_MEMORY_MB, WORK_CONSUMER, ExecutorSettings
from ombudsman.executor.work import work_consumer_config

log = logging.getLogger("ombudsman.executor.worker")
REQUEST_TIMEOUT = 30.0
# the executor (or its database) is away or busy, not refusing: ask again rather than give the message back
TRANSIENT = frozenset({ErrorCode.UNAVAILABLE, ErrorCode.TIMEOUT, ErrorCode.INTERNAL, ErrorCode.CONFLICT})


async def request(nc: Any, subject: str, payload: dict[str, Any], *, meta: Metadata) -> Any:
    """A command or query to a service (libs/eventstore request/reply); its result or OmbudsmanError."""
    return await rpc.request(nc, subject, payload, meta=meta, timeout=REQUEST_TIMEOUT)


async def resolve_connections(nc: Any, spec: PipelineSpec, project_id: str | None, meta: Metadata,
                              *, inline_allowed: bool = False) -> PipelineSpec:
    """A project's pipeline names connections of the project: their URLs (with secrets) come from
    the projects service at run time and never enter an event. A URL written in the pipeline is
    used only when the run was admitted with inline connections (`Invalid` naming it otherwise)."""
    resolved = {}
    for name, connection in spec.connections.items():
        try:
            if not project_id:
                raise NotFound("no project")
            found = await request(nc, subjects.query_subject("projects", "connection_secret"),
                                  {"project_id": project_id, "name": name}, meta=meta)
            resolved[name] = {"url": found["url"]}
        except NotFound:
            if not inline_allowed:
                raise Invalid(f"connections.{name}: {name!r} is not a connection of the project, and this run may "
                              "not use connection URLs written in the pipeline", {"field": f"connections.{name}"}) from None
            resolved[name] = {"url": connection.url}
    return spec.model_copy(update={"connections": {k: type(spec.connections[k])(**v) for k, v in resolved.items()}})


def check_step_connections(spec: PipelineSpec, step_id: str) -> None:
    """The sandbox right before opening: the step's connections may not reach the platform's own
    PostgreSQL or NATS, nor DuckDB files outside OMB_FILE_ROOTS (`Invalid` naming the connection)."""
    from ombudsman.engine.connectors.sandbox import check_connection_url

    step = spec.step(step_id)
    for name in {spec.source_connection(step), spec.target_connection(step)}:
        if name in spec.connections:
            check_connection_url(expand_env(spec.connections[name].url), field=f"connections.{name}")


async def run_one_step(spec: PipelineSpec, step_id: str, cache: ConnectionCache | None = None,
                       project_id: str | None = None, *, memory_cap_mb: int = DEFAULT_STEP_MEMORY_MB,
                       snapshots: dict[str, dict[str, Any]] | None = None) -> StepResult:
    """Execute one step of a pipeline against its connections (errors become an `error` result).
    With a `cache`, the step borrows the worker's open connections instead of opening its own.
    `snapshots`: the run's pins (run_pins.py), which every read of the step goes through.
    A step whose worker grows by more than `memory_cap_mb` MB while it runs is stopped and errors
    (its connections are discarded); the worker carries on."""
    from ombudsman.engine.pipeline import run_pipeline

    step = spec.step(step_id)
    validator = step.validator
    names = [spec.source_connection(step), spec.target_connection(step)]
    exceeded: StepMemoryExceeded | None = None
    try:
        check_step_connections(spec, step_id)
        if cache is None:
            run = run_pipeline(spec, only=[step_id], max_parallel=1, snapshots=snapshots or {})
            return (await run_with_memory_cap(run, memory_cap_mb)).steps[0]
        async with cache.lease(spec, names, project_id) as lease:
            try:
                run = run_pipeline(spec, only=[step_id], max_parallel=1, connectors=lease.connectors,
                                   snapshots=snapshots or {})
                result = (await run_with_memory_cap(run, memory_cap_mb)).steps[0]
            except StepMemoryExceeded as exc:
                lease.failed = True  # a statement may still be unwinding on them: never reuse
                exceeded = exc
                raise
            lease.failed = result.status == "error"
            return result
    except StepMemoryExceeded as exc:
        exceeded = exc
    except OmbudsmanError as exc:
        if exceeded is None:
            return StepResult(step=step_id, validator=validator, status="error", message=exc.message)
    except Exception as exc:  # a step never takes the worker down
        if exceeded is None:
            return StepResult(step=step_id, validator=validator, status="error", message=f"{type(exc).__name__}: {exc}")
    # over its cap (closing its interrupted connections may fail too: the cap is what the step reports)
    assert exceeded is not None
    log.warning("step %s stopped: %s", step_id, exceeded)
    return StepResult(step=step_id, validator=validator, status="error", message=str(exceeded),
                      details={"memory_cap_mb": exceeded.cap_mb, "memory_grown_mb": round(exceeded.grown_mb)})


def warm_engine() -> None:
    """Import and initialise what steps use before taking work: a first step importing the engine,
    its validators and connectors, and converting its first rows to Arrow (pyarrow's lazy set-up),
    would block the event loop (and the in-progress acks keeping its message) for seconds on a
    loaded machine, and JetStream would redeliver the step to another worker."""
    import datetime
    import decimal

    import pyarrow as pa

    import ombudsman.engine.connectors.duckdb
    import ombudsman.engine.connectors.postgres
    import ombudsman.engine.pipeline.estimate
    import ombudsman.engine.rowdiff.engine
    import ombudsman.engine.snapshots  # noqa: F401
    from ombudsman.engine.connectors.arrow import rows_to_table
    from ombudsman.engine.validators.base import to_rows, validators

    validators()
    row = (1, 1.5, "x", decimal.Decimal("1.50"), datetime.date(2026, 1, 1), datetime.datetime(2026, 1, 1), True)
    hints = [pa.int64(), pa.float64(), pa.string(), None, pa.date32(), pa.timestamp("us"), pa.bool_()]
    to_rows(rows_to_table(list("abcdefg"), [row], hints))


class Worker:
    def __init__(self, settings: ExecutorSettings) -> None:
        self.settings = settings
        self.name = settings.worker_name or f"{socket.gethostname()}:{os.getpid()}"
        self.meta = Metadata(actor=Actor.service("executor-worker"))
        self.stop = asyncio.Event()
        self.steps_done = 0
        self.started_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        self.connections = ConnectionCache(idle_seconds=settings.worker_connection_idle_seconds)
        self.pins = RunPins(self.name, self.meta)
        self.nc: Any = None
        self.scratch = Path(tempfile.mkdtemp(prefix="omb-worker-"))  # differences files, removed once sent
        trust_output_dir(self.scratch)  # the worker's own files, outside the folders pipelines may write to

    async def run(self) -> None:
        assert self.settings.nats_url, "OMB_NATS_URL is not set"
        warm_engine()
        # the worker's own series (executor/metrics.py) on OMB_METRICS_PORT, like every service process
        service_metrics.serve("worker", self.settings.metrics_port, None, self.settings.metrics_addr)
        metrics.watch_worker(self.connections.stats)
        nc = await connect_nats(self.settings.nats_url, name=f"omb-worker-{self.name}",
                                user=self.settings.nats_user, password=self.settings.nats_password)
        self.nc = nc
        js = nc.jetstream()
        await ensure_streams(js, replicas=self.settings.events_replicas)
        try:
            await js.add_consumer(subjects.WORK_STREAM, work_consumer_config(self.settings))
        except Exception:  # exists already
            pass
        sub = await js.pull_subscribe_bind(durable=WORK_CONSUMER, stream=subjects.WORK_STREAM)
        stats_sub = await nc.subscribe(subjects.worker_stats_subject(), cb=self._answer_stats)
        plan_sub = await nc.subscribe(subjects.worker_plan_subject(), queue="workers", cb=self._answer_plan)
        sweeper = asyncio.create_task(self._sweep_idle())
        log.info("worker %s ready", self.name)
        try:
            await asyncio.gather(*[self._loop(nc, sub) for _ in range(self.settings.worker_concurrency)])
        finally:
            # the loops finished their current step; an unacked message would be redelivered anyway
            sweeper.cancel()
            await self.pins.close()
            await stats_sub.unsubscribe()
            await plan_sub.unsubscribe()
            await self.connections.close()
            await nc.close()
            shutil.rmtree(self.scratch, ignore_errors=True)

    def stats(self, project_id: str | None = None, connection: str | None = None) -> dict[str, Any]:
        """This worker's figures and its kept connections (what `omb.workers.stats` answers)."""
        return {"worker": self.name, "started_at": self.started_at, "concurrency": self.settings.worker_concurrency,
                "steps_done": self.steps_done, "connections": self.connections.stats(project_id, connection)}

    async def _answer_plan(self, msg: Msg) -> None:
        await answer_plan(self.nc, msg, self.meta)

    async def _answer_stats(self, msg: Msg) -> None:
        try:
            ask = json.loads(msg.data or b"{}")
            filters = ask if isinstance(ask, dict) else {}
            result = self.stats(filters.get("project_id"), filters.get("connection"))
        except ValueError:
            result = self.stats()
        if msg.reply:
            await msg.respond(Reply.success(result).model_dump_json().encode())

    async def _sweep_idle(self) -> None:
        interval = max(1.0, min(30.0, self.connections.idle_seconds / 2))
        while True:
            await asyncio.sleep(interval)
            closed = await self.connections.sweep()
            if closed:
                log.info("worker %s closed %d idle connection(s)", self.name, closed)

    async def _loop(self, nc: Any, sub: Any) -> None:
        while not self.stop.is_set():
            try:
                msgs = await sub.fetch(1, timeout=1.0)
            except (NatsTimeout, TimeoutError):  # nothing to read: nats-py raises either
                continue
            except Exception as exc:
                log.warning("fetch failed: %s", exc)
                await asyncio.sleep(0.5)
                continue
            for msg in msgs:
                await self._handle(nc, msg)

    async def _handle(self, nc: Any, msg: Msg) -> None:
        work = json.loads(msg.data)
        run_id, step = work["run_id"], work["step"]
        attempt = msg.metadata.num_delivered if msg.metadata else 1
        keepalive = asyncio.create_task(self._keep_alive(msg))
        try:
            task = await self._ask(nc, subjects.query_subject("executor", "step_task"), {"run_id": run_id, "step": step})
            if task["action"] == "done":
                await msg.ack()
                return
            if task["action"] == "cancelled":
                result = StepResult(step=step, validator="", status="skipped", message="run cancelled before start")
            else:
                await self._ask(nc, subjects.command_subject("executor", "record_step_started"),
                                {"run_id": run_id, "step": step, "worker": self.name, "attempt": attempt})
                try:
                    spec = await resolve_connections(nc, parse_spec(task["pipeline_yaml"]), task.get("project_id"),
                                                     self.meta, inline_allowed=bool(task.get("inline_connections")))
                except Invalid as exc:  # refused by the sandbox: the step's result says why
                    result = StepResult(step=step, validator="", status="error", message=exc.message)
                else:
                    snapshots = await self._run_snapshots(nc, spec, run_id, step, task.get("snapshots"))
                    result = await self._run_and_ship(nc, spec, run_id, step, task.get("project_id"), snapshots)
            await self._ask(nc, subjects.command_subject("executor", "record_step_result"),
                            {"run_id": run_id, "step": step, "result": result.model_dump(mode="json")})
            self.steps_done += 1
            try:
                await msg.ack_sync()
            except Exception as exc:  # recorded already: the redelivery finds the step done and acks it
                log.warning("step %s/%s recorded but not acked: %s", run_id, step, type(exc).__name__)
        except OmbudsmanError as exc:
            # the executor is unreachable or refused: leave the message for a later delivery
            log.warning("step %s/%s not recorded: %s", run_id, step, exc.message)
            await self._nak(msg)
        except Exception:  # a step never takes the worker down (NATS busy, a reply it cannot read)
            log.exception("step %s/%s not recorded", run_id, step)
            await self._nak(msg)
        finally:
            keepalive.cancel()

    async def _run_snapshots(self, nc: Any, spec: PipelineSpec, run_id: str, step: str,
                             recorded: dict[str, dict[str, Any]] | None) -> dict[str, dict[str, Any]]:
        """The run's pins (run_pins.py)."""
        return await self.pins.pins_for(nc, request, spec, run_id, step, recorded)

    async def _run_and_ship(self, nc: Any, spec: PipelineSpec, run_id: str, step: str,
                            project_id: str | None, snapshots: dict[str, dict[str, Any]]) -> StepResult:
        """Run the step; send the full list of differences it wrote (differences.py) before its result."""
        spec, path, own = differences.with_differences_file(spec, step, self.scratch)
        try:
            started = time.monotonic()
            metrics.WORKER_RUNNING.inc()
            # a load step's per-file checkpoints go to the executor as events (load_checkpoints.py)
            sink = SINK.set(WorkerCheckpoints(functools.partial(self._ask, nc), run_id, step)) if spec.step(step).validator == "file_load" else None
            try:
                result = await run_one_step(spec, step, self.connections, project_id,
                                            memory_cap_mb=self.settings.worker_step_memory_mb, snapshots=snapshots)
            finally:
                metrics.WORKER_RUNNING.dec()
                if sink is not None:
                    SINK.reset(sink)
            metrics.worker_step(result.validator or spec.step(step).validator, result.status,
                                time.monotonic() - started)
            if path is not None and path.exists() and result.status in ("passed", "failed", "warning"):
                offset = 0
                for lines in differences.read_pages(path):
                    await self._ask(nc, subjects.command_subject("executor", "record_differences"),
                                    {"run_id": run_id, "step": step, "offset": offset, "lines": lines})
                    offset += len(lines)
            if own and result.details.get("output"):
                result = result.model_copy(update={"details": {k: v for k, v in result.details.items() if k != "output"}})
            return result
        finally:
            if own and path is not None:
                path.unlink(missing_ok=True)

    async def _ask(self, nc: Any, subject: str, payload: dict[str, Any]) -> Any:
        """A request to the executor, asked again (backing off up to 5 s) while the executor or its
        database is away — no replica answers, no reply, an internal error — for at most
        `OMB_WORKER_REPORT_PATIENCE` seconds. The step's in-progress acks keep its message meanwhile,
        so an outage costs no delivery (and no `worker lost`) and a finished step is not run again."""
        deadline = time.monotonic() + self.settings.worker_report_patience
        delay = 0.5
        while True:
            try:
                return await request(nc, subject, payload, meta=self.meta)
            except OmbudsmanError as exc:
                if exc.code not in TRANSIENT or self.stop.is_set() or time.monotonic() + delay > deadline:
                    raise
                log.warning("%s: %s; asking again in %.1f s", subject, exc.message, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    @staticmethod
    async def _nak(msg: Msg) -> None:
        """Give the message back for a later delivery (if even that fails, ack_wait brings it back)."""
        try:
            await msg.nak(delay=1.0)
        except Exception as exc:
            log.warning("nak failed: %s", type(exc).__name__)

    async def _keep_alive(self, msg: Msg) -> None:
        interval = max(0.2, self.settings.executor_ack_wait / 3)
        while True:
            await asyncio.sleep(interval)
            try:
                await msg.in_progress()
            except Exception:
                return
            metrics.WORKER_IN_PROGRESS.inc()


def main() -> None:
    logging.basicConfig(level=os.environ.get("OMB_LOG_LEVEL", "INFO"),
                        format='{"level":"%(levelname)s","logger":"%(name)s","msg":"%(message)s"}')
    worker = Worker(ExecutorSettings())

    async def go() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, worker.stop.set)
        await worker.run()

    asyncio.run(go())
