"""DuckDB's types as data."""

from __future__ import annotations

from ombudsman.engine.typemap import dialect as d
from ombudsman.engine.typemap.logical import Logical

_INTEGER_BITS = {"tinyint": (8, False), "utinyint": (8, True), "smallint": (16, False), "usmallint": (16, True),
                 "integer": (32, False), "int": (32, False), "uinteger": (32, True), "bigint": (64, False),
                 "ubigint": (64, True), "hugeint": (128, False), "uhugeint": (128, True)}  # fmt: skip


def _timestamp(t: Logical) -> str:
    if t.tz != "none":
        return "TIMESTAMPTZ"
    return "TIMESTAMP_NS" if (t.fraction or 0) > 6 else "TIMESTAMP"


class DuckDB(d.Dialect):
    KIND = "duckdb"
    TYPES = {
        "boolean": d.of("boolean"),
        **{name: d.integer_of(bits, unsigned) for name, (bits, unsigned) in _INTEGER_BITS.items()},
        "decimal": d.decimal_of(18),
        "numeric": d.decimal_of(18),
        "float": d.of("float", bits=24),
        "real": d.of("float", bits=24),
        "double": d.of("float", bits=53),
        "varchar": d.unbounded_text(),
        "blob": d.bytes_of(unbounded=True),
        "date": d.of("date"),
        "time": d.of("time", fraction=6),
        "timestamp": d.timestamp_of(6, fixed_fraction=True),
        "timestamp_ns": d.timestamp_of(9, fixed_fraction=True),
        "timestamp_ms": d.timestamp_of(3, fixed_fraction=True),
        "timestamp_s": d.timestamp_of(0, fixed_fraction=True),
        "timestamp with time zone": d.timestamp_of(6, tz="instant", fixed_fraction=True),
        "timestamptz": d.timestamp_of(6, tz="instant", fixed_fraction=True),
        "uuid": d.of("uuid"),
        "json": d.of("json"),
        "interval": d.of("interval"),
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
