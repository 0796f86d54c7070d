"""Databricks' (Spark SQL's) types as data (a target of generated DDL: the engine has no Databricks
connector)."""

from __future__ import annotations

from ombudsman.engine.typemap import dialect as d
from ombudsman.engine.typemap.logical import Logical


def _timestamp(t: Logical) -> str:
    return "TIMESTAMP_NTZ" if t.tz == "none" else "TIMESTAMP"


class Databricks(d.Dialect):
    KIND = "databricks"
    ALIASES = {"byte": "tinyint", "short": "smallint", "integer": "int", "long": "bigint", "dec": "decimal",
               "numeric": "decimal", "real": "float"}  # fmt: skip
    TYPES = {
        "tinyint": d.integer_of(8),
        "smallint": d.integer_of(16),
        "int": d.integer_of(32),
        "bigint": d.integer_of(64),
        "decimal": d.decimal_of(10),
        "float": d.of("float", bits=24),
        "double": d.of("float", bits=53),
        "boolean": d.of("boolean"),
        "string": d.unbounded_text(),
        "varchar": d.text(),
        "char": d.text(fixed=True),
        "binary": d.bytes_of(unbounded=True),
        "date": d.of("date"),
        "timestamp": d.timestamp_of(6, tz="instant", fixed_fraction=True),
        "timestamp_ntz": d.timestamp_of(6, fixed_fraction=True),
        "interval": d.of("interval"),
        "variant": d.of("variant"),
        **dict.fromkeys(("array", "map", "struct"), d.of("json")),
    }
    INTEGERS = (("TINYINT", 8, False), ("SMALLINT", 16, False), ("INT", 32, False), ("BIGINT", 64, False))
    DECIMAL = "DECIMAL({p},{s})"
    RENDER = {
        "boolean": "BOOLEAN",
        "float": lambda t: "FLOAT" if t.bits == 24 else "DOUBLE",
        "string": "STRING",
        "binary": "BINARY",
        "rowversion": "BINARY",
        "date": "DATE",
        "timestamp": _timestamp,
        "variant": "VARIANT",
    }
    FALLBACK = "STRING"
