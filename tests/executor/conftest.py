"""Executor fixtures: the service in process (real NATS, real PostgreSQL), workers as real
processes, and small DuckDB source/target files for quick real validators."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import duckdb
import nats
import pytest
import yaml

from ombudsman.contracts.access import request_access
from ombudsman.contracts.envelope import Actor, Metadata
from ombudsman.eventstore.rpc import request
from ombudsman.executor.app import ExecutorService, running
from ombudsman.executor.settings import ExecutorSettings
from tests.support import eventually

ACK_WAIT = 2.0
# an admin: these pipelines carry their DuckDB URLs inline, which only admins may run (issue 14)
USER = Metadata(actor=Actor(id="u1", name="alice", role="admin"))
WORKER = Metadata(actor=Actor.service("executor-worker"))


def _meta_for(name: str) -> Metadata:
    """A person's metadata, except for the requests only step workers send (no user token)."""
    subject = f"omb.cmd.executor.{name}" if name.startswith("record_") else f"omb.qry.executor.{name}"
    return WORKER if request_access(subject) == "service" else USER


NUMBERS = 10_000  # rows of table `numbers` in both warehouses (see `pipeline(slow=)`)


@dataclass
class Warehouse:
    """A DuckDB source and target: tables t0..t{n-1} of 100 rows; `broken` tables lose rows in the target."""

    source: Path
    target: Path

    @property
    def source_url(self) -> str:
        return f"duckdb:///{self.source}?read_only=true"

    @property
    def target_url(self) -> str:
        return f"duckdb:///{self.target}?read_only=true"

    def set_target_rows(self, table: str, rows: int) -> None:
        with duckdb.connect(str(self.target)) as db:
            db.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT i AS id, i * 2 AS amount FROM range({rows}) t(i)")


@pytest.fixture
def warehouse(tmp_path: Path) -> Warehouse:
    wh = Warehouse(tmp_path / "source.duckdb", tmp_path / "target.duckdb")
    for path in (wh.source, wh.target):
        with duckdb.connect(str(path)) as db:
            for i in range(8):
                db.execute(f"CREATE TABLE t{i} AS SELECT i AS id, i * 2 AS amount FROM range(100) t(i)")
            db.execute(f"CREATE TABLE numbers AS SELECT i FROM range({NUMBERS}) t(i)")
    wh.set_target_rows("t7", 97)  # t7 is broken: three rows lost
    return wh


def pipeline(wh: Warehouse, name: str, steps: int, *, tables: list[str] | None = None, slow: int = 0,
             chain: bool = False, validator: str = "record_counts") -> str:
    """Pipeline YAML of `steps` record-count steps over tables (cycled); `slow` makes each query
    hash about that many rows of a self-join of `numbers` first (user SQL reads tables only, no
    table functions), so a step lasts long enough to be interrupted."""
    tables = tables or [f"t{i}" for i in range(7)]
    body: list[dict[str, Any]] = []
    for i in range(steps):
        step: dict[str, Any] = {"id": f"s{i:03d}", "validator": validator, "table": f"main.{tables[i % len(tables)]}"}
        if slow:
            cond = (f"(SELECT sum(hash(a.i + b.i)) FROM main.numbers a CROSS JOIN main.numbers b "
                    f"WHERE a.i < {max(1, slow // NUMBERS)}) IS NOT NULL")
            step["filters"] = {"source": cond, "target": cond}
        if chain and i:
            step["depends_on"] = [f"s{i - 1:03d}"]
        body.append(step)
    return yaml.safe_dump({"name": name, "connections": {"source": wh.source_url, "target": wh.target_url},
                           "steps": body})


@dataclass
class Bus:
    """The executor's bus API as a test sees it."""

    nc: Any
    service: ExecutorService
    events: list[dict[str, Any]] = field(default_factory=list)
    _pool: asyncpg.Pool | None = None

    async def command(self, name: str, payload: dict[str, Any]) -> Any:
        return await request(self.nc, f"omb.cmd.executor.{name}", payload, meta=_meta_for(name), timeout=30.0)

    async def query(self, name: str, payload: dict[str, Any]) -> Any:
        return await request(self.nc, f"omb.qry.executor.{name}", payload, meta=_meta_for(name), timeout=30.0)

    async def stored(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        """Rows straight from the executor's schema (plain asyncpg: jsonb comes back as text)."""
        if self._pool is None:
            assert self.service.settings.database_url
            self._pool = await asyncpg.create_pool(self.service.settings.database_url, min_size=1, max_size=4)
        async with self._pool.acquire() as conn:
            return [dict(r) for r in await conn.fetch(sql, *args)]

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def wait_run(self, run_id: str, timeout: float = 60.0) -> dict[str, Any]:  # noqa: ASYNC109
        return await eventually(lambda: self._finished_run(run_id), timeout=timeout, what=f"run {run_id} to finish")

    async def _finished_run(self, run_id: str) -> dict[str, Any] | None:
        run = await self.query("run", {"run_id": run_id})
        return run if run["status"] in ("completed", "failed", "cancelled") else None

    async def wait_batch(self, batch_id: str, timeout: float = 90.0) -> dict[str, Any]:  # noqa: ASYNC109
        async def done() -> dict[str, Any] | None:
            batch = await self.query("batch", {"batch_id": batch_id})
            return batch if batch["status"] in ("completed", "failed") else None

        return await eventually(done, timeout=timeout, what=f"batch {batch_id} to finish")



def settings(nats_url: str, database_url: str, **extra: Any) -> ExecutorSettings:
    values: dict[str, Any] = {"executor_ack_wait": ACK_WAIT, "executor_tick_seconds": 0.2, **extra}
    return ExecutorSettings(nats_url=nats_url, database_url=database_url, **values)


@pytest.fixture
async def bus(nats_url: str, database_url: str) -> AsyncIterator[Bus]:
    async with running(settings(nats_url, database_url)) as service:
        nc = await nats.connect(nats_url)
        bus = Bus(nc, service)
        try:
            yield bus
        finally:
            await bus.close()
            await nc.close()


class Workers:
    """Worker processes (`python -m ombudsman.executor worker`)."""

    def __init__(self, nats_url: str, database_url: str, file_roots: str = "") -> None:
        self.nats_url, self.database_url, self.file_roots = nats_url, database_url, file_roots
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, concurrency: int = 1, ack_wait: float = ACK_WAIT,
              env_extra: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        env = {**os.environ, "OMB_NATS_URL": self.nats_url, "OMB_DATABASE_URL": self.database_url,
               "OMB_EXECUTOR_ACK_WAIT": str(ack_wait), "OMB_WORKER_NAME": name,
               "OMB_WORKER_CONCURRENCY": str(concurrency), "OMB_LOG_LEVEL": "WARNING",
               "OMB_FILE_ROOTS": self.file_roots,  # the warehouse's DuckDB files
               **(env_extra or {})}
        proc = subprocess.Popen([sys.executable, "-m", "ombudsman.executor", "worker"], env=env)
        self.procs[name] = proc
        return proc

    def kill(self, name: str) -> None:
        self.procs[name].send_signal(signal.SIGKILL)
        self.procs[name].wait(10)

    def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.fixture
def workers(nats_url: str, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Workers]:
    monkeypatch.setenv("OMB_FILE_ROOTS", str(tmp_path))  # the in-process executor checks inline URLs too
    pool = Workers(nats_url, database_url, str(tmp_path))
    try:
        yield pool
    finally:
        pool.stop_all()
