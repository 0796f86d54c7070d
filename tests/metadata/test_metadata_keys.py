"""Issue 23: keys of tables without a declared key, recorded in the catalog with evidence
(`KeyDiscovered`), confirmed or overridden by a person (`KeyConfirmed` / `KeyOverridden`, the actor
in the audit log), and used by the generated row_hash step. A keyless fact (an order line: its key is
the degenerate `order_number` + `line_number`) in a real PostgreSQL source and a fakesnow target."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import asyncpg
import httpx
import nats
import pytest

from ombudsman.client.sdk import ApiError, OmbudsmanClient
from ombudsman.contracts.envelope import Actor, Metadata
from ombudsman.contracts.pipeline import load_pipeline
from ombudsman.contracts.replies import Conflict, Invalid
from ombudsman.contracts.subjects import command_subject, query_subject
from ombudsman.engine.connectors import connect
from ombudsman.engine.pipeline import run_pipeline
from ombudsman.eventstore.rpc import request
from tests.gateway.conftest import Served, served  # noqa: F401  (fixture)
from tests.support import eventually

ANA = Metadata(actor=Actor(id="u-ana", name="ana", role="user"))
ROWS = [(f"SO{o:05d}", line, 100 + (o * 7 + line) % 13, line, f"{o}.{line:02d}") for o in range(1, 21)
        for line in range(1, 4)]  # 60 order lines; product_key repeats, order_number repeats


async def load_keyless(source_url: str, target_url: str) -> None:
    """shop.order_lines (no key) in PostgreSQL, SHOP.ORDER_LINES (no key) in fakesnow, same rows;
    shop.product has a declared key (no discovery)."""
    values = ", ".join(f"('{o}', {ln}, {p}, {q}, {a})" for o, ln, p, q, a in ROWS)
    async with connect(source_url) as db:
        await db.execute("CREATE SCHEMA shop")
        await db.execute("CREATE TABLE shop.order_lines (order_number varchar(20) NOT NULL, line_number integer NOT NULL,"
                         " product_key integer, qty integer, amount numeric(12,2))")
        await db.execute(f"INSERT INTO shop.order_lines VALUES {values}")
        await db.execute("CREATE TABLE shop.product (product_key integer PRIMARY KEY, name varchar(20))")
    async with connect(target_url) as db:
        await db.execute("CREATE SCHEMA IF NOT EXISTS SHOP")
        await db.execute("CREATE TABLE SHOP.ORDER_LINES (ORDER_NUMBER VARCHAR(20) NOT NULL, LINE_NUMBER NUMBER(38,0) "
                         "NOT NULL, PRODUCT_KEY NUMBER(38,0), QTY NUMBER(38,0), AMOUNT NUMBER(12,2))")
        await db.execute(f"INSERT INTO SHOP.ORDER_LINES VALUES {values}")
        await db.execute("CREATE TABLE SHOP.PRODUCT (PRODUCT_KEY NUMBER(38,0) PRIMARY KEY, NAME VARCHAR(20))")


async def call(nc: nats.NATS, kind: str, service: str, name: str, payload: dict[str, Any]) -> Any:
    subject = command_subject(service, name) if kind == "cmd" else query_subject(service, name)
    return await request(nc, subject, payload, meta=ANA, timeout=120)


async def md(nc: nats.NATS, name: str, payload: dict[str, Any], kind: str = "cmd") -> Any:
    return await call(nc, kind, "metadata", name, payload)


async def stored_events(database_url: str, event_type: str) -> list[dict[str, Any]]:
    """The metadata service's stored events of one type (data + actor), in order."""
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch("SELECT data, metadata FROM metadata.events WHERE event_type = $1 "
                                "ORDER BY global_position", event_type)
    finally:
        await conn.close()
    return [{**json.loads(r["data"]), "_meta": json.loads(r["metadata"])} for r in rows]


async def test_keys_discovered_on_both_sides_recorded_and_used_by_the_generated_row_hash(
    bus: nats.NATS, warehouse_url: str, fakesnow_url: str, database_url: str
) -> None:
    await load_keyless(warehouse_url, fakesnow_url)
    await call(bus, "cmd", "projects", "create", {"id": "kl", "name": "Keyless"})
    for side, url in (("source", warehouse_url), ("target", fakesnow_url)):
        await call(bus, "cmd", "projects", "add_connection", {"project_id": "kl", "name": side, "role": side, "url": url})
    # extraction discovers keys of tables without a declared key, on each side's own database
    src = await md(bus, "extract", {"project_id": "kl", "side": "source", "schemas": ["shop"]})
    tgt = await md(bus, "extract", {"project_id": "kl", "side": "target", "schemas": ["SHOP"]})
    assert src["keys"] == {"checked": 1, "discovered": 1, "recorded": 1}, src["keys"]
    assert tgt["keys"] == {"checked": 1, "discovered": 1, "recorded": 1}, tgt["keys"]
    found = await stored_events(database_url, "KeyDiscovered")
    assert [(e["side"], e["table"], e["columns"]) for e in found] == [
        ("source", "shop.order_lines", ["order_number", "line_number"]),
        ("target", "SHOP.ORDER_LINES", ["ORDER_NUMBER", "LINE_NUMBER"])]
    evidence = found[0]["evidence"]
    assert evidence["reason"] == "degenerate_line"
    assert evidence["source"] == {"unique": True, "rows": 60, "duplicates": 0, "nulls": 0, "sampled": False}

    # the catalog and the keys query show each table's key
    keys = {k["table"]: k for k in (await md(bus, "keys", {"project_id": "kl", "side": "source"}, "qry"))["keys"]}
    assert keys["shop.order_lines"]["status"] == "discovered"
    assert keys["shop.order_lines"]["columns"] == ["order_number", "line_number"]
    assert keys["shop.product"] == {"table": "shop.product", "columns": ["product_key"], "status": "declared",
                                    "declared": ["product_key"]}
    catalog = await md(bus, "catalog", {"project_id": "kl", "side": "target"}, "qry")
    by_name = {t["name"]: t for t in catalog["tables"]}
    assert by_name["ORDER_LINES"]["key"]["status"] == "discovered"
    assert by_name["ORDER_LINES"]["key"]["evidence"]["target"]["rows"] == 60
    # extracting again finds the same key: nothing new is recorded
    again = await md(bus, "extract", {"project_id": "kl", "side": "source", "schemas": ["shop"]})
    assert again["keys"]["recorded"] == 0

    # mapped, discovery on demand checks the pair on both sides (target names through the mapping)
    await md(bus, "suggest", {"project_id": "kl"})
    await md(bus, "approve", {"project_id": "kl", "source_table": "shop.order_lines", "target_table": "SHOP.ORDER_LINES"})
    pair = await md(bus, "discover_keys", {"project_id": "kl", "table": "shop.order_lines"})
    assert pair["recorded"] == 2 and [k["columns"] for k in pair["keys"]] == [
        ["order_number", "line_number"], ["ORDER_NUMBER", "LINE_NUMBER"]]
    assert pair["keys"][0]["evidence"]["target"]["unique"] and pair["keys"][0]["evidence"]["source"]["rows"] == 60

    # the generated row_hash step uses the discovered key, and the pipeline passes
    generated = await md(bus, "generate_pipelines", {"project_id": "kl", "save": False})
    spec = load_pipeline(next(p["yaml"] for p in generated["pipelines"] if p["source_table"] == "shop.order_lines"))
    row_hash = next(s for s in spec.steps if s.validator == "row_hash")
    assert row_hash.parameters["key"] == ["order_number", "line_number"]
    outcome = await run_pipeline(spec, env={"SOURCE_URL": warehouse_url, "TARGET_URL": fakesnow_url})
    assert outcome.status == "passed", [(s.step, s.status, s.message) for s in outcome.steps]

    # a person's decisions: confirm, bad override (422 naming the field), override; generation follows
    with pytest.raises(Invalid) as bad:
        await md(bus, "override_key", {"project_id": "kl", "table": "shop.order_lines", "columns": ["order_no"]})
    assert bad.value.details["field"] == "columns" and "order_no" in bad.value.message
    with pytest.raises(Conflict):
        await md(bus, "confirm_key", {"project_id": "kl", "table": "shop.product"})
    confirmed = await md(bus, "confirm_key", {"project_id": "kl", "table": "shop.order_lines"})
    assert confirmed["changed"] and confirmed["key"]["status"] == "confirmed" and confirmed["key"]["by"] == "ana"
    assert not (await md(bus, "confirm_key", {"project_id": "kl", "table": "shop.order_lines"}))["changed"]
    overridden = await md(bus, "override_key", {"project_id": "kl", "table": "shop.order_lines",
                                                "columns": ["ORDER_NUMBER", "line_number", "product_key"],
                                                "note": "lines are per product"})
    assert overridden["key"]["columns"] == ["order_number", "line_number", "product_key"]
    assert overridden["key"]["status"] == "overridden" and overridden["key"]["note"] == "lines are per product"
    logged = await stored_events(database_url, "KeyOverridden")
    assert logged[0]["previous"] == ["order_number", "line_number"] and logged[0]["_meta"]["actor"]["name"] == "ana"
    # a later discovery never replaces a person's decision
    await md(bus, "discover_keys", {"project_id": "kl", "table": "shop.order_lines"})
    kept = (await md(bus, "keys", {"project_id": "kl", "table": "shop.order_lines"}, "qry"))["keys"][0]
    assert kept["status"] == "overridden" and kept["discovered"] == ["order_number", "line_number"]
    generated = await md(bus, "generate_pipelines", {"project_id": "kl", "save": False})
    spec = load_pipeline(next(p["yaml"] for p in generated["pipelines"] if p["source_table"] == "shop.order_lines"))
    assert next(s for s in spec.steps if s.validator == "row_hash").parameters["key"] == [
        "order_number", "line_number", "product_key"]


async def test_confirm_and_override_through_the_gateway_with_the_actor_audited(
    served: Served, warehouse_url: str, fakesnow_url: str  # noqa: F811
) -> None:
    await load_keyless(warehouse_url, fakesnow_url)
    owner_id, token = await served.token("kim")
    await served.create_project("gk", owner_id, owner_name="kim")
    headers = {"Authorization": f"Bearer {token}"}
    base = f"http://127.0.0.1:{served.port}"
    async with httpx.AsyncClient(base_url=base + "/api/v1", timeout=120, headers=headers) as c:
        for side, url in (("source", warehouse_url), ("target", fakesnow_url)):
            r = await c.post("/projects/gk/connections", json={"name": side, "role": side, "url": url})
            assert r.status_code == 201, r.text
        r = await c.post("/projects/gk/extract-metadata", json={"side": "source", "schemas": ["shop"]})
        assert r.status_code == 200, r.text
        r = await c.get("/projects/gk/keys", params={"side": "source"})
        assert r.status_code == 200, r.text
        keys = {k["table"]: k for k in r.json()["keys"]}
        assert keys["shop.order_lines"]["status"] == "discovered"

        r = await c.post("/projects/gk/keys/confirm", json={"table": "shop.order_lines"})
        assert r.status_code == 200, r.text
        assert r.json()["key"] == {**r.json()["key"], "status": "confirmed", "by": "kim"}
        r = await c.post("/projects/gk/keys/override", json={"table": "shop.order_lines", "columns": ["nope"]})
        assert r.status_code == 422 and "columns" in r.text, r.text
        r = await c.post("/projects/gk/keys/override", json={"table": "shop.order_lines", "columns": []})
        assert r.status_code == 422 and "columns" in r.text, r.text
        r = await c.post("/projects/gk/keys/confirm", json={"table": "shop.ghost"})
        assert r.status_code == 404 and "table" in r.text, r.text
        with OmbudsmanClient(base, token, timeout=120) as client:
            overridden = await asyncio.to_thread(client.override_key, "gk", "shop.order_lines",
                                                 ["order_number", "line_number", "product_key"], note="per product")
            assert overridden["key"]["status"] == "overridden"
            listed = await asyncio.to_thread(client.table_keys, "gk", "source", "shop.order_lines")
            assert listed["keys"][0]["columns"] == ["order_number", "line_number", "product_key"]
            with pytest.raises(ApiError) as refused:
                await asyncio.to_thread(client.confirm_key, "gk", "shop.order_lines", "source", ["qty"])
            assert refused.value.status == 422

        # the audit log holds both decisions with the person who made them
        wanted = {"KeyDiscovered", "KeyConfirmed", "KeyOverridden"}

        async def audited() -> list[dict[str, Any]] | None:
            r = await c.get("/audit/logs", params={"project_id": "gk", "limit": 500})
            assert r.status_code == 200, r.text
            items = r.json()["items"]
            return items if wanted <= {e["event_type"] for e in items} else None

        logged = await eventually(audited, timeout=30, interval=0.2, what=f"{sorted(wanted)} in the audit log")
        by_type = {e["event_type"]: e for e in logged}
        assert wanted <= set(by_type), sorted(by_type)
        for event_type in ("KeyConfirmed", "KeyOverridden"):
            assert (by_type[event_type]["actor"]["id"], by_type[event_type]["actor"]["name"]) == (owner_id, "kim")
        assert by_type["KeyDiscovered"]["actor"]["name"] == "kim"  # discovery ran on kim's extraction
