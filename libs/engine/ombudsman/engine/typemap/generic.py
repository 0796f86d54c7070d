"""Judging a pair by type name alone, for a database kind that has no `Dialect` (a generic ODBC source).

Coarser than the dialects (no ranges): families by name, then widening (lossless) and narrowing
(lossy) family pairs; the note says which families met.
"""

from __future__ import annotations

from ombudsman.contracts.catalog import ColumnInfo
from ombudsman.engine.typemap.fidelity import Fidelity

FAMILY_NAMES: dict[str, tuple[str, ...]] = {
    "integer": ("int", "integer", "bigint", "smallint", "tinyint", "int2", "int4", "int8", "hugeint", "ubigint",
                "uinteger", "usmallint", "utinyint", "byteint"),
    "decimal": ("numeric", "decimal", "number", "money", "smallmoney"),
    "float": ("float", "real", "double", "double precision", "float4", "float8"),
    "text": ("varchar", "nvarchar", "char", "nchar", "text", "ntext", "string", "character varying", "character",
             "bpchar"),
    "date": ("date",),
    "timestamp": ("timestamp", "datetime", "datetime2", "smalldatetime", "timestamp without time zone",
                  "timestamp_ntz"),
    "timestamptz": ("timestamptz", "timestamp with time zone", "datetimeoffset", "timestamp_tz", "timestamp_ltz"),
    "boolean": ("boolean", "bool", "bit"),
    "binary": ("binary", "varbinary", "bytea", "blob", "image"),
}  # fmt: skip
WIDENING = frozenset(
    {
        ("integer", "decimal"),
        ("integer", "float"),
        ("date", "timestamp"),
        ("integer", "text"),
        ("boolean", "integer"),
    }
)
NARROWING = frozenset(
    {("decimal", "float"), ("timestamptz", "timestamp"), ("float", "decimal"), ("decimal", "integer")}
)


def family_of(type_name: str) -> str:
    """The family of a type name (its own base name when no family lists it)."""
    base = type_name.lower().split("(")[0].strip()
    return next((f for f, names in FAMILY_NAMES.items() if base in names), base)


def family_compatibility(source: ColumnInfo, target: ColumnInfo) -> tuple[Fidelity, str]:
    """(verdict, note) for a column pair judged by type family, length and scale only."""
    s, t = family_of(source.data_type), family_of(target.data_type)
    if s == t:
        if (
            source.length
            and target.length
            and source.length != -1
            and (target.length != -1 and target.length < source.length)
        ):
            return "lossy", f"length {target.length} < {source.length}"
        if s == "decimal" and (target.scale or 0) < (source.scale or 0):
            return "lossy", f"scale {target.scale} < {source.scale}"
        return "lossless", ""
    if (s, t) in WIDENING:
        return "lossless", f"{s} -> {t}"
    if (s, t) in NARROWING:
        return "lossy", f"{s} -> {t}"
    return "incompatible", f"{s} -> {t}"
