"""A work message that runs out of deliveries while no executor replica leads still ends its step
as `error: worker lost`, exactly once: the executor runs as real processes (on its own NATS user,
so its permissions are the deployed ones), the test plays a worker that dies with every step."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from typing import Any

import asyncpg
import nats
import nats.js.errors
import pytest
from nats.errors import TimeoutError as NatsTimeout

from ombudsman.contracts import subjects
from ombudsman.eventstore.embedded import EmbeddedNats
from ombudsman.eventstore.rpc import request
from ombudsman.executor.app import LEASE
from ombudsman.executor.settings import WORK_CONSUMER
from tests.conftest import BusAuth
from tests.executor.conftest import USER, Warehouse, pipeline
from tests.support import eventually

MAX_DELIVER = 2


class Executors:
    """Executor service processes (`python -m ombudsman.executor`) as the `executor` bus user."""

    def __init__(self, server: EmbeddedNats, auth: BusAuth, database_url: str) -> None:
        self.env = {**os.environ, "OMB_NATS_URL": f"nats://127.0.0.1:{server.port}", "OMB_NATS_USER": "executor",
                    "OMB_NATS_PASSWORD": auth.passwords["executor"], "OMB_DATABASE_URL": database_url,
                    "OMB_EXECUTOR_ACK_WAIT": "1", "OMB_EXECUTOR_MAX_DELIVER": str(MAX_DELIVER),
                    "OMB_EXECUTOR_LEASE_POLL": "0.2", "OMB_EXECUTOR_LEASE_CHECK": "0.2", "OMB_LOG_LEVEL": "WARNING"}
        for name in ("OMB_METRICS_PORT", "OMB_MIGRATION_DATABASE_URL"):
            self.env.pop(name, None)
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen([sys.executable, "-m", "ombudsman.executor"], env=self.env)
        self.procs.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


@pytest.fixture
def executors(nats_server: EmbeddedNats, bus_auth: BusAuth, database_url: str) -> Iterator[Executors]:
    pool = Executors(nats_server, bus_auth, database_url)
    try:
        yield pool
    finally:
        pool.stop_all()


async def rows(database_url: str, sql: str, *args: Any) -> list[dict[str, Any]]:
    conn = await asyncpg.connect(database_url)
    try:
        return [dict(r) for r in await conn.fetch(sql, *args)]
    finally:
        await conn.close()


async def lease_holders(database_url: str) -> list[int]:
    """The process ids holding the coordinator's lease (its session's application_name)."""
    found = await rows(database_url, "SELECT application_name AS a FROM pg_stat_activity WHERE application_name LIKE $1",
                       f"omb-lease:{LEASE}:%")
    return [int(r["a"].rsplit(":", 1)[1]) for r in found]


async def test_steps_lost_while_no_replica_leads_end_worker_lost_once(
        executors: Executors, nats_url: str, database_url: str, warehouse: Warehouse) -> None:
    first = executors.start()
    await eventually(lambda: _holds(database_url, first.pid), timeout=60, what="the first executor to lead")
    nc = await nats.connect(nats_url)  # the operator's connection: the test plays the gateway and a worker
    try:
        js = nc.jetstream()
        run_id = (await request(nc, "omb.cmd.executor.queue_run", {"pipeline_yaml": pipeline(warehouse, "leaderless", 2)},
                                meta=USER, timeout=30))["run_id"]

        async def both_waiting() -> bool:
            return (await js.consumer_info(subjects.WORK_STREAM, WORK_CONSUMER)).num_pending == 2

        await eventually(both_waiting, timeout=30, what="both steps' work messages waiting for a worker")

        first.kill()  # kill -9: no replica leads (none is running)
        first.wait(10)
        await eventually(lambda: _no_holder(database_url), timeout=30, what="the lease to be free")

        # a worker takes each step and dies every time (never acks) until JetStream gives the messages up
        sub = await js.pull_subscribe_bind(durable=WORK_CONSUMER, stream=subjects.WORK_STREAM)
        taken: Counter[str] = Counter()
        sequences: set[int] = set()

        async def given_up() -> bool:
            with contextlib.suppress(NatsTimeout, TimeoutError):  # nothing to read: nats-py raises either
                for msg in await sub.fetch(2, timeout=1.0):
                    taken[json.loads(msg.data)["step"]] += 1
                    sequences.add(msg.metadata.sequence.stream)
            return (await js.stream_info(subjects.WORK_LOST_STREAM)).state.messages == 2

        await eventually(given_up, timeout=60, what="JetStream's max-deliveries advisories for both steps")
        await sub.unsubscribe()
        assert taken == {"s000": MAX_DELIVER, "s001": MAX_DELIVER}
        assert await _results(database_url, run_id) == []  # nobody led: nothing recorded yet

        # two replicas come back; whichever leads reads the advisories kept meanwhile
        executors.start()
        executors.start()

        async def finished() -> dict[str, Any] | None:
            try:
                run = await request(nc, "omb.qry.executor.run", {"run_id": run_id}, meta=USER, timeout=5)
            except Exception:  # no replica answers yet
                return None
            return run if run["status"] in ("completed", "failed") else None

        run = await eventually(finished, timeout=90, what="the run to finish after the takeover")
        assert run["status"] == "failed"
        assert [(s["step"], s["status"]) for s in run["steps"]] == [("s000", "error"), ("s001", "error")]
        assert all("worker lost" in s["message"] for s in run["steps"]), run["steps"]
        results = await _results(database_url, run_id)
        assert sorted(r["step"] for r in results) == ["s000", "s001"]  # exactly one result per step
        assert all(r["status"] == "error" for r in results)


        async def advisories_acked() -> bool:  # acked right after the result is recorded
            return (await js.stream_info(subjects.WORK_LOST_STREAM)).state.messages == 0

        await eventually(advisories_acked, timeout=30, what="both advisories acked (and so gone)")

        async def work_messages_deleted() -> bool:  # given up by JetStream, deleted by the executor
            gone = 0
            for seq in sequences:
                with contextlib.suppress(nats.js.errors.NotFoundError):
                    await js.get_msg(subjects.WORK_STREAM, seq)
                    continue
                gone += 1
            return gone == len(sequences) == 2

        await eventually(work_messages_deleted, timeout=30, what="both exhausted work messages deleted from the work queue")
        assert sorted(r["step"] for r in await _results(database_url, run_id)) == ["s000", "s001"]
        assert len(await lease_holders(database_url)) == 1
    finally:
        await nc.close()


async def _holds(database_url: str, pid: int) -> bool:
    return await lease_holders(database_url) == [pid]


async def _no_holder(database_url: str) -> bool:
    return await lease_holders(database_url) == []


async def _results(database_url: str, run_id: str) -> list[dict[str, Any]]:
    return await rows(database_url, "SELECT data->>'step' AS step, data->>'status' AS status FROM executor.events "
                                    "WHERE stream_id=$1 AND event_type='StepCompleted' ORDER BY 1", run_id)
