"""Canonical text and row hashes as sqlglot expressions, rendered alike in every dialect.

Every value has one canonical text form, the same whichever of PostgreSQL, DuckDB, Snowflake or
SQL Server computes it (the table is in libs/engine/README.md, section "Normalisation"):

- integer: decimal text (`-42`); decimal: at the pair's scale (`12.50`); float: `<mantissa>e<exp>`
  with `float_digits` significant digits, rounded half up (`123457e-3`), `0`, `nan`, `inf`, `-inf`;
- boolean `1`/`0`; date `YYYY-MM-DD`; time `HH:MM:SS.ffffff`; timestamp `YYYY-MM-DD HH:MM:SS.ffffff`
  (microseconds, truncated; with a time zone: converted to UTC first); binary lower-case hex;
  UUID lower-case with dashes; string as is (optionally trailing spaces trimmed, lower-cased);
- NULL: the marker U+001E in a row; columns are joined with U+001F.

The row hash is the first 15 hex digits of MD5(UTF-8 row text) as a 60-bit integer, so a SUM over
10^9 rows fits DECIMAL(38,0) and every dialect computes the same number.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field
from sqlglot import exp

from ombudsman.engine.normalize.types import LogicalType

DIALECTS = ("postgres", "duckdb", "snowflake", "tsql")
SEPARATOR = "\x1f"  # between columns (ASCII unit separator)
NULL_MARKER = "\x1e"  # a NULL column (ASCII record separator); '' stays ''
HASH_BITS = 60
TIMESTAMP_FORMAT = {  # microseconds, 24-hour clock
    "postgres": "YYYY-MM-DD HH24:MI:SS.US",
    "duckdb": "%Y-%m-%d %H:%M:%S.%f",
    "snowflake": "YYYY-MM-DD HH24:MI:SS.FF6",
}
TIME_FORMAT = {"postgres": "HH24:MI:SS.US", "duckdb": "%H:%M:%S.%f", "snowflake": "HH24:MI:SS.FF6"}
DATE_FORMAT = {"postgres": "YYYY-MM-DD", "duckdb": "%Y-%m-%d", "snowflake": "YYYY-MM-DD"}


class NormalizeOptions(BaseModel):
    """How values are made comparable. Floats within about 10^(1-float_digits) relative are equal."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    float_digits: int = Field(default=6, ge=1, le=15, description="significant digits kept of floats")
    float_absolute: float = Field(
        default=1e-9, ge=0, le=1e6, description="floats with |x| below this are 0 (absolute noise around zero)"
    )
    trim_strings: bool = Field(default=False, description="ignore trailing spaces of strings")
    casefold_strings: bool = Field(default=False, description="compare strings lower-cased")


def _check(dialect: str) -> None:
    if dialect not in DIALECTS:
        raise ValueError(f"unsupported dialect {dialect!r} (supported: {', '.join(DIALECTS)})")


# --- small builders (rendered verbatim: sqlglot does not rewrite anonymous functions) --------------
def fn(name: str, *args: exp.Expression) -> exp.Expression:
    return exp.Anonymous(this=name, expressions=list(args))


def s(text: str) -> exp.Literal:
    return exp.Literal.string(text)


def n(number: int | float) -> exp.Expression:
    return exp.Literal.number(number)


def cast(e: exp.Expression, to: str, dialect: str) -> exp.Cast:
    return exp.Cast(this=e, to=exp.DataType.build(to, dialect=dialect))


def p(e: exp.Expression) -> exp.Paren:
    return exp.Paren(this=e)


def case(*whens: tuple[exp.Expression, exp.Expression], default: exp.Expression | None = None) -> exp.Case:
    node = exp.Case()
    for condition, value in whens:
        node = node.when(condition, value)
    return node.else_(default) if default is not None else node


def concat(parts: Sequence[exp.Expression]) -> exp.Expression:
    """parts[0] || parts[1] || ... (`+` in T-SQL: every part must be text and NOT NULL)."""
    result = parts[0]
    for part in parts[1:]:
        result = exp.DPipe(this=result, expression=part, safe=True)
    return result


def text_type(dialect: str) -> str:
    return {"postgres": "text", "duckdb": "varchar", "snowflake": "varchar", "tsql": "nvarchar(max)"}[dialect]


def to_text(e: exp.Expression, dialect: str, tsql_type: str = "varchar(60)") -> exp.Expression:
    return cast(e, tsql_type if dialect == "tsql" else text_type(dialect), dialect)


# --- canonical text per logical type ---------------------------------------------------------------
def canonical_expr(
    column: exp.Expression, logical_type: LogicalType, dialect: str, options: NormalizeOptions | None = None
) -> exp.Expression:
    """The canonical text of `column` (NULL when it is NULL) as an expression for `dialect`."""
    _check(dialect)
    options = options or NormalizeOptions()
    x = column
    kind = logical_type.kind
    if kind == "integer":
        return to_text(x, dialect, "varchar(60)")
    if kind == "decimal":
        scale = logical_type.scale if logical_type.scale is not None else 6
        return to_text(cast(x, f"decimal(38, {scale})", dialect), dialect, "varchar(60)")
    if kind == "float":
        return _float_text(x, dialect, options.float_digits, options.float_absolute)
    if kind == "boolean":
        if dialect == "tsql":
            return case((exp.EQ(this=x, expression=n(1)), s("1")), (exp.EQ(this=x, expression=n(0)), s("0")))
        return case((x, s("1")), (exp.Not(this=x), s("0")))
    if kind == "string":
        text = to_text(x, dialect, "nvarchar(max)")
        if options.trim_strings or logical_type.fixed_length:
            text = fn("RTRIM", text) if dialect == "tsql" else fn("RTRIM", text, s(" "))
        if options.casefold_strings:
            text = fn("LOWER", text)
        return text
    if kind == "date":
        if dialect == "tsql":
            return fn("CONVERT", exp.DataType.build("varchar(10)", dialect="tsql"), x, n(23))
        return _format(x, DATE_FORMAT[dialect], dialect)
    if kind == "time":
        if dialect == "tsql":
            inner = fn("CONVERT", exp.DataType.build("varchar(16)", dialect="tsql"), cast(x, "time(7)", dialect))
            return fn("LEFT", inner, n(15))
        # DuckDB's strftime (and fakesnow's TO_CHAR) need a timestamp: put the time on a fixed day
        if dialect == "duckdb":
            x = exp.Add(this=cast(s("1970-01-01"), "date", dialect), expression=x)
        elif dialect == "snowflake":
            x = fn("TIMESTAMP_NTZ_FROM_PARTS", cast(s("1970-01-01"), "date", dialect), x)
        return _format(x, TIME_FORMAT[dialect], dialect)
    if kind in ("timestamp", "timestamp_tz"):
        return _timestamp_text(x, dialect, with_tz=kind == "timestamp_tz")
    if kind == "binary":
        if dialect == "postgres":
            return fn("ENCODE", x, s("hex"))
        if dialect == "duckdb":
            return fn("LOWER", fn("HEX", x))
        if dialect == "snowflake":
            return fn("LOWER", fn("HEX_ENCODE", x))
        return fn("LOWER", fn("CONVERT", exp.DataType.build("varchar(max)", dialect="tsql"), x, n(2)))
    if kind == "uuid":
        return fn("LOWER", to_text(x, dialect, "varchar(36)"))
    return to_text(x, dialect, "nvarchar(max)")


def _format(x: exp.Expression, fmt: str, dialect: str) -> exp.Expression:
    return fn("STRFTIME", x, s(fmt)) if dialect == "duckdb" else fn("TO_CHAR", x, s(fmt))


def _timestamp_text(x: exp.Expression, dialect: str, *, with_tz: bool) -> exp.Expression:
    if dialect == "tsql":
        if with_tz:
            x = fn("SWITCHOFFSET", x, s("+00:00"))
        inner = fn("CONVERT", exp.DataType.build("varchar(27)", dialect="tsql"), cast(x, "datetime2(7)", dialect), n(121))
        return fn("LEFT", inner, n(26))  # truncate to microseconds like the others
    if dialect == "postgres":
        x = exp.AtTimeZone(this=x, zone=s("UTC")) if with_tz else cast(x, "timestamp", dialect)
    elif dialect == "duckdb":
        # not CAST(x AS TIMESTAMP): that rounds a TIMESTAMP_NS to the nearest microsecond, where the
        # canonical text truncates; EPOCH_US truncates, for dates, TIMESTAMP_S/MS/NS and any year alike
        x = fn("TIMEZONE", s("UTC"), x) if with_tz else fn("MAKE_TIMESTAMP", fn("EPOCH_US", x))
    else:  # snowflake
        x = fn("CONVERT_TIMEZONE", s("UTC"), x) if with_tz else cast(x, "timestamp_ntz", dialect)
    return _format(x, TIMESTAMP_FORMAT[dialect], dialect)


def _float_text(column: exp.Expression, dialect: str, digits: int, zero: float = 0.0) -> exp.Expression:
    """`[-]<m>e<exp>` with m an integer of `digits` digits: |x| rounded half up to `digits`
    significant digits; `0` when |x| < `zero` (the absolute tolerance). The exponent comes from FLOOR(LOG10(|x|)); when rounding carries into a new
    digit (9.9999999 -> 10.00000, or LOG10 one low at an exact power of ten) the mantissa is 10^digits
    and becomes 10^(digits-1) with the exponent one up. Only exact powers of ten multiply or divide."""
    x = cast(column, "float" if dialect == "tsql" else "double", dialect)
    a = fn("ABS", x)
    ten = cast(n(10), "float" if dialect == "tsql" else "double", dialect)
    e0 = fn("FLOOR", fn("LOG", n(10), a) if dialect == "snowflake" else fn("LOG10", a))
    k = p(exp.Sub(this=n(digits - 1), expression=e0))
    scaled = case(
        (exp.GTE(this=k, expression=n(0)), exp.Mul(this=a, expression=fn("POWER", ten, k))),
        default=exp.Div(this=a, expression=fn("POWER", ten, exp.Neg(this=k)), typed=True),
    )
    m0 = fn("FLOOR", exp.Add(this=scaled, expression=n(0.5)))

    def exponent_text(shift: int) -> exp.Expression:  # e0 + shift - (digits - 1)
        return to_text(cast(exp.Add(this=e0, expression=n(shift - digits + 1)), "int", dialect), dialect, "varchar(6)")

    carried = concat([s("1" + "0" * (digits - 1) + "e"), exponent_text(1)])
    plain = concat([to_text(cast(m0, "bigint", dialect), dialect, "varchar(20)"), s("e"), exponent_text(0)])
    sign = case((exp.LT(this=x, expression=n(0)), s("-")), default=s(""))
    text = exp.DPipe(
        this=sign, expression=case((exp.GTE(this=m0, expression=n(10**digits)), carried), default=plain), safe=True
    )
    whens: list[tuple[exp.Expression, exp.Expression]] = []
    if dialect != "tsql":  # SQL Server floats have no NaN or infinity
        special = {"postgres": ("NaN", "Infinity"), "duckdb": ("NaN", "Infinity"), "snowflake": ("NaN", "inf")}
        nan, inf = special[dialect]
        ftype = "double" if dialect != "snowflake" else "float"
        whens += [
            (exp.EQ(this=x, expression=cast(s(nan), ftype, dialect)), s("nan")),
            (exp.EQ(this=x, expression=cast(s(inf), ftype, dialect)), s("inf")),
            (exp.EQ(this=x, expression=cast(s("-" + inf), ftype, dialect)), s("-inf")),
        ]
    whens.append((exp.EQ(this=x, expression=n(0)), s("0")))
    if zero > 0:
        whens.append((exp.LT(this=a.copy(), expression=n(zero)), s("0")))
    return case(*whens, default=text)


# --- rows and hashes -------------------------------------------------------------------------------
def row_text_expr(
    columns: Sequence[tuple[exp.Expression, LogicalType]], dialect: str, options: NormalizeOptions | None = None
) -> exp.Expression:
    """The canonical texts of `columns` joined by U+001F, NULL as U+001E: never NULL itself."""
    _check(dialect)
    if not columns:
        raise ValueError("a row hash needs at least one column")
    parts: list[exp.Expression] = []
    for i, (column, logical_type) in enumerate(columns):
        if i:
            parts.append(s(SEPARATOR))
        parts.append(exp.Coalesce(this=canonical_expr(column, logical_type, dialect, options), expressions=[s(NULL_MARKER)]))
    return concat(parts)


def hash_text_expr(text: exp.Expression, dialect: str, *, fakesnow: bool = False) -> exp.Expression:
    """The first 15 hex digits of MD5(UTF-8 `text`) as a BIGINT in [0, 2^60).

    `fakesnow=True` is the ONE place a fakesnow-only rendering exists: fakesnow (Snowflake SQL run
    by DuckDB) lacks MD5_NUMBER_UPPER64 and hex TO_NUMBER, so it gets DuckDB's hex-string cast,
    which real Snowflake rejects. Only connectors that say `is_fakesnow` ask for it.
    """
    _check(dialect)
    digest = fn("LEFT", fn("MD5", text), n(15))
    if dialect == "postgres":
        return cast(cast(exp.DPipe(this=s("x"), expression=digest), "bit(60)", dialect), "bigint", dialect)
    if dialect == "duckdb" or (dialect == "snowflake" and fakesnow):
        return cast(exp.DPipe(this=s("0x"), expression=digest), "bigint", dialect)
    if dialect == "snowflake":
        # the first 8 bytes of the digest (big endian) without their last 4 bits
        return cast(fn("FLOOR", exp.Div(this=fn("MD5_NUMBER_UPPER64", text), expression=n(16))), "bigint", dialect)
    # T-SQL: hash the UTF-8 bytes (SQL Server 2019+ UTF-8 collation), like the other dialects
    utf8 = cast(exp.Collate(this=p(text), expression=exp.Var(this="Latin1_General_100_BIN2_UTF8")), "varchar(max)", dialect)
    hex_digits = fn(
        "LEFT", fn("CONVERT", exp.DataType.build("varchar(32)", dialect="tsql"), fn("HASHBYTES", s("MD5"), utf8), n(2)), n(15)
    )
    as_bytes = fn("CONVERT", exp.DataType.build("varbinary(8)", dialect="tsql"), exp.DPipe(this=s("0"), expression=hex_digits), n(2))
    return fn("CONVERT", exp.DataType.build("bigint", dialect="tsql"), as_bytes)


def row_hash_expr(
    columns: Sequence[tuple[exp.Expression, LogicalType]],
    dialect: str,
    options: NormalizeOptions | None = None,
    *,
    fakesnow: bool = False,
) -> exp.Expression:
    """The 60-bit row hash of `columns` (canonical texts joined, MD5, first 15 hex digits)."""
    return hash_text_expr(row_text_expr(columns, dialect, options), dialect, fakesnow=fakesnow)


def hash_sum_expr(hash_expr: exp.Expression, dialect: str) -> exp.Expression:
    """SUM of 60-bit hashes, exact: PostgreSQL sums BIGINT into NUMERIC and DuckDB into HUGEINT;
    Snowflake (fakesnow sums BIGINT as DOUBLE) and SQL Server (BIGINT overflows) get DECIMAL(38,0)."""
    _check(dialect)
    if dialect in ("postgres", "duckdb"):
        return exp.Sum(this=hash_expr)
    return exp.Sum(this=cast(hash_expr, "decimal(38, 0)", dialect))
