"""BigQuery's types as data (a target of generated DDL: the engine has no BigQuery connector)."""

from __future__ import annotations

from ombudsman.engine.typemap import dialect as d
from ombudsman.engine.typemap.logical import Logical, digits, exact

NUMERIC_INTEGER_DIGITS, NUMERIC_SCALE = 29, 9  # NUMERIC holds 29 digits before the point and 9 after


def _numeric(default_precision: int, default_scale: int) -> d.Reader:
    """NUMERIC / BIGNUMERIC: (38, 9) and (76, 38) without arguments, scale 0 with a precision only."""
    return lambda name, p, s, n: exact(name, p or default_precision, default_scale if p is None else (s or 0))


def _timestamp(t: Logical) -> str:
    return "DATETIME" if t.tz == "none" else "TIMESTAMP"


class BigQuery(d.Dialect):
    KIND = "bigquery"
    ALIASES = {"int": "int64", "integer": "int64", "bigint": "int64", "smallint": "int64", "tinyint": "int64",
               "byteint": "int64", "decimal": "numeric", "bigdecimal": "bignumeric", "float": "float64",
               "bool": "boolean"}  # fmt: skip
    TYPES = {
        "int64": d.integer_of(64),
        "numeric": _numeric(38, 9),
        "bignumeric": _numeric(76, 38),
        "float64": d.of("float", bits=53),
        "boolean": d.of("boolean"),
        "string": d.text(),
        "bytes": d.bytes_of(),
        "date": d.of("date"),
        "time": d.of("time", fraction=6),
        "datetime": d.timestamp_of(6, fixed_fraction=True),
        "timestamp": d.timestamp_of(6, tz="instant", fixed_fraction=True),
        "json": d.of("json"),
        "geography": d.of("spatial"),
        "interval": d.of("interval"),
    }
    INTEGERS = (("INT64", 64, False),)
    DECIMAL = "BIGNUMERIC({p},{s})"
    MAX_PRECISION = 76
    RENDER = {
        "boolean": "BOOL",
        "float": "FLOAT64",
        "string": lambda t: f"STRING({t.length})" if t.length else "STRING",
        "binary": lambda t: f"BYTES({t.length})" if t.length else "BYTES",
        "rowversion": "BYTES",
        "date": "DATE",
        "time": "TIME",
        "timestamp": _timestamp,
        "uuid": "STRING",
        "json": "JSON",
        "spatial": "GEOGRAPHY",
        "interval": "INTERVAL",
    }
    FALLBACK = "STRING"

    @classmethod
    def render_exact(cls, t: Logical) -> str:
        """INT64 for integers it holds, NUMERIC(p,s) within 29 integer and 9 fraction digits, else BIGNUMERIC."""
        chosen = super().render_exact(t)
        if not chosen.startswith("BIGNUMERIC"):
            return chosen
        p, s = d.exact_args(t, cls.MAX_PRECISION)
        if p - s <= NUMERIC_INTEGER_DIGITS and s <= NUMERIC_SCALE and (t.high is None or digits(t.high) <= 29):
            return f"NUMERIC({p},{s})"
        return chosen
