"""The metadata service over real NATS and PostgreSQL, next to the real projects service: from two
connections to saved pipelines that pass, and every bad input answered with a clear error."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import nats
import pytest

from ombudsman.contracts.envelope import Actor, Metadata
from ombudsman.contracts.pipeline import load_pipeline
from ombudsman.contracts.replies import Invalid, NotFound, Unavailable
from ombudsman.contracts.subjects import command_subject, query_subject
from ombudsman.engine.connectors import connect
from ombudsman.engine.pipeline import run_pipeline
from ombudsman.eventstore.rpc import request
from tests.metadata.warehouse import SOURCE_DDL, TARGET_DDL
from tests.support import eventually

ANA = Metadata(actor=Actor(id="u-ana", name="ana", role="user"))


async def call(nc: nats.NATS, kind: str, service: str, name: str, payload: dict[str, Any]) -> Any:
    subject = command_subject(service, name) if kind == "cmd" else query_subject(service, name)
    return await request(nc, subject, payload, meta=ANA, timeout=120)


async def md(nc: nats.NATS, name: str, payload: dict[str, Any], kind: str = "cmd") -> Any:
    return await call(nc, kind, "metadata", name, payload)


async def wait_job(nc: nats.NATS, project_id: str, job_id: str, seconds: float = 120,
                   every: float = 0.1) -> dict[str, Any]:
    """Poll an automate job (every `every` seconds) until it ends."""

    async def ended() -> dict[str, Any] | None:
        job = await md(nc, "automate_job", {"project_id": project_id, "job_id": job_id}, "qry")
        return dict(job) if job["status"] != "running" else None

    return await eventually(ended, timeout=seconds, interval=every, what=f"automate job {job_id} to end")


async def automate(nc: nats.NATS, payload: dict[str, Any]) -> dict[str, Any]:
    """Start an automate job and wait for it: its summary (the job must complete)."""
    started = await md(nc, "automate", payload)
    assert started["status"] == "running" and started["job_id"].startswith("aj-"), started
    job = await wait_job(nc, payload["project_id"], started["job_id"])
    assert job["status"] == "completed", job
    return dict(job["summary"])


async def test_automate_from_connections_to_saved_pipelines_that_pass(
    bus: nats.NATS, source_url: str, target_url: str
) -> None:
    await call(bus, "cmd", "projects", "create", {"id": "dw", "name": "Sales DW"})
    await call(bus, "cmd", "projects", "add_connection",
               {"project_id": "dw", "name": "source", "role": "source", "url": source_url})
    await call(bus, "cmd", "projects", "add_connection",
               {"project_id": "dw", "name": "target", "role": "target", "url": target_url})
    result = await automate(bus, {"project_id": "dw", "source_schemas": ["sales"],
                                  "target_schemas": ["SALES"], "auto_approve_threshold": 0.8})
    assert [e["tables"] for e in result["extracted"]] == [12, 13]
    assert result["suggested"] == 12 and result["auto_approved"] == 12
    assert result["classes"] == {"bridge": 1, "dimension": 7, "fact": 3, "staging": 1, "scd2": 1}
    assert result["relationships"] == 14  # 11 declared + 3 found by name (fact_returns)
    # one per table and the project's coverage check (every table mapped: nothing uncovered)
    assert len(result["pipeline_ids"]) == 13 and "validate-sales-fact-sales" in result["pipeline_ids"]
    assert result["pipeline_ids"][-1] == "validate-coverage" and result["uncovered"] == {"tables": [], "columns": []}

    saved = await call(bus, "qry", "projects", "pipelines", {"project_id": "dw"})
    assert saved["total"] == 13
    stored = await call(bus, "qry", "projects", "pipeline", {"project_id": "dw", "pipeline_id": "validate-sales-dim-customer"})
    assert "generated" in stored["tags"] and "scd2" in stored["tags"]
    outcome = await run_pipeline(load_pipeline(stored["yaml"]), env={"SOURCE_URL": source_url, "TARGET_URL": target_url})
    assert outcome.status == "passed" and "scd2" in [s.step for s in outcome.steps]

    mappings = (await md(bus, "mappings", {"project_id": "dw"}, "qry"))["mappings"]
    assert len(mappings) == 12 and all(m["automatic"] for m in mappings)
    # automation again never overturns a person's decision: a rejected pair stays rejected
    customer = next(m for m in mappings if m["source_table"] == "sales.dim_customer")
    await md(bus, "reject", {"project_id": "dw", "source_table": "sales.dim_customer",
                             "target_table": customer["target_table"]})
    again = await automate(bus, {"project_id": "dw", "extract": False, "auto_approve_threshold": 0.8})
    assert again["auto_approved"] == 0 and "validate-sales-dim-customer" not in again["pipeline_ids"]
    mappings = (await md(bus, "mappings", {"project_id": "dw"}, "qry"))["mappings"]
    assert "sales.dim_customer" not in {m["source_table"] for m in mappings} and len(mappings) == 11
    classes = await md(bus, "classification", {"project_id": "dw"}, "qry")
    assert {t["table"]: t["role"] for t in classes["tables"]}["sales.fact_returns"] == "fact"
    status = await md(bus, "status", {"project_id": "dw"}, "qry")
    assert status["sides"]["target"]["event"] == "MetadataExtracted"
    assert status["summaries"]["PipelinesGenerated"]["pipeline_ids"] == again["pipeline_ids"]
    ddl = await md(bus, "target_ddl", {"project_id": "dw", "target": "bigquery"}, "qry")
    assert ddl["sql"].count("CREATE TABLE") == 12
    dbt = await md(bus, "dbt_sources", {"project_id": "dw"}, "qry")
    assert "relationships" in dbt["yaml"]

    # the projects service learns from the metadata events (JetStream consumer): poll its flags

    async def automated() -> dict[str, Any] | None:
        found = await call(bus, "qry", "projects", "get", {"id": "dw"})
        return found if found.get("automation_completed") else None

    project = await eventually(automated, timeout=20, interval=0.2, what="the project's automation flag")
    assert project["has_metadata"] and project["has_relationships"] and project["automation_completed"]

    # the project's own schemas are what an extraction without `schemas` reads (this database also
    # holds the services' schemas)
    await call(bus, "cmd", "projects", "update", {"id": "dw", "changes": {"source_schemas": ["sales"]}})
    plain = await md(bus, "extract", {"project_id": "dw", "side": "source"})
    assert plain["schemas"] == ["sales"] and plain["tables"] == 12 and plain["changes"]["tables_added"] == 0

    # re-extraction shows what changed
    async with connect(source_url) as db:
        await db.execute("ALTER TABLE sales.dim_store ADD COLUMN opened_on date")
        await db.execute("ALTER TABLE sales.dim_promotion ALTER COLUMN discount_pct TYPE numeric(7,3)")
        await db.execute("DROP TABLE sales.stg_sales_import")
    again = await md(bus, "extract", {"project_id": "dw", "side": "source", "schemas": ["sales"]})
    assert again["changes"]["tables_removed"] == 1 and again["changes"]["columns_added"] == 1
    changes = await md(bus, "changes", {"project_id": "dw", "side": "source"}, "qry")
    assert changes["columns_added"] == {"sales.dim_store": ["opened_on"]}
    assert changes["tables_removed"] == ["sales.stg_sales_import"]
    assert [(c["column"], c["after"]) for c in changes["columns_retyped"]["sales.dim_promotion"]] == [
        ("discount_pct", "numeric(7,3)")]


async def test_ddl_upload_and_the_review_flow(bus: nats.NATS) -> None:
    await call(bus, "cmd", "projects", "create", {"id": "ddl", "name": "From DDL"})
    with pytest.raises(NotFound):
        await md(bus, "suggest", {"project_id": "ddl"})
    src = await md(bus, "upload_ddl", {"project_id": "ddl", "side": "source", "dialect": "postgresql", "ddl": SOURCE_DDL})
    assert src["tables"] == 12 and src["changes"]["first_extraction"]
    await md(bus, "upload_ddl", {"project_id": "ddl", "side": "target", "dialect": "snowflake", "ddl": TARGET_DDL})
    suggested = await md(bus, "suggest", {"project_id": "ddl"})
    assert suggested["unmapped_target_tables"] == ["SALES.AUDIT_LOG"]
    # approve as suggested, then correct one column, then reject another pair
    first = await md(bus, "approve", {"project_id": "ddl", "source_table": "sales.fact_sales",
                                      "target_table": "SALES.FCT_SALES"})
    assert first["changed"] and first["mapping"]["columns"]["quantity"] == "QTY"
    assert first["mapping"]["confidence"] == 1.0
    corrected = await md(bus, "approve", {"project_id": "ddl", "source_table": "sales.fact_sales",
                                          "target_table": "SALES.FCT_SALES", "columns": {"sale_id": "SALE_ID"}})
    assert corrected["mapping"]["columns"] == {"sale_id": "SALE_ID"}
    await md(bus, "approve", {"project_id": "ddl", "source_table": "sales.dim_date", "target_table": "SALES.DIM_DATE"})
    await md(bus, "reject", {"project_id": "ddl", "source_table": "sales.dim_date", "target_table": "SALES.DIM_DATE"})
    mappings = (await md(bus, "mappings", {"project_id": "ddl"}, "qry"))["mappings"]
    assert [(m["source_table"], m["columns"], m["approved_by"]) for m in mappings] == [
        ("sales.fact_sales", {"sale_id": "SALE_ID"}, "ana")]
    inferred = await md(bus, "infer_relationships", {"project_id": "ddl", "join_pairs": [
        {"left_table": "sales.fact_returns", "left_column": "product_key", "right_table": "sales.dim_product",
         "right_column": "product_key", "executions": 250}]})
    rels = {(r["child_table"], r["child_columns"][0]): r for r in inferred["relationships"]}
    kinds = {e["kind"] for e in rels[("sales.fact_returns", "product_key")]["evidence"]}
    assert kinds == {"name_pattern", "workload"}
    stored = await md(bus, "relationships", {"project_id": "ddl"}, "qry")
    assert len(stored["relationships"]) == len(inferred["relationships"]) == 14
    classified = await md(bus, "classify", {"project_id": "ddl", "side": "target"})
    assert classified["counts"]["fact"] == 3 and classified["counts"]["scd2"] == 1
    generated = await md(bus, "generate_pipelines", {"project_id": "ddl", "save": False})
    assert generated["pipeline_ids"] == ["validate-sales-fact-sales", "validate-coverage"]
    assert len(generated["uncovered"]["tables"]) == 11  # only fact_sales is mapped
    assert load_pipeline(generated["pipelines"][0]["yaml"]).name == generated["pipelines"][0]["name"]
    # bad input, each named
    with pytest.raises(Invalid) as bad:
        await md(bus, "upload_ddl", {"project_id": "ddl", "side": "source", "dialect": "tsql",
                                     "ddl": "CREATE TABLE a (x INT)\nGO\nCREATE TABLE b (\n  y INT,\n  z INT w v\n)"})
    assert bad.value.message.startswith("DDL line 5: statement 2") and bad.value.details["line"] == 5
    with pytest.raises(Invalid, match="columns: unknown column"):
        await md(bus, "approve", {"project_id": "ddl", "source_table": "sales.fact_sales",
                                  "target_table": "SALES.FCT_SALES", "columns": {"nope": "SALE_ID"}})
    with pytest.raises(Invalid, match="side") as bad_side:
        await md(bus, "upload_ddl", {"project_id": "ddl", "side": "middle", "dialect": "tsql", "ddl": "x"})
    assert [f["field"] for f in bad_side.value.details["fields"]] == ["side"]  # the one error shape
    with pytest.raises(NotFound):
        await md(bus, "upload_ddl", {"project_id": "ghost", "side": "source", "dialect": "tsql",
                                     "ddl": "CREATE TABLE a (x INT)"})
    # deleting the project (projects service) removes its metadata read model (JetStream consumer)
    await call(bus, "cmd", "projects", "delete", {"id": "ddl"})

    async def cleaned() -> bool:
        return not (await md(bus, "mappings", {"project_id": "ddl"}, "qry"))["mappings"]

    await eventually(cleaned, timeout=20, interval=0.2, what="the deleted project's mappings gone")
    with pytest.raises(NotFound):
        await md(bus, "catalog", {"project_id": "ddl", "side": "source"}, "qry")


@pytest.fixture
async def silent_port() -> AsyncIterator[int]:
    """A TCP port that accepts connections and never answers (a database that hangs)."""
    held: list[asyncio.StreamWriter] = []

    async def accept(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_unreachable_connection_is_a_clear_error_in_event_and_reply(bus: nats.NATS, silent_port: int) -> None:
    await call(bus, "cmd", "projects", "create", {"id": "down", "name": "Down"})
    await call(bus, "cmd", "projects", "add_connection",
               {"project_id": "down", "name": "source", "url": f"postgresql://u:s3cretpw@127.0.0.1:{silent_port}/db"})
    await call(bus, "cmd", "projects", "add_connection",
               {"project_id": "down", "name": "refused", "url": "postgresql://u:s3cretpw@127.0.0.1:1/db"})
    # a database that never answers: the extraction gives up after timeout_seconds (a hang is the
    # pytest timeout's business) and says so, naming the connection
    with pytest.raises(Unavailable) as err:
        await md(bus, "extract", {"project_id": "down", "side": "source", "timeout_seconds": 1})
    assert err.value.message == "cannot extract the source catalog over connection 'source': timed out"
    assert err.value.details == {"side": "source", "connection": "source"}
    status = await md(bus, "status", {"project_id": "down"}, "qry")
    assert status["sides"]["source"]["event"] == "MetadataExtractionFailed"
    assert status["sides"]["source"]["error"] == err.value.message
    # a refused connection fails the same way with the database's own reason, never the password
    with pytest.raises(Unavailable) as refused:
        await md(bus, "extract", {"project_id": "down", "side": "source", "connection": "refused"})
    assert refused.value.message.startswith("cannot extract the source catalog over connection 'refused': ")
    assert "timed out" not in refused.value.message and "s3cretpw" not in refused.value.message
    assert (await md(bus, "status", {"project_id": "down"}, "qry"))["sides"]["source"]["error"] == refused.value.message
    with pytest.raises(NotFound, match="connection 'target' not found"):
        await md(bus, "extract", {"project_id": "down", "side": "target"})
    with pytest.raises(NotFound):
        await md(bus, "extract", {"project_id": "ghost", "side": "source"})
