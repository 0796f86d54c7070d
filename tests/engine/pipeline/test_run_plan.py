"""A price before running (engine.pipeline.estimate): `ombudsman run --plan` estimates per step the rows
and bytes each side will scan, the seconds and (Snowflake) credits, from statistics and a measured
scan rate, and runs nothing; a real run records actual vs estimated per step."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import sqlglot
import yaml
from sqlglot import exp

from ombudsman.contracts.pipeline import TableRef, parse_pipeline
from ombudsman.engine.connectors import connect
from ombudsman.engine.pipeline import estimate, run_pipeline
from ombudsman.engine.pipeline.estimate import SQLSERVER_STATS, plan_pipeline, probe_query

from .test_pipeline_cli import ombudsman

ROWS = 20_000


async def _load(pg_url: str, duck_url: str, target_rows: int = ROWS) -> None:
    conn = await asyncpg.connect(pg_url)
    try:
        await conn.execute("CREATE TABLE public.orders (id int PRIMARY KEY, amount numeric(12,2), note text)")
        await conn.execute(f"INSERT INTO public.orders SELECT g, g * 0.5, 'note ' || g FROM generate_series(1, {ROWS}) g")
        await conn.execute("ANALYZE public.orders")
    finally:
        await conn.close()
    async with connect(duck_url) as duck:
        await duck.execute("CREATE TABLE main.orders (id INTEGER PRIMARY KEY, amount DECIMAL(12,2), note VARCHAR)")
        await duck.execute(f"INSERT INTO main.orders SELECT i, i * 0.5, 'note ' || i FROM range(1, {target_rows + 1}) t(i)")


def _spec(pg_url: str, duck_url: str) -> dict[str, Any]:
    return {
        "name": "orders", "connections": {"source": pg_url, "target": duck_url},
        "steps": [
            {"id": "columns", "validator": "schema_columns", "tables": {"source": "public.orders", "target": "main.orders"}},
            {"id": "counts", "validator": "record_counts", "tables": {"source": "public.orders", "target": "main.orders"}},
            {"id": "rows", "validator": "row_hash", "tables": {"source": "public.orders", "target": "main.orders"},
             "parameters": {"key": ["id"]}},
        ],
    }


async def test_plan_estimates_rows_bytes_and_seconds_per_side(database_url: str, duckdb_url: str,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(estimate, "PROBE_ROWS", 1_000)  # a probe smaller than the table: rows from statistics
    await _load(database_url, duckdb_url)
    plan = await plan_pipeline(parse_pipeline(_spec(database_url, duckdb_url)))
    by_step = {c.step: c for c in plan.steps}
    schema = by_step["columns"]
    assert schema.source is not None and schema.source.scans == 0 and schema.source.seconds is None
    for name in ("counts", "rows"):
        cost = by_step[name]
        assert cost.source is not None and cost.target is not None
        assert cost.source.rows == ROWS and "pg_class" in cost.source.statistics
        assert cost.source.bytes is not None and cost.source.bytes > ROWS * 10  # the heap: > 10 B per row
        assert cost.target.rows == ROWS and "duckdb_tables" in cost.target.statistics
        assert cost.target.bytes is not None and cost.target.bytes > ROWS * 10 and "column types" in cost.target.statistics
        for side in (cost.source, cost.target):
            assert side.rate_rows_per_second and side.rate_rows_per_second > 0 and side.seconds and side.seconds > 0
        assert cost.seconds == max(cost.source.seconds, cost.target.seconds) and cost.credits is None
    assert plan.seconds is not None and plan.seconds >= by_step["rows"].seconds


async def test_a_run_records_actual_vs_estimated(database_url: str, duckdb_url: str) -> None:
    await _load(database_url, duckdb_url, target_rows=ROWS - 3)
    result = await run_pipeline(parse_pipeline(_spec(database_url, duckdb_url)))
    counts = next(s for s in result.steps if s.step == "counts")
    assert counts.status == "failed"  # three rows short: the run did run
    cost = counts.details["cost"]
    assert cost["estimated"]["source"]["rows"] == ROWS and cost["estimated"]["target"]["rows"] == ROWS - 3
    assert cost["actual"]["source"]["rows"] == ROWS and cost["actual"]["target"]["rows"] == ROWS - 3
    assert cost["actual"]["seconds"] == counts.duration_seconds and cost["estimated"]["seconds"] > 0
    assert cost["actual"]["source"]["bytes"] == cost["estimated"]["source"]["bytes"]  # same rows, same bytes
    schema = next(s for s in result.steps if s.step == "columns").details["cost"]
    assert schema["estimated"]["source"]["scans"] == 0 and "seconds" not in schema["estimated"]["source"]


async def test_snowflake_price_in_credits(fakesnow_url: str) -> None:
    async with connect(fakesnow_url) as db:
        await db.execute("CREATE TABLE ORDERS (ID INTEGER, AMOUNT NUMBER(12,2))")
        await db.execute("INSERT INTO ORDERS SELECT seq4(), 1.5 FROM TABLE(GENERATOR(ROWCOUNT => 500))")
    spec = parse_pipeline({"name": "sf", "connections": {"source": fakesnow_url, "target": fakesnow_url},
                           "steps": [{"id": "counts", "validator": "record_counts", "table": "PUBLIC.ORDERS"}]})
    plan = await plan_pipeline(spec)
    side = plan.steps[0].source
    assert side is not None and side.rows == 500 and "INFORMATION_SCHEMA.TABLES" in side.statistics
    assert side.seconds and side.credits == pytest.approx(side.seconds / 3600, rel=1e-3, abs=1e-6)
    other = plan.steps[0].target
    assert other is not None and other.credits is not None and "X-Small" in (side.note or "")
    assert plan.credits == pytest.approx(side.credits + other.credits, abs=2e-6)  # both sides scan


def test_cli_plan_runs_nothing_and_prints_a_table(database_url: str, duckdb_url: str, tmp_path: Path) -> None:
    import asyncio

    asyncio.run(_load(database_url, duckdb_url, target_rows=ROWS - 3))
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump(_spec(database_url, duckdb_url)))
    done = ombudsman("run", str(path), "--plan")
    assert done.returncode == 0, done.stderr  # the run would fail (3 rows short): nothing ran
    lines = [line for line in done.stdout.splitlines() if "counts" in line]
    assert len(lines) == 2 and any("20,000" in line for line in lines) and any("19,997" in line for line in lines)
    as_json = ombudsman("run", str(path), "--plan", "--format", "json", "--step", "rows")
    assert as_json.returncode == 0, as_json.stderr
    plan = json.loads(as_json.stdout)
    assert [s["step"] for s in plan["steps"]] == ["rows"] and plan["steps"][0]["source"]["rows"] == ROWS
    refused = ombudsman("run", str(path), "--plan", "--format", "junit")
    assert refused.returncode == 2 and "--format" in refused.stderr


def test_statistics_and_probe_sql_parse_back() -> None:
    tsql = sqlglot.parse_one(SQLSERVER_STATS, read="tsql")
    assert {t.name for t in tsql.find_all(exp.Table)} == {"dm_db_partition_stats"}
    ref = TableRef(name="Orders", schema_name="dbo")
    for dialect in ("tsql", "snowflake", "postgres", "duckdb"):
        for row_text in (False, True):
            probe = sqlglot.parse_one(probe_query(ref, dialect, 1000, row_text=row_text), read=dialect)
            assert probe.find(exp.Count) is not None and "1000" in probe.sql(dialect=dialect)
            assert [t.name for t in probe.find_all(exp.Table)] == ["Orders"]
            assert (probe.find(exp.Sum) is not None) == (row_text and dialect != "tsql")
