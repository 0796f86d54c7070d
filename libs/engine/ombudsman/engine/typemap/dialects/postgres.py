"""PostgreSQL's types as data."""

from __future__ import annotations

from dataclasses import replace

from ombudsman.engine.typemap import dialect as d
from ombudsman.engine.typemap.logical import UNBOUNDED_NUMERIC, Logical, exact


def _numeric(name: str, p: int | None, s: int | None, n: int | None) -> Logical:
    return replace(UNBOUNDED_NUMERIC, name=name) if p is None else exact(name, p, s or 0)


def _string(t: Logical) -> str:
    if t.length is None:
        return "text"
    return f"char({t.length})" if t.fixed else f"varchar({t.length})"


class Postgres(d.Dialect):
    KIND = "postgres"
    ALIASES = {
        "int2": "smallint", "int4": "integer", "int": "integer", "int8": "bigint", "bool": "boolean",
        "float4": "real", "float8": "double precision", "bpchar": "char", "character": "char",
        "character varying": "varchar", "decimal": "numeric", "timestamp without time zone": "timestamp",
        "timestamp with time zone": "timestamptz", "time without time zone": "time",
        "time with time zone": "timetz",
    }  # fmt: skip
    TYPES = {
        "boolean": d.of("boolean"),
        "smallint": d.integer_of(16),
        "integer": d.integer_of(32),
        "bigint": d.integer_of(64),
        "numeric": _numeric,
        "money": lambda name, p, s, n: exact(name, 19, 2),
        "real": d.of("float", bits=24),
        "double precision": d.of("float", bits=53),
        "varchar": d.text(),
        "char": d.text(fixed=True),
        "text": d.unbounded_text(),
        "bytea": d.bytes_of(unbounded=True),
        "date": d.of("date"),
        "time": d.time_of(6),
        "timetz": d.time_of(6),
        "timestamp": d.timestamp_of(6),
        "timestamptz": d.timestamp_of(6, tz="instant"),
        "uuid": d.of("uuid"),
        "json": d.of("json"),
        "jsonb": d.of("json"),
        "xml": d.of("xml"),
        "interval": d.of("interval"),
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
        "time": lambda t: f"time({min(d.fraction_or(t, 6), 6)})",
        "timestamp": lambda t: (
            f"{'timestamp' if t.tz == 'none' else 'timestamptz'}({min(d.fraction_or(t, 6), 6)})"
        ),
        "uuid": "uuid",
        "json": "jsonb",
        "xml": "xml",
        "interval": "interval",
    }
    FALLBACK = "text"
