"""Per-database test material shared by the connector tests: a table of every common type."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

TRICKY_TEXT = 'it\'s a ? with "quotes", -- not a comment, /* nor this */ and ünïcødé ✓'
UTC = dt.UTC

# id, small int, big int, decimal(12,3), double, text, boolean, date, timestamp, timestamp tz, binary
ROUND_TRIP_ROWS: list[tuple[Any, ...]] = [
    (
        1,
        42,
        9_007_199_254_740_993,  # 2**53 + 1: exact only if never passed through a double
        Decimal("12345.678"),
        1.5e-7,
        TRICKY_TEXT,
        True,
        dt.date(2024, 2, 29),
        dt.datetime(2024, 1, 2, 3, 4, 5, 123456),
        dt.datetime(2024, 1, 2, 1, 4, 5, 654321, tzinfo=UTC),
        b"\x00\xff?'",
    ),
    (
        2,
        -7,
        -1,
        Decimal("-0.001"),
        -2.5,
        "",
        False,
        dt.date(1999, 12, 31),
        dt.datetime(1999, 12, 31, 23, 59, 59),
        dt.datetime(2000, 1, 1, tzinfo=UTC),
        b"",
    ),
    (3, None, None, None, None, None, None, None, None, None, None),
]

ROUND_TRIP_DDL: dict[str, str] = {
    "postgres": (
        "CREATE TABLE rt (id integer PRIMARY KEY, i integer, b bigint, d numeric(12,3), f double precision, "
        "s varchar(200), flag boolean, day date, ts timestamp, tstz timestamptz, bin bytea)"
    ),
    "duckdb": (
        "CREATE TABLE rt (id INTEGER PRIMARY KEY, i INTEGER, b BIGINT, d DECIMAL(12,3), f DOUBLE, "
        "s VARCHAR(200), flag BOOLEAN, day DATE, ts TIMESTAMP, tstz TIMESTAMPTZ, bin BLOB)"
    ),
    "snowflake": (
        "CREATE TABLE rt (id INTEGER PRIMARY KEY, i INTEGER, b BIGINT, d NUMBER(12,3), f FLOAT, "
        "s VARCHAR(200), flag BOOLEAN, day DATE, ts TIMESTAMP_NTZ, tstz TIMESTAMP_TZ, bin BINARY)"
    ),
}


def normalise_row(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """Values as comparable Python objects (aware datetimes in UTC, bytearray as bytes)."""
    out: list[Any] = []
    for value in row:
        if isinstance(value, dt.datetime) and value.tzinfo is not None:
            value = value.astimezone(UTC)
        if isinstance(value, bytearray | memoryview):
            value = bytes(value)
        out.append(value)
    return tuple(out)
