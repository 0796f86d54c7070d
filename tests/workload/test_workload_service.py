"""The workload service end to end over real NATS JetStream and PostgreSQL: upload (a file on the
shared upload folder, or inline), analyze, suggest, generate a pipeline, the read models, and a
rebuild of the read models from events alone."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import nats
import pytest
from sqlalchemy import text

from ombudsman.contracts.envelope import Actor, Metadata
from ombudsman.contracts.replies import Conflict, Invalid, NotFound
from ombudsman.contracts.subjects import command_subject, query_subject
from ombudsman.eventstore.db import create_engine
from ombudsman.eventstore.projections import rebuild
from ombudsman.eventstore.rpc import request
from ombudsman.workload.app import create_service
from ombudsman.workload.handlers import WorkloadSettings
from ombudsman.workload.projections import WorkloadProjection
from tests.support import eventually
from tests.workload.workload_gen import catalog, to_csv, to_jsonl, workload

ALICE = Metadata(actor=Actor(id="u-alice", name="alice", role="user"))
ROWS = list(workload(400, seed=3))


@pytest.fixture
async def bus(nats_url: str, database_url: str, tmp_path: Path) -> AsyncIterator[nats.NATS]:
    """The workload service with the projects service (projects must exist), without the metadata service."""
    async with services(nats_url, database_url, tmp_path, metadata=False) as nc:
        await request(nc, command_subject("projects", "create"), {"id": "sales", "name": "Sales DW"}, meta=ALICE)
        yield nc


@contextlib.asynccontextmanager
async def services(nats_url: str, database_url: str, tmp_path: Path, *, metadata: bool) -> AsyncIterator[nats.NATS]:
    from ombudsman.eventstore.settings import Settings
    from ombudsman.metadata.app import create_service as create_metadata
    from ombudsman.projects.app import create_service as create_projects

    (tmp_path / "uploads").mkdir(exist_ok=True)
    base = {"database_url": database_url, "nats_url": nats_url, "request_timeout": 5.0}
    started = [create_projects(Settings(**base, secret_key="k" * 32)),
               create_service(WorkloadSettings(**base, workload_upload_dir=tmp_path / "uploads"))]
    if metadata:
        started.append(create_metadata(Settings(**base)))
    for service in started:
        await service.start()
    nc = await nats.connect(nats_url)
    try:
        yield nc
    finally:
        await nc.close()
        for service in reversed(started):
            await service.stop()


async def cmd(nc: nats.NATS, name: str, payload: dict[str, Any]) -> Any:
    return await request(nc, command_subject("workload", name), payload, meta=ALICE, timeout=60)


async def qry(nc: nats.NATS, name: str, payload: dict[str, Any]) -> Any:
    return await request(nc, query_subject("workload", name), payload, meta=ALICE, timeout=30)


async def read_models(database_url: str) -> dict[str, list[tuple[Any, ...]]]:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            out = {}
            for table in ("workloads", "queries", "table_usage", "joins", "suggestions", "pipelines"):
                rows = await conn.execute(text(f"SELECT * FROM workload.{table} ORDER BY 1, 2"))
                out[table] = [tuple(json.dumps(v, sort_keys=True) if isinstance(v, dict | list) else v for v in r)
                              for r in rows]
            return out
    finally:
        await engine.dispose()


async def test_upload_analyze_suggest_generate_and_rebuild(bus: nats.NATS, database_url: str, tmp_path: Path) -> None:
    (tmp_path / "uploads" / "sales.csv").write_text(to_csv(iter(ROWS)))
    uploaded = await cmd(bus, "upload", {"project_id": "sales", "path": "sales.csv"})
    assert uploaded["queries"] == len(ROWS) and uploaded["distinct_queries"] == len({r["_template"] for r in ROWS})
    workload_id = uploaded["workload_id"]

    with pytest.raises(Conflict, match="not analysed yet"):
        await cmd(bus, "suggest", {"workload_id": workload_id})
    # no metadata service runs here: the catalog comes with the request
    analyzed = await cmd(bus, "analyze", {"workload_id": workload_id, "catalog": catalog().model_dump(mode="json")})
    assert analyzed["catalog"] == "request"
    totals = analyzed["totals"]
    broken = sum(1 for r in ROWS if r["_template"] in ("broken", "proc_call"))
    assert totals["queries"] == len(ROWS) and totals["unparsed_queries"] == broken and totals["tables"] == 6

    got = await qry(bus, "get", {"workload_id": workload_id, "top": 50})
    assert got["status"] == "analyzed" and got["filename"] == "sales.csv" and got["uploaded_by"] == "alice"
    tables = {t["table_name"]: t for t in got["tables_used"]}
    fact = tables["dbo.FactSales"]
    assert fact["in_catalog"] and set(fact["join_partners"]) == {
        "dbo.DimCustomer", "dbo.DimProduct", "dbo.DimDate", "dbo.DimStore", "sales.Returns"}
    assert {c["column"] for c in fact["columns"]} >= {"Amount", "OrderDate", "Status", "CustomerKey"}
    assert len(got["joins"]) == 5
    assert {q["error"].split(":")[0] for q in got["unparsed_queries"]} == {"parse error", "not analysed"}

    suggested = await cmd(bus, "suggest", {"workload_id": workload_id, "catalog": catalog().model_dump(mode="json"),
                                           "top_queries": 2})
    validators = [s["validator"] for s in suggested["suggestions"]]
    assert validators.count("foreign_keys") == 5 and validators.count("custom_query") == 2
    listed = await qry(bus, "suggestions", {"workload_id": workload_id})
    assert [s["id"] for s in listed["suggestions"]] == [s["id"] for s in suggested["suggestions"]]

    generated = await cmd(bus, "generate_pipeline", {"workload_id": workload_id, "name": "sales workload"})
    assert generated["steps"] == len(validators) and "validator: custom_query" in generated["yaml"]

    listing = await qry(bus, "list", {"project_id": "sales"})
    assert listing["total"] == 1 and listing["items"][0]["suggestions"] == len(validators)
    assert listing["items"][0]["status"] == "suggested"

    before = await read_models(database_url)
    engine = create_engine(database_url)
    try:
        applied = await rebuild(engine, "workload", WorkloadProjection())
    finally:
        await engine.dispose()
    assert applied >= 7
    assert await read_models(database_url) == before


async def test_inline_uploads_and_bad_requests(bus: nats.NATS, tmp_path: Path) -> None:
    small = await cmd(bus, "upload", {"project_id": "sales", "filename": "w.jsonl", "content": to_jsonl(iter(ROWS[:30]))})
    assert small["queries"] == 30
    analyzed = await cmd(bus, "analyze", {"workload_id": small["workload_id"]})
    assert analyzed["catalog"] == "none"  # no catalog given and no metadata service: names only, schema dbo
    got = await qry(bus, "get", {"workload_id": small["workload_id"]})
    assert all(not t["in_catalog"] for t in got["tables_used"])

    with pytest.raises(Invalid, match="inside the upload folder"):
        await cmd(bus, "upload", {"project_id": "sales", "path": "../../etc/passwd"})
    with pytest.raises(Invalid, match="no file"):
        await cmd(bus, "upload", {"project_id": "sales", "path": "missing.csv"})
    with pytest.raises(Invalid, match="either path"):
        await cmd(bus, "upload", {"project_id": "sales"})
    with pytest.raises(Invalid, match="line 2: count_executions"):
        await cmd(bus, "upload", {"project_id": "sales", "filename": "x.csv",
                                  "content": "query_sql_text,count_executions\nSELECT 1,lots\n"})
    with pytest.raises(Invalid, match="project_id") as bad_id:
        await cmd(bus, "upload", {"project_id": "bad id!", "content": "SELECT 1;", "filename": "q.sql"})
    assert [f["field"] for f in bad_id.value.details["fields"]] == ["project_id"]  # the one error shape
    assert "pattern" in bad_id.value.details["fields"][0]["message"]
    with pytest.raises(NotFound):
        await qry(bus, "get", {"workload_id": "nope"})
    with pytest.raises(NotFound):
        await cmd(bus, "analyze", {"workload_id": "nope"})
    with pytest.raises(Conflict, match="no suggestions yet"):
        await cmd(bus, "generate_pipeline", {"workload_id": small["workload_id"]})


def catalog_ddl() -> str:
    """The source catalog as T-SQL DDL (what a person uploads to the metadata service)."""
    statements = []
    for table in catalog().tables:
        columns = ", ".join(f"[{c.name}] {'decimal(12,2)' if c.data_type == 'decimal' else c.data_type}"
                            f"{'(50)' if c.data_type in ('varchar', 'nvarchar', 'char') else ''}" for c in table.columns)
        key = ", ".join(f"[{k}]" for k in table.primary_key)
        statements.append(f"CREATE TABLE [{table.schema_name}].[{table.name}] ({columns}, PRIMARY KEY ({key}));")
    return "\n".join(statements)


async def test_catalog_from_the_metadata_service_and_pipeline_saved_in_the_project(
        nats_url: str, database_url: str, tmp_path: Path) -> None:
    async with services(nats_url, database_url, tmp_path, metadata=True) as nc:
        await request(nc, command_subject("projects", "create"), {"id": "dw", "name": "DW"}, meta=ALICE)
        await request(nc, command_subject("metadata", "upload_ddl"),
                      {"project_id": "dw", "side": "source", "dialect": "tsql", "ddl": catalog_ddl()}, meta=ALICE)
        uploaded = await cmd(nc, "upload", {"project_id": "dw", "filename": "w.csv", "content": to_csv(iter(ROWS))})
        analyzed = await cmd(nc, "analyze", {"workload_id": uploaded["workload_id"]})
        assert analyzed["catalog"] == "metadata" and analyzed["totals"]["tables"] == 6
        got = await qry(nc, "get", {"workload_id": uploaded["workload_id"]})
        assert {t["table_name"] for t in got["tables_used"] if t["in_catalog"]} == {
            "dbo.FactSales", "dbo.DimCustomer", "dbo.DimProduct", "dbo.DimDate", "dbo.DimStore", "sales.Returns"}
        suggested = await cmd(nc, "suggest", {"workload_id": uploaded["workload_id"]})
        pairs = (await qry(nc, "join_pairs", {"project_id": "dw"}))["join_pairs"]
        assert len(pairs) == 5 and pairs[0]["executions"] >= pairs[-1]["executions"] > 0
        relationships = await request(nc, command_subject("metadata", "infer_relationships"),
                                      {"project_id": "dw", "side": "source", "join_pairs": pairs}, meta=ALICE)
        assert any(r["child_table"].lower() == "dbo.factsales" and r["parent_table"].lower() == "dbo.dimcustomer"
                   for r in relationships["relationships"])
        fks = {(s["table"], s["parameters"]["references"]) for s in suggested["suggestions"]
               if s["validator"] == "foreign_keys"}
        assert ("dbo.FactSales", "dbo.DimCustomer") in fks  # the parent found by the catalog's primary key
        generated = await cmd(nc, "generate_pipeline", {"workload_id": uploaded["workload_id"], "save": True,
                                                        "name": "from the workload"})
        saved = await request(nc, query_subject("projects", "pipeline"),
                              {"project_id": "dw", "pipeline_id": generated["pipeline_id"]}, meta=ALICE)
        assert saved["name"] == "from the workload" and saved["yaml"] == generated["yaml"]
        with pytest.raises(NotFound):
            await cmd(nc, "upload", {"project_id": "nobody", "filename": "w.csv", "content": to_csv(iter(ROWS[:3]))})


async def test_a_deleted_projects_workloads_leave_the_read_models(bus: nats.NATS) -> None:
    uploaded = await cmd(bus, "upload", {"project_id": "sales", "filename": "w.jsonl", "content": to_jsonl(iter(ROWS[:40]))})
    await cmd(bus, "analyze", {"workload_id": uploaded["workload_id"], "catalog": catalog().model_dump(mode="json")})
    assert (await qry(bus, "list", {"project_id": "sales"}))["total"] == 1
    await request(bus, command_subject("projects", "delete"), {"id": "sales"}, meta=ALICE)

    async def cleaned() -> bool:  # the cleanup consumer applies ProjectDeleted from JetStream
        return (await qry(bus, "list", {"project_id": "sales"}))["total"] == 0

    await eventually(cleaned, timeout=20, what="the deleted project's workloads gone")
    assert (await qry(bus, "list", {"project_id": "sales"}))["total"] == 0
    assert (await qry(bus, "join_pairs", {"project_id": "sales"}))["join_pairs"] == []
    with pytest.raises(NotFound):
        await qry(bus, "get", {"workload_id": uploaded["workload_id"]})
