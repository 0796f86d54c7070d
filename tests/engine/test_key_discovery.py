"""Key discovery on a keyless Kimball fact (PascalCase source, UPPER_SNAKE target): the degenerate key
SalesOrderNumber + SalesOrderLineNumber is proposed from the names, confirmed unique on both sides by
pushed-down checks, and the row_hash validator then diffs by it, naming the changed columns."""

from __future__ import annotations

from pathlib import Path

from ombudsman.contracts.catalog import ColumnInfo, TableInfo
from ombudsman.contracts.pipeline import TableRef
from ombudsman.engine.connectors import connect
from ombudsman.engine.keys import check_unique, discover_key, key_candidates
from ombudsman.engine.validators import ValidationContext, get_validator, run_validator

ROWS = 150_000
SOURCE = (
    "CREATE TABLE FactInternetSales AS SELECT 'SO' || CAST(43000 + i // 4 AS VARCHAR) AS SalesOrderNumber, "
    "CAST(i % 4 + 1 AS SMALLINT) AS SalesOrderLineNumber, CAST(i % 600 AS INTEGER) AS ProductKey, "
    "CAST(20200101 + i % 28 AS INTEGER) AS OrderDateKey, CAST(i % 9000 AS INTEGER) AS CustomerKey, "
    "CAST(i % 97 AS DOUBLE) * 1.25 AS UnitPrice, CAST(i % 13 AS DOUBLE) * 0.08 AS TaxAmt "
    f"FROM range({ROWS}) r(i)"
)
COLUMN_MAP = {
    "SalesOrderNumber": "SALES_ORDER_NUMBER", "SalesOrderLineNumber": "SALES_ORDER_LINE_NUMBER",
    "ProductKey": "PRODUCT_KEY", "OrderDateKey": "ORDER_DATE_KEY", "CustomerKey": "CUSTOMER_KEY",
    "UnitPrice": "UNIT_PRICE", "TaxAmt": "TAX_AMT",
}
TARGET = SOURCE.replace("FactInternetSales", "FACT_INTERNET_SALES")
for _source_name, _target_name in COLUMN_MAP.items():
    TARGET = TARGET.replace(f" AS {_source_name}", f" AS {_target_name}")


def test_candidates_from_names_and_types() -> None:
    table = TableInfo(schema_name="dbo", name="FactInternetSales", columns=[
        ColumnInfo(name="SalesOrderNumber", data_type="nvarchar", ordinal=1),
        ColumnInfo(name="SalesOrderLineNumber", data_type="tinyint", ordinal=2),
        ColumnInfo(name="ProductKey", data_type="int", ordinal=3),
        ColumnInfo(name="OrderDateKey", data_type="int", ordinal=4),
        ColumnInfo(name="UnitPrice", data_type="float", ordinal=5),
        ColumnInfo(name="CarrierTrackingNumber", data_type="nvarchar", ordinal=6),
    ], unique_constraints=[["CarrierTrackingNumber"]])
    found = [(c.columns, c.reason) for c in key_candidates(table)]
    assert found[0] == (["CarrierTrackingNumber"], "unique_constraint")
    assert found[1] == (["SalesOrderNumber", "SalesOrderLineNumber"], "degenerate_line")
    assert (["ProductKey"], "name_id") in found
    assert all("UnitPrice" not in c and "OrderDateKey" not in c for c, _ in found)  # floats, role-playing dates


async def test_the_degenerate_key_is_discovered_on_both_sides_and_used(tmp_path: Path) -> None:
    async with connect(f"duckdb:///{tmp_path / 's.duckdb'}") as source, connect(f"duckdb:///{tmp_path / 't.duckdb'}") as target:
        await source.execute(SOURCE)
        await target.execute(TARGET)
        catalog = await source.introspect(None)
        fact = next(t for t in catalog.tables if t.name == "FactInternetSales")
        assert not fact.primary_key

        # a wrong candidate is rejected on the sample, without reading the whole table
        check = await check_unique(source, TableRef(name="FactInternetSales"), ["ProductKey"], sample_rows=10_000)
        assert not check.unique and check.sampled and check.duplicates > 0

        key = await discover_key(
            source, target, fact, TableRef(name="FACT_INTERNET_SALES"), source_ref=TableRef(name="FactInternetSales"),
            column_map=COLUMN_MAP,
        )
        assert key is not None and key.columns == ["SalesOrderNumber", "SalesOrderLineNumber"]
        assert key.reason == "degenerate_line"
        assert key.checks["source"].unique and key.checks["target"].unique
        assert key.checks["source"].rows == key.checks["target"].rows == ROWS

        # the validator discovers it by itself and names the changed columns
        await target.execute("UPDATE FACT_INTERNET_SALES SET UNIT_PRICE = UNIT_PRICE + 1 WHERE SALES_ORDER_NUMBER = 'SO43010'")
        await target.execute(
            "UPDATE FACT_INTERNET_SALES SET TAX_AMT = 99 WHERE SALES_ORDER_NUMBER = 'SO43020' AND SALES_ORDER_LINE_NUMBER = 2"
        )
        ctx = ValidationContext(
            source=source, target=target, source_table=TableRef(name="FactInternetSales"),
            target_table=TableRef(name="FACT_INTERNET_SALES"), column_map=COLUMN_MAP, sample_limit=10,
        )
        result = await run_validator(get_validator("row_hash"), ctx, {})
        assert result.status == "failed", result.message
        assert result.details["key"] == ["SalesOrderNumber", "SalesOrderLineNumber"]
        assert result.details["key_discovered"]["reason"] == "degenerate_line"
        assert result.details["changed_columns"] == {"UnitPrice": 4, "TaxAmt": 1}
        assert result.source["only_in_source"] == 0 and result.target["only_in_target"] == 0
