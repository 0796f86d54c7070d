"""BigQuery and Databricks in the engine's type map: generated DDL's targets read and judged in the
one vocabulary (Logical types, lossless / lossy / incompatible), and metadata's pair judgments use it."""

from __future__ import annotations

import pytest

from ombudsman.contracts.catalog import ColumnInfo
from ombudsman.engine.typemap import DDL_KINDS, KINDS, compatible, map_type, parse
from ombudsman.metadata.types import column_compatibility


def col(data_type: str, **facts: int) -> ColumnInfo:
    return ColumnInfo(name="c", data_type=data_type, ordinal=1, **facts)


def test_ddl_targets_are_known_to_the_type_map_but_not_connector_kinds() -> None:
    assert DDL_KINDS == ("bigquery", "databricks") and not set(DDL_KINDS) & set(KINDS)


def test_bigquery_and_databricks_types_read_with_their_defaults() -> None:
    numeric = parse("bigquery", col("NUMERIC"))
    assert (numeric.family, numeric.scale, str(numeric.high)) == ("exact", 9, "9" * 29 + "." + "9" * 9)
    assert parse("bigquery", col("TIMESTAMP")).tz == "instant" and parse("bigquery", col("DATETIME")).tz == "none"
    assert parse("bigquery", col("STRING", length=20)).length == 20
    decimal = parse("databricks", col("DECIMAL"))
    assert decimal.scale == 0 and str(decimal.high) == "9" * 10
    assert parse("databricks", col("TIMESTAMP_NTZ")).tz == "none" and parse("databricks", col("STRING")).length is None


@pytest.mark.parametrize(("source", "target", "expected", "fidelity"), [
    (col("int"), "bigquery", "INT64", "lossless"),
    (col("decimal", precision=12, scale=2), "bigquery", "NUMERIC(12,2)", "lossless"),
    (col("decimal", precision=38, scale=10), "bigquery", "BIGNUMERIC(38,10)", "lossless"),
    (col("datetime2", precision=7), "bigquery", "DATETIME", "lossy"),
    (col("nvarchar", length=50), "bigquery", "STRING(50)", "lossless"),
    (col("int"), "databricks", "INT", "lossless"),
    (col("time"), "databricks", "STRING", "lossy"),
    (col("datetimeoffset"), "databricks", "TIMESTAMP", "lossy"),
])
def test_sql_server_types_map_to_the_narrowest_faithful_target_type(source, target, expected, fidelity) -> None:
    mapped = map_type("sqlserver", source, target)
    assert (mapped.target_type, mapped.fidelity) == (expected, fidelity)


def test_pairs_are_judged_by_the_engine_for_ddl_targets_too() -> None:
    offset = compatible(col("datetimeoffset"), "sqlserver", col("TIMESTAMP"), "bigquery")
    assert offset.fidelity == "lossy" and "offset is dropped" in offset.note
    narrowed = compatible(col("INT64"), "bigquery", col("INT"), "databricks")
    assert narrowed.fidelity == "lossy" and "overflow" in narrowed.note
    assert column_compatibility(col("decimal", precision=38, scale=10), "sqlserver", col("NUMERIC"), "bigquery") == (
        compatible(col("decimal", precision=38, scale=10), "sqlserver", col("NUMERIC"), "bigquery").fidelity
    ) == "lossy"
    assert column_compatibility(col("STRING"), "bigquery", col("STRING"), "databricks") == "lossless"
