"""Workload plan, pure parts: what is published and kept (no literal values), and replays rendered
for each side's dialect with the target's names (issue 15 item 8)."""

from __future__ import annotations

import pytest
import sqlglot

from ombudsman.contracts.catalog import Catalog, ColumnInfo, TableInfo
from ombudsman.metadata.generate import ApprovedMapping
from ombudsman.metadata.relationships import JoinPair
from ombudsman.metadata.workload_plan import (
    Replay,
    ReplaySkipped,
    Resolver,
    replay_step,
    resolve_pairs,
    usage_doc,
)
from ombudsman.workload.analysis import parse_statements
from ombudsman.workload.replays import publishable


def _table(schema: str, name: str, *columns: str) -> TableInfo:
    return TableInfo(schema_name=schema, name=name,
                     columns=[ColumnInfo(name=c, data_type="integer", ordinal=i) for i, c in enumerate(columns, 1)])


SOURCE = Catalog(kind="postgres", schemas=["dbo"], tables=[
    _table("dbo", "Orders", "OrderID", "CustomerKey", "Total", "Discount"),
    _table("dbo", "Customer", "CustomerKey", "Segment", "Email"),
])
TARGET = Catalog(kind="snowflake", schemas=["EDW"], tables=[
    _table("EDW", "ORDERS", "ORDER_ID", "CUSTOMER_KEY", "ORDER_TOTAL", "DISCOUNT"),
    _table("EDW", "CUSTOMER", "CUSTOMER_KEY", "SEGMENT", "EMAIL"),
])
APPROVED = {
    "dbo.orders": ApprovedMapping(source_table="dbo.Orders", target_table="EDW.ORDERS", columns={
        "OrderID": "ORDER_ID", "CustomerKey": "CUSTOMER_KEY", "Total": "ORDER_TOTAL", "Discount": "DISCOUNT"}),
    "dbo.customer": ApprovedMapping(source_table="dbo.Customer", target_table="EDW.CUSTOMER", columns={
        "CustomerKey": "CUSTOMER_KEY", "Segment": "SEGMENT"}),
}


def test_only_queries_without_personal_literals_are_published() -> None:
    def ok(sql: str) -> bool:
        return publishable(parse_statements(sql)[0])

    assert ok("SELECT SUM(Total) FROM dbo.Orders WHERE OrderDate >= '2024-01-01' AND Total > 10")
    assert not ok("SELECT COUNT(*) FROM dbo.Customer WHERE Segment = 'retail'")
    assert not ok("SELECT COUNT(*) FROM dbo.Customer WHERE Email = '2024-01-01'")  # a personal column


def test_usage_keeps_no_literal_values() -> None:
    kept = usage_doc("w1", {"table": "dbo.Customer", "in_catalog": True, "executions": 40, "columns": [
        {"column": "Segment", "executions": 40, "usages": {"where": 40, "group_by": 12}, "aggregates": {},
         "literal_values": ["retail", "ann@example.com"], "date_filter": False},
        {"column": "Email", "executions": 5, "usages": {"where": 5}, "literal_values": ["bob@example.com"]},
    ]})
    assert kept is not None and "example.com" not in str(kept) and "retail" not in str(kept)
    assert [c["column"] for c in kept["columns"]] == ["Segment"] and kept["columns"][0]["group_by"] == 12


def test_a_tsql_replay_is_rendered_for_each_side_with_target_names() -> None:
    replay = Replay(fingerprint="abc", executions=50, sql=(
        "SELECT TOP 10 c.Segment, SUM(ISNULL(o.Discount, 0)) AS disc, SUM(Total) AS total "
        "FROM Orders o WITH (NOLOCK) JOIN dbo.Customer c ON c.CustomerKey = o.CustomerKey "
        "GROUP BY c.Segment ORDER BY total DESC"))
    first, step = replay_step(replay, Resolver(SOURCE), APPROVED, TARGET, "postgres", "snowflake")
    source_sql, target_sql = step["parameters"]["source_sql"], step["parameters"]["target_sql"]
    assert first == "dbo.Orders" and step["parameters"]["key_columns"] == ["segment"]
    assert "LIMIT 10" in source_sql and "COALESCE" in source_sql and "TOP" not in source_sql
    assert '"dbo"."Orders"' in source_sql and '"Total"' in source_sql
    assert '"EDW"."ORDERS"' in target_sql and '"ORDER_TOTAL"' in target_sql and '"SEGMENT"' in target_sql
    assert "Orders" not in target_sql and "Total" not in target_sql.replace("ORDER_TOTAL", "")
    sqlglot.parse_one(source_sql, read="postgres")
    sqlglot.parse_one(target_sql, read="snowflake")


def test_a_replay_over_an_unmapped_column_is_skipped_saying_why() -> None:
    replay = Replay(fingerprint="def", executions=50, sql="SELECT Email, COUNT(*) AS n FROM dbo.Customer GROUP BY Email")
    with pytest.raises(ReplaySkipped, match="Email is not mapped"):
        replay_step(replay, Resolver(SOURCE), APPROVED, TARGET, "postgres", "snowflake")


def test_join_pairs_of_a_workload_analysed_before_the_catalog_are_resolved_against_it() -> None:
    catalog = Catalog(kind="postgres", schemas=["sales"], tables=[
        _table("sales", "orders", "order_id", "customer_key"), _table("sales", "customer", "customer_key")])
    pairs = resolve_pairs([JoinPair(left_table="dbo.Orders", left_column="Customer_Key", right_table="dbo.Customer",
                                    right_column="CUSTOMER_KEY", executions=9)], catalog)
    assert pairs == [JoinPair(left_table="sales.orders", left_column="customer_key", right_table="sales.customer",
                              right_column="customer_key", executions=9)]
