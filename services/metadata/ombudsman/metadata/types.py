"""Column types across databases: family, exactness and whether a value survives a conversion.

Types are read with sqlglot in the catalog's dialect, so `int`, `INTEGER`, `NUMBER(10,0)` and
`int4` land in the same family. Whether a target column holds a source column's values is answered
in the engine's one compatibility vocabulary (`ombudsman.engine.typemap.Fidelity`: lossless | lossy |
incompatible), by the engine's type map for every database it has a `Dialect` for (BigQuery and
Databricks included); the family rules of `compatibility(source, target)` only judge kinds no
dialect knows. Target DDL chooses its types with the engine's type map too (target_ddl.py). Pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from sqlglot import exp
from sqlglot.errors import ParseError
from sqlglot.expressions.datatypes import DType

from ombudsman.contracts.catalog import ColumnInfo
from ombudsman.engine.dialects import DDL_DIALECT_BY_KIND
from ombudsman.engine.dialects import DIALECT_BY_KIND as ENGINE_DIALECTS
from ombudsman.engine.typemap import DIALECTS, Fidelity, compatible

Family = Literal["integer", "decimal", "float", "string", "binary", "boolean", "date", "time", "timestamp",
                 "timestamptz", "json", "uuid", "other"]
DIALECT_BY_KIND: dict[str, str] = {**ENGINE_DIALECTS, **DDL_DIALECT_BY_KIND}
T = DType
_INTEGER_DIGITS: dict[DType, int] = {
    T.BIT: 1,
    T.TINYINT: 3,
    T.UTINYINT: 3,
    T.SMALLINT: 5,
    T.USMALLINT: 5,
    T.INT: 10,
    T.UINT: 10,
    T.MEDIUMINT: 8,
    T.BIGINT: 19,
    T.UBIGINT: 20,
    T.INT128: 39,
    T.SMALLSERIAL: 5,
    T.SERIAL: 10,
    T.BIGSERIAL: 19,
}
_FAMILY: dict[DType, Family] = {
    **{t: "integer" for t in _INTEGER_DIGITS if t != T.BIT},
    T.DECIMAL: "decimal",
    T.BIGDECIMAL: "decimal",
    T.MONEY: "decimal",
    T.SMALLMONEY: "decimal",
    T.FLOAT: "float",
    T.DOUBLE: "float",
    T.CHAR: "string",
    T.NCHAR: "string",
    T.VARCHAR: "string",
    T.NVARCHAR: "string",
    T.TEXT: "string",
    T.NAME: "string",
    T.BINARY: "binary",
    T.VARBINARY: "binary",
    T.BLOB: "binary",
    T.IMAGE: "binary",
    T.BOOLEAN: "boolean",
    T.BIT: "boolean",
    T.DATE: "date",
    T.TIME: "time",
    T.TIMESTAMP: "timestamp",
    T.TIMESTAMPNTZ: "timestamp",
    T.DATETIME: "timestamp",
    T.DATETIME2: "timestamp",
    T.SMALLDATETIME: "timestamp",
    T.TIMESTAMP_S: "timestamp",
    T.TIMESTAMP_MS: "timestamp",
    T.TIMESTAMP_NS: "timestamp",
    T.TIMESTAMPTZ: "timestamptz",
    T.TIMESTAMPLTZ: "timestamptz",
    T.JSON: "json",
    T.JSONB: "json",
    T.VARIANT: "json",
    T.OBJECT: "json",
    T.UUID: "uuid",
}
_FIXED_DECIMALS: dict[DType, tuple[int, int]] = {T.MONEY: (19, 4), T.SMALLMONEY: (10, 4)}
_FLOAT_DIGITS: dict[DType, int] = {T.FLOAT: 7, T.DOUBLE: 15}
_DEFAULT_FRACTION = {"tsql": 7, "snowflake": 9, "postgres": 6, "duckdb": 6}


@dataclass(frozen=True)
class TypeInfo:
    """What a column type can hold: family, digits for exact numbers, length, fractional seconds."""

    family: Family
    type: DType
    integer_digits: int | None = None  # exact numbers: digits left of the point
    scale: int | None = None  # exact numbers: digits right of the point
    float_digits: int | None = None
    length: int | None = None  # strings / binary; None = unbounded
    fraction: int | None = None  # time types: fractional-second digits

    @property
    def exact_numeric(self) -> bool:
        return self.family in ("integer", "decimal")


def parse_type(data_type: str, dialect: str) -> exp.DataType | None:
    """The sqlglot type of a type name in a dialect, or None when sqlglot does not know it."""
    try:
        return exp.DataType.build(data_type, dialect=dialect, udt=True)
    except (ParseError, ValueError):
        return None


def type_info(column: ColumnInfo, kind: str) -> TypeInfo:
    """The family and capacity of a catalog column of a database `kind` (sqlserver, snowflake, …)."""
    return _type_info(kind, column.data_type, column.length, column.precision, column.scale)


@lru_cache(maxsize=16384)
def _type_info(kind: str, data_type: str, length: int | None, precision: int | None, scale: int | None) -> TypeInfo:
    column = ColumnInfo(name="", data_type=data_type, ordinal=1, length=length, precision=precision, scale=scale)
    dialect = DIALECT_BY_KIND.get(kind, kind)
    parsed = parse_type(column.data_type, dialect)
    dtype = parsed.this if parsed is not None else T.USERDEFINED
    family: Family = _FAMILY.get(dtype, "other")
    if dtype in _INTEGER_DIGITS and family == "integer":
        return TypeInfo("integer", dtype, integer_digits=_INTEGER_DIGITS[dtype], scale=0)
    if family == "decimal":
        precision, scale = _FIXED_DECIMALS.get(dtype, (column.precision or 38, column.scale or 0))
        if precision is None:
            precision = 38
        fam: Family = "integer" if scale == 0 else "decimal"
        return TypeInfo(fam, dtype, integer_digits=precision - scale, scale=scale)
    if family == "float":
        digits = _FLOAT_DIGITS.get(dtype, 15)
        if dtype == T.FLOAT and dialect in ("tsql", "snowflake", "bigquery"):
            digits = 15 if (column.precision or 53) > 24 else 7
        return TypeInfo("float", dtype, float_digits=digits)
    if family in ("string", "binary"):
        length = column.length if column.length is not None and column.length > 0 else None
        return TypeInfo(family, dtype, length=length)
    if family in ("time", "timestamp", "timestamptz"):
        if dtype in (T.DATETIME, T.SMALLDATETIME) and dialect == "tsql":
            fraction = 3 if dtype == T.DATETIME else 0
        else:
            fraction = column.precision if column.precision is not None else _DEFAULT_FRACTION.get(dialect, 6)
        return TypeInfo(family, dtype, fraction=fraction)
    return TypeInfo(family, dtype)


def compatibility(source: TypeInfo, target: TypeInfo) -> Fidelity:
    """Whether every value of `source` fits `target` unchanged (lossless), changed (lossy) or not at all."""
    s, t = source, target
    if s.exact_numeric and t.exact_numeric:
        assert s.integer_digits is not None and t.integer_digits is not None
        fits = t.integer_digits >= s.integer_digits and (t.scale or 0) >= (s.scale or 0)
        return "lossless" if fits else "lossy"
    if s.exact_numeric and t.family == "float":
        digits = (s.integer_digits or 0) + (s.scale or 0)
        return "lossless" if digits <= (t.float_digits or 15) else "lossy"
    if s.family == "float" and t.family == "float":
        return "lossless" if (t.float_digits or 15) >= (s.float_digits or 15) else "lossy"
    if s.family == "float" and t.exact_numeric:
        return "lossy"
    if s.family == t.family and s.family in ("string", "binary"):
        if t.length is None or (s.length is not None and t.length >= s.length):
            return "lossless"
        return "lossy"
    if s.family == "boolean" and t.family in ("boolean", "integer"):
        return "lossless"
    if s.family == "integer" and t.family == "boolean":
        return "lossy"
    if s.family in ("time", "timestamp", "timestamptz") and s.family == t.family:
        return "lossless" if (t.fraction or 0) >= (s.fraction or 0) else "lossy"
    if s.family == "timestamp" and t.family == "timestamptz":
        return "lossless" if (t.fraction or 0) >= (s.fraction or 0) else "lossy"
    if s.family == "timestamptz" and t.family == "timestamp":
        return "lossy"
    if s.family == "date" and t.family in ("date", "timestamp", "timestamptz"):
        return "lossless"
    if s.family in ("timestamp", "timestamptz") and t.family == "date":
        return "lossy"
    if s.family == t.family and s.family != "other":
        return "lossless"
    if t.family == "string":
        return "lossy"  # every value has a text form, but comparisons and sorting change
    if s.family == "other" and t.family == "other" and s.type == t.type:
        return "lossless"
    return "incompatible"


def column_compatibility(source: ColumnInfo, source_kind: str, target: ColumnInfo, target_kind: str) -> Fidelity:
    """Whether the target column holds the source column's values: the engine's type map
    (`ombudsman.engine.typemap.compatible`) for the databases it has a dialect for, the family rules
    above for the others."""
    return _column_compatibility(
        source_kind, source.data_type, source.length, source.precision, source.scale,
        target_kind, target.data_type, target.length, target.precision, target.scale,
    )


@lru_cache(maxsize=65536)
def _column_compatibility(
    source_kind: str, s_type: str, s_length: int | None, s_precision: int | None, s_scale: int | None,
    target_kind: str, t_type: str, t_length: int | None, t_precision: int | None, t_scale: int | None,
) -> Fidelity:
    source = ColumnInfo(name="s", data_type=s_type, ordinal=1, length=s_length, precision=s_precision, scale=s_scale)
    target = ColumnInfo(name="t", data_type=t_type, ordinal=1, length=t_length, precision=t_precision, scale=t_scale)
    if source_kind in DIALECTS and target_kind in DIALECTS:
        return compatible(source, source_kind, target, target_kind).fidelity
    return compatibility(type_info(source, source_kind), type_info(target, target_kind))
