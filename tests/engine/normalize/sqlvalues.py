"""SQL literals of Python test values per dialect (test data only: values we choose ourselves)."""

from __future__ import annotations

import datetime as dt
import decimal
import math
import uuid
from typing import Any


def literal(value: Any, sql_type: str, dialect: str) -> str:
    """`value` as a SQL expression of type `sql_type` in `dialect`."""
    if value is None:
        return f"CAST(NULL AS {sql_type})"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | decimal.Decimal):
        return f"CAST({value} AS {sql_type})"
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            word = "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
            if dialect == "snowflake":
                word = {"Infinity": "inf", "-Infinity": "-inf"}.get(word, word)
            return f"CAST('{word}' AS {sql_type})"
        return f"CAST({value!r} AS {sql_type})"
    if isinstance(value, bytes):
        hexed = value.hex()
        if dialect == "postgres":
            return f"DECODE('{hexed}', 'hex')"
        if dialect == "duckdb":
            return f"UNHEX('{hexed}')"
        return f"TO_BINARY('{hexed}', 'HEX')"
    if isinstance(value, uuid.UUID):
        return f"CAST('{value}' AS {sql_type})"
    if isinstance(value, dt.datetime):
        text = value.isoformat(sep=" ")
        if value.tzinfo is not None and dialect == "snowflake":
            text = value.strftime("%Y-%m-%d %H:%M:%S.%f ") + value.strftime("%z")[:3] + ":" + value.strftime("%z")[3:]
        return f"CAST('{text}' AS {sql_type})"
    if isinstance(value, dt.date | dt.time):
        return f"CAST('{value.isoformat()}' AS {sql_type})"
    if isinstance(value, str):
        quoted = value.replace("'", "''")
        if dialect == "snowflake":
            quoted = quoted.replace("\\", "\\\\")
        return f"CAST('{quoted}' AS {sql_type})"
    raise TypeError(f"no literal for {type(value).__name__}")
