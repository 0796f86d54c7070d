"""The sample data set: a small sales warehouse as source, and its "migrated" copy with known defects.

Used by `ombudsman example init DIR` / `python examples/make_sample.py` (two DuckDB files and a
pipeline that finds the defects) and by the engine's tests (loaded into PostgreSQL and fakesnow too).
Deterministic: the same rows every time.
"""

from __future__ import annotations

import copy
import datetime
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

START = datetime.date(2024, 1, 1)
DAYS = 91  # 2024-01-01 .. 2024-03-31
MISSING_DAY = datetime.date(2024, 2, 10)  # the target lost every order of this day
REGIONS = ["North", "South", "East", "West"]
SEGMENTS = ["Retail", "Wholesale", "Online"]
STATUSES = ["shipped", "pending", "returned"]


@dataclass
class SampleTable:
    """One table: (name, SQL type, NOT NULL) columns, its rows and its keys."""

    columns: list[tuple[str, str, bool]]
    rows: list[tuple[Any, ...]]
    primary_key: list[str] = field(default_factory=list)
    foreign_keys: list[tuple[str, str, str]] = field(default_factory=list)  # (column, parent table, parent column)

    @property
    def names(self) -> list[str]:
        return [c[0] for c in self.columns]

    def ddl(self, qualified_name: str, *, constraints: bool = True) -> str:
        parts = [f"{name} {sql_type}{' NOT NULL' if not_null else ''}" for name, sql_type, not_null in self.columns]
        if constraints and self.primary_key:
            parts.append(f"PRIMARY KEY ({', '.join(self.primary_key)})")
        if constraints:
            schema = qualified_name.rsplit(".", 1)[0] + "." if "." in qualified_name else ""
            parts += [f"FOREIGN KEY ({c}) REFERENCES {schema}{t} ({pc})" for c, t, pc in self.foreign_keys]
        return f"CREATE TABLE {qualified_name} ({', '.join(parts)})"


def source_data() -> dict[str, SampleTable]:
    """The source warehouse: customers, products, customer_history (SCD2) and orders (fact)."""
    customers = SampleTable(
        columns=[("customer_id", "INTEGER", True), ("customer_code", "VARCHAR(20)", True), ("name", "VARCHAR(60)", True),
                 ("email", "VARCHAR(80)", False), ("region", "VARCHAR(10)", False), ("segment", "VARCHAR(20)", False),
                 ("created_at", "DATE", False)],
        rows=[
            (i, f"C{i:05d}", f"Customer {i}", f"customer{i}@example.com", REGIONS[i % 4], SEGMENTS[(i * 7) % 3],
             START - datetime.timedelta(days=400 - i))
            for i in range(1, 101)
        ],
        primary_key=["customer_id"],
    )
    products = SampleTable(
        columns=[("product_id", "INTEGER", True), ("sku", "VARCHAR(20)", True), ("category", "VARCHAR(20)", False),
                 ("price", "DECIMAL(10,2)", False)],
        rows=[(i, f"SKU-{i:04d}", ["Books", "Games", "Tools", "Food"][i % 4], Decimal(5 + i * 3) + Decimal("0.99"))
              for i in range(1, 21)],
        primary_key=["product_id"],
    )
    history_rows = []
    sk = 0
    for i in range(1, 101):
        versions = 1 + i % 3
        starts = [datetime.date(2023, 1, 1) + datetime.timedelta(days=100 * v) for v in range(versions)]
        for v in range(versions):
            sk += 1
            valid_to = starts[v + 1] if v + 1 < versions else None
            history_rows.append((sk, f"C{i:05d}", REGIONS[(i + v) % 4], starts[v], valid_to, valid_to is None))
    history = SampleTable(
        columns=[("customer_sk", "INTEGER", True), ("customer_code", "VARCHAR(20)", True), ("region", "VARCHAR(10)", False),
                 ("valid_from", "DATE", True), ("valid_to", "DATE", False), ("is_current", "BOOLEAN", True)],
        rows=history_rows,
        primary_key=["customer_sk"],
    )
    order_rows = []
    for i in range(1, 1001):
        day = START + datetime.timedelta(days=i % DAYS)
        quantity = 1 + (i * 7) % 9
        price = products.rows[(i * 13) % 20][3]
        amount = (price * quantity).quantize(Decimal("0.01"))
        discount = (amount * Decimal((i % 4) * 5) / 100).quantize(Decimal("0.01"))
        loaded = datetime.datetime.combine(day, datetime.time(2, 0)) + datetime.timedelta(days=1 + (i % 10 == 0))
        order_rows.append((i, 1 + (i * 31) % 100, 1 + (i * 13) % 20, day, loaded, quantity, amount, discount, STATUSES[(i * 11) % 3]))
    orders = SampleTable(
        columns=[("order_id", "INTEGER", True), ("customer_id", "INTEGER", True), ("product_id", "INTEGER", True),
                 ("order_date", "DATE", True), ("loaded_at", "TIMESTAMP", False), ("quantity", "INTEGER", False),
                 ("amount", "DECIMAL(12,2)", False), ("discount", "DECIMAL(12,2)", False), ("status", "VARCHAR(10)", False)],
        rows=order_rows,
        primary_key=["order_id"],
        foreign_keys=[("customer_id", "customers", "customer_id"), ("product_id", "products", "product_id")],
    )
    return {"customers": customers, "products": products, "customer_history": history, "orders": orders}


# What target_data() breaks, for people reading a run's results.
DEFECTS = [
    "orders: every order of 2024-02-10 is missing",
    "orders: amounts of orders whose id is a multiple of 97 are 10% higher",
    "orders: order 500 is loaded twice (the target has no primary key)",
    "orders: order 777 points to customer 9999, which does not exist",
    "orders: order 123 has an amount of 250000.00 (an outlier)",
    "orders: orders whose id ends in 1 and is divisible by 50+1 were loaded 5 days late",
    "orders: quantities of returned orders came over negative (booked as outflows)",
    "customers: every 25th customer lost its email; customer 7's region is 'Nort'",
    "customers: customer 42's code is 'c-0042'; customer 60 has customer 61's code",
    "customers: a third of the customers moved to the 'Online' segment",
    "customers: 'email' is called 'email_address', 'name' became nullable, 'migrated_at' was added",
    "customer_history: C00005's versions overlap, C00011 has two current rows, customer_sk 3 appears twice",
    "products: price became DOUBLE PRECISION (from DECIMAL(10,2))",
]


def target_data(source: dict[str, SampleTable] | None = None) -> dict[str, SampleTable]:
    """The migrated copy of `source` with the DEFECTS injected."""
    data = copy.deepcopy(source or source_data())
    orders = data["orders"]
    rows = []
    for r in orders.rows:
        order_id, customer_id, product_id, day, loaded, quantity, amount, discount, status = r
        if day == MISSING_DAY:
            continue
        if order_id % 97 == 0:
            amount = (amount * Decimal("1.1")).quantize(Decimal("0.01"))
        if order_id == 777:
            customer_id = 9999
        if order_id == 123:
            amount = Decimal("250000.00")
        if order_id % 50 == 1:
            loaded = loaded + datetime.timedelta(days=5)
        if status == "returned":
            quantity = -quantity
        rows.append((order_id, customer_id, product_id, day, loaded, quantity, amount, discount, status))
    rows.append(next(r for r in rows if r[0] == 500))
    orders.rows = rows
    orders.primary_key = []
    orders.foreign_keys = []

    customers = data["customers"]
    customer_rows = []
    codes = {r[0]: r[1] for r in customers.rows}
    for cid, code, name, email, region, segment, created in customers.rows:
        if cid % 25 == 0:
            email = None
        if cid == 7:
            region = "Nort"
        if cid == 42:
            code = "c-0042"
        if cid == 60:
            code = codes[61]
        if cid % 3 == 0:
            segment = "Online"
        customer_rows.append((cid, code, name, email, region, segment, created, datetime.datetime(2024, 4, 1, 12, 0)))
    customers.columns = [
        ("customer_id", "INTEGER", True), ("customer_code", "VARCHAR(20)", True), ("name", "VARCHAR(60)", False),
        ("email_address", "VARCHAR(80)", False), ("region", "VARCHAR(10)", False), ("segment", "VARCHAR(20)", False),
        ("created_at", "DATE", False), ("migrated_at", "TIMESTAMP", False),
    ]
    customers.rows = customer_rows

    history = data["customer_history"]
    new_history = []
    for sk, code, region, valid_from, valid_to, current in history.rows:
        if code == "C00005" and valid_to is not None:
            valid_to = valid_to + datetime.timedelta(days=30)  # overlaps the next version
        if code == "C00011":
            current = True
        if sk == 4:
            sk = 3
        new_history.append((sk, code, region, valid_from, valid_to, current))
    history.rows = new_history
    history.primary_key = []

    products = data["products"]
    products.columns = [c if c[0] != "price" else ("price", "DOUBLE PRECISION", False) for c in products.columns]
    products.rows = [(*r[:3], float(r[3])) for r in products.rows]
    return data


TABLE_ORDER = ["customers", "products", "customer_history", "orders"]


def write_duckdb(path: str | Path, data: dict[str, SampleTable], schema: str = "main") -> None:
    """Create the tables in a DuckDB file (replacing it)."""
    import duckdb

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in (path, path.with_suffix(path.suffix + ".wal")):
        stale.unlink(missing_ok=True)
    import pyarrow as pa

    from ombudsman.engine.connectors.sandbox import DUCKDB_SANDBOX

    with duckdb.connect(str(path), config=dict(DUCKDB_SANDBOX)) as con:
        if schema != "main":
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        for name in TABLE_ORDER:
            table = data[name]
            con.execute(table.ddl(f"{schema}.{name}"))
            # Through Arrow: one INSERT ... SELECT instead of a statement per row.
            columns = list(zip(*table.rows, strict=True)) if table.rows else [() for _ in table.names]
            rows = pa.table({n: pa.array(list(values)) for n, values in zip(table.names, columns, strict=True)})
            con.register("omb_rows", rows)
            con.execute(f"INSERT INTO {schema}.{name} SELECT * FROM omb_rows")
            con.unregister("omb_rows")


PIPELINE_TEMPLATE = """\
# The sample pipeline: a source warehouse and its migrated copy with known defects
# (see ombudsman.engine.pipeline.sample.DEFECTS). Run: ombudsman run {pipeline_path}
name: sample-sales-migration
description: Validate the migrated sales warehouse against its source.
connections:
  source: {source_url}
  target: {target_url}
defaults:
  tolerance: {{absolute: 0.01}}
  sample_limit: 10
steps:
  - id: customers_columns
    validator: schema_columns
    table: main.customers
    columns: {{email: email_address}}
  - id: customers_nullability
    validator: schema_nullability
    table: main.customers
    columns: {{email: email_address}}
    severity: warning
  - id: products_types
    validator: schema_datatypes
    table: main.products
  - id: orders_constraints
    validator: schema_constraints
    table: main.orders
    severity: warning
  - id: orders_count
    validator: record_counts
    table: main.orders
  - id: customers_nulls
    validator: nulls
    table: main.customers
    columns: {{email: email_address}}
    parameters: {{columns: [email, region]}}
  - id: orders_unique
    validator: uniqueness
    table: main.orders
    parameters: {{columns: [order_id], expect_unique: true}}
  - id: orders_stats
    validator: statistics
    table: main.orders
    parameters: {{columns: [amount, quantity]}}
    tolerance: {{percentage: 0.5}}
  - id: segment_distribution
    validator: distribution
    table: main.customers
    parameters: {{column: segment}}
  - id: region_domain
    validator: domain_values
    table: main.customers
    parameters: {{column: region, allowed: [North, South, East, West]}}
  - id: customer_code_format
    validator: regex_patterns
    table: main.customers
    parameters: {{column: customer_code, pattern: "C[0-9]{{5}}"}}
  - id: orders_aggregates
    validator: column_aggregates
    table: main.orders
    parameters: {{columns: [amount, quantity, order_date]}}
    depends_on: [orders_count]
  - id: orders_rows
    validator: row_hash
    table: main.orders
    parameters: {{key: [order_id]}}
  - id: orders_to_customers
    validator: foreign_keys
    table: main.orders
    parameters: {{columns: [customer_id], references: main.customers, ref_columns: [customer_id]}}
  - id: sales_by_status
    validator: metric_sums
    table: main.orders
    parameters: {{measures: [amount, quantity], group_by: [status]}}
    depends_on: [orders_count]
    skip_on_failure: true
  - id: customer_history
    validator: scd2
    table: main.customer_history
    parameters: {{business_key: [customer_code], valid_from: valid_from, valid_to: valid_to, current_flag: is_current}}
  - id: daily_orders
    validator: ts_continuity
    table: main.orders
    parameters: {{time_column: order_date, grain: day}}
  - id: monthly_sales_change
    validator: period_over_period
    table: main.orders
    parameters: {{time_column: order_date, grain: month, measure: amount}}
    tolerance: {{absolute: 0.5}}
"""


def sample_pipeline_yaml(source_url: str, target_url: str, pipeline_path: str = "pipeline.yaml") -> str:
    return PIPELINE_TEMPLATE.format(source_url=source_url, target_url=target_url, pipeline_path=pipeline_path)


def init_example(directory: str | Path, *, relative_to: str | Path | None = None) -> Path:
    """Write source.duckdb, target.duckdb and pipeline.yaml into `directory`; the pipeline's path.

    DuckDB URLs in the pipeline are relative to `relative_to` (the folder `ombudsman run` will be
    started from; default: absolute paths)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    source = source_data()
    write_duckdb(directory / "source.duckdb", source)
    write_duckdb(directory / "target.duckdb", target_data(source))

    def url(name: str) -> str:
        path = (directory / name).resolve()
        if relative_to is not None:
            try:
                return f"duckdb:///{path.relative_to(Path(relative_to).resolve())}"
            except ValueError:
                pass
        return f"duckdb:///{path}"

    pipeline = directory / "pipeline.yaml"
    pipeline.write_text(sample_pipeline_yaml(url("source.duckdb"), url("target.duckdb"), str(pipeline)))
    return pipeline
