"""The audit log writer runs under the one leader lease (eventstore.lease, as the executor's
coordinator): one replica writes, its lease session visible in pg_stat_activity; a standby takes
over when the holder stops or its session is cut, and every event is logged once, in order."""

from __future__ import annotations

import asyncpg
import nats

from ombudsman.audit.app import WRITER_LEASE, AuditService, create_service
from ombudsman.eventstore.db import asyncpg_dsn
from ombudsman.eventstore.settings import Settings
from tests.audit.test_audit_service import audit_q, log_count, publish_run_events
from tests.support import eventually


async def lease_sessions(settings: Settings) -> list[int]:
    """The backend pids of the sessions holding the writer's lease (its application_name)."""
    assert settings.database_url
    conn = await asyncpg.connect(asyncpg_dsn(settings.database_url))
    try:
        rows = await conn.fetch("SELECT pid FROM pg_stat_activity WHERE application_name LIKE $1",
                                f"omb-lease:{WRITER_LEASE}:%")
    finally:
        await conn.close()
    return [r["pid"] for r in rows]


def holders(replicas: list[AuditService]) -> list[AuditService]:
    return [r for r in replicas if r.writer_lease is not None and r.writer_lease.held]


async def test_one_writer_and_a_standby_takes_over(settings: Settings, nc: nats.NATS) -> None:
    replicas = [create_service(settings), create_service(settings)]
    for replica in replicas:
        await replica.start()
    try:
        await eventually(lambda: holders(replicas) if len(holders(replicas)) == 1 else None,
                                 what="exactly one replica holding the writer's lease")
        assert len(await lease_sessions(settings)) == 1
        await publish_run_events(nc, 100)
        await eventually(lambda: _logged(nc, 100), what="100 events logged")

        # the holder's lease session is cut (as a PostgreSQL restart or a network cut would): it steps
        # down, a replica takes the lease again, and the log goes on from its head
        [pid] = await lease_sessions(settings)
        assert settings.database_url
        conn = await asyncpg.connect(asyncpg_dsn(settings.database_url))
        try:
            assert await conn.fetchval("SELECT pg_terminate_backend($1)", pid)
        finally:
            await conn.close()

        async def new_session() -> bool:
            sessions = await lease_sessions(settings)
            return len(sessions) == 1 and sessions[0] != pid and len(holders(replicas)) == 1

        await eventually(new_session, timeout=30, what="the lease taken again after its session was cut")
        await publish_run_events(nc, 100)
        await eventually(lambda: _logged(nc, 200), what="200 events logged")

        # the holder stops: the standby takes over
        holder = holders(replicas)[0]
        await holder.stop()
        standby = next(r for r in replicas if r is not holder)
        await eventually(lambda: standby.writer_lease is not None and standby.writer_lease.held, timeout=30,
                         what="the standby to take the writer's lease")
        await publish_run_events(nc, 100)
        await eventually(lambda: _logged(nc, 300), what="300 events logged")
        assert await log_count(nc) == 300  # none twice
        report = await audit_q(nc, "verify")
        assert report["ok"] and report["checked"] == 300 and report["gaps"] == []
    finally:
        for replica in replicas:
            await replica.stop()


async def _logged(nc: nats.NATS, n: int) -> bool:
    return await log_count(nc) >= n
