"""Catalog introspection against real databases (PostgreSQL, DuckDB, fakesnow, and PostgreSQL
through ODBC): keys, nullability, precision, lengths, views and row counts are found; SQL Server's
T-SQL introspection queries parse with sqlglot's tsql dialect."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlglot import exp

from ombudsman.contracts.catalog import Catalog
from ombudsman.engine.connectors import connect
from ombudsman.engine.connectors.introspection import column_facts, sqlserver_queries
from ombudsman.engine.dialects import check_tsql

# customers(id PK, email UNIQUE NOT NULL, name varchar(80) NULL, balance decimal(12,2) NOT NULL)
# orders(id PK, customer_id FK -> customers, region + number UNIQUE, amount decimal(10,3), placed timestamp(3))
# order_lines((order_id, line_no) PK, order_id FK -> orders)
# big_customers: a view
DDL: dict[str, list[str]] = {
    "postgres": [
        "CREATE SCHEMA shop",
        "CREATE TABLE shop.customers (id integer PRIMARY KEY, email varchar(120) NOT NULL UNIQUE, "
        "name varchar(80), balance numeric(12,2) NOT NULL DEFAULT 0)",
        "CREATE TABLE shop.orders (id bigint PRIMARY KEY, customer_id integer NOT NULL REFERENCES shop.customers(id), "
        "region char(2) NOT NULL, number integer NOT NULL, amount numeric(10,3), placed timestamp(3), "
        "CONSTRAINT orders_region_number UNIQUE (region, number))",
        "CREATE TABLE shop.order_lines (order_id bigint NOT NULL REFERENCES shop.orders(id), line_no smallint NOT NULL, "
        "qty double precision, PRIMARY KEY (order_id, line_no))",
        "CREATE VIEW shop.big_customers AS SELECT id, balance FROM shop.customers WHERE balance > 1000",
        "INSERT INTO shop.customers SELECT n, 'c' || n || '@x.org', NULL, n * 10 FROM generate_series(1, 250) AS n",
        "ANALYZE shop.customers",
    ],
    "duckdb": [
        "CREATE SCHEMA shop",
        "CREATE TABLE shop.customers (id INTEGER PRIMARY KEY, email VARCHAR(120) NOT NULL UNIQUE, "
        "name VARCHAR(80), balance DECIMAL(12,2) NOT NULL DEFAULT 0)",
        "CREATE TABLE shop.orders (id BIGINT PRIMARY KEY, customer_id INTEGER NOT NULL REFERENCES shop.customers(id), "
        "region VARCHAR(2) NOT NULL, number INTEGER NOT NULL, amount DECIMAL(10,3), placed TIMESTAMP_MS, "
        "UNIQUE (region, number))",
        "CREATE TABLE shop.order_lines (order_id BIGINT NOT NULL REFERENCES shop.orders(id), line_no SMALLINT NOT NULL, "
        "qty DOUBLE, PRIMARY KEY (order_id, line_no))",
        "CREATE VIEW shop.big_customers AS SELECT id, balance FROM shop.customers WHERE balance > 1000",
        "INSERT INTO shop.customers SELECT range, 'c' || range || '@x.org', NULL, range * 10 FROM range(1, 251)",
    ],
    "snowflake": [
        "CREATE SCHEMA SHOP",
        "CREATE TABLE SHOP.CUSTOMERS (ID INTEGER PRIMARY KEY, EMAIL VARCHAR(120) NOT NULL UNIQUE, "
        "NAME VARCHAR(80), BALANCE NUMBER(12,2) NOT NULL DEFAULT 0)",
        "CREATE TABLE SHOP.ORDERS (ID BIGINT PRIMARY KEY, CUSTOMER_ID INTEGER NOT NULL REFERENCES SHOP.CUSTOMERS(ID), "
        "REGION VARCHAR(2) NOT NULL, NUMBER INTEGER NOT NULL, AMOUNT NUMBER(10,3), PLACED TIMESTAMP_NTZ(3), "
        "UNIQUE (REGION, NUMBER))",
        "CREATE TABLE SHOP.ORDER_LINES (ORDER_ID BIGINT NOT NULL REFERENCES SHOP.ORDERS(ID), LINE_NO SMALLINT NOT NULL, "
        "QTY FLOAT, PRIMARY KEY (ORDER_ID, LINE_NO))",
        "CREATE VIEW SHOP.BIG_CUSTOMERS AS SELECT ID, BALANCE FROM SHOP.CUSTOMERS WHERE BALANCE > 1000",
        "INSERT INTO SHOP.CUSTOMERS SELECT SEQ4() + 1, 'c' || (SEQ4() + 1) || '@x.org', NULL, (SEQ4() + 1) * 10 "
        "FROM TABLE(GENERATOR(ROWCOUNT => 250))",
    ],
}
DDL["odbc"] = DDL["postgres"]


@pytest.fixture(params=["postgres", "duckdb", "snowflake", "odbc"])
def shop(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    fixture = {
        "postgres": "database_url",
        "duckdb": "duckdb_url",
        "snowflake": "fakesnow_url",
        "odbc": "odbc_postgres_url",
    }[request.param]
    yield request.param, request.getfixturevalue(fixture)


def _name(kind: str, name: str) -> str:
    return name.upper() if kind == "snowflake" else name


async def _catalog(kind: str, url: str, schemas: list[str] | None) -> Catalog:
    async with connect(url, timeout=30) as db:
        for statement in DDL[kind]:
            await db.execute(statement)
        return await db.introspect(schemas)


async def test_introspection_finds_keys_nullability_precision(shop: tuple[str, str]) -> None:
    kind, url = shop
    n = lambda s: _name(kind, s)  # noqa: E731
    catalog = await _catalog(kind, url, [n("shop")])
    assert catalog.schemas == [n("shop")]
    assert {t.name for t in catalog.tables} == {
        n("customers"),
        n("orders"),
        n("order_lines"),
        n("big_customers"),
    }

    customers = catalog.table(n("shop"), n("customers"))
    assert customers is not None and customers.kind == "table"
    assert [c.name for c in customers.columns] == [n("id"), n("email"), n("name"), n("balance")]
    assert [c.ordinal for c in customers.columns] == [1, 2, 3, 4]
    assert customers.primary_key == [n("id")]
    assert [n("email")] in customers.unique_constraints
    email, name, balance = customers.columns[1], customers.columns[2], customers.columns[3]
    assert email.nullable is False and name.nullable is True
    assert (balance.precision, balance.scale, balance.nullable) == (12, 2, False)
    assert balance.default is not None and "0" in balance.default
    if kind != "duckdb":  # DuckDB keeps no VARCHAR length
        assert (email.length, name.length) == (120, 80)
    assert customers.row_count == 250

    orders = catalog.table(n("shop"), n("orders"))
    assert orders is not None
    assert [n("region"), n("number")] in orders.unique_constraints
    assert len(orders.foreign_keys) == 1
    fk = orders.foreign_keys[0]
    assert (fk.columns, fk.ref_schema, fk.ref_table, fk.ref_columns) == (
        [n("customer_id")],
        n("shop"),
        n("customers"),
        [n("id")],
    )
    amount = orders.column(n("amount"))
    assert amount is not None and (amount.precision, amount.scale) == (10, 3)
    placed = orders.column(n("placed"))
    assert placed is not None and placed.data_type.startswith("timestamp")
    if kind != "snowflake":  # fakesnow's INFORMATION_SCHEMA has no DATETIME_PRECISION
        assert placed.precision == 3

    lines = catalog.table(n("shop"), n("order_lines"))
    assert lines is not None and lines.primary_key == [n("order_id"), n("line_no")]
    assert [f.ref_table for f in lines.foreign_keys] == [n("orders")]
    qty = lines.column(n("qty"))
    assert qty is not None and qty.precision == 53

    view = catalog.table(n("shop"), n("big_customers"))
    assert (
        view is not None and view.kind == "view" and [c.name for c in view.columns] == [n("id"), n("balance")]
    )


async def test_introspection_of_all_schemas_includes_the_default_one(shop: tuple[str, str]) -> None:
    kind, url = shop
    async with connect(url) as db:
        await db.execute("CREATE TABLE loose (k integer PRIMARY KEY)")
        catalog = await db.introspect()
    default = {"postgres": "public", "odbc": "public", "duckdb": "main", "snowflake": "PUBLIC"}[kind]
    assert default in catalog.schemas
    loose = catalog.table(default, "loose")
    assert loose is not None and loose.primary_key == [_name(kind, "k")]
    assert catalog.server_version and catalog.database


def test_sqlserver_introspection_queries_parse_as_tsql() -> None:
    queries = sqlserver_queries(["dbo", "sales"])
    sys_joined = {("sys", "columns"), ("sys", "schemas"), ("sys", "tables")}
    expected_tables = {
        "about": set(),
        "schemas": {("sys", "schemas")},
        "tables": {("INFORMATION_SCHEMA", "TABLES"), ("sys", "partitions")},
        "columns": {("INFORMATION_SCHEMA", "COLUMNS")},
        "keys": sys_joined | {("sys", "index_columns"), ("sys", "key_constraints")},
        "foreign": sys_joined | {("sys", "foreign_key_columns"), ("sys", "foreign_keys")},
    }
    assert set(queries) == set(expected_tables)
    for name, sql in queries.items():
        statements = check_tsql(sql)
        assert len(statements) == 1, name
        assert isinstance(statements[0], exp.Select), name
        assert {(t.db, t.name) for t in statements[0].find_all(exp.Table)} == expected_tables[name], name
        # one qmark per schema asked for, in the queries that filter by schema
        placeholders = list(statements[0].find_all(exp.Placeholder))
        assert len(placeholders) == (0 if name in ("about", "schemas") else 2), name


@pytest.mark.parametrize(
    ("spelled", "length", "precision", "scale", "digits", "expected"),
    [
        ("DECIMAL(12,3)", None, None, None, None, ("decimal", None, 12, 3)),
        ("numeric", None, 18, 4, None, ("numeric", None, 18, 4)),
        ("nvarchar", -1, None, None, None, ("nvarchar", -1, None, None)),
        ("datetime2", None, None, None, 7, ("datetime2", None, 7, None)),
        ("float", None, 24, None, None, ("float", None, 24, None)),
        ("double precision", None, 53, None, None, ("double precision", None, 53, None)),
        ("timestamp_ntz(3)", None, None, None, None, ("timestamp_ntz", None, 3, None)),
        ("int", None, 10, 0, None, ("int", None, None, None)),
    ],
)
def test_column_facts_are_normalised(
    spelled: str,
    length: int | None,
    precision: int | None,
    scale: int | None,
    digits: int | None,
    expected: tuple,
) -> None:
    assert column_facts(spelled, length, precision, scale, digits) == expected
