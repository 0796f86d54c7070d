"""Per-service PostgreSQL roles on the real embedded PostgreSQL: each service reaches only its own
schema, the audit role can only append to and read its log, provisioning is idempotent, and
services run as their roles (migrations of the audit schema as its owner)."""

from __future__ import annotations

import stat
from pathlib import Path

import asyncpg
import nats
import pytest

from ombudsman.audit.app import create_service as create_audit
from ombudsman.contracts.envelope import Actor, Metadata
from ombudsman.contracts.subjects import command_subject, query_subject
from ombudsman.eventstore.roles import SERVICE_SCHEMAS, provision_roles, role_url
from ombudsman.eventstore.rpc import request
from ombudsman.eventstore.settings import Settings
from ombudsman.projects.app import create_service as create_projects

ALL = list(SERVICE_SCHEMAS)
ALICE = Metadata(actor=Actor(id="u-alice", name="alice", role="user"))


async def _denied(url: str, sql: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute(sql)
    finally:
        await conn.close()


async def _run(url: str, sql: str, *args: object) -> object:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval(sql, *args)
    finally:
        await conn.close()


async def _start_audit_and_projects(dbs: dict, nats_url: str, home: Path) -> tuple:
    audit = create_audit(Settings(database_url=dbs["audit"].url, migration_database_url=dbs["audit"].migration_url,
                                  nats_url=nats_url, secret_key="s" * 32, home=home))
    projects = create_projects(Settings(database_url=dbs["projects"].url, nats_url=nats_url, secret_key="k" * 32))
    await audit.start()
    await projects.start()
    return audit, projects


async def test_each_service_reaches_only_its_schema_and_audit_only_appends(
        database_url: str, nats_url: str, tmp_path: Path) -> None:
    dbs = await provision_roles(database_url, ALL, tmp_path, enforce_passwords=True)
    assert {d.role for d in dbs.values()} == {f"omb_{s}" for s in ALL}
    assert dbs["audit"].migration_url and "omb_audit_owner" in dbs["audit"].migration_url
    assert "host=" in dbs["projects"].url and dbs["projects"].url.startswith("postgresql://omb_projects:")
    pw_file = tmp_path / "db-roles" / "omb_projects.password"
    assert stat.S_IMODE(pw_file.stat().st_mode) == 0o600
    # A wrong password is refused (pg_hba requires scram for omb_ roles even on pgserver's socket).
    with pytest.raises(asyncpg.InvalidPasswordError):
        await asyncpg.connect(role_url(database_url, "omb_projects", "not-the-password"))

    audit, projects = await _start_audit_and_projects(dbs, nats_url, tmp_path)
    nc = await nats.connect(nats_url)
    try:
        # The projects service works as its role.
        await request(nc, command_subject("projects", "create"), {"id": "p1", "name": "P1"}, meta=ALICE)
        assert (await request(nc, query_subject("projects", "get"), {"id": "p1"}, meta=ALICE))["name"] == "P1"
    finally:
        await nc.close()
        await projects.stop()
        await audit.stop()
    assert await _run(database_url, "SELECT tableowner FROM pg_tables WHERE schemaname = 'audit' "
                                    "AND tablename = 'event_log'") == "omb_audit_owner"
    assert await _run(database_url, "SELECT tableowner FROM pg_tables WHERE schemaname = 'projects' "
                                    "AND tablename = 'events'") == "omb_projects"

    projects_url, audit_url = dbs["projects"].url, dbs["audit"].url
    await _denied(projects_url, "SELECT * FROM audit.event_log")
    await _denied(projects_url, "SELECT * FROM gateway.events")
    await _denied(projects_url, "CREATE TABLE public.sneaky (x int)")
    await _run(database_url, "CREATE TABLE IF NOT EXISTS metadata.events (x int)")  # as the superuser would
    await _denied(projects_url, "SELECT * FROM metadata.events")

    row = dict(position=10_000_001, stream_seq=10_000_001)
    insert = ("INSERT INTO audit.event_log (position, stream_seq, event_id, event_type, stream_type, stream_id, "
              "occurred_at, body, envelope, prev_hash, hash) VALUES ($1, $2, 'e-x', 'T', 's', 'id', now(), '{}', "
              "'{}'::jsonb, 'p', 'h')")
    conn = await asyncpg.connect(audit_url)
    try:
        await conn.execute(insert, row["position"], row["stream_seq"])
        assert await conn.fetchval("SELECT count(*) FROM audit.event_log WHERE position = $1", row["position"]) == 1
    finally:
        await conn.close()
    for sql in ("UPDATE audit.event_log SET hash = 'x'", "DELETE FROM audit.event_log",
                "TRUNCATE audit.event_log", "ALTER TABLE audit.event_log ADD COLUMN evil int",
                "ALTER TABLE audit.event_log DISABLE TRIGGER event_log_append_only",
                "DROP TABLE audit.event_log", "DELETE FROM audit.archive_segments"):
        await _denied(audit_url, sql)


async def test_provisioning_twice_keeps_data_and_hands_over_old_schemas(
        database_url: str, nats_url: str, tmp_path: Path) -> None:
    # An earlier `up` ran everything as the superuser: schemas and data owned by it.
    old = create_projects(Settings(database_url=database_url, nats_url=nats_url, secret_key="k" * 32))
    await old.start()
    nc = await nats.connect(nats_url)
    try:
        await request(nc, command_subject("projects", "create"), {"id": "old", "name": "Old"}, meta=ALICE)
    finally:
        await nc.close()
        await old.stop()

    first = await provision_roles(database_url, ALL, tmp_path)
    second = await provision_roles(database_url, ALL, tmp_path)
    assert {k: v.url for k, v in first.items()} == {k: v.url for k, v in second.items()}  # passwords reused
    service = create_projects(Settings(database_url=second["projects"].url, nats_url=nats_url, secret_key="k" * 32))
    await service.start()
    nc = await nats.connect(nats_url)
    try:
        assert (await request(nc, query_subject("projects", "get"), {"id": "old"}, meta=ALICE))["name"] == "Old"
        await request(nc, command_subject("projects", "create"), {"id": "new", "name": "New"}, meta=ALICE)
    finally:
        await nc.close()
        await service.stop()
    assert await _run(database_url, "SELECT count(*) FROM projects.events") >= 2
