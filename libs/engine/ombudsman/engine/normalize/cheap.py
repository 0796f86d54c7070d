"""The cheapest expression giving a column's canonical text, per column type pair and dialect.

`canonical_expr` renders every value through the general form (a decimal cast to DECIMAL(38, s)
then to text, a date through TO_CHAR/STRFTIME ...). Where a side's declared type already prints
exactly the canonical text, a plain cast to text is enough and costs much less per row:

- a DATE rendered as a date prints `YYYY-MM-DD` (PostgreSQL with DateStyle ISO pinned; DuckDB);
- a DECIMAL declared at the pair's scale prints its digits at that scale (`12.50`, `-0.05`), in
  PostgreSQL and DuckDB alike;
- a PostgreSQL TIMESTAMP (or TIMESTAMPTZ at time zone UTC) of the years 1 to 9999 prints
  `YYYY-MM-DD HH:MM:SS[.f]` with its fraction's trailing zeros cut: the text padded to six
  fraction digits (`t || SUBSTR('.000000', LENGTH(t) - 18)`) is the canonical text at about half
  TO_CHAR's cost (other years, infinity: the general form).

DuckDB's own timestamp text is no cheaper once padded (its STRFTIME is already fast), and no exact
form of a float is cheaper than the general one (its digits come from arithmetic on the double that
the database's own float output does not reproduce). Tried for doubles: PostgreSQL's
`to_char(x, '9.99999EEEE')` and DuckDB's `printf('%.5e', x)` print alike (both round the exact
binary value half to even: 123456.5 -> `1.23456e+05`, where the canonical text rounds half up to
`123457e0`), so they could only be a form of the pair, never the canonical text; and on PostgreSQL
to_char costs as much as the general form (1M doubles: 6.3-8.2 s vs 6.8-7.0 s, load ~40; DuckDB
2.7-4.3 s vs 3.1-4.9 s). The shortest texts (`float8out`, 3x cheaper on PostgreSQL) differ between
the two (`100` / `100.0`, `1e+15` / `1000000000000000.0`) and are exact, so noise below the
tolerance would make buckets differ. Doubles keep the general form.

Everything else falls back to `canonical_expr`. The result is the same text as `canonical_expr`
for every value (tests/engine/normalize proves it per dialect), so a cheap side and a general side
still hash alike. PostgreSQL's cheap forms hold only under `PINNED_SETTINGS`, which the row diff's
read session sets for its transaction; `cheap=False` callers (no pinned session) get the general form.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlglot import exp

from ombudsman.engine.normalize.sql import (
    NULL_MARKER,
    SEPARATOR,
    NormalizeOptions,
    canonical_expr,
    concat,
    fn,
    s,
    to_text,
)
from ombudsman.engine.normalize.types import LogicalType

# session settings under which the cheap PostgreSQL forms print the canonical text
PINNED_SETTINGS: dict[str, dict[str, str]] = {
    "postgres": {"DateStyle": "ISO, YMD", "TimeZone": "UTC", "extra_float_digits": "3", "IntervalStyle": "postgres"},
}
_CHEAP_DIALECTS = ("postgres", "duckdb")


def prints_canonically(declared: LogicalType, compared: LogicalType, dialect: str) -> bool:
    """True when a plain cast to text of a column declared `declared` gives the canonical text of
    `compared` (the type the pair is compared as) in `dialect` under PINNED_SETTINGS."""
    if dialect not in _CHEAP_DIALECTS or declared.kind != compared.kind:
        return False
    if compared.kind == "date":
        return True
    return compared.kind == "decimal" and declared.scale is not None and declared.scale == compared.scale


def cheap_form(declared: LogicalType, compared: LogicalType, dialect: str) -> str | None:
    """Which cheap form renders `declared` compared as `compared` in `dialect`: `text` (a plain cast),
    `padded_timestamp` (PostgreSQL), or None (the general form)."""
    if prints_canonically(declared, compared, dialect):
        return "text"
    if dialect == "postgres" and compared.kind in ("timestamp", "timestamp_tz") and declared.kind == compared.kind:
        return "padded_timestamp"
    return None


def _padded_timestamp(column: exp.Expression, compared: LogicalType, options: NormalizeOptions | None) -> exp.Expression:
    """PostgreSQL (DateStyle ISO pinned): a timestamp's text padded to microseconds, for the years 1
    to 9999 (the text of other years, BC or infinity has another shape: the general form)."""
    utc = exp.AtTimeZone(this=column.copy(), zone=s("UTC")) if compared.kind == "timestamp_tz" else column.copy()
    text = to_text(utc, "postgres")
    padded = exp.DPipe(
        this=text, expression=fn("SUBSTR", s(".000000"), exp.Sub(this=fn("LENGTH", text.copy()), expression=exp.Literal.number(18))),
        safe=True,
    )
    bound = "timestamptz" if compared.kind == "timestamp_tz" else "timestamp"
    low = exp.GTE(this=column.copy(), expression=exp.Cast(this=s("0001-01-01 00:00:00+00"), to=exp.DataType.build(bound, dialect="postgres")))
    high = exp.LT(this=column.copy(), expression=exp.Cast(this=s("10000-01-01 00:00:00+00"), to=exp.DataType.build(bound, dialect="postgres")))
    general = canonical_expr(column, compared, "postgres", options)
    return exp.Case(ifs=[exp.If(this=exp.And(this=low, expression=high), true=padded)], default=general)


def cheap_canonical_expr(
    column: exp.Expression,
    declared: LogicalType,
    compared: LogicalType,
    dialect: str,
    options: NormalizeOptions | None = None,
) -> exp.Expression:
    """The canonical text of `column` (compared as `compared`, declared `declared`) by the least
    expensive expression that produces it in `dialect`; `canonical_expr` where none is cheaper."""
    form = cheap_form(declared, compared, dialect)
    if form == "text":
        return to_text(column, dialect)
    if form == "padded_timestamp":
        return _padded_timestamp(column, compared, options)
    return canonical_expr(column, compared, dialect, options)


def cheap_row_text_expr(
    columns: Sequence[tuple[exp.Expression, LogicalType, LogicalType]],
    dialect: str,
    options: NormalizeOptions | None = None,
) -> exp.Expression:
    """The canonical row text (as `row_text_expr`) of (column, declared type, compared type) triples,
    each column by `cheap_canonical_expr`. DuckDB joins them with one variadic CONCAT, which builds
    the row text once, where a chain of `||` copies it at every column (about twice as fast on 18
    columns); the parts are never NULL, so both give the same text."""
    if not columns:
        raise ValueError("a row hash needs at least one column")
    parts: list[exp.Expression] = []
    for i, (column, declared, compared) in enumerate(columns):
        if i:
            parts.append(s(SEPARATOR))
        text = cheap_canonical_expr(column, declared, compared, dialect, options)
        parts.append(exp.Coalesce(this=text, expressions=[s(NULL_MARKER)]))
    if dialect == "duckdb" and len(parts) > 1:
        return fn("CONCAT", *parts)
    return concat(parts)
