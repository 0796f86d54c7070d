"""PostgreSQL's types as data."""

from __future__ import annotations

from dataclasses import replace

from ombudsman.engine.typemap.dialect import (
    Dialect,
    bytes_of,
    fraction_or,
    integer_of,
    of,
    text,
    time_of,
    timestamp_of,
    unbounded_text,
)
from ombudsman.engine.typemap.logical import UNBOUNDED_NUMERIC, Logical, exact


def _numeric(name: str, p: int | None, s: int | None, n: int | None) -> Logical:
    return replace(UNBOUNDED_NUMERIC, name=name) if p is None else exact(name, p, s or 0)


def _string(t: Logical) -> str:
    if t.length is None:
        return "text"
    return f"char({t.length})" if t.fixed else f"varchar({t.length})"


class Postgres(Dialect):
    KIND = "postgres"
    ALIASES = {
        "int2": "smallint", "int4": "integer", "int": "integer", "int8": "bigint", "bool": "boolean",
        "float4": "real", "float8": "double precision", "bpchar": "char", "character": "char",
        "character varying": "varchar", "decimal": "numeric", "timestamp without time zone": "timestamp",
        "timestamp with time zone": "timestamptz", "time without time zone": "time",
        "time with time zone": "timetz",
    }  # fmt: skip
    TYPES = {
        "boolean": of("boolean"),
        "smallint": integer_of(16),
        "integer": integer_of(32),
        "bigint": integer_of(64),
        "numeric": _numeric,
        "money": lambda name, p, s, n: exact(name, 19, 2),
        "real": of("float", bits=24),
        "double precision": of("float", bits=53),
        "varchar": text(),
        "char": text(fixed=True),
        "text": unbounded_text(),
        "bytea": bytes_of(unbounded=True),
        "date": of("date"),
        "time": time_of(6),
        "timetz": time_of(6),
        "timestamp": timestamp_of(6),
        "timestamptz": timestamp_of(6, tz="instant"),
        "uuid": of("uuid"),
        "json": of("json"),
        "jsonb": of("json"),
        "xml": of("xml"),
        "interval": of("interval"),
    }
    INTEGERS = (("smallint", 16, False), ("integer", 32, False), ("bigint", 64, False))
    DECIMAL = "numeric({p},{s})"
    MAX_PRECISION = 1000
    UNBOUNDED_DECIMAL = "numeric"
    RENDER = {
        "boolean": "boolean",
        "float": lambda t: "real" if t.bits == 24 else "double precision",
        "string": _string,
        "binary": "bytea",
        "rowversion": "bytea",
        "date": "date",
        "time": lambda t: f"time({min(fraction_or(t, 6), 6)})",
        "timestamp": lambda t: (
            f"{'timestamp' if t.tz == 'none' else 'timestamptz'}({min(fraction_or(t, 6), 6)})"
        ),
        "uuid": "uuid",
        "json": "jsonb",
        "xml": "xml",
        "interval": "interval",
    }
    FALLBACK = "text"
