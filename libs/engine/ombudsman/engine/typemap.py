"""Type mapping between SQL Server, Snowflake, PostgreSQL and DuckDB, with how faithful it is.

Every column type is read into a `Logical` type (family + the facts that bound its values), then
  - `map_type(source_kind, column, target_kind)` proposes the target type for a source column, and
  - `compatible(source_col, source_kind, target_col, target_kind)` judges an existing pair,
both answering `TypeMapping(target_type, fidelity, note)` where fidelity is
  - lossless: every source value has exactly one target value and compares equal after normalisation;
  - lossy: values load but some lose something (digits, range, offset, padding semantics) - the note says what;
  - incompatible: no faithful target; values must be converted by hand before they can be compared.
The documented table (engine README) is `mapping_table_markdown()`; a test keeps the two equal.
"""

from __future__ import annotations

import decimal
import re
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel

from ombudsman.contracts.catalog import ColumnInfo
from ombudsman.contracts.replies import Invalid

Fidelity = Literal["lossless", "lossy", "incompatible"]
KINDS = ("sqlserver", "snowflake", "postgres", "duckdb")
SNOWFLAKE_VARCHAR_MAX = 16_777_216  # characters (default maximum; 128 MB with the 2025 size bundle)
SNOWFLAKE_BINARY_MAX = 8_388_608  # bytes
_RANK = {"lossless": 0, "lossy": 1, "incompatible": 2}


class TypeMapping(BaseModel):
    """A target type for a source column and how faithfully it holds the source's values."""

    target_type: str
    fidelity: Fidelity
    note: str = ""


@dataclass(frozen=True)
class Logical:
    """A column type reduced to what decides which values it can hold."""

    family: str  # boolean exact float string binary date time timestamp uuid json xml variant spatial hierarchyid rowversion interval other
    name: str  # the database's own spelling, lower case
    low: Decimal | None = None  # exact numbers: smallest / largest value
    high: Decimal | None = None
    scale: int = 0  # exact numbers: digits after the point
    bits: int | None = None  # floats: mantissa bits (24 single, 53 double)
    length: int | None = None  # strings / binary: max length; None = unbounded
    fixed: bool = False  # char / binary(n): padded to length
    unicode: bool = True
    fraction: int | None = None  # time / timestamp: fractional second digits
    tz: str = "none"  # timestamps: none | offset (keeps the offset) | instant (UTC instant, offset dropped)
    integer: bool = False


_EXACT = decimal.Context(prec=4000)  # range arithmetic must not round (the default context keeps 28 digits)


def _exact(name: str, precision: int, scale: int = 0, integer: bool = False) -> Logical:
    high = _EXACT.subtract(_EXACT.power(10, precision - scale), Decimal(1).scaleb(-scale, _EXACT))
    return Logical("exact", name, high.copy_negate(), high, scale, integer=integer)


def _int(name: str, bits: int, unsigned: bool = False) -> Logical:
    low = Decimal(0) if unsigned else Decimal(-(2 ** (bits - 1)))
    high = Decimal(2**bits - 1 if unsigned else 2 ** (bits - 1) - 1)
    return Logical("exact", name, low, high, 0, integer=True)


def _string(name: str, length: int | None, *, fixed: bool = False, unicode: bool = True) -> Logical:
    return Logical(
        "string", name, length=None if length is None or length < 0 else length, fixed=fixed, unicode=unicode
    )


def _binary(name: str, length: int | None, *, fixed: bool = False) -> Logical:
    return Logical("binary", name, length=None if length is None or length < 0 else length, fixed=fixed)


def _ts(name: str, fraction: int | None, tz: str = "none") -> Logical:
    return Logical("timestamp", name, fraction=fraction, tz=tz)


UNBOUNDED_NUMERIC = Logical("exact", "numeric", None, None, 16383)


def parse(kind: str, column: ColumnInfo) -> Logical:
    """The logical type of an introspected column of a database of `kind`."""
    if kind not in KINDS:
        raise Invalid(f"unknown database kind {kind!r} (known: {', '.join(KINDS)})", {"field": "kind"})
    name = re.sub(r"\(.*\)$", "", column.data_type.strip().lower()).strip()
    p, s, n = column.precision, column.scale, column.length
    parser = {
        "sqlserver": _parse_sqlserver,
        "snowflake": _parse_snowflake,
        "postgres": _parse_postgres,
        "duckdb": _parse_duckdb,
    }
    return parser[kind](name, p, s, n)


def _parse_sqlserver(name: str, p: int | None, s: int | None, n: int | None) -> Logical:
    simple = {
        "bit": Logical("boolean", name),
        "tinyint": _int(name, 8, unsigned=True),
        "smallint": _int(name, 16),
        "int": _int(name, 32),
        "bigint": _int(name, 64),
        "money": _exact(name, 19, 4),
        "smallmoney": _exact(name, 10, 4),
        "real": Logical("float", name, bits=24),
        "text": _string(name, None, unicode=False),
        "ntext": _string(name, None),
        "image": _binary(name, None),
        "date": Logical("date", name),
        "datetime": _ts(name, 3),
        "smalldatetime": _ts(name, 0),
        "uniqueidentifier": Logical("uuid", name),
        "xml": Logical("xml", name),
        "sql_variant": Logical("variant", name),
        "timestamp": Logical("rowversion", name, length=8),
        "rowversion": Logical("rowversion", name, length=8),
        "hierarchyid": Logical("hierarchyid", name),
        "geography": Logical("spatial", name),
        "geometry": Logical("spatial", name),
    }
    if name in simple:
        return simple[name]
    if name in ("decimal", "numeric"):
        return _exact(name, p or 18, s or 0)
    if name == "float":
        return Logical("float", name, bits=24 if p is not None and p <= 24 else 53)
    if name in ("char", "varchar", "nchar", "nvarchar"):
        return _string(
            name,
            n,
            fixed=name.endswith("char") and not name.endswith("varchar"),
            unicode=name.startswith("n"),
        )
    if name in ("binary", "varbinary"):
        return _binary(name, n, fixed=name == "binary")
    if name in ("time", "datetime2"):
        return (
            Logical("time", name, fraction=7 if p is None else p)
            if name == "time"
            else _ts(name, 7 if p is None else p)
        )
    if name == "datetimeoffset":
        return _ts(name, 7 if p is None else p, tz="offset")
    return Logical("other", name)


def _parse_postgres(name: str, p: int | None, s: int | None, n: int | None) -> Logical:
    aliases = {"int2": "smallint", "int4": "integer", "int": "integer", "int8": "bigint", "bool": "boolean",
               "float4": "real", "float8": "double precision", "bpchar": "char", "character": "char",
               "character varying": "varchar", "decimal": "numeric", "timestamp without time zone": "timestamp",
               "timestamp with time zone": "timestamptz", "time without time zone": "time",
               "time with time zone": "timetz"}  # fmt: skip
    name = aliases.get(name, name)
    simple = {
        "boolean": Logical("boolean", name),
        "smallint": _int(name, 16),
        "integer": _int(name, 32),
        "bigint": _int(name, 64),
        "real": Logical("float", name, bits=24),
        "double precision": Logical("float", name, bits=53),
        "money": _exact(name, 19, 2),
        "text": _string(name, None),
        "bytea": _binary(name, None),
        "date": Logical("date", name),
        "uuid": Logical("uuid", name),
        "json": Logical("json", name),
        "jsonb": Logical("json", name),
        "xml": Logical("xml", name),
        "interval": Logical("interval", name),
    }
    if name in simple:
        return simple[name]
    if name == "numeric":
        return replace(UNBOUNDED_NUMERIC, name=name) if p is None else _exact(name, p, s or 0)
    if name in ("varchar", "char"):
        return _string(name, n, fixed=name == "char")
    if name in ("time", "timetz"):
        return Logical("time", name, fraction=6 if p is None else p)
    if name in ("timestamp", "timestamptz"):
        return _ts(name, 6 if p is None else p, tz="instant" if name == "timestamptz" else "none")
    return Logical("other", name)


def _parse_duckdb(name: str, p: int | None, s: int | None, n: int | None) -> Logical:
    ints = {"tinyint": (8, False), "utinyint": (8, True), "smallint": (16, False), "usmallint": (16, True),
            "integer": (32, False), "int": (32, False), "uinteger": (32, True), "bigint": (64, False),
            "ubigint": (64, True), "hugeint": (128, False), "uhugeint": (128, True)}  # fmt: skip
    if name in ints:
        return _int(name, *ints[name])
    simple = {
        "boolean": Logical("boolean", name),
        "float": Logical("float", name, bits=24),
        "real": Logical("float", name, bits=24),
        "double": Logical("float", name, bits=53),
        "varchar": _string(name, None),
        "blob": _binary(name, None),
        "date": Logical("date", name),
        "time": Logical("time", name, fraction=6),
        "timestamp": _ts(name, 6),
        "timestamp_ns": _ts(name, 9),
        "timestamp_ms": _ts(name, 3),
        "timestamp_s": _ts(name, 0),
        "timestamp with time zone": _ts(name, 6, tz="instant"),
        "timestamptz": _ts(name, 6, tz="instant"),
        "uuid": Logical("uuid", name),
        "json": Logical("json", name),
        "interval": Logical("interval", name),
    }
    if name in simple:
        return simple[name]
    if name in ("decimal", "numeric"):
        return _exact(name, p or 18, s or 0)
    return Logical("other", name)


def _parse_snowflake(name: str, p: int | None, s: int | None, n: int | None) -> Logical:
    if name in ("number", "decimal", "numeric", "int", "integer", "bigint", "smallint", "tinyint", "byteint"):
        return _exact(name, p or 38, s or 0, integer=(s or 0) == 0)
    if name in ("float", "float4", "float8", "double", "double precision", "real"):
        return Logical("float", name, bits=53)
    if name in (
        "varchar",
        "text",
        "string",
        "char",
        "character",
        "nvarchar",
        "nchar",
        "nvarchar2",
        "char varying",
    ):
        return _string(name, None if n is None or n >= SNOWFLAKE_VARCHAR_MAX else n)
    if name in ("binary", "varbinary"):
        return _binary(name, None if n is None or n >= SNOWFLAKE_BINARY_MAX else n)
    if name in ("timestamp_ntz", "timestamp", "datetime"):
        return _ts(name, 9 if p is None else p)
    if name == "timestamp_tz":
        return _ts(name, 9 if p is None else p, tz="offset")
    if name == "timestamp_ltz":
        return _ts(name, 9 if p is None else p, tz="instant")
    simple = {
        "boolean": Logical("boolean", name),
        "date": Logical("date", name),
        "time": Logical("time", name, fraction=9 if p is None else p),
        "variant": Logical("variant", name),
        "object": Logical("json", name),
        "array": Logical("json", name),
        "geography": Logical("spatial", name),
        "geometry": Logical("spatial", name),
    }
    return simple.get(name, Logical("other", name))


# --- target types -----------------------------------------------------------------------------


def _digits(value: Decimal | None) -> int:
    return 0 if value is None else len(str(int(value.copy_abs())))


def render(source: Logical, target_kind: str) -> str:
    """The target type proposed for a source type (the closest faithful one the target has)."""
    render_for = {
        "snowflake": _render_snowflake,
        "postgres": _render_postgres,
        "duckdb": _render_duckdb,
        "sqlserver": _render_sqlserver,
    }
    if target_kind not in render_for:
        raise Invalid(f"unknown database kind {target_kind!r} (known: {', '.join(KINDS)})", {"field": "kind"})
    return render_for[target_kind](source)


def _exact_args(source: Logical, max_precision: int) -> tuple[int, int]:
    if source.high is None:  # unbounded numeric
        return max_precision, min(source.scale, max_precision // 2) if source.scale < 1000 else 10
    precision = max(_digits(source.high), _digits(source.low)) + source.scale
    return min(max(precision, 1), max_precision), min(source.scale, max_precision)


def _render_snowflake(t: Logical) -> str:
    f = t.family
    if f == "boolean":
        return "BOOLEAN"
    if f == "exact":
        p, s = _exact_args(t, 38)
        return f"NUMBER({p},{s})"
    if f == "float":
        return "FLOAT"
    if f == "string":
        return f"VARCHAR({t.length})" if t.length else "VARCHAR"
    if f in ("binary", "rowversion"):
        return f"BINARY({t.length})" if t.length else "BINARY"
    if f == "date":
        return "DATE"
    if f == "time":
        return f"TIME({9 if (t.fraction or 0) > 6 else t.fraction})"
    if f == "timestamp":
        digits = 9 if (t.fraction if t.fraction is not None else 9) > 6 else t.fraction
        return {"none": "TIMESTAMP_NTZ", "offset": "TIMESTAMP_TZ", "instant": "TIMESTAMP_TZ"}[
            t.tz
        ] + f"({digits})"
    if f == "uuid":
        return "VARCHAR(36)"
    if f in ("json", "variant"):
        return "VARIANT"
    if f == "spatial":
        return "GEOGRAPHY" if t.name == "geography" else "GEOMETRY"
    return "VARCHAR"


def _render_postgres(t: Logical) -> str:
    f = t.family
    if f == "boolean":
        return "boolean"
    if f == "exact":
        if t.integer and t.low is not None and t.high is not None:
            for name, bits in (("smallint", 16), ("integer", 32), ("bigint", 64)):
                if _contains(_int(name, bits), t):
                    return name
        if t.high is None:
            return "numeric"
        p, s = _exact_args(t, 1000)
        return f"numeric({p},{s})"
    if f == "float":
        return "real" if t.bits == 24 else "double precision"
    if f == "string":
        if t.length is None:
            return "text"
        return f"char({t.length})" if t.fixed else f"varchar({t.length})"
    if f in ("binary", "rowversion"):
        return "bytea"
    if f == "date":
        return "date"
    if f == "time":
        return f"time({min(t.fraction if t.fraction is not None else 6, 6)})"
    if f == "timestamp":
        digits = min(t.fraction if t.fraction is not None else 6, 6)
        return f"timestamp({digits})" if t.tz == "none" else f"timestamptz({digits})"
    if f == "uuid":
        return "uuid"
    if f == "json":
        return "jsonb"
    if f == "xml":
        return "xml"
    if f == "interval":
        return "interval"
    return "text"


def _render_duckdb(t: Logical) -> str:
    f = t.family
    if f == "boolean":
        return "BOOLEAN"
    if f == "exact":
        if t.integer and t.low is not None and t.high is not None:
            candidates = [
                ("UTINYINT", 8, True),
                ("SMALLINT", 16, False),
                ("INTEGER", 32, False),
                ("BIGINT", 64, False),
                ("HUGEINT", 128, False),
            ]
            for name, bits, unsigned in candidates:
                if (not unsigned or t.low >= 0) and _contains(_int(name, bits, unsigned), t):
                    return name
        p, s = _exact_args(t, 38)
        return f"DECIMAL({p},{s})"
    if f == "float":
        return "FLOAT" if t.bits == 24 else "DOUBLE"
    if f == "string":
        return "VARCHAR"
    if f in ("binary", "rowversion"):
        return "BLOB"
    if f == "date":
        return "DATE"
    if f == "time":
        return "TIME"
    if f == "timestamp":
        if t.tz != "none":
            return "TIMESTAMPTZ"
        return "TIMESTAMP_NS" if (t.fraction or 0) > 6 else "TIMESTAMP"
    if f == "uuid":
        return "UUID"
    if f == "json":
        return "JSON"
    if f == "interval":
        return "INTERVAL"
    return "VARCHAR"


def _render_sqlserver(t: Logical) -> str:
    f = t.family
    if f == "boolean":
        return "bit"
    if f == "exact":
        if t.integer and t.low is not None and t.high is not None:
            for name, bits, unsigned in (
                ("tinyint", 8, True),
                ("smallint", 16, False),
                ("int", 32, False),
                ("bigint", 64, False),
            ):
                if _contains(_int(name, bits, unsigned), t):
                    return name
        p, s = _exact_args(t, 38)
        return f"decimal({p},{s})"
    if f == "float":
        return "real" if t.bits == 24 else "float"
    if f == "string":
        if t.length is None or t.length > 4000:
            return "nvarchar(max)"
        return f"nchar({t.length})" if t.fixed else f"nvarchar({t.length})"
    if f in ("binary", "rowversion"):
        return "varbinary(max)" if t.length is None or t.length > 8000 else f"varbinary({t.length})"
    if f == "date":
        return "date"
    if f == "time":
        return f"time({min(t.fraction if t.fraction is not None else 7, 7)})"
    if f == "timestamp":
        digits = min(t.fraction if t.fraction is not None else 7, 7)
        return f"datetime2({digits})" if t.tz == "none" else f"datetimeoffset({digits})"
    if f == "uuid":
        return "uniqueidentifier"
    if f == "xml":
        return "xml"
    if f == "variant":
        return "sql_variant"
    if f in ("spatial", "hierarchyid"):
        return t.name if t.name in ("geography", "geometry", "hierarchyid") else "nvarchar(max)"
    return "nvarchar(max)"


# --- judging a pair ---------------------------------------------------------------------------


def _contains(target: Logical, source: Logical) -> bool:
    """Whether every exact value of `source` fits `target` (range and scale)."""
    if target.high is None:
        return True
    if source.high is None:
        return False
    return (
        target.scale >= source.scale
        and target.low is not None
        and source.low is not None
        and target.low <= source.low
        and target.high >= source.high
    )


def _range(t: Logical) -> str:
    if t.high is None:
        return "unbounded"
    return (
        f"{t.low:,} .. {t.high:,}" if t.scale == 0 else f"{_digits(t.high)} integer digits, scale {t.scale}"
    )


def assess(source: Logical, target: Logical, target_kind: str | None = None) -> tuple[Fidelity, str]:
    """How faithfully a column of type `target` holds the values of a column of type `source`."""
    s, t = source, target
    if s.family == "variant":
        return "incompatible", (
            f"{s.name} has no equivalent: each value carries its own base type; cast the column to one "
            "concrete type before migrating (Snowflake VARIANT keeps the value, not the SQL Server base type)"
        )
    if s.family != t.family:
        return _cross_family(s, t)
    family = s.family
    if family in ("boolean", "date", "uuid", "xml", "json", "interval"):
        return "lossless", ""
    if family == "exact":
        if _contains(t, s):
            note = ""
            if s.name in ("money", "smallmoney"):
                note = f"{s.name} is a fixed-point decimal with 4 digits after the point"
            return "lossless", note
        if t.scale < s.scale:
            return "lossy", f"rounded from {s.scale} to {t.scale} digits after the point"
        return "lossy", f"range {_range(s)} does not fit {t.name} ({_range(t)}): larger values overflow"
    if family == "float":
        if (t.bits or 53) >= (s.bits or 53):
            if (s.bits or 53) < (t.bits or 53):
                return "lossless", (
                    "single precision widened to double: every value is exact, but compare at 7 significant "
                    "digits (0.1 as single is 0.100000001490116 as double)"
                )
            return "lossless", ""
        return "lossy", "double precision narrowed to single: about 7 significant digits remain"
    if family in ("string", "binary"):
        notes: list[str] = []
        fidelity: Fidelity = "lossless"
        if s.length is None and t.length is not None:
            fidelity, notes = "lossy", [f"unbounded values are cut to {t.length}"]
        elif s.length is not None and t.length is not None and t.length < s.length:
            fidelity, notes = "lossy", [f"values longer than {t.length} are cut (source holds {s.length})"]
        if family == "string" and s.unicode and not t.unicode:
            fidelity = "lossy"
            notes.append("Unicode characters outside the target's code page are replaced")
        if s.fixed and not t.fixed and family == "string":
            notes.append(
                "the source pads with trailing spaces and the target does not: compare with trailing spaces trimmed"
            )
        if s.length is None and t.length is None and target_kind == "snowflake":
            notes.append(f"Snowflake holds at most {'16 MB' if family == 'string' else '8 MB'} per value")
        return fidelity, "; ".join(notes)
    if family == "time":
        return _fraction(s, t)
    if family == "timestamp":
        fidelity, note = _fraction(s, t)
        zone: tuple[Fidelity, str] = ("lossless", "")
        if s.tz == "offset" and t.tz == "instant":
            zone = ("lossy", "the instant is kept in UTC but the original UTC offset is dropped")
        elif s.tz == "offset" and t.tz == "none":
            zone = ("lossy", "the UTC offset is dropped: wall-clock time without its zone")
        elif s.tz == "instant" and t.tz == "none":
            zone = ("lossy", "an instant stored without its zone: correct only if loaded in UTC")
        elif s.tz == "none" and t.tz != "none":
            zone = (
                "lossy",
                "wall-clock time read in the loading session's time zone: correct only if loaded in UTC",
            )
        return _worst((fidelity, note), zone)
    if family == "spatial":
        return (
            ("lossless", "")
            if s.name == t.name
            else ("lossy", f"{s.name} read as {t.name}: coordinates reinterpreted")
        )
    if family in ("rowversion", "hierarchyid"):
        return "lossless", ""
    return (
        ("lossless", "")
        if s.name == t.name
        else ("incompatible", f"{s.name} and {t.name} are not known to match")
    )


def _fraction(s: Logical, t: Logical) -> tuple[Fidelity, str]:
    sf, tf = s.fraction if s.fraction is not None else 6, t.fraction if t.fraction is not None else 6
    if tf >= sf:
        note = (
            "SQL Server datetime is rounded to 1/300 s (.000/.003/.007): exact at 3 digits"
            if s.name == "datetime"
            else ""
        )
        return "lossless", note
    return "lossy", f"fractional seconds cut from {sf} to {tf} digits"


def _worst(*results: tuple[Fidelity, str]) -> tuple[Fidelity, str]:
    fidelity = max((r[0] for r in results), key=lambda f: _RANK[f])
    return fidelity, "; ".join(r[1] for r in results if r[1])


def _cross_family(s: Logical, t: Logical) -> tuple[Fidelity, str]:
    pair = (s.family, t.family)
    if pair == ("boolean", "exact"):
        return "lossless", "stored as 0/1"
    if pair == ("exact", "boolean"):
        return "lossy", "every non-zero value becomes true"
    if pair == ("exact", "float"):
        exact_in_double = (
            s.integer and s.high is not None and s.low is not None and max(s.low.copy_abs(), s.high) <= 2**53
        )
        if exact_in_double and (t.bits or 53) == 53:
            return "lossless", "integers up to 2^53 are exact in a double"
        return "lossy", "binary floating point cannot hold every decimal value exactly"
    if pair == ("float", "exact"):
        return "lossy", f"rounded to {t.scale} digits after the point"
    if pair == ("date", "timestamp"):
        return "lossless", "dates become midnight timestamps"
    if pair == ("timestamp", "date"):
        return "lossy", "the time of day is dropped"
    if pair == ("uuid", "string"):
        if t.length is not None and t.length < 36:
            return "lossy", f"36-character UUID text cut to {t.length}"
        return (
            "lossless",
            "as text: SQL Server renders UUIDs upper case, others lower case - compare case-insensitively",
        )
    if pair == ("string", "uuid"):
        return "lossy", "only text holding valid UUIDs converts"
    if pair in (("xml", "string"), ("json", "string"), ("json", "variant")):
        return (
            "lossless",
            f"{s.name} kept as text: compare after normalising whitespace" if t.family == "string" else "",
        )
    if pair == ("xml", "variant"):
        return "lossy", "XML has no Snowflake type: parse with PARSE_XML into VARIANT (or keep as VARCHAR)"
    if pair in (("spatial", "string"), ("hierarchyid", "string")):
        what = "well-known text (WKT)" if s.family == "spatial" else "its path text (/1/2/)"
        return "lossy", f"{s.name} kept as {what}: spatial / hierarchy operations and ordering are lost"
    if pair == ("rowversion", "binary"):
        if t.length is not None and t.length < 8:
            return "lossy", "rowversion needs 8 bytes"
        return (
            "lossless",
            "rowversion values are generated by SQL Server: meaningful as data only, not as versions",
        )
    if t.family == "string" and s.family in (
        "exact",
        "float",
        "boolean",
        "date",
        "time",
        "timestamp",
        "interval",
    ):
        return "lossy", f"{s.name} stored as text: compare only after normalising both sides"
    return "incompatible", f"{s.name} ({s.family}) cannot hold or be compared with {t.name} ({t.family})"


# --- the API ----------------------------------------------------------------------------------


def _target_column(target_kind: str, target_type: str) -> ColumnInfo:
    name = target_type.lower()
    base = re.sub(r"\(.*\)$", "", name).strip()
    args = [int(a) for a in re.findall(r"\d+", name[name.find("(") :])] if "(" in name else []
    length = precision = scale = None
    if "max" in name:
        length = -1
    elif base in ("number", "numeric", "decimal"):
        precision, scale = [*args, None, None][:2]
    elif base in (
        "time",
        "timestamp",
        "timestamptz",
        "timestamp_ntz",
        "timestamp_tz",
        "timestamp_ltz",
        "datetime2",
        "datetimeoffset",
    ):
        precision = args[0] if args else None
    elif args:
        length = args[0]
    return ColumnInfo(
        name="target", data_type=base, ordinal=1, length=length, precision=precision, scale=scale
    )


def map_type(source_kind: str, column: ColumnInfo, target_kind: str) -> TypeMapping:
    """The proposed target type for `column` (of a `source_kind` database) and its fidelity."""
    source = parse(source_kind, column)
    if source.family == "other":
        return TypeMapping(
            target_type=render(source, target_kind),
            fidelity="incompatible",
            note=f"unknown type {source.name}",
        )
    target_type = render(source, target_kind)
    target = parse(target_kind, _target_column(target_kind, target_type))
    fidelity, note = assess(source, target, target_kind)
    return TypeMapping(target_type=target_type, fidelity=fidelity, note=note)


def compatible(
    source_col: ColumnInfo, source_kind: str, target_col: ColumnInfo, target_kind: str
) -> TypeMapping:
    """How faithfully an existing target column holds the values of an existing source column."""
    source, target = parse(source_kind, source_col), parse(target_kind, target_col)
    if "other" in (source.family, target.family) and source.name != target.name:
        unknown = source.name if source.family == "other" else target.name
        return TypeMapping(
            target_type=describe(target_col), fidelity="incompatible", note=f"unknown type {unknown}"
        )
    fidelity, note = assess(source, target, target_kind)
    return TypeMapping(target_type=describe(target_col), fidelity=fidelity, note=note)


def describe(column: ColumnInfo) -> str:
    """A column's type spelled with its arguments, e.g. `numeric(12,2)`, `nvarchar(max)`."""
    if column.length is not None:
        return f"{column.data_type}({'max' if column.length < 0 else column.length})"
    if column.precision is not None and column.scale is not None:
        return f"{column.data_type}({column.precision},{column.scale})"
    if column.precision is not None and column.data_type not in (
        "float",
        "real",
        "double precision",
        "double",
        "float4",
        "float8",
    ):
        return f"{column.data_type}({column.precision})"
    return column.data_type


# --- the documented table ---------------------------------------------------------------------

SQLSERVER_EXAMPLES: list[ColumnInfo] = [
    ColumnInfo(name=spelled, data_type=base, ordinal=1, length=length, precision=precision, scale=scale)
    for spelled, base, length, precision, scale in [
        ("bit", "bit", None, None, None),
        ("tinyint", "tinyint", None, None, None),
        ("smallint", "smallint", None, None, None),
        ("int", "int", None, None, None),
        ("bigint", "bigint", None, None, None),
        ("decimal(18,4)", "decimal", None, 18, 4),
        ("decimal(38,10)", "decimal", None, 38, 10),
        ("money", "money", None, None, None),
        ("smallmoney", "smallmoney", None, None, None),
        ("float(53)", "float", None, 53, None),
        ("float(24) / real", "real", None, 24, None),
        ("char(10)", "char", 10, None, None),
        ("varchar(100)", "varchar", 100, None, None),
        ("varchar(max)", "varchar", -1, None, None),
        ("nchar(10)", "nchar", 10, None, None),
        ("nvarchar(200)", "nvarchar", 200, None, None),
        ("nvarchar(max)", "nvarchar", -1, None, None),
        ("text / ntext", "ntext", None, None, None),
        ("binary(16)", "binary", 16, None, None),
        ("varbinary(max) / image", "varbinary", -1, None, None),
        ("date", "date", None, None, None),
        ("time(7)", "time", None, 7, None),
        ("time(3)", "time", None, 3, None),
        ("smalldatetime", "smalldatetime", None, None, None),
        ("datetime", "datetime", None, None, None),
        ("datetime2(7)", "datetime2", None, 7, None),
        ("datetime2(3)", "datetime2", None, 3, None),
        ("datetimeoffset(7)", "datetimeoffset", None, 7, None),
        ("uniqueidentifier", "uniqueidentifier", None, None, None),
        ("xml", "xml", None, None, None),
        ("rowversion", "rowversion", None, None, None),
        ("hierarchyid", "hierarchyid", None, None, None),
        ("geography", "geography", None, None, None),
        ("sql_variant", "sql_variant", None, None, None),
    ]
]


def mapping_table_markdown() -> str:
    """The SQL Server -> Snowflake / PostgreSQL / DuckDB table, as documented in the engine README."""
    lines = [
        "| SQL Server | Snowflake | PostgreSQL | DuckDB | Notes |",
        "|---|---|---|---|---|",
    ]
    names = {"snowflake": "Snowflake", "postgres": "PostgreSQL", "duckdb": "DuckDB"}
    for column in SQLSERVER_EXAMPLES:
        cells = [f"`{column.name}`"]
        notes: dict[str, list[str]] = {}  # note -> the targets it applies to
        for target in ("snowflake", "postgres", "duckdb"):
            mapping = map_type("sqlserver", column, target)
            cells.append(f"`{mapping.target_type}` {mapping.fidelity}")
            for note in filter(None, mapping.note.split("; ")):
                notes.setdefault(note, []).append(names[target])
        text = "; ".join(
            note if len(targets) == 3 else f"{', '.join(targets)}: {note}" for note, targets in notes.items()
        )
        cells.append(text.replace("|", "\\|"))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
