"""Relationship inference on the defect warehouse (issue 15, "Done when"): recall and precision against
its true foreign keys (`TRUE_FOREIGN_KEYS`), on the real stack: the PostgreSQL source from
`warehouse_url`, the projects, metadata and workload services over real NATS JetStream and
PostgreSQL. First with names and value inclusion alone, then with a Query Store export of the
queries that join those tables, uploaded and analysed by the workload service (its join pairs reach
metadata by `WorkloadDetailsRecorded` events).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import nats
import pytest

from ombudsman.engine.connectors import connect
from ombudsman.eventstore.settings import Settings
from ombudsman.metadata.app import create_service as metadata_service
from ombudsman.projects.app import create_service as projects_service
from ombudsman.workload.app import create_service as workload_service
from ombudsman.workload.handlers import WorkloadSettings
from tests.gateway import defect_warehouse as wh
from tests.metadata.test_metadata_service import call, md
from tests.support import eventually
from tests.workload.workload_gen import to_csv

Key = tuple[str, str, str, str]
PROJECT = "rel"
# (T-SQL as the Query Store keeps it, executions): reports that join every fact to its dimensions
QUERIES = [
    ("SELECT d.CalendarMonth, SUM(f.SalesAmount) AS amount FROM dw.FactSales f WITH (NOLOCK) "
     "JOIN dw.DimDate d ON f.OrderDateKey = d.DateKey GROUP BY d.CalendarMonth", 900),
    ("SELECT c.Segment, p.Category, SUM(f.Quantity) AS qty FROM dw.FactSales f "
     "INNER JOIN dw.DimCustomer c ON c.CustomerKey = f.CustomerKey "
     "INNER JOIN dw.DimProduct p ON p.ProductKey = f.ProductKey WHERE c.IsCurrent = 1 GROUP BY c.Segment, p.Category",
     400),
    ("SELECT TOP 10 s.s_store_name, d.d_moy, SUM(ss.ss_net_paid) AS paid FROM tpcds.store_sales ss "
     "JOIN tpcds.date_dim d ON ss.ss_sold_date_sk = d.d_date_sk JOIN tpcds.store s ON ss.ss_store_sk = s.s_store_sk "
     "GROUP BY s.s_store_name, d.d_moy ORDER BY paid DESC", 250),
    ("SELECT c.c_birth_country, COUNT(*) AS n FROM tpcds.store_sales ss "
     "JOIN tpcds.customer c ON ss.ss_customer_sk = c.c_customer_sk GROUP BY c.c_birth_country", 120),
    ("SELECT d.d_date, SUM(sr.sr_return_amt) AS returned FROM tpcds.store_returns sr "
     "JOIN tpcds.date_dim d ON sr.sr_returned_date_sk = d.d_date_sk "
     "LEFT JOIN tpcds.customer c ON sr.sr_customer_sk = c.c_customer_sk GROUP BY d.d_date", 60),
    # joins that reference nothing (traps for precision): returns matched to their sale lines, fact to fact,
    # as TPC-DS q17/q25 do (every child value is found on the other side, yet neither side is a key), and
    # the two marts' date dimensions reconciled by calendar date
    ("SELECT ss.ss_customer_sk, SUM(sr.sr_return_amt) AS returned, SUM(ss.ss_net_paid) AS paid "
     "FROM tpcds.store_sales ss JOIN tpcds.store_returns sr ON ss.ss_customer_sk = sr.sr_customer_sk "
     "AND ss.ss_ticket_number = sr.sr_ticket_number AND ss.ss_line = sr.sr_line "
     "JOIN tpcds.date_dim d ON sr.sr_returned_date_sk = d.d_date_sk GROUP BY ss.ss_customer_sk", 300),
    ("SELECT d.FullDate, t.d_date_sk FROM dw.DimDate d JOIN tpcds.date_dim t ON t.d_date = d.FullDate", 40),
]


def export() -> str:
    """The Query Store export (CSV) of `QUERIES`."""
    rows = [{"query_id": str(i), "query_sql_text": sql, "count_executions": n, "avg_duration": 1000.0 * i,
             "avg_cpu_time": 10.0, "avg_logical_io_reads": 5.0, "first_execution_time": "2024-06-01T00:00:00",
             "last_execution_time": "2024-06-02T00:00:00"} for i, (sql, n) in enumerate(QUERIES, start=1)]
    return to_csv(iter(rows))


def _key(rel: dict[str, Any]) -> Key:
    """(child table, child columns, parent table, parent columns), lower case; a composite key's
    columns joined by commas (it can only be an extra: every true foreign key has one column)."""
    return (rel["child_table"].lower(), ",".join(rel["child_columns"]).lower(), rel["parent_table"].lower(),
            ",".join(rel["parent_columns"]).lower())


def score(rels: list[dict[str, Any]], label: str) -> tuple[float, float]:
    """Recall and precision of `rels` against the true foreign keys; prints the table."""
    truth = {tuple(x.lower() for x in fk) for fk in wh.TRUE_FOREIGN_KEYS}
    found = {_key(r) for r in rels}
    hits, missed, extra = found & truth, truth - found, found - truth
    recall, precision = len(hits) / len(truth), len(hits) / max(len(found), 1)
    lines = [f"\n{label}", f"{'true':>6} {'found':>6} {'hit':>6} {'missed':>7} {'extra':>6} {'recall':>7} "
             f"{'precision':>9}", f"{len(truth):>6} {len(found):>6} {len(hits):>6} {len(missed):>7} {len(extra):>6} "
             f"{recall:>7.1%} {precision:>9.1%}"]
    lines += [f"  missed {'.'.join(k[:2])} -> {'.'.join(k[2:])}" for k in sorted(missed)]
    lines += [f"  extra  {'.'.join(k[:2])} -> {'.'.join(k[2:])}" for k in sorted(extra)]
    print("\n".join(lines))
    return recall, precision


@pytest.fixture
async def bus(nats_url: str, database_url: str, warehouse_url: str, tmp_path: Path) -> AsyncIterator[nats.NATS]:
    """The defect warehouse's source in PostgreSQL, a project with it as source connection and the
    source catalog extracted; the projects, metadata and workload services running."""
    async with connect(warehouse_url) as db:
        for statement in wh.source_statements():
            await db.execute(statement)
    base = {"database_url": database_url, "nats_url": nats_url, "request_timeout": 60.0}
    services = [projects_service(Settings(**base, secret_key="k" * 32)), metadata_service(Settings(**base)),
                workload_service(WorkloadSettings(**base, workload_upload_dir=tmp_path / "uploads"))]
    for service in services:
        await service.start()
    nc = await nats.connect(nats_url)
    try:
        await call(nc, "cmd", "projects", "create", {"id": PROJECT, "name": "relationship score"})
        await call(nc, "cmd", "projects", "add_connection", {"project_id": PROJECT, "name": "source",
                                                             "role": "source", "url": warehouse_url})
        await md(nc, "extract", {"project_id": PROJECT, "side": "source", "schemas": wh.SOURCE_SCHEMAS})
        yield nc
    finally:
        await nc.close()
        for service in reversed(services):
            await service.stop()


async def infer(nc: nats.NATS, measure: bool = True) -> list[dict[str, Any]]:
    """Relationships of the source as automate infers them: names (and the workload's joins the
    metadata service has consumed), confirmed by value inclusion measured on PostgreSQL."""
    found = await md(nc, "infer_relationships", {"project_id": PROJECT, "side": "source",
                                                 "measure_inclusion": measure})
    return list(found["relationships"])


async def test_inference_without_workload_recovers_the_true_foreign_keys(bus: nats.NATS) -> None:
    # automate's default: names alone, no data measured
    recall, precision = score(await infer(bus, measure=False), "defect warehouse, names alone (no data, no workload)")
    assert recall >= 0.95 and precision >= 0.95
    rels = await infer(bus)
    recall, precision = score(rels, "defect warehouse, names + value inclusion (no workload)")
    assert recall >= 0.95 and precision >= 0.95
    for rel in rels:  # every one confirmed by the data, pushed down to PostgreSQL
        assert "data" in [e["kind"] for e in rel["evidence"]], rel
    roles = {_key(r): r.get("role") for r in rels}
    assert roles[("dw.factsales", "orderdatekey", "dw.dimdate", "datekey")] == "order"
    assert roles[("tpcds.store_returns", "sr_returned_date_sk", "tpcds.date_dim", "d_date_sk")] == "returned"
    stored = await md(bus, "relationships", {"project_id": PROJECT, "side": "source"}, "qry")
    assert {_key(r) for r in stored["relationships"]} == {_key(r) for r in rels}


async def test_inference_with_workload_recovers_the_true_foreign_keys(bus: nats.NATS) -> None:
    uploaded = await call(bus, "cmd", "workload", "upload", {"project_id": PROJECT, "filename": "querystore.csv",
                                                             "content": export()})
    await call(bus, "cmd", "workload", "analyze", {"workload_id": uploaded["workload_id"]})

    async def with_workload() -> list[dict[str, Any]] | None:
        """Inference once metadata has consumed the workload's joins (a JetStream consumer)."""
        rels = await infer(bus)
        return rels if sum("workload" in [e["kind"] for e in r["evidence"]] for r in rels) >= 8 else None

    started = time.monotonic()
    rels = await eventually(with_workload, timeout=60, interval=0.5, what="the workload's joins in inference")
    print(f"\nworkload joins consumed after {time.monotonic() - started:.1f} s")
    recall, precision = score(rels, "defect warehouse, names + workload joins + value inclusion")
    assert recall >= 0.95 and precision >= 0.95
    by_key = {_key(r): r for r in rels}
    boosted = by_key[("tpcds.store_sales", "ss_store_sk", "tpcds.store", "s_store_sk")]
    assert {e["kind"] for e in boosted["evidence"]} == {"name_pattern", "workload", "data"}
