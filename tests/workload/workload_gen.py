"""A realistic SQL Server workload, generated: a star schema (sales facts, customer, product, date and
store dimensions, returns) queried by reports, lookups, ETL steps and a few broken or unsupported
statements, written the way SQL Server users write T-SQL (brackets, NOLOCK, TOP, CTEs, window
functions, temp tables, implicit joins).

`catalog()` is the source catalog; `templates()` the query shapes with their weights;
`workload(n, seed)` n export rows (dicts with the Query Store's column names)."""

from __future__ import annotations

import csv
import io
import json
import random
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from ombudsman.contracts.catalog import Catalog, ColumnInfo, TableInfo

COLUMNS = ["query_id", "query_sql_text", "count_executions", "avg_duration", "avg_cpu_time",
           "avg_logical_io_reads", "first_execution_time", "last_execution_time"]
REGIONS = ["EMEA", "NA", "APAC", "LATAM"]
CATEGORIES = ["Bikes", "Helmets", "Clothing", "Tools", "Parts"]
STATUSES = ["shipped", "open", "cancelled"]
COUNTRIES = ["DE", "FR", "US", "JP", "BR", "IN"]
SEGMENTS = ["retail", "wholesale"]


def _table(schema: str, name: str, cols: list[tuple[str, str]], pk: list[str]) -> TableInfo:
    return TableInfo(schema_name=schema, name=name, primary_key=pk,
                     columns=[ColumnInfo(name=n, data_type=t, ordinal=i) for i, (n, t) in enumerate(cols, 1)])


def catalog() -> Catalog:
    """The source catalog the workload runs on (SQL Server spelling)."""
    return Catalog(kind="sqlserver", database="Sales", schemas=["dbo", "sales"], tables=[
        _table("dbo", "FactSales", [("SalesID", "bigint"), ("DateKey", "int"), ("CustomerKey", "int"),
                                    ("ProductKey", "int"), ("StoreKey", "int"), ("Quantity", "int"),
                                    ("Amount", "decimal"), ("Discount", "decimal"), ("OrderDate", "datetime2"),
                                    ("Status", "varchar")], ["SalesID"]),
        _table("dbo", "DimCustomer", [("CustomerKey", "int"), ("Name", "nvarchar"), ("Region", "varchar"),
                                      ("Segment", "varchar")], ["CustomerKey"]),
        _table("dbo", "DimProduct", [("ProductKey", "int"), ("Category", "varchar"), ("Brand", "varchar"),
                                     ("Price", "decimal")], ["ProductKey"]),
        _table("dbo", "DimDate", [("DateKey", "int"), ("Date", "date"), ("Month", "int"), ("Year", "int")],
               ["DateKey"]),
        _table("dbo", "DimStore", [("StoreKey", "int"), ("City", "varchar"), ("Country", "char")], ["StoreKey"]),
        _table("sales", "Returns", [("ReturnID", "int"), ("SalesID", "bigint"), ("ReturnDate", "date"),
                                    ("Reason", "varchar"), ("Amount", "decimal")], ["ReturnID"]),
    ])


def _date(r: random.Random) -> str:
    return (datetime(2024, 1, 1) + timedelta(days=r.randrange(0, 365))).strftime("%Y-%m-%d")


Template = Callable[[random.Random], str]

TEMPLATES: dict[str, tuple[int, Template]] = {
    # name: (weight, text)
    "sales_by_region": (30, lambda r: (
        "SELECT c.[Region], SUM(f.[Amount]) AS total FROM [dbo].[FactSales] f WITH (NOLOCK) "
        "JOIN [dbo].[DimCustomer] c ON c.[CustomerKey] = f.[CustomerKey] "
        f"WHERE f.OrderDate >= '{_date(r)}' GROUP BY c.[Region] ORDER BY total DESC")),
    "top_products": (15, lambda r: (
        f"SELECT TOP {r.choice([5, 10, 20])} p.Category, p.Brand, SUM(f.Quantity) AS qty "
        "FROM dbo.FactSales AS f INNER JOIN dbo.DimProduct AS p ON f.ProductKey = p.ProductKey "
        f"WHERE p.Category IN ({', '.join(repr(c) for c in r.sample(CATEGORIES, r.randint(1, 3)))}) "
        "GROUP BY p.Category, p.Brand ORDER BY qty DESC, p.Brand")),
    "monthly_cte": (10, lambda r: (
        "WITH monthly AS (SELECT d.[Year], d.[Month], SUM(f.Amount) AS amt FROM dbo.FactSales f "
        "INNER JOIN dbo.DimDate d ON d.DateKey = f.DateKey GROUP BY d.[Year], d.[Month]) "
        "SELECT [Year], [Month], amt, LAG(amt) OVER (ORDER BY [Year], [Month]) AS prev FROM monthly "
        f"WHERE [Year] = {r.choice([2023, 2024])} ORDER BY [Year], [Month]")),
    "latest_per_customer": (10, lambda r: (
        "SELECT x.SalesID, x.CustomerKey FROM (SELECT f.SalesID, f.CustomerKey, ROW_NUMBER() OVER "
        "(PARTITION BY f.CustomerKey ORDER BY f.OrderDate DESC) AS rn FROM dbo.FactSales f (NOLOCK) "
        f"WHERE f.Status = '{r.choice(STATUSES)}') x WHERE x.rn = 1")),
    "temp_table_etl": (5, lambda r: (
        "SELECT f.CustomerKey, SUM(f.Amount) AS amt INTO #big_customers FROM dbo.FactSales f "
        f"WHERE f.OrderDate BETWEEN '{_date(r)}' AND '{_date(r)}' GROUP BY f.CustomerKey")),
    "discount_by_country": (8, lambda r: (
        "SELECT s.Country, AVG(f.Discount) AS avg_discount FROM dbo.FactSales f "
        "JOIN dbo.DimStore s ON s.StoreKey = f.StoreKey "
        f"WHERE s.Country = '{r.choice(COUNTRIES)}' GROUP BY s.Country")),
    "returns_by_reason": (6, lambda r: (
        "SELECT r.Reason, COUNT(*) AS n, SUM(r.Amount) AS returned FROM sales.[Returns] r "
        "JOIN dbo.FactSales f ON f.SalesID = r.SalesID "
        f"WHERE r.ReturnDate > DATEADD(day, -{r.randint(7, 90)}, GETDATE()) GROUP BY r.Reason")),
    "customer_lookup": (8, lambda r: (
        f"SELECT Name, Segment FROM DimCustomer WHERE CustomerKey = {r.randint(1, 50000)}")),
    "segment_update": (2, lambda r: (
        f"UPDATE dbo.DimCustomer SET Segment = '{r.choice(SEGMENTS)}' WHERE CustomerKey = {r.randint(1, 50000)}")),
    "price_range_implicit_join": (4, lambda r: (
        "SELECT p.Brand, MIN(p.Price) AS lo, MAX(p.Price) AS hi FROM dbo.DimProduct p, dbo.FactSales f "
        f"WHERE p.ProductKey = f.ProductKey AND f.Quantity > {r.randint(1, 9)} GROUP BY p.Brand")),
    "temp_table_read": (1, lambda r: f"SELECT TOP {r.randint(1, 99)} * FROM #big_customers ORDER BY amt DESC"),
    "proc_call": (1, lambda r: f"EXEC dbo.usp_RefreshAggregates @days = {r.randint(1, 30)}"),
    "broken": (1, lambda r: f"SELECT FROM WHERE {r.randint(1, 100)} ==="),
}


def workload(n: int, seed: int = 7) -> Iterator[dict[str, Any]]:
    """n Query Store rows, the templates drawn by weight (executions and durations vary per row)."""
    r = random.Random(seed)
    names = list(TEMPLATES)
    weights = [TEMPLATES[k][0] for k in names]
    start = datetime(2024, 3, 1, tzinfo=UTC)
    for query_id in range(1, n + 1):
        name = r.choices(names, weights)[0]
        first = start + timedelta(minutes=r.randrange(0, 60 * 24 * 30))
        yield {
            "_template": name,  # not an export column: readers ignore it, tests count by it
            "query_id": query_id,
            "query_sql_text": TEMPLATES[name][1](r),
            "count_executions": r.randint(1, 20),
            "avg_duration": round(r.uniform(100, 50_000) * (20 if name == "sales_by_region" else 1), 1),
            "avg_cpu_time": round(r.uniform(50, 10_000), 1),
            "avg_logical_io_reads": round(r.uniform(10, 5_000), 1),
            "first_execution_time": first.isoformat(),
            "last_execution_time": (first + timedelta(hours=r.randint(0, 72))).isoformat(),
        }


def to_csv(rows: Iterator[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, COLUMNS, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def to_json(rows: Iterator[dict[str, Any]]) -> str:
    return json.dumps(list(rows))


def to_jsonl(rows: Iterator[dict[str, Any]]) -> str:
    return "".join(json.dumps(row) + "\n" for row in rows)
