"""Snowflake's types as data."""

from __future__ import annotations

from ombudsman.engine.typemap.dialect import Dialect, bytes_of, decimal_of, of, text, time_of, timestamp_of
from ombudsman.engine.typemap.logical import Logical

SNOWFLAKE_VARCHAR_MAX = 16_777_216  # characters (default maximum; 128 MB with the 2025 size bundle)
SNOWFLAKE_BINARY_MAX = 8_388_608  # bytes
_ZONE = {"none": "TIMESTAMP_NTZ", "offset": "TIMESTAMP_TZ", "instant": "TIMESTAMP_TZ"}


def _timestamp(t: Logical) -> str:
    digits = 9 if (t.fraction if t.fraction is not None else 9) > 6 else t.fraction
    return f"{_ZONE[t.tz]}({digits})"


class Snowflake(Dialect):
    KIND = "snowflake"
    TYPES = {
        **dict.fromkeys(
            ("number", "decimal", "numeric", "int", "integer", "bigint", "smallint", "tinyint", "byteint"),
            decimal_of(38, integer_when_scale_0=True),
        ),
        **dict.fromkeys(
            ("float", "float4", "float8", "double", "double precision", "real"), of("float", bits=53)
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
            text(limit=SNOWFLAKE_VARCHAR_MAX),
        ),
        **dict.fromkeys(("binary", "varbinary"), bytes_of(limit=SNOWFLAKE_BINARY_MAX)),
        **dict.fromkeys(("timestamp_ntz", "timestamp", "datetime"), timestamp_of(9)),
        "timestamp_tz": timestamp_of(9, tz="offset"),
        "timestamp_ltz": timestamp_of(9, tz="instant"),
        "boolean": of("boolean"),
        "date": of("date"),
        "time": time_of(9),
        "variant": of("variant"),
        "object": of("json"),
        "array": of("json"),
        "geography": of("spatial"),
        "geometry": of("spatial"),
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
