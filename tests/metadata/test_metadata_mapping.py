"""Mapping suggestions between the warehouse's source (PostgreSQL DDL) and target (Snowflake DDL)."""

from __future__ import annotations

import pytest

from ombudsman.contracts.catalog import Catalog, ColumnInfo, TableInfo
from ombudsman.metadata import naming
from ombudsman.metadata.ddl import parse_ddl
from ombudsman.metadata.mapping import suggest
from tests.metadata.warehouse import SOURCE_DDL, TARGET_DDL


@pytest.fixture(scope="module")
def suggestions():  # type: ignore[no-untyped-def]
    return suggest(parse_ddl(SOURCE_DDL, "postgres"), parse_ddl(TARGET_DDL, "snowflake"))


@pytest.mark.parametrize(
    ("name", "normal"),
    [
        ("CustomerKey", "customer #key"),
        ("CUSTOMER_SK", "customer #key"),
        ("customer_skey", "customer #key"),
        ("CustomerID", "customer #id"),
        ("cust_code", "customer #id"),
        ("OrderQty", "order quantity"),
        ("EFFECTIVE_FROM", "valid from"),
    ],
)
def test_column_names_normalise(name: str, normal: str) -> None:
    assert naming.column_name(name) == normal


@pytest.mark.parametrize(
    ("name", "role", "entity"),
    [("DimCustomer", "dimension", "customer"), ("FCT_SALES", "fact", "sale"), ("tblOrders", "", "order"),
     ("stg_sales_import", "staging", "sales import"), ("categories", "", "category")],
)
def test_table_names_normalise(name: str, role: str, entity: str) -> None:
    assert naming.table_name(name) == naming.TableName(role=role, entity=entity)


def test_schemas_and_tables_pair_up(suggestions) -> None:  # type: ignore[no-untyped-def]
    assert [(s.source, s.target) for s in suggestions.schemas] == [("sales", "SALES")]
    pairs = {t.source_table: t.target_table for t in suggestions.tables}
    assert pairs["sales.fact_sales"] == "SALES.FCT_SALES"
    assert pairs["sales.dim_customer"] == "SALES.DIM_CUSTOMER"
    assert pairs["sales.bridge_customer_promotion"] == "SALES.BRIDGE_CUSTOMER_PROMOTION"
    assert len(pairs) == 12
    assert suggestions.unmapped_source_tables == []
    assert suggestions.unmapped_target_tables == ["SALES.AUDIT_LOG"]


def test_renamed_columns_are_mapped_with_ordered_confidence(suggestions) -> None:  # type: ignore[no-untyped-def]
    sales = suggestions.table("sales.fact_sales")
    assert sales.column_map() == {
        "sale_id": "SALE_ID", "date_key": "DATE_SK", "customer_key": "CUSTOMER_SK", "product_key": "PRODUCT_SK",
        "store_key": "STORE_SK", "order_date": "ORDER_DATE", "quantity": "QTY", "unit_price": "UNIT_PRICE",
        "sales_amount": "SALES_AMT",
    }
    by_source = {c.source: c for c in sales.columns}
    assert all(c.type_compatibility == "lossless" for c in sales.columns)
    # an identical name beats a suffix rename, which beats an abbreviation
    assert by_source["unit_price"].confidence == 1.0
    assert by_source["unit_price"].evidence[0] == "same name"
    customer = suggestions.table("sales.dim_customer")
    cols = {c.source: c for c in customer.columns}
    assert cols["customer_key"].target == "CUSTOMER_SK" and cols["customer_id"].target == "CUSTOMER_ID"
    assert cols["valid_from"].target == "EFFECTIVE_FROM" and cols["valid_to"].target == "EFFECTIVE_TO"
    date = {c.source: c for c in suggestions.table("sales.dim_date").columns}
    assert date["calendar_year"].target == "CAL_YEAR"
    assert 0.55 < date["calendar_year"].confidence < date["full_date"].confidence == 1.0
    returns = {c.source: c for c in suggestions.table("sales.fact_returns").columns}
    assert returns["return_qty"].target == "RETURN_QUANTITY"


def test_surrogate_and_business_keys_do_not_cross() -> None:
    source = Catalog(kind="sqlserver", schemas=["dbo"], tables=[TableInfo(schema_name="dbo", name="DimCustomer", columns=[
        ColumnInfo(name="CustomerKey", data_type="int", ordinal=1),
        ColumnInfo(name="CustomerID", data_type="nvarchar", length=20, ordinal=2),
    ])])
    target = Catalog(kind="snowflake", schemas=["PUBLIC"], tables=[TableInfo(schema_name="PUBLIC", name="CUSTOMERS", columns=[
        ColumnInfo(name="CUSTOMER_ID", data_type="varchar", length=20, ordinal=1),
        ColumnInfo(name="CUSTOMER_SK", data_type="number", precision=38, scale=0, ordinal=2),
    ])])
    result = suggest(source, target)
    [table] = result.tables
    assert table.target_table == "PUBLIC.CUSTOMERS"
    assert table.column_map() == {"CustomerKey": "CUSTOMER_SK", "CustomerID": "CUSTOMER_ID"}
    assert result.schemas[0].target == "PUBLIC"  # dbo and PUBLIC are both default schemas


def test_type_incompatibility_lowers_confidence_and_leftovers_are_listed() -> None:
    def table(kind: str, *cols: tuple[str, str]) -> Catalog:
        return Catalog(kind=kind, tables=[TableInfo(schema_name="s", name="orders", columns=[
            ColumnInfo(name=n, data_type=t, ordinal=i + 1) for i, (n, t) in enumerate(cols)])])

    result = suggest(
        table("postgres", ("amount", "numeric"), ("placed_at", "timestamp"), ("legacy_flag", "boolean")),
        table("snowflake", ("AMOUNT", "varchar"), ("PLACED_AT", "timestamp_ntz"), ("NEW_THING", "varchar")),
    )
    cols = {c.source: c for c in result.tables[0].columns}
    assert cols["amount"].type_compatibility == "lossy"
    assert cols["placed_at"].type_compatibility == "lossless"
    assert cols["amount"].confidence < cols["placed_at"].confidence
    assert result.tables[0].unmapped_source_columns == ["legacy_flag"]
    assert result.tables[0].unmapped_target_columns == ["NEW_THING"]


def test_given_schema_mapping_wins() -> None:
    source = parse_ddl("CREATE TABLE dbo.a (x INT); CREATE TABLE stage.a (x INT);", "tsql")
    target = parse_ddl("CREATE TABLE CORE.A (X INT); CREATE TABLE RAW.A (X INT);", "snowflake")
    result = suggest(source, target, schema_map={"dbo": "CORE", "stage": "RAW"})
    assert {t.source_table: t.target_table for t in result.tables} == {"dbo.a": "CORE.A", "stage.a": "RAW.A"}


TSQL_SOURCE = """
CREATE TABLE dbo.DimCustomer (CustomerKey INT IDENTITY(1,1) NOT NULL PRIMARY KEY, CustomerID NVARCHAR(20) NOT NULL,
  CustomerName NVARCHAR(100) NOT NULL, City NVARCHAR(50), ValidFrom DATETIME2(6) NOT NULL, ValidTo DATETIME2(6),
  IsCurrent BIT NOT NULL)
GO
CREATE TABLE dbo.DimProduct (ProductKey INT IDENTITY(1,1) NOT NULL PRIMARY KEY, ProductCode NVARCHAR(20) NOT NULL,
  ProductName NVARCHAR(100) NOT NULL, CategoryKey INT NOT NULL, ListPrice DECIMAL(10,2))
GO
CREATE TABLE dbo.FactSales (SaleID BIGINT NOT NULL PRIMARY KEY, DateKey INT NOT NULL, CustomerKey INT NOT NULL,
  ProductKey INT NOT NULL, StoreKey INT NOT NULL, OrderDate DATE NOT NULL, Quantity INT NOT NULL,
  UnitPrice DECIMAL(10,2) NOT NULL, SalesAmount DECIMAL(12,2) NOT NULL)
GO
"""


def test_sql_server_pascal_case_onto_snowflake_upper_snake_case() -> None:
    result = suggest(parse_ddl(TSQL_SOURCE, "tsql"), parse_ddl(TARGET_DDL, "snowflake"))
    assert [(s.source, s.target) for s in result.schemas] == [("dbo", "SALES")]
    pairs = {t.source_table: t.target_table for t in result.tables}
    assert pairs == {"dbo.DimCustomer": "SALES.DIM_CUSTOMER", "dbo.DimProduct": "SALES.DIM_PRODUCT",
                     "dbo.FactSales": "SALES.FCT_SALES"}
    sales = result.table("dbo.FactSales")
    assert sales is not None and sales.column_map() == {
        "SaleID": "SALE_ID", "DateKey": "DATE_SK", "CustomerKey": "CUSTOMER_SK", "ProductKey": "PRODUCT_SK",
        "StoreKey": "STORE_SK", "OrderDate": "ORDER_DATE", "Quantity": "QTY", "UnitPrice": "UNIT_PRICE",
        "SalesAmount": "SALES_AMT"}
    customer = result.table("dbo.DimCustomer")
    assert customer is not None and customer.column_map() == {
        "CustomerKey": "CUSTOMER_SK", "CustomerID": "CUSTOMER_ID", "CustomerName": "CUSTOMER_NAME", "City": "CITY",
        "ValidFrom": "EFFECTIVE_FROM", "ValidTo": "EFFECTIVE_TO", "IsCurrent": "IS_CURRENT"}
    # nvarchar(20) → varchar(20), datetime2(6) → timestamp_ntz(6), bit → boolean: all lossless
    assert all(c.type_compatibility == "lossless" for c in customer.columns)
    assert len(result.unmapped_target_tables) == 10
