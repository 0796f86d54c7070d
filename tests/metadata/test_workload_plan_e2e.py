"""Workload suggestions merged into automate's plan (issue 15 item 8), on the real stack: the
projects, workload and metadata services over real NATS JetStream and PostgreSQL, a PostgreSQL
source named as SQL Server names things (`dbo."FactSales"."Amount"`) and a DuckDB target with
renamed tables and columns (`analytics.fact_sales.sales_amount`).

A Query Store export (T-SQL) is uploaded and analysed *before* any catalog exists; automate then
adds the workload's checks to the generated pipeline of the table they concern, with the target's
names, measures only, strong evidence only, and the heaviest queries replayed in each side's
dialect. Those steps run on both databases: they pass on equal data and fail on a changed measure.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import nats
import sqlglot

from ombudsman.contracts.pipeline import load_pipeline
from ombudsman.engine.connectors import connect
from ombudsman.engine.pipeline import run_pipeline
from ombudsman.eventstore.settings import Settings
from ombudsman.metadata.app import create_service as metadata_service
from ombudsman.projects.app import create_service as projects_service
from ombudsman.workload.app import create_service as workload_service
from ombudsman.workload.handlers import WorkloadSettings
from tests.metadata.test_metadata_service import automate, call, md
from tests.support import eventually
from tests.workload.workload_gen import to_csv

SOURCE = [
    'CREATE SCHEMA IF NOT EXISTS dbo',
    'CREATE TABLE dbo."DimRegion" ("RegionKey" integer PRIMARY KEY, "RegionName" varchar(50) NOT NULL)',
    'CREATE TABLE dbo."FactSales" ("SaleID" integer PRIMARY KEY, "RegionKey" integer NOT NULL, "SaleDate" date NOT NULL, '
    '"Amount" numeric(12,2) NOT NULL, "Quantity" integer NOT NULL)',
]
TARGET = [
    "CREATE SCHEMA analytics",
    "CREATE TABLE analytics.dim_region (region_key INTEGER PRIMARY KEY, region_label VARCHAR NOT NULL)",
    "CREATE TABLE analytics.fact_sales (sale_id INTEGER PRIMARY KEY, region_key INTEGER NOT NULL, "
    "sale_date DATE NOT NULL, sales_amount DECIMAL(12,2) NOT NULL, qty INTEGER NOT NULL)",
]
REGIONS = [(1, "North"), (2, "South"), (3, "East")]
SALES = [(i, 1 + i % 3, f"2024-0{1 + i % 3}-{10 + i % 9}", f"{i * 7 % 500}.{i % 100:02d}", 1 + i % 5)
         for i in range(1, 61)]
SALES_COLUMNS = {"SaleID": "sale_id", "RegionKey": "region_key", "SaleDate": "sale_date", "Amount": "sales_amount",
                 "Quantity": "qty"}
# (T-SQL text, executions): the export of a SQL Server Query Store
QUERIES = [
    ("SELECT r.RegionName, SUM(f.Amount) AS total, COUNT(*) AS n FROM dbo.FactSales f WITH (NOLOCK) "
     "JOIN dbo.DimRegion r ON f.RegionKey = r.RegionKey WHERE f.SaleDate >= '2024-01-01' GROUP BY r.RegionName", 500),
    ("SELECT SaleDate, SUM(Amount) AS amount, AVG(Quantity) AS avg_qty FROM FactSales "
     "WHERE SaleDate BETWEEN '2024-01-01' AND '2024-12-31' GROUP BY SaleDate", 120),
    ("SELECT SUM(SaleID) AS ids FROM dbo.FactSales", 80),  # summing a surrogate key: never a metric check
    ("SELECT COUNT(*) AS n FROM dbo.DimRegion WHERE RegionName = 'North'", 300),  # a literal: not published
    ("SELECT RegionKey, AVG(Amount) AS a FROM dbo.FactSales GROUP BY RegionKey", 3),  # weak evidence
]


def export() -> str:
    rows = [{"query_id": str(i), "query_sql_text": text, "count_executions": n, "avg_duration": 1000.0 * (10 - i),
             "avg_cpu_time": 10.0, "avg_logical_io_reads": 5.0, "first_execution_time": "2024-06-01T00:00:00",
             "last_execution_time": "2024-06-02T00:00:00"} for i, (text, n) in enumerate(QUERIES, start=1)]
    return to_csv(iter(rows))


async def _databases(warehouse_url: str, target_file: Path) -> None:
    async with connect(warehouse_url) as db:
        for statement in SOURCE:
            await db.execute(statement)
        for key, name in REGIONS:
            await db.execute(f"INSERT INTO dbo.\"DimRegion\" VALUES ({key}, '{name}')")
        values = ", ".join(f"({i}, {r}, DATE '{d}', {a}, {q})" for i, r, d, a, q in SALES)
        await db.execute(f'INSERT INTO dbo."FactSales" VALUES {values}')
    with duckdb.connect(str(target_file)) as con:
        for statement in TARGET:
            con.execute(statement)
        con.executemany("INSERT INTO analytics.dim_region VALUES (?, ?)", REGIONS)
        con.executemany("INSERT INTO analytics.fact_sales VALUES (?, ?, CAST(? AS DATE), CAST(? AS DECIMAL(12,2)), ?)",
                        SALES)


async def _wait_for_plan(nc: nats.NATS, deadline_s: float = 30) -> dict[str, Any]:
    """Automate until the metadata service has consumed the workload's analysis (a JetStream consumer)."""

    async def planned() -> dict[str, Any] | None:
        summary = await automate(nc, {"project_id": "wl", "extract": False, "auto_approve_threshold": 1.0})
        return summary if summary["workload"]["steps"] else None

    return dict(await eventually(planned, timeout=deadline_s, interval=0.2, what="automate to see the workload"))


async def test_workload_checks_join_the_generated_pipeline_with_target_names(
        nats_url: str, database_url: str, warehouse_url: str, tmp_path: Path) -> None:
    target_file = tmp_path / "target.duckdb"
    await _databases(warehouse_url, target_file)
    target_url = f"duckdb:///{target_file}"
    base = {"database_url": database_url, "nats_url": nats_url, "request_timeout": 60.0}
    services = [projects_service(Settings(**base, secret_key="k" * 32)), metadata_service(Settings(**base)),
                workload_service(WorkloadSettings(**base, workload_upload_dir=tmp_path / "uploads"))]
    for service in services:
        await service.start()
    nc = await nats.connect(nats_url)
    try:
        await call(nc, "cmd", "projects", "create", {"id": "wl", "name": "workload plan"})
        for role, url in (("source", warehouse_url), ("target", target_url)):
            await call(nc, "cmd", "projects", "add_connection", {"project_id": "wl", "name": role, "role": role,
                                                                 "url": url})
        # the workload first: analysed with no catalog (names defaulted to dbo, as SQL Server does)
        uploaded = await call(nc, "cmd", "workload", "upload", {"project_id": "wl", "filename": "qs.csv",
                                                               "content": export()})
        analysed = await call(nc, "cmd", "workload", "analyze", {"workload_id": uploaded["workload_id"]})
        assert analysed["catalog"] == "none"

        await md(nc, "extract", {"project_id": "wl", "side": "source", "schemas": ["dbo"]})
        await md(nc, "extract", {"project_id": "wl", "side": "target", "schemas": ["analytics"]})
        await md(nc, "approve", {"project_id": "wl", "source_table": "dbo.DimRegion",
                                 "target_table": "analytics.dim_region",
                                 "columns": {"RegionKey": "region_key", "RegionName": "region_label"}})
        await md(nc, "approve", {"project_id": "wl", "source_table": "dbo.FactSales",
                                 "target_table": "analytics.fact_sales", "columns": SALES_COLUMNS})
        summary = await _wait_for_plan(nc)
        workload = summary["workload"]
        assert workload["workloads"] == 1 and workload["min_executions"] == 10, workload
        stored = await call(nc, "qry", "projects", "pipeline", {"project_id": "wl",
                                                                "pipeline_id": "validate-dbo-factsales"})
        spec = load_pipeline(stored["yaml"])
        added = {s.id: s for s in spec.steps if s.id.startswith("workload_")}
        print("\nworkload steps:", {k: (s.validator, s.parameters) for k, s in added.items()})
        assert "workload" in stored["tags"]

        # measures only, grouped by the date the workload filters on; the mapping renames them on the target
        sums = added["workload_sums"]
        assert sums.validator == "metric_sums"
        assert sums.parameters["measures"] == ["Amount"] and sums.parameters["group_by"] == ["SaleDate"]
        assert sums.columns == SALES_COLUMNS and str(sums.target_table) == "analytics.fact_sales"
        assert added["workload_averages"].parameters["measures"] == ["Quantity"]
        assert not any("SaleID" in s.parameters.get("measures", []) for s in added.values())
        assert any("SaleID" in reason and "not a measure" in reason for reason in workload["skipped"])

        # the heavy queries replayed: PostgreSQL SQL on the source, DuckDB SQL with target names on the target
        replays = [s for s in added.values() if s.validator == "custom_query"]
        assert len(replays) == 3, (workload["skipped"], [s.parameters for s in replays])  # the literal one and the weak one are not
        for step in replays:
            source_sql, target_sql = step.parameters["source_sql"], step.parameters["target_sql"]
            sqlglot.parse_one(source_sql, read="postgres")
            sqlglot.parse_one(target_sql, read="duckdb")
            assert '"dbo"."FactSales"' in source_sql and "NOLOCK" not in source_sql
            assert '"analytics"."fact_sales"' in target_sql
            assert "FactSales" not in target_sql and "Amount" not in target_sql
        by_region = next(s for s in replays if "RegionName" in s.parameters["source_sql"])
        assert '"region_label"' in by_region.parameters["target_sql"]
        assert '"analytics"."dim_region"' in by_region.parameters["target_sql"]
        assert by_region.parameters["key_columns"] == ["regionname"]
        dimension = load_pipeline((await call(nc, "qry", "projects", "pipeline", {
            "project_id": "wl", "pipeline_id": "validate-dbo-dimregion"}))["yaml"])
        assert not [s for s in dimension.steps if s.id.startswith("workload_replay")]  # 'North' stays private

        # the steps run on both databases: equal data passes, a changed measure fails
        only_workload = spec.model_copy(update={"steps": list(added.values())})
        env = {"SOURCE_URL": warehouse_url, "TARGET_URL": target_url}
        outcome = await run_pipeline(only_workload, env=env)
        assert outcome.status == "passed", [(s.step, s.status, s.message) for s in outcome.steps]
        with duckdb.connect(str(target_file)) as con:
            con.execute("UPDATE analytics.fact_sales SET sales_amount = sales_amount + 1 WHERE sale_id = 7")
        changed = await run_pipeline(only_workload, env=env)
        failed = {s.step for s in changed.steps if s.status == "failed"}
        assert {"workload_sums", by_region.id} <= failed, [(s.step, s.status, s.message) for s in changed.steps]
        assert "workload_averages" not in failed  # Quantity did not change
    finally:
        await nc.close()
        for service in reversed(services):
            await service.stop()
