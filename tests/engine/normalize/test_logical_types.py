"""Database type names of the four dialects map to logical types; column pairs of different types
are rendered so that equal values compare equal."""

from __future__ import annotations

import pyarrow as pa
import pytest

from ombudsman.engine.normalize import LogicalType, logical_type, logical_type_from_arrow, pair_types


@pytest.mark.parametrize(
    ("data_type", "precision", "scale", "expected"),
    [
        ("integer", None, None, LogicalType("integer")),
        ("NUMBER", 38, 0, LogicalType("integer")),
        ("numeric", 12, 2, LogicalType("decimal", scale=2)),
        ("DECIMAL(18,3)", None, None, LogicalType("decimal", scale=3)),
        ("money", None, None, LogicalType("decimal", scale=4)),
        ("numeric", None, None, LogicalType("decimal", scale=None)),
        ("double precision", None, None, LogicalType("float")),
        ("FLOAT", None, None, LogicalType("float")),
        ("bit", None, None, LogicalType("boolean")),
        ("character varying", None, None, LogicalType("string")),
        ("nchar", None, None, LogicalType("string", fixed_length=True)),
        ("timestamp without time zone", None, None, LogicalType("timestamp")),
        ("timestamp with time zone", None, None, LogicalType("timestamp_tz")),
        ("TIMESTAMP_LTZ", None, None, LogicalType("timestamp_tz")),
        ("datetimeoffset", None, None, LogicalType("timestamp_tz")),
        ("datetime2", None, None, LogicalType("timestamp")),
        ("time without time zone", None, None, LogicalType("time")),
        ("bytea", None, None, LogicalType("binary")),
        ("uniqueidentifier", None, None, LogicalType("uuid")),
        ("jsonb", None, None, LogicalType("other")),
        ("INTEGER[]", None, None, LogicalType("other")),
    ],
)
def test_database_types_map_to_logical_types(data_type: str, precision: int | None, scale: int | None, expected: LogicalType) -> None:
    assert logical_type(data_type, precision=precision, scale=scale) == expected


def test_arrow_types_map_to_logical_types() -> None:
    assert logical_type_from_arrow(pa.decimal128(12, 2)) == LogicalType("decimal", scale=2)
    assert logical_type_from_arrow(pa.decimal128(38, 0)) == LogicalType("integer")
    assert logical_type_from_arrow(pa.timestamp("us", tz="UTC")) == LogicalType("timestamp_tz")
    assert logical_type_from_arrow(pa.binary()) == LogicalType("binary")
    assert logical_type_from_arrow(pa.null()) == LogicalType("other")


def test_pairs_of_different_types_meet_on_a_common_form() -> None:
    integer, dec2, dec4 = LogicalType("integer"), LogicalType("decimal", scale=2), LogicalType("decimal", scale=4)
    assert pair_types(integer, dec2) == (dec2, dec2)
    assert pair_types(dec4, dec2) == (dec4, dec4)
    assert pair_types(dec2, LogicalType("float")) == (LogicalType("float"), LogicalType("float"))
    assert pair_types(LogicalType("date"), LogicalType("timestamp")) == (LogicalType("timestamp"), LogicalType("timestamp"))
    assert pair_types(LogicalType("uuid"), LogicalType("string")) == (LogicalType("uuid"), LogicalType("uuid"))
    char = LogicalType("string", fixed_length=True)
    assert pair_types(char, LogicalType("string")) == (char, char)
    assert pair_types(LogicalType("timestamp_tz"), LogicalType("timestamp")) == (LogicalType("timestamp_tz"), LogicalType("timestamp"))
    assert pair_types(LogicalType("decimal"), LogicalType("decimal")) == (LogicalType("decimal", scale=6), LogicalType("decimal", scale=6))
