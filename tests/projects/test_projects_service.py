"""The projects service end to end over real NATS and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import nats
import pytest
from sqlalchemy import text

from ombudsman.contracts.envelope import Actor, Metadata
from ombudsman.contracts.replies import Conflict, Forbidden, Invalid, NotFound
from ombudsman.contracts.subjects import command_subject, query_subject
from ombudsman.eventstore.db import asyncpg_dsn, create_engine
from ombudsman.eventstore.projections import rebuild
from ombudsman.eventstore.rpc import request
from ombudsman.eventstore.settings import Settings
from ombudsman.projects.app import create_service
from ombudsman.projects.projections import SCHEMA, ProjectList

ALICE = Metadata(actor=Actor(id="u-alice", name="alice", role="user"))
SERVICE = Metadata(actor=Actor.service("metadata"))
SECRET = "hunter2-very-secret"


@pytest.fixture
async def bus(nats_url: str, database_url: str) -> AsyncIterator[nats.NATS]:
    service = create_service(Settings(database_url=database_url, nats_url=nats_url, secret_key="k" * 32))
    await service.start()
    nc = await nats.connect(nats_url)
    try:
        yield nc
    finally:
        await nc.close()
        await service.stop()


async def cmd(nc, name, payload, meta=ALICE):
    return await request(nc, command_subject("projects", name), payload, meta=meta)


async def qry(nc, name, payload, meta=ALICE):
    return await request(nc, query_subject("projects", name), payload, meta=meta)


async def test_create_get_list_and_duplicate(bus) -> None:
    created = await cmd(bus, "create", {"id": "sales", "name": "Sales DW", "source_schemas": ["dbo"]})
    assert created["id"] == "sales" and created["members"] == ["u-alice"] and created["version"] == 1
    with pytest.raises(Conflict):
        await cmd(bus, "create", {"id": "sales", "name": "again"})
    await cmd(bus, "create", {"id": "hr", "name": "HR"}, meta=Metadata(actor=Actor(id="u-bob", name="bob")))
    got = await qry(bus, "get", {"id": "sales"})
    assert got["source_schemas"] == ["dbo"] and got["has_metadata"] is False
    mine = await qry(bus, "list", {"member": "u-alice"})
    assert [p["id"] for p in mine["items"]] == ["sales"] and mine["total"] == 1
    everyone = await qry(bus, "list", {"limit": 1, "offset": 1})
    assert everyone["total"] == 2 and [p["id"] for p in everyone["items"]] == ["sales"]
    with pytest.raises(NotFound):
        await qry(bus, "get", {"id": "nope"})
    with pytest.raises(Invalid) as bad:
        await cmd(bus, "create", {"id": "Bad Id", "name": ""})
    assert {f["field"] for f in bad.value.details["fields"]} == {"id", "name"}  # the one error shape
    assert all(f["message"] for f in bad.value.details["fields"])
    with pytest.raises(Invalid) as not_updatable:
        await cmd(bus, "update", {"id": "sales", "changes": {"owner": "eve", "name": ""}})
    assert [f["field"] for f in not_updatable.value.details["fields"]] == ["owner"]
    with pytest.raises(Invalid) as bad_value:
        await cmd(bus, "update", {"id": "sales", "changes": {"name": ""}})
    assert [f["field"] for f in bad_value.value.details["fields"]] == ["name"]


async def test_stale_update_conflicts_instead_of_overwriting(bus) -> None:
    await cmd(bus, "create", {"id": "sales", "name": "Sales"})
    await cmd(bus, "update", {"id": "sales", "expected_version": 1, "changes": {"name": "Sales v2"}})
    with pytest.raises(Conflict):
        await cmd(bus, "update", {"id": "sales", "expected_version": 1, "changes": {"name": "lost update"}})
    assert (await qry(bus, "get", {"id": "sales"}))["name"] == "Sales v2"


async def test_concurrent_commands_on_one_project_all_land_or_conflict(bus) -> None:
    await cmd(bus, "create", {"id": "sales", "name": "Sales"})
    results = await asyncio.gather(
        *(cmd(bus, "set_schema_mapping", {"project_id": "sales", "source_schema": f"s{i}", "target_schema": "T"})
          for i in range(8)),
        return_exceptions=True,
    )
    landed = [f"s{i}" for i, r in enumerate(results) if not isinstance(r, Exception)]
    conflicts = [r for r in results if isinstance(r, Conflict)]
    assert len(landed) + len(conflicts) == 8
    assert landed  # the first writer always wins; conflicts only hit the ones that raced it
    state = await qry(bus, "get", {"id": "sales"})
    assert state["schema_mappings"] == {schema: "T" for schema in landed}  # exactly the ones that landed
    assert state["version"] == 1 + len(landed)  # created, then one event per landed command


async def test_connection_secret_is_encrypted_and_never_in_events_or_replies(bus, database_url: str) -> None:
    await cmd(bus, "create", {"id": "sales", "name": "Sales"})
    url = f"snowflake://bob:{SECRET}@acct/DB/PUBLIC?warehouse=WH"
    added = await cmd(bus, "add_connection", {"project_id": "sales", "name": "target", "role": "target", "url": url})
    assert SECRET not in str(added) and added["url"] == "snowflake://bob:****@acct/DB/PUBLIC?warehouse=WH"
    assert SECRET not in str(await qry(bus, "get", {"id": "sales"}))
    assert SECRET not in str(await qry(bus, "connections", {"project_id": "sales"}))
    conn = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        stored = await conn.fetch("SELECT data::text AS d FROM projects.events")
        assert stored and not any(SECRET in r["d"] for r in stored)
        cipher = await conn.fetchval("SELECT ciphertext FROM projects.connection_secrets")
        assert SECRET not in cipher
    finally:
        await conn.close()
    with pytest.raises(Forbidden):
        await qry(bus, "connection_secret", {"project_id": "sales", "name": "target"})
    secret = await qry(bus, "connection_secret", {"project_id": "sales", "name": "target"}, meta=SERVICE)
    assert secret == {"url": url, "kind": "snowflake"}


async def test_connection_test_reports_version_or_a_clear_error(bus, warehouse_url: str) -> None:
    await cmd(bus, "create", {"id": "sales", "name": "Sales"})
    await cmd(bus, "add_connection", {"project_id": "sales", "name": "src", "role": "source", "url": warehouse_url})
    ok = await cmd(bus, "test_connection", {"project_id": "sales", "name": "src"})
    assert ok["ok"] is True and "PostgreSQL" in ok["server_version"] and ok["latency_ms"] >= 0
    await cmd(bus, "add_connection", {"project_id": "sales", "name": "gone", "role": "target",
                                      "url": f"postgresql://u:{SECRET}@127.0.0.1:1/db"})
    bad = await asyncio.wait_for(cmd(bus, "test_connection", {"project_id": "sales", "name": "gone"}), 30)
    assert bad["ok"] is False and bad["error"] and SECRET not in bad["error"]
    project = await qry(bus, "get", {"id": "sales"})
    tests = {c["name"]: c["last_test"]["ok"] for c in project["connections"]}
    assert tests == {"src": True, "gone": False}


async def test_pipelines_are_validated_on_save_and_deleted_with_the_project(bus, database_url: str) -> None:
    await cmd(bus, "create", {"id": "sales", "name": "Sales"})
    good = "name: p\nconnections: {source: 'duckdb:///a.db', target: 'duckdb:///b.db'}\nsteps:\n  - {id: c, validator: record_counts, table: main.t}\n"
    saved = await cmd(bus, "save_pipeline", {"project_id": "sales", "name": "Orders checks", "yaml": good})
    assert saved["pipeline_id"] == "orders-checks"
    with pytest.raises(Invalid) as bad:
        await cmd(bus, "save_pipeline", {"project_id": "sales", "name": "broken",
                                         "yaml": good.replace("depends_on", "x") + "  - {id: d, validator: record_counts, table: main.t, depends_on: [zz]}\n"})
    assert "zz" in bad.value.message
    listed = await qry(bus, "pipelines", {"project_id": "sales"})
    assert [p["pipeline_id"] for p in listed["items"]] == ["orders-checks"]
    assert (await qry(bus, "pipeline", {"project_id": "sales", "pipeline_id": "orders-checks"}))["yaml"] == good
    # many at once (generators): all or nothing, a broken one named
    with pytest.raises(Invalid) as bad_batch:
        await cmd(bus, "save_pipelines", {"project_id": "sales", "pipelines": [
            {"name": "First", "yaml": good}, {"name": "Second", "yaml": "steps: 3"}]})
    assert "steps" in bad_batch.value.message
    assert (await qry(bus, "pipelines", {"project_id": "sales"}))["total"] == 1
    batch = await cmd(bus, "save_pipelines", {"project_id": "sales", "pipelines": [
        {"name": f"Table {i}", "yaml": good.replace("name: p", f"name: t{i}")} for i in range(3)]})
    assert batch["pipeline_ids"] == ["table-0", "table-1", "table-2"]
    listed = await qry(bus, "pipelines", {"project_id": "sales"})
    assert [p["pipeline_id"] for p in listed["items"]] == ["orders-checks", "table-0", "table-1", "table-2"]
    assert (await qry(bus, "pipeline", {"project_id": "sales", "pipeline_id": "table-2"}))["yaml"].startswith("name: t2")
    # the read model folded batch by batch equals one rebuilt event by event from the store
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            live = (await conn.execute(text("SELECT state FROM projects.project_list WHERE id = 'sales'"))).scalar_one()
        assert await rebuild(engine, SCHEMA, ProjectList()) > 0
        async with engine.connect() as conn:
            rebuilt = (await conn.execute(text("SELECT state FROM projects.project_list WHERE id = 'sales'"))).scalar_one()
    finally:
        await engine.dispose()
    assert rebuilt == live and len(live["pipelines"]) == 4
    await cmd(bus, "delete", {"id": "sales"})
    with pytest.raises(NotFound):
        await qry(bus, "pipelines", {"project_id": "sales"})
    assert (await qry(bus, "list", {}))["total"] == 0


async def test_the_list_reads_the_stored_reply_shape_and_rows_without_it_still_list(bus, database_url) -> None:
    """project_list keeps each project's reply shape (`public`) so a list validates no state; a row
    written before that column existed (NULL) is listed from its state, the same answer."""
    await cmd(bus, "create", {"id": "crm", "name": "CRM", "description": "customers", "source_schemas": ["dbo"]})
    await cmd(bus, "create", {"id": "erp", "name": "ERP"})
    await cmd(bus, "add_connection", {"project_id": "erp", "name": "src", "role": "source",
                                      "url": f"postgresql://u:{SECRET}@db/erp"})
    await cmd(bus, "update", {"id": "crm", "changes": {"name": "CRM 2"}})
    listed = (await qry(bus, "list", {"member": "u-alice"}))["items"]
    got = [await qry(bus, "get", {"id": pid}) for pid in ("crm", "erp")]
    flags = ("has_metadata", "has_relationships", "automation_completed")
    assert listed == [{k: v for k, v in g.items() if k not in flags} for g in got]  # the shape of get, less flags
    assert listed[0]["name"] == "CRM 2" and listed[1]["counts"]["connections"] == 1
    assert SECRET not in str(listed)
    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            stored = (await conn.execute(text("SELECT public FROM projects.project_list WHERE id = 'crm'"))).scalar_one()
            assert stored == listed[0]
            await conn.execute(text("UPDATE projects.project_list SET public = NULL WHERE id = 'erp'"))
    finally:
        await engine.dispose()
    assert (await qry(bus, "list", {"member": "u-alice"}))["items"] == listed


async def test_nul_characters_are_refused_naming_the_field(bus) -> None:
    with pytest.raises(Invalid) as bad:
        await cmd(bus, "create", {"id": "sales", "name": "Sa\x00les"})
    assert "name" in bad.value.message and "NUL" in bad.value.message
    with pytest.raises(NotFound):
        await qry(bus, "get", {"id": "sales"})


async def test_connection_error_masks_a_short_password_only_where_it_stands_as_a_value(bus) -> None:
    """A one-letter password is masked in the URL, never inside the words of the driver's message."""
    await cmd(bus, "create", {"id": "sales", "name": "Sales"})
    await cmd(bus, "add_connection", {"project_id": "sales", "name": "gone", "role": "target",
                                      "url": "postgresql://postgres:e@127.0.0.1:1/postgres"})
    bad = await asyncio.wait_for(cmd(bus, "test_connection", {"project_id": "sales", "name": "gone"}), 30)
    assert bad["ok"] is False
    words = [w for w in bad["error"].replace(":", " ").split() if "****" in w]
    assert words == [], bad["error"]  # the message does not echo the URL: nothing to mask at all
    assert "Connect call failed" in bad["error"] and "RefusedError" in bad["error"], bad["error"]
