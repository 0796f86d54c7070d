"""DDL upload: T-SQL, Snowflake and PostgreSQL CREATE TABLE scripts into the catalog model."""

from __future__ import annotations

import pytest

from ombudsman.contracts.replies import Invalid
from ombudsman.metadata.ddl import parse_ddl
from tests.metadata.warehouse import SOURCE_DDL, TARGET_DDL

TSQL = """
SET ANSI_NULLS ON
GO
CREATE TABLE [dbo].[DimCustomer] (
    [CustomerKey] INT IDENTITY(1,1) NOT NULL,
    [CustomerID] NVARCHAR(20) NOT NULL,
    [Balance] DECIMAL(18,2) NULL DEFAULT 0,
    [Notes] NVARCHAR(MAX),
    [Created] DATETIME2(3) DEFAULT GETDATE(),
    CONSTRAINT [PK_DimCustomer] PRIMARY KEY CLUSTERED ([CustomerKey] ASC),
    CONSTRAINT [UQ_DimCustomer_ID] UNIQUE ([CustomerID])
) ON [PRIMARY]
GO
CREATE TABLE dbo.FactSales (
    SaleID BIGINT NOT NULL,
    CustomerKey INT NOT NULL,
    Amount MONEY NOT NULL,
    CONSTRAINT PK_FactSales PRIMARY KEY NONCLUSTERED (SaleID)
)
GO
CREATE NONCLUSTERED INDEX IX_FactSales_Customer ON dbo.FactSales (CustomerKey)
GO
ALTER TABLE dbo.FactSales ADD CONSTRAINT FK_FactSales_Customer FOREIGN KEY (CustomerKey)
    REFERENCES dbo.DimCustomer (CustomerKey)
GO
"""


def test_tsql_script_with_go_batches_constraints_and_alter() -> None:
    catalog = parse_ddl(TSQL, "tsql", database="DW")
    assert catalog.kind == "sqlserver" and catalog.database == "DW"
    assert [t.qualified_name for t in catalog.tables] == ["dbo.DimCustomer", "dbo.FactSales"]
    customer = catalog.table("dbo", "DimCustomer")
    assert customer is not None
    assert customer.primary_key == ["CustomerKey"]
    assert customer.unique_constraints == [["CustomerID"]]
    cols = {c.name: c for c in customer.columns}
    assert (cols["CustomerKey"].data_type, cols["CustomerKey"].nullable, cols["CustomerKey"].ordinal) == ("int", False, 1)
    assert (cols["CustomerID"].data_type, cols["CustomerID"].length, cols["CustomerID"].nullable) == ("nvarchar", 20, False)
    assert (cols["Balance"].precision, cols["Balance"].scale, cols["Balance"].default) == (18, 2, "0")
    assert cols["Notes"].length == -1  # NVARCHAR(MAX)
    assert cols["Created"].data_type == "datetime2" and cols["Created"].precision == 3
    fact = catalog.table("dbo", "FactSales")
    assert fact is not None and fact.primary_key == ["SaleID"]
    [fk] = fact.foreign_keys
    assert (fk.name, fk.columns, fk.ref_schema, fk.ref_table, fk.ref_columns) == (
        "FK_FactSales_Customer", ["CustomerKey"], "dbo", "DimCustomer", ["CustomerKey"])
    assert fact.column("amount") is not None and fact.column("amount").data_type == "money"  # type: ignore[union-attr]


def test_postgres_script_inline_and_table_constraints() -> None:
    catalog = parse_ddl(SOURCE_DDL, "postgresql")
    assert catalog.kind == "postgres" and catalog.schemas == ["sales"]
    assert len(catalog.tables) == 12
    sales = catalog.table("sales", "fact_sales")
    assert sales is not None
    assert {(fk.columns[0], fk.ref_table) for fk in sales.foreign_keys} == {
        ("date_key", "dim_date"), ("customer_key", "dim_customer"), ("product_key", "dim_product"), ("store_key", "dim_store")}
    amount = sales.column("sales_amount")
    assert amount is not None and (amount.data_type, amount.precision, amount.scale, amount.nullable) == ("numeric", 12, 2, False)
    inventory = catalog.table("sales", "fact_inventory")
    assert inventory is not None and inventory.primary_key == ["date_key", "product_key", "store_key"]
    assert all(not c.nullable for c in inventory.columns if c.name in inventory.primary_key)
    customer = catalog.table("sales", "dim_customer")
    assert customer is not None and customer.column("is_current").default == "TRUE"  # type: ignore[union-attr]
    category = catalog.table("sales", "dim_category")
    assert category is not None and category.unique_constraints == [["category_code"]]


def test_snowflake_script_types() -> None:
    catalog = parse_ddl(TARGET_DDL, "snowflake")
    assert catalog.kind == "snowflake" and len(catalog.tables) == 13
    customer = catalog.table("SALES", "DIM_CUSTOMER")
    assert customer is not None
    sk = customer.column("CUSTOMER_SK")
    assert sk is not None and (sk.data_type, sk.precision, sk.scale) == ("number", 38, 0)
    start = customer.column("EFFECTIVE_FROM")
    assert start is not None and (start.data_type, start.precision) == ("timestamp_ntz", 6)


def test_unqualified_tables_get_the_dialect_default_schema() -> None:
    assert parse_ddl("CREATE TABLE t (a INT)", "tsql").tables[0].schema_name == "dbo"
    assert parse_ddl("CREATE TABLE t (a INT)", "postgres").tables[0].schema_name == "public"
    assert parse_ddl("CREATE TABLE t (a INT)", "snowflake", default_schema="RAW").tables[0].schema_name == "RAW"


@pytest.mark.parametrize(
    ("ddl", "line", "statement"),
    [
        ("CREATE TABLE a (x INT);\n\nCREATE TABLE b (\n  y INT,\n  z INT w v\n);", 5, 2),
        ("CREATE TABLE a (x INT);\nCREAT TABLE b (y INT);", 2, 2),
        ("CREATE TABLE a (x INT,\n  y VARCHAR(10)\n", 2, 1),  # unclosed: the last line read
    ],
)
def test_malformed_ddl_names_the_line_and_statement(ddl: str, line: int, statement: int) -> None:
    with pytest.raises(Invalid) as err:
        parse_ddl(ddl, "postgres")
    assert err.value.message.startswith(f"DDL line {line}: statement {statement} ")
    assert err.value.details["line"] == line
    assert err.value.http_status == 422


def test_unterminated_string_names_its_line() -> None:
    with pytest.raises(Invalid) as err:
        parse_ddl("CREATE TABLE a (x INT);\nCREATE TABLE b (y VARCHAR(3) DEFAULT 'abc\n);", "postgres")
    assert err.value.details["line"] == 2


def test_other_bad_input() -> None:
    with pytest.raises(Invalid, match="unsupported DDL dialect 'oracle'"):
        parse_ddl("CREATE TABLE a (x INT)", "oracle")
    with pytest.raises(Invalid, match="no CREATE TABLE"):
        parse_ddl("SET ANSI_NULLS ON;", "tsql")
    with pytest.raises(Invalid, match="defined twice"):
        parse_ddl("CREATE TABLE a (x INT);\nCREATE TABLE A (y INT);", "postgres")
    with pytest.raises(Invalid, match=r"DDL line 1: .*unknown column\(s\) nope"):
        parse_ddl("CREATE TABLE a (x INT, PRIMARY KEY (nope))", "postgres")
    with pytest.raises(Invalid, match=r"DDL line 2: .*unknown table public\.zzz"):
        parse_ddl("CREATE TABLE a (x INT);\nALTER TABLE zzz ADD CONSTRAINT f FOREIGN KEY (x) REFERENCES a (x);", "postgres")
