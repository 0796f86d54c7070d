"""One instant per side for a whole run (ombudsman.engine.snapshots): a writer inserting rows between
two steps of a PostgreSQL run is not seen by the second step when the run is pinned, and is seen when
it is not; Snowflake's AT rewriting and SQL Server's probe and database snapshot (which cannot run here)
are parsed back with sqlglot."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest
import sqlglot
from sqlglot import exp

from ombudsman.contracts.pipeline import parse_pipeline
from ombudsman.engine.connectors.odbc import OdbcConnector
from ombudsman.engine.pipeline import StepEvent, run_pipeline
from ombudsman.engine.snapshots import (
    SQLSERVER_CAN_SNAPSHOT,
    SQLSERVER_DATA_FILES,
    SQLSERVER_SNAPSHOT_CREATED,
    SQLSERVER_SNAPSHOT_PROBE,
    SQLSERVER_STALE_SNAPSHOTS,
    SqlServerAtSnapshot,
    at_pin,
    create_snapshot_sql,
    database_snapshot_refusal,
    snapshot_tables_sql,
    sqlserver_record,
    time_travel_sql,
)

ROWS, INSERTED = 100, 7


async def _load(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("CREATE TABLE public.loading (id int PRIMARY KEY, amount numeric(12,2))")
        await conn.execute(f"INSERT INTO public.loading SELECT i, i * 1.5 FROM generate_series(1, {ROWS}) i")
    finally:
        await conn.close()


def _pipeline(url: str, snapshot: str) -> Any:
    return parse_pipeline({
        "name": "loading target", "connections": {"source": url, "target": url},
        "defaults": {"snapshot": snapshot},
        "steps": [
            {"id": "first", "validator": "record_counts", "table": "public.loading"},
            {"id": "second", "validator": "record_counts", "table": "public.loading", "depends_on": ["first"]},
            {"id": "sums", "validator": "column_aggregates", "table": "public.loading", "depends_on": ["first"],
             "parameters": {"columns": ["amount"], "aggregates": ["sum"]}},
        ],
    })


async def _run_with_writer(url: str, snapshot: str) -> Any:
    """Run the pipeline; right before each later step starts, a writer commits INSERTED more rows."""
    next_id = ROWS

    async def writer(event: StepEvent) -> None:
        nonlocal next_id
        if event.kind == "started" and event.step_id != "first":
            conn = await asyncpg.connect(url)
            try:
                await conn.execute("INSERT INTO public.loading SELECT i, 1 FROM generate_series($1::int, $2::int) i",
                                   next_id + 1, next_id + INSERTED)
            finally:
                await conn.close()
            next_id += INSERTED

    return await run_pipeline(_pipeline(url, snapshot), max_parallel=1, on_progress=writer)


async def test_a_pinned_run_reads_one_instant_while_a_writer_inserts(database_url: str) -> None:
    await _load(database_url)
    result = await _run_with_writer(database_url, "run")
    counts = {s.step: (s.source["row_count"], s.target["row_count"]) for s in result.steps if s.validator == "record_counts"}
    assert counts == {"first": (ROWS, ROWS), "second": (ROWS, ROWS)}, counts
    sums = next(s for s in result.steps if s.step == "sums")
    assert sums.status == "passed" and sums.source["amount"]["sum"] == sum(i * 1.5 for i in range(1, ROWS + 1))
    pin = result.snapshots["source"]
    assert pin["isolation"] == "repeatable read" and pin["snapshot_id"] and pin["at"]
    # the run's snapshot is released with the run: nobody can read at it any more
    conn = await asyncpg.connect(database_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM public.loading") == ROWS + 2 * INSERTED
        with pytest.raises(asyncpg.PostgresError, match="snapshot"):
            async with conn.transaction(isolation="repeatable_read", readonly=True):
                await conn.execute(f"SET TRANSACTION SNAPSHOT '{pin['snapshot_id']}'")
    finally:
        await conn.close()


async def test_without_run_pinning_the_second_step_sees_the_new_rows(database_url: str) -> None:
    await _load(database_url)
    result = await _run_with_writer(database_url, "step")
    counts = {s.step: s.source["row_count"] for s in result.steps if s.validator == "record_counts"}
    assert counts["first"] == ROWS and counts["second"] > ROWS, counts
    assert result.snapshots == {}


async def test_row_hash_reads_at_the_run_snapshot(database_url: str) -> None:
    await _load(database_url)
    spec = parse_pipeline({
        "name": "rows", "connections": {"source": database_url, "target": database_url},
        "steps": [{"id": "rows", "validator": "row_hash", "table": "public.loading", "parameters": {"key": ["id"]}}],
    })
    result = await run_pipeline(spec)
    step = result.steps[0]
    assert step.status == "passed", step.message
    snapshot = step.details["snapshot"]["source"]
    assert snapshot["pinned"] == "run" and snapshot["snapshot_id"] == result.snapshots["source"]["snapshot_id"]


async def test_fakesnow_says_it_has_no_time_travel(fakesnow_url: str, duckdb_url: str) -> None:
    from ombudsman.engine.connectors import connect

    for url in (fakesnow_url, duckdb_url):
        async with connect(url) as db:
            await db.execute("CREATE TABLE t (id INTEGER)")
            await db.execute("INSERT INTO t VALUES (1), (2)")
    spec = parse_pipeline({
        "name": "fs", "connections": {"source": duckdb_url, "target": fakesnow_url},
        "steps": [{"id": "counts", "validator": "record_counts", "tables": {"source": "main.t", "target": "PUBLIC.T"}}],
    })
    result = await run_pipeline(spec)
    assert result.steps[0].status == "passed", result.steps[0].message
    assert result.snapshots["target"] == {"isolation": "none", "reason": "fakesnow has no time travel"}
    assert result.snapshots["source"]["isolation"] == "none" and "DuckDB" in result.snapshots["source"]["reason"]


def test_snowflake_reads_every_table_at_the_run_instant() -> None:
    at = "2026-12-05 01:00:00.123456789 +0000"
    sql = ('WITH recent AS (SELECT "ID" FROM "DB"."PUBLIC"."ORDERS" WHERE "ID" > ?) '
           'SELECT COUNT(*) FROM recent JOIN "PUBLIC"."ITEMS" AS i ON i."ORDER_ID" = recent."ID" '
           'WHERE EXISTS (SELECT 1 FROM "PUBLIC"."RETURNS" r WHERE r."ID" = i."ID")')
    pinned = time_travel_sql(sql, at)
    tree = sqlglot.parse_one(pinned, read="snowflake")
    tables = {t.name: t for t in tree.find_all(exp.Table)}
    for name in ("ORDERS", "ITEMS", "RETURNS"):
        when = tables[name].args.get("when")
        assert isinstance(when, exp.HistoricalData) and when.text("this") == "AT", (name, pinned)
        assert at in when.sql(dialect="snowflake")
    assert tables["recent"].args.get("when") is None  # the CTE's own name is not a table
    assert pinned.count("?") == 1
    assert time_travel_sql(pinned, at) == pinned  # already AT: left as it is


def test_sqlserver_snapshot_probe_and_its_record() -> None:
    tree = sqlglot.parse_one(SQLSERVER_SNAPSHOT_PROBE, read="tsql")
    assert {t.name for t in tree.find_all(exp.Table)} == {"databases"}
    on = sqlserver_record([(1, "Sales", "2026-12-05T01:00:00")])
    off = sqlserver_record([(0, "Sales", "2026-12-05T01:00:00")])
    assert on["snapshot_isolation"] == "on" and on["isolation"] == "none" and "cannot share" in on["reason"]
    assert off["snapshot_isolation"] == "off" and "ALLOW_SNAPSHOT_ISOLATION ON" in off["reason"]


def test_sqlserver_database_snapshot_statements_parse_and_quote_what_the_catalog_gives() -> None:
    for probe in (SQLSERVER_CAN_SNAPSHOT, SQLSERVER_DATA_FILES, SQLSERVER_STALE_SNAPSHOTS, SQLSERVER_SNAPSHOT_CREATED):
        assert isinstance(sqlglot.parse_one(probe, read="tsql"), exp.Select), probe
    windows = create_snapshot_sql("Sales]DW", "omb_snap_ab12", [("Sales_Data", r"D:\MSSQL\Data\Sales.mdf"),
                                                                ("Sales_Hist", r"E:\Hist\O'Brien.ndf")])
    assert windows == ("CREATE DATABASE [omb_snap_ab12] ON "
                       r"(NAME = [Sales_Data], FILENAME = N'D:\MSSQL\Data\omb_snap_ab12_Sales_Data.ss'), "
                       r"(NAME = [Sales_Hist], FILENAME = N'E:\Hist\omb_snap_ab12_Sales_Hist.ss') "
                       "AS SNAPSHOT OF [Sales]]DW]")
    linux = create_snapshot_sql("dw", "omb_snap_1", [("dw", "/var/opt/mssql/data/dw.mdf")])
    assert "FILENAME = N'/var/opt/mssql/data/omb_snap_1_dw.ss'" in linux
    sqlglot.parse_one(windows, read="tsql")  # parsed (as a command: sqlglot has no AS SNAPSHOT OF)
    with pytest.raises(ValueError):
        create_snapshot_sql("dw", "omb_snap_1", [])
    assert database_snapshot_refusal(5, 1) == "Azure SQL Database has no database snapshots"
    assert "CREATE ANY DATABASE" in (database_snapshot_refusal(3, 0) or "")
    assert database_snapshot_refusal(3, 1) is None


def test_sqlserver_reads_every_table_of_its_database_through_the_runs_snapshot() -> None:
    sql = ("WITH recent AS (SELECT id FROM sales.orders WHERE id > ?) "
           "SELECT COUNT(*) FROM recent JOIN [Sales].[sales].[items] AS i ON i.order_id = recent.id "
           "JOIN other_db.dbo.rates AS r ON r.id = i.rate_id JOIN customers AS c ON c.id = i.customer_id")
    pinned = snapshot_tables_sql(sql, "sales", "omb_snap_ab12")
    tables = {t.name: t for t in sqlglot.parse_one(pinned, read="tsql").find_all(exp.Table)}
    assert (tables["orders"].catalog, tables["orders"].db) == ("omb_snap_ab12", "sales")
    assert tables["items"].catalog == "omb_snap_ab12"  # three parts naming the database itself
    assert (tables["customers"].catalog, tables["customers"].db) == ("omb_snap_ab12", "dbo")
    assert tables["rates"].catalog == "other_db"  # another database: not in the snapshot, left alone
    assert tables["recent"].catalog == ""  # the CTE's own name
    assert pinned.count("?") == 1
    connector = OdbcConnector("odbc://u:p@db.example:1433/sales?driver=ODBC+Driver+18+for+SQL+Server")
    record = {"isolation": "database snapshot", "database": "sales", "snapshot": "omb_snap_ab12", "at": "2026-12-05T01:00:00"}
    view = at_pin(connector, record)
    assert isinstance(view, SqlServerAtSnapshot) and view._pinned(sql) == pinned
    assert at_pin(connector, sqlserver_record([(0, "sales", "2026-12-05T01:00:00")])) is connector  # nothing pinned
