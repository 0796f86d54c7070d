"""DuckDB's types as data."""

from __future__ import annotations

from ombudsman.engine.typemap.dialect import (
    Dialect,
    bytes_of,
    decimal_of,
    integer_of,
    of,
    timestamp_of,
    unbounded_text,
)
from ombudsman.engine.typemap.logical import Logical

_INTEGER_BITS = {"tinyint": (8, False), "utinyint": (8, True), "smallint": (16, False), "usmallint": (16, True),
                 "integer": (32, False), "int": (32, False), "uinteger": (32, True), "bigint": (64, False),
                 "ubigint": (64, True), "hugeint": (128, False), "uhugeint": (128, True)}  # fmt: skip


def _timestamp(t: Logical) -> str:
    if t.tz != "none":
        return "TIMESTAMPTZ"
    return "TIMESTAMP_NS" if (t.fraction or 0) > 6 else "TIMESTAMP"


class DuckDB(Dialect):
    KIND = "duckdb"
    TYPES = {
        "boolean": of("boolean"),
        **{name: integer_of(bits, unsigned) for name, (bits, unsigned) in _INTEGER_BITS.items()},
        "decimal": decimal_of(18),
        "numeric": decimal_of(18),
        "float": of("float", bits=24),
        "real": of("float", bits=24),
        "double": of("float", bits=53),
        "varchar": unbounded_text(),
        "blob": bytes_of(unbounded=True),
        "date": of("date"),
        "time": of("time", fraction=6),
        "timestamp": timestamp_of(6, fixed_fraction=True),
        "timestamp_ns": timestamp_of(9, fixed_fraction=True),
        "timestamp_ms": timestamp_of(3, fixed_fraction=True),
        "timestamp_s": timestamp_of(0, fixed_fraction=True),
        "timestamp with time zone": timestamp_of(6, tz="instant", fixed_fraction=True),
        "timestamptz": timestamp_of(6, tz="instant", fixed_fraction=True),
        "uuid": of("uuid"),
        "json": of("json"),
        "interval": of("interval"),
    }
    INTEGERS = (
        ("UTINYINT", 8, True),
        ("SMALLINT", 16, False),
        ("INTEGER", 32, False),
        ("BIGINT", 64, False),
        ("HUGEINT", 128, False),
    )
    DECIMAL = "DECIMAL({p},{s})"
    RENDER = {
        "boolean": "BOOLEAN",
        "float": lambda t: "FLOAT" if t.bits == 24 else "DOUBLE",
        "string": "VARCHAR",
        "binary": "BLOB",
        "rowversion": "BLOB",
        "date": "DATE",
        "time": "TIME",
        "timestamp": _timestamp,
        "uuid": "UUID",
        "json": "JSON",
        "interval": "INTERVAL",
    }
    FALLBACK = "VARCHAR"
