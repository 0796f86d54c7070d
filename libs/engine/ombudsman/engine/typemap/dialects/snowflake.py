"""Snowflake's types as data."""

from __future__ import annotations

from ombudsman.engine.typemap import dialect as d
from ombudsman.engine.typemap.logical import Logical

SNOWFLAKE_VARCHAR_MAX = 16_777_216  # characters (default maximum; 128 MB with the 2025 size bundle)
SNOWFLAKE_BINARY_MAX = 8_388_608  # bytes
_ZONE = {"none": "TIMESTAMP_NTZ", "offset": "TIMESTAMP_TZ", "instant": "TIMESTAMP_TZ"}


def _timestamp(t: Logical) -> str:
    digits = 9 if (t.fraction if t.fraction is not None else 9) > 6 else t.fraction
    return f"{_ZONE[t.tz]}({digits})"


class Snowflake(d.Dialect):
    KIND = "snowflake"
    TYPES = {
        **dict.fromkeys(
            ("number", "decimal", "numeric", "int", "integer", "bigint", "smallint", "tinyint", "byteint"),
            d.decimal_of(38, integer_when_scale_0=True),
        ),
        **dict.fromkeys(
            ("float", "float4", "float8", "double", "double precision", "real"), d.of("float", bits=53)
        ),
        **dict.fromkeys(
            (
                "varchar",
                "text",
                "string",
                "char",
                "character",
                "nvarchar",
                "nchar",
                "nvarchar2",
                "char varying",
            ),
            d.text(limit=SNOWFLAKE_VARCHAR_MAX),
        ),
        **dict.fromkeys(("binary", "varbinary"), d.bytes_of(limit=SNOWFLAKE_BINARY_MAX)),
        **dict.fromkeys(("timestamp_ntz", "timestamp", "datetime"), d.timestamp_of(9)),
        "timestamp_tz": d.timestamp_of(9, tz="offset"),
        "timestamp_ltz": d.timestamp_of(9, tz="instant"),
        "boolean": d.of("boolean"),
        "date": d.of("date"),
        "time": d.time_of(9),
        "variant": d.of("variant"),
        "object": d.of("json"),
        "array": d.of("json"),
        "geography": d.of("spatial"),
        "geometry": d.of("spatial"),
    }
    DECIMAL = "NUMBER({p},{s})"
    RENDER = {
        "boolean": "BOOLEAN",
        "float": "FLOAT",
        "string": lambda t: f"VARCHAR({t.length})" if t.length else "VARCHAR",
        "binary": lambda t: f"BINARY({t.length})" if t.length else "BINARY",
        "date": "DATE",
        "time": lambda t: f"TIME({9 if (t.fraction or 0) > 6 else t.fraction})",
        "timestamp": _timestamp,
        "uuid": "VARCHAR(36)",
        "json": "VARIANT",
        "variant": "VARIANT",
        "spatial": lambda t: "GEOGRAPHY" if t.name == "geography" else "GEOMETRY",
    }
    RENDER["rowversion"] = RENDER["binary"]
    FALLBACK = "VARCHAR"
