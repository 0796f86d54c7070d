"""The fault suite's stack: real processes started by the launcher (`ombudsman up`'s machinery) —
an embedded `nats-server -js`, an embedded PostgreSQL (pgserver), two replicas of the executor
and of the audit service, four step workers — and a batch of many steps to break things under.

Each test gets a fresh stack in its own OMB_HOME; the checks after a fault are the same every
time (`FaultStack.assert_exact`): exactly one result per step, the audit chain verifies and holds
every executor event, and the executor's read models equal their rebuild from its event store.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import duckdb
import psutil
import pytest
import yaml

from ombudsman.contracts.access import request_access
from ombudsman.contracts.envelope import Actor, Metadata
from ombudsman.eventstore import launcher, natsauth
from ombudsman.eventstore.bustoken import PRIVATE_KEY_ENV
from ombudsman.eventstore.db import create_engine
from ombudsman.eventstore.embedded import EmbeddedPostgres, free_port
from ombudsman.eventstore.rpc import request
from ombudsman.eventstore.runtime import connect_nats
from ombudsman.executor import projections
from ombudsman.executor.app import LEASE
from tests.support import eventually

# The batch every fault test runs: PIPELINES pipelines of STEPS_PER_PIPELINE steps each (300 steps),
# each step a record count over a DuckDB source and target whose filter hashes SLOW_ROWS rows first,
# so steps last long enough to be interrupted.
PIPELINES = 4
STEPS_PER_PIPELINE = 75
TOTAL_STEPS = PIPELINES * STEPS_PER_PIPELINE
SLOW_ROWS = 1_000_000
NUMBERS = 10_000
ACK_WAIT = 3.0  # seconds; a paused or killed worker's step is redelivered after this
ADMIN = Metadata(actor=Actor(id="fault-admin", name="fault-admin", role="admin"))
SERVICE = Metadata(actor=Actor.service("fault-suite"))


def _warehouse(folder: Path) -> tuple[Path, Path]:
    source, target = folder / "source.duckdb", folder / "target.duckdb"
    for path in (source, target):
        with duckdb.connect(str(path)) as db:
            for i in range(5):
                db.execute(f"CREATE TABLE t{i} AS SELECT i AS id, i * 2 AS amount FROM range(100) t(i)")
            db.execute(f"CREATE TABLE numbers AS SELECT i FROM range({NUMBERS}) t(i)")
    return source, target


def _pipeline(name: str, source: Path, target: Path) -> str:
    cond = (f"(SELECT sum(hash(a.i + b.i)) FROM main.numbers a CROSS JOIN main.numbers b "
            f"WHERE a.i < {SLOW_ROWS // NUMBERS}) IS NOT NULL")
    steps = [{"id": f"s{i:03d}", "validator": "record_counts", "table": f"main.t{i % 5}",
              "filters": {"source": cond, "target": cond}} for i in range(STEPS_PER_PIPELINE)]
    return yaml.safe_dump({"name": name, "steps": steps, "connections": {
        "source": f"duckdb:///{source}?read_only=true", "target": f"duckdb:///{target}?read_only=true"}})


@dataclass
class FaultStack:
    """A running stack, the faults a test may inject into it, and the checks after them."""

    stack: launcher.Stack
    home: Path
    folder: Path
    nc: Any = None
    paused: set[int] = field(default_factory=set)

    # --- the bus and the database ---------------------------------------------------------------

    async def connect(self) -> None:
        user, password = natsauth.client_credentials(self.home)
        self.nc = await connect_nats(self.stack.nats_url, name="omb-fault-suite", user=user, password=password)

    async def close(self) -> None:
        if self.nc is not None:
            await self.nc.close()
            self.nc = None

    async def call(self, service: str, kind: str, name: str, payload: dict[str, Any], timeout: float = 30.0) -> Any:  # noqa: ASYNC109
        subject = f"omb.{kind}.{service}.{name}"
        meta = SERVICE if request_access(subject) == "service" else ADMIN
        return await request(self.nc, subject, payload, meta=meta, timeout=timeout)

    async def sql(self, statement: str, *args: Any) -> list[dict[str, Any]]:
        """Rows from the platform's database, as its superuser (a fresh session each time: PostgreSQL
        may be restarting under the test)."""
        conn = await asyncpg.connect(self.stack.database_url, timeout=10)
        try:
            return [dict(r) for r in await conn.fetch(statement, *args)]
        finally:
            await conn.close()

    # --- processes ------------------------------------------------------------------------------

    def pid(self, label: str) -> int:
        """A service process's pid, or an embedded NATS cluster node's (`nats-1`, ...)."""
        return self.stack.processes.get(label) or self.stack.nats_nodes[label]

    def labels(self, prefix: str) -> list[str]:
        return [label for label in self.stack.processes if label == prefix or label.startswith(f"{prefix}-")]

    def label_of(self, pid: int) -> str:
        return next(label for label, p in self.stack.processes.items() if p == pid)

    def kill(self, label: str) -> None:
        """kill -9, and wait until the process is gone."""
        pid = self.pid(label)
        os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(psutil.NoSuchProcess, psutil.TimeoutExpired):
            psutil.Process(pid).wait(timeout=10)  # reaps our own child; a zombie counts as gone below
        assert not launcher._alive(pid), f"{label} survived kill -9"

    def pause(self, label: str) -> None:
        os.kill(self.pid(label), signal.SIGSTOP)
        self.paused.add(self.pid(label))

    def resume(self, label: str) -> None:
        os.kill(self.pid(label), signal.SIGCONT)
        self.paused.discard(self.pid(label))

    async def leader(self) -> str | None:
        """The executor replica holding the coordinator's lease (its session's application_name)."""
        rows = await self.sql("SELECT application_name AS a FROM pg_stat_activity WHERE application_name LIKE $1",
                              f"omb-lease:{LEASE}:%")
        if len(rows) != 1:
            return None
        pid = int(rows[0]["a"].rsplit(":", 1)[1])
        return self.label_of(pid)

    def restart_postgres(self) -> None:
        """Stop the embedded PostgreSQL (fast shutdown: every session cut) and start it again."""
        assert self.stack.pgdata, "the stack's PostgreSQL is not embedded"
        EmbeddedPostgres.shutdown(self.stack.pgdata)
        EmbeddedPostgres.start(self.stack.pgdata, keep_running=True)

    def scrape(self, label: str) -> dict[str, float]:
        """The Prometheus samples a process serves (`ombudsman up` gives each service a port), summed
        over labels per sample name."""
        import httpx
        from prometheus_client.parser import text_string_to_metric_families

        try:
            text = httpx.get(f"http://127.0.0.1:{self.stack.metrics[label]}/metrics", timeout=10).text
        except httpx.TransportError as error:  # say whether the process is gone, and what its log last said
            pid = self.stack.processes[label]
            log = self.stack.home / "logs" / f"{label}.log"
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:]) if log.exists() else "(no log)"
            raise AssertionError(f"{label} (pid {pid}, {'alive' if launcher._alive(pid) else 'gone'}) does not serve "
                                 f"/metrics on port {self.stack.metrics[label]}: {error!r}; its log ends:\n{tail}") from error
        sums: dict[str, float] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                sums[sample.name] = sums.get(sample.name, 0.0) + sample.value
        return sums

    # --- the batch ------------------------------------------------------------------------------

    async def start_batch(self) -> str:
        source, target = _warehouse(self.folder)
        items = [{"name": f"fault-{i}", "pipeline_yaml": _pipeline(f"fault-{i}", source, target)}
                 for i in range(PIPELINES)]
        batch_id = (await self.call("executor", "cmd", "create_batch",
                                    {"name": "faults", "pipelines": items, "max_parallel": PIPELINES}))["batch_id"]
        await self.call("executor", "cmd", "execute_batch", {"batch_id": batch_id})
        return batch_id

    async def results(self) -> int:
        """Step results recorded so far (all runs)."""
        rows = await self.sql("SELECT count(*) AS n FROM executor.events WHERE event_type='StepCompleted'")
        return int(rows[0]["n"])

    async def wait_batch(self, batch_id: str, timeout: float = 240.0) -> dict[str, Any]:  # noqa: ASYNC109
        async def finished() -> dict[str, Any] | None:
            try:
                batch = await self.call("executor", "qry", "batch", {"batch_id": batch_id}, timeout=5)
            except Exception:  # a replica or PostgreSQL may be coming back
                return None
            return batch if batch["status"] in ("completed", "failed") else None

        try:
            return await eventually(finished, timeout=timeout, interval=0.5, what=f"batch {batch_id} to finish")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; {await self.results()} of {TOTAL_STEPS} step results recorded") from None

    async def assert_exact(self, batch_id: str) -> None:
        """Exactly TOTAL_STEPS results, none lost, none doubled; the audit chain verifies and holds every
        executor event; the executor's read models equal their rebuild from the store."""
        batch = await self.wait_batch(batch_id)
        assert batch["status"] == "completed", batch
        completed = await self.sql(
            "SELECT stream_id, data->>'step' AS step FROM executor.events WHERE event_type='StepCompleted'")
        assert len(completed) == TOTAL_STEPS, f"{len(completed)} step results, expected {TOTAL_STEPS}"
        assert len({(r["stream_id"], r["step"]) for r in completed}) == TOTAL_STEPS, "a step has two results"
        runs = await self.sql("SELECT run_id, status, total_steps FROM executor.runs WHERE batch_id=$1", batch_id)
        assert len(runs) == PIPELINES and all(r["status"] == "completed" for r in runs), runs
        assert sum(r["total_steps"] for r in runs) == TOTAL_STEPS
        recorded = await self.sql("SELECT count(*) AS n FROM executor.steps WHERE status='passed'")
        assert recorded[0]["n"] == TOTAL_STEPS

        stored = await self.sql("SELECT count(*) AS n FROM executor.events")

        async def audited() -> bool:
            rows = await self.sql("SELECT count(*) AS n FROM audit.event_log l JOIN executor.events e"
                                  " ON e.event_id::text = l.event_id")
            return rows[0]["n"] == stored[0]["n"]

        await eventually(audited, timeout=60, interval=0.5, what="the audit log to hold every executor event")
        report = await self.call("audit", "qry", "verify", {})
        assert report["ok"] and not report["gaps"], report

        engine = create_engine(self.stack.database_url)
        tables = ["runs", "steps", "batches", "discrepancies"]
        try:
            before = {t: await self.sql(f"SELECT * FROM executor.{t} ORDER BY 1, 2") for t in tables}
            assert await projections.rebuild_all(engine) > 0
            after = {t: await self.sql(f"SELECT * FROM executor.{t} ORDER BY 1, 2") for t in tables}
        finally:
            await engine.dispose()
        assert after == before


@pytest.fixture
def fault_stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultStack]:
    # not under pytest's tmp_path (mode 0700): PostgreSQL runs as its own user when the tests run as
    # root, and pg_ctl (the restart) must reach the data folder
    base = Path(tempfile.mkdtemp(prefix="omb-faults-"))
    base.chmod(0o755)
    home = base / "home"
    folder = base / "warehouse"
    folder.mkdir()
    for name in ("OMB_NATS_URL", "OMB_DATABASE_URL", "OMB_NATS_USER", "OMB_NATS_PASSWORD", "OMB_GATEWAY_PORT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OMB_HOME", str(home))
    monkeypatch.setenv("OMB_FILE_ROOTS", str(folder))
    monkeypatch.setenv("OMB_EXECUTOR_ACK_WAIT", str(ACK_WAIT))
    monkeypatch.setenv("OMB_EXECUTOR_LEASE_POLL", "0.5")
    monkeypatch.setenv("OMB_EXECUTOR_LEASE_CHECK", "0.5")
    monkeypatch.setenv("OMB_WORKER_CONCURRENCY", "2")
    monkeypatch.setenv("OMB_LOG_LEVEL", "INFO")
    (home / "nats").mkdir(parents=True)
    private, _ = natsauth.bus_keys(home)
    monkeypatch.setenv(PRIVATE_KEY_ENV, private.read_text())  # the test plays the gateway: it signs bus tokens
    # a port of its own: other stacks on this machine (other test runs) default to 4333
    stack = launcher.start_stack(detach=True, workers=4, replicas=2, only=["executor", "audit"], timeout=180,
                                 nats_port=free_port())
    faults = FaultStack(stack, home, folder)
    try:
        yield faults
    finally:
        for pid in list(faults.paused):
            os.kill(pid, signal.SIGCONT)
        launcher.stop_stack(stack)
        if not os.environ.get("OMB_FAULTS_KEEP"):  # set it to read the processes' logs after a failure
            shutil.rmtree(base, ignore_errors=True)
