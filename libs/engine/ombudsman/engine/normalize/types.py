"""Logical column types: what a database type means for comparison, whatever the dialect calls it.

`logical_type("numeric", precision=18, scale=2)` -> LogicalType("decimal", scale=2). The canonical text
form (see `normalize.sql`) is chosen by logical type, so `decimal(18,2)` in PostgreSQL, `NUMBER(18,2)`
in Snowflake and `DECIMAL(18,2)` in SQL Server normalise alike. `pair_types` decides how a column pair
whose two sides have different logical types is rendered so that equal values give equal text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Literal

import pyarrow as pa

LogicalKind = Literal[
    "integer", "decimal", "float", "boolean", "string", "date", "time", "timestamp", "timestamp_tz",
    "binary", "uuid", "other",
]
LOGICAL_KINDS: tuple[LogicalKind, ...] = (
    "integer", "decimal", "float", "boolean", "string", "date", "time", "timestamp", "timestamp_tz",
    "binary", "uuid", "other",
)


@dataclass(frozen=True)
class LogicalType:
    """A column's meaning for comparison. `scale` for decimals; `fixed_length` for CHAR(n) strings,
    whose trailing spaces are padding and never significant."""

    kind: LogicalKind
    scale: int | None = None
    fixed_length: bool = False
    # False for a type whose own text is not its value's digits (PostgreSQL `money` prints `$1,234.50`):
    # never rendered by a plain cast (normalize.cheap). Not part of equality: it is the same logical type.
    own_text: bool = field(default=True, compare=False)
    # a CHAR(n)'s declared n, where the catalog gives it (normalize.cheap's padded pair form); not part of equality
    length: int | None = field(default=None, compare=False)

    def __str__(self) -> str:
        if self.kind == "decimal":
            return f"decimal(scale={self.scale})"
        return "char" if self.fixed_length else self.kind


INTEGER = LogicalType("integer")
FLOAT = LogicalType("float")
STRING = LogicalType("string")

# Database type names (lower case, without length) of PostgreSQL, DuckDB, Snowflake and SQL Server.
_NAMES: dict[str, LogicalKind] = {}
for _kind, _names in {
    "integer": "smallint integer int int2 int4 int8 bigint tinyint hugeint uhugeint utinyint usmallint "
    "uinteger ubigint serial bigserial smallserial byteint signed long short",
    "decimal": "numeric decimal number money smallmoney",
    "float": "real float float4 float8 double double_precision binary_float binary_double",
    "boolean": "boolean bool bit logical",
    "string": "text varchar nvarchar char nchar character character_varying bpchar string ntext "
    "varchar2 nvarchar2 name citext sysname",
    "date": "date",
    "time": "time time_without_time_zone",
    "timestamp": "timestamp timestamp_without_time_zone datetime datetime2 smalldatetime timestamp_ntz "
    "timestampntz timestamp_ns timestamp_ms timestamp_s",
    "timestamp_tz": "timestamptz timestamp_with_time_zone timestamp_tz timestamp_ltz timestampltz "
    "timestamptz datetimeoffset",
    "binary": "bytea blob binary varbinary image bytes",
    "uuid": "uuid uniqueidentifier",
}.items():
    for _name in _names.split():
        _NAMES[_name] = _kind  # type: ignore[assignment]

_FIXED = {"char", "nchar", "character", "bpchar"}
_ARGS = re.compile(r"^\s*([a-z_ 0-9]*?)\s*(?:\(\s*(\d+)?\s*(?:,\s*(-?\d+)\s*)?\))?\s*$")


def logical_type(data_type: str, *, precision: int | None = None, scale: int | None = None) -> LogicalType:
    """The logical type of a database column type (any of the four dialects' names).

    `data_type` may carry its arguments (`DECIMAL(18,2)`) or get them as `precision`/`scale`.
    Decimals with scale 0 are integers (Snowflake stores INT as NUMBER(38,0)). Unknown types are
    `other` (compared as the database's own text form, which is not portable across dialects).
    """
    text = data_type.strip().lower()
    match = _ARGS.match(text)
    base = text
    if match:
        base = match.group(1).strip()
        if match.group(3) is not None and scale is None:
            scale = int(match.group(3))
        if match.group(2) is not None and precision is None:
            precision = int(match.group(2))
    base = re.sub(r"\s+", "_", base)
    if base.endswith("[]") or base.startswith("array"):
        return LogicalType("other")
    kind = _NAMES.get(base)
    if kind is None:
        if base.startswith("timestamp") and "with_time_zone" in base and "without" not in base:
            kind = "timestamp_tz"
        elif base.startswith("timestamp") or base.startswith("datetime"):
            kind = "timestamp"
        elif base.startswith("time"):
            kind = "time"
        else:
            return LogicalType("other")
    if kind == "decimal":
        if base in ("money", "smallmoney"):
            return LogicalType("decimal", scale=4, own_text=False)
        if scale is None and base == "number":
            scale = 0 if precision is None else scale  # NUMBER without arguments is NUMBER(38,0)
        if scale is None:
            return LogicalType("decimal", scale=None)  # unconstrained numeric: scale decided per pair
        return INTEGER if scale == 0 else LogicalType("decimal", scale=scale)
    if kind == "float" and base == "float" and precision is not None and precision <= 24:
        return FLOAT  # SQL Server float(24) is a REAL; still compared as a float
    if kind == "string":
        return LogicalType("string", fixed_length=base in _FIXED)
    return LogicalType(kind)


def logical_type_from_arrow(arrow_type: pa.DataType) -> LogicalType:
    """The logical type of an Arrow column (a result schema when the catalog has no types)."""
    t = arrow_type
    if pa.types.is_boolean(t):
        return LogicalType("boolean")
    if pa.types.is_integer(t):
        return INTEGER
    if pa.types.is_decimal(t):
        return INTEGER if t.scale == 0 else LogicalType("decimal", scale=t.scale)
    if pa.types.is_floating(t):
        return FLOAT
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return STRING
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
        return LogicalType("binary")
    if pa.types.is_timestamp(t):
        return LogicalType("timestamp_tz") if t.tz else LogicalType("timestamp")
    if pa.types.is_date(t):
        return LogicalType("date")
    if pa.types.is_time(t):
        return LogicalType("time")
    if "uuid" in str(t):
        return LogicalType("uuid")
    return LogicalType("other")


FIXED_LENGTH_METADATA = b"ombudsman.fixed_length"  # set by connectors on CHAR(n) result columns


def logical_type_of_field(arrow_field: pa.Field) -> LogicalType:
    """The logical type of a result column: its Arrow type, and CHAR(n) when the connector marked
    it so in the field's metadata (a query result has no catalog to ask)."""
    logical = logical_type_from_arrow(arrow_field.type)
    if logical.kind == "string" and (arrow_field.metadata or {}).get(FIXED_LENGTH_METADATA) == b"1":
        return replace(logical, fixed_length=True)
    return logical


def pair_types(source: LogicalType, target: LogicalType) -> tuple[LogicalType, LogicalType]:
    """How to render a column pair so that equal values give equal canonical text on both sides.

    Same kinds: as they are, decimals at the larger scale of the two (a value that lost digits in the
    migration shows as a difference). Integer vs decimal: decimal. Any number vs float: float. Date vs
    timestamp: timestamp. UUID vs string: UUID (lower case). A CHAR(n) on either side makes both trimmed.
    Otherwise each side keeps its own kind (timestamp vs timestamp with time zone: both in UTC text).
    """
    numeric = {"integer", "decimal", "float"}
    s, t = source, target
    if (s.kind == "decimal" or t.kind == "decimal") and {s.kind, t.kind} <= {"integer", "decimal"}:
        scale = max(_scale(x) for x in (s, t))
        decimal = LogicalType("decimal", scale=scale)
        return decimal, decimal
    if s.kind in numeric and t.kind in numeric and "float" in (s.kind, t.kind):
        return FLOAT, FLOAT
    if {s.kind, t.kind} == {"date", "timestamp"} or {s.kind, t.kind} == {"date", "timestamp_tz"}:
        s = LogicalType("timestamp") if s.kind == "date" else s
        t = LogicalType("timestamp") if t.kind == "date" else t
        return s, t
    if {s.kind, t.kind} == {"uuid", "string"}:
        return LogicalType("uuid"), LogicalType("uuid")
    if s.kind == "string" and t.kind == "string" and (s.fixed_length or t.fixed_length):
        return replace(s, fixed_length=True), replace(t, fixed_length=True)
    if s.kind == "decimal":
        s = LogicalType("decimal", scale=_scale(s))
    if t.kind == "decimal":
        t = LogicalType("decimal", scale=_scale(t))
    return s, t


UNCONSTRAINED_SCALE = 6  # places compared for a NUMERIC without a declared scale


def _scale(t: LogicalType) -> int:
    if t.kind == "integer":
        return 0
    return UNCONSTRAINED_SCALE if t.scale is None else t.scale
