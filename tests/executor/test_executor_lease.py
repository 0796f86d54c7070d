"""Two executor replicas: one coordinates (the leader lease), the other stands by and takes over.
Real NATS, real PostgreSQL, workers as real processes; the kill -9 cases are in tests/faults."""

from __future__ import annotations

import asyncpg
import nats

from ombudsman.executor.app import LEASE, running
from tests.executor.conftest import Bus, Warehouse, Workers, pipeline, settings
from tests.support import eventually


async def _lease_sessions(database_url: str) -> list[str]:
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch("SELECT application_name FROM pg_stat_activity WHERE application_name LIKE $1",
                                f"omb-lease:{LEASE}:%")
        return [r["application_name"] for r in rows]
    finally:
        await conn.close()


async def test_one_replica_leads_and_the_standby_takes_over_a_run(nats_url: str, database_url: str,
                                                                  workers: Workers, warehouse: Warehouse) -> None:
    cfg = settings(nats_url, database_url, executor_lease_poll=0.2, executor_lease_check=0.2)
    workers.start("w1", concurrency=2)
    async with running(cfg) as standby_first:
        async with running(cfg) as second:
            # the first replica took the lease at start; the second stands by, answering queries only
            assert standby_first.leading and not second.leading
            assert len(await _lease_sessions(database_url)) == 1
            nc = await nats.connect(nats_url)
            bus = Bus(nc, second)
            run_id = (await bus.command("queue_run", {"pipeline_yaml": pipeline(
                warehouse, "takeover", 24, slow=5_000_000)}))["run_id"]

            async def some_done() -> bool:
                rows = await bus.stored("SELECT count(*) AS n FROM executor.steps WHERE run_id=$1"
                                        " AND status IS NOT NULL", run_id)
                return rows[0]["n"] >= 3

            await eventually(some_done, timeout=60, what="three results")
            await standby_first.stop()  # the leader goes away mid-run
            await eventually(lambda: second.leading, timeout=10, what="the standby to take the lease")
            run = await bus.wait_run(run_id, timeout=120)
            completed = await bus.stored("SELECT data->>'step' AS step FROM executor.events WHERE stream_id=$1"
                                         " AND event_type='StepCompleted'", run_id)
            dispatched = await bus.stored("SELECT data->>'step' AS step FROM executor.events WHERE stream_id=$1"
                                          " AND event_type='StepDispatched'", run_id)
            await bus.close()
            await nc.close()
    assert run["status"] == "completed" and run["successful_steps"] == 24
    assert len(completed) == 24 and len({r["step"] for r in completed}) == 24
    assert len(dispatched) == 24  # no step released twice by the two coordinators


async def test_a_leader_whose_lease_session_dies_steps_down(nats_url: str, database_url: str) -> None:
    cfg = settings(nats_url, database_url, executor_lease_poll=0.2, executor_lease_check=0.2)
    async with running(cfg) as first, running(cfg) as second:
        assert first.leading and not second.leading
        conn = await asyncpg.connect(database_url)
        try:  # PostgreSQL ends the leader's lease session (as a restart or a network cut would)
            await conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE $1",
                               f"omb-lease:{LEASE}:%")
        finally:
            await conn.close()
        await eventually(lambda: not first.leading or second.leading, timeout=10, what="the leader to notice")
        # exactly one replica leads again (either may win the next round)
        await eventually(lambda: first.leading != second.leading, timeout=10, what="one leader")
        assert len(await _lease_sessions(database_url)) == 1
