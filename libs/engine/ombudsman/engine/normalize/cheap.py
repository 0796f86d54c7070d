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
tolerance would make buckets differ. Doubles keep the general form as canonical text (a pair of
PostgreSQL and DuckDB sides prints the pair form below).

- a PostgreSQL CHAR(n) compared as a fixed-length string prints its text without the padding when
  cast to text (PostgreSQL's bpchar -> text cast removes trailing spaces, as RTRIM(x, ' ') does):
  the cast alone, without the RTRIM (unless strings are case-folded).

PostgreSQL's row text is built in one call where it can be: a row without NULLs (`a IS NULL OR ...`
false, a few cheap steps) is `CONCAT_WS(U+001F, ...)` over the columns themselves where the cast to
text is their canonical text (integers, same-scale decimals, dates, non-fixed strings: CONCAT_WS
prints them with the type's own output function, as the cast does) and over the cheap form of the
others; a row with a NULL takes the COALESCE(...) || U+001F || ... chain. Both give the same text
(no form is NULL for a non-NULL value), and the one call costs much less than the chain's two
function calls and one copy of the growing text per column (1M rows x 18 columns: 3.85 -> 3.23 s of
backend CPU, floor 2.09 s; load ~14, interleaved).

**Pair forms.** Where both sides of a diff are PostgreSQL or DuckDB (each read in its pinned session),
two kinds print a text of their own that is not the canonical text but is the same on both sides for
every value, at a fraction of the canonical form's cost on PostgreSQL (`pair_form`):

- a float: C's `%.<float_digits>g` of the double (correctly rounded from its exact binary value),
  which is PostgreSQL's own float8 output under `extra_float_digits = float_digits - 15` (pinned by
  `pinned_settings`) and DuckDB's `PRINTF`; `0` below the absolute tolerance, `NaN`, `Infinity`,
  `-Infinity` as PostgreSQL prints them. The canonical form rounds half up from the double times a
  power of ten, so the two disagree on a few values at a rounding boundary: only a pair may use it,
  and the leaf compare still judges floats by their values and the tolerance;
- a timestamp (with a time zone: at UTC) of the years 1 to 9999, truncated to microseconds: its own
  text (`2024-01-02 03:04:05.12`: fraction without trailing zeros), PostgreSQL's with DateStyle ISO
  pinned and DuckDB's alike; other instants as `<days since 1970> <time>`, and `infinity`.

The decision depends only on the two dialects and the compared type, so both sides always agree.
Measured equal value by value on 2,000,000 random doubles (every digit count tried) and 300,000
random timestamps of every year; tests/engine/normalize/test_pair_forms.py keeps the edge cases.

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
    case,
    cast,
    concat,
    fn,
    n,
    s,
    to_text,
)
from ombudsman.engine.normalize.types import LogicalType

# session settings under which the cheap PostgreSQL forms print the canonical text (and extra_float_digits,
# which pinned_settings adds for the float pair form)
PINNED_SETTINGS: dict[str, dict[str, str]] = {
    "postgres": {"DateStyle": "ISO, YMD", "TimeZone": "UTC", "IntervalStyle": "postgres"},
}
_CHEAP_DIALECTS = ("postgres", "duckdb")
PAIR_DIALECTS = frozenset(_CHEAP_DIALECTS)


def pinned_settings(dialect: str, options: NormalizeOptions | None = None) -> dict[str, str]:
    """PINNED_SETTINGS of `dialect`, with PostgreSQL's float output at `options.float_digits`
    significant digits (`extra_float_digits` = digits - 15: float8out prints `%.<digits>g`), which the
    float pair form prints."""
    settings = dict(PINNED_SETTINGS.get(dialect, {}))
    if dialect == "postgres":
        settings["extra_float_digits"] = str((options or NormalizeOptions()).float_digits - 15)
    return settings


def pair_form(compared: LogicalType, dialect: str, peer: str | None) -> str | None:
    """The pair form (`printed_float`, `printed_timestamp`) a column compared as `compared` gets in
    `dialect` when the other side is `peer`, or None. Only the dialects and the compared type decide,
    so both sides of a pair choose alike; `peer` None: no pair forms (a side not pinned)."""
    if peer is None or dialect not in PAIR_DIALECTS or peer not in PAIR_DIALECTS:
        return None
    if compared.kind == "float":
        return "printed_float"
    if compared.kind in ("timestamp", "timestamp_tz"):
        return "printed_timestamp"
    return None


def _printed_float(column: exp.Expression, dialect: str, options: NormalizeOptions | None) -> exp.Expression:
    """`%.<float_digits>g` of the double: PostgreSQL's float8 output under pinned_settings, DuckDB's
    PRINTF, with NaN and the infinities spelt as PostgreSQL does; `0` for zero and below the tolerance."""
    opts = options or NormalizeOptions()
    x = cast(column, "double", dialect)
    zero = exp.EQ(this=x, expression=n(0))
    if opts.float_absolute > 0:
        zero = exp.or_(zero, exp.LT(this=fn("ABS", x.copy()), expression=n(opts.float_absolute)))
    if dialect == "postgres":
        return case((zero, s("0")), default=to_text(x.copy(), dialect))
    return case(
        (fn("ISNAN", x.copy()), s("NaN")),
        (exp.EQ(this=x.copy(), expression=cast(s("Infinity"), "double", dialect)), s("Infinity")),
        (exp.EQ(this=x.copy(), expression=cast(s("-Infinity"), "double", dialect)), s("-Infinity")),
        (zero, s("0")),
        default=fn("PRINTF", s(f"%.{opts.float_digits}g"), x.copy()),
    )


def _printed_timestamp(column: exp.Expression, compared: LogicalType, dialect: str) -> exp.Expression:
    """A timestamp's own text at microseconds (UTC for a time zone) for the years 1 to 9999, which
    PostgreSQL (DateStyle ISO) and DuckDB print alike. Other instants, which they print otherwise (and
    whose canonical forms differ too: TO_CHAR gives BC's year 1 as `0001`, STRFTIME as `0000`; TO_CHAR of
    infinity is NULL), as `<days since 1970> <time of day>` (proleptic Gregorian in both), and
    `infinity`/`-infinity`."""
    with_tz = compared.kind == "timestamp_tz"
    if dialect == "postgres":
        t = exp.AtTimeZone(this=column.copy(), zone=s("UTC")) if with_tz else cast(column.copy(), "timestamp", dialect)
    else:  # DuckDB: EPOCH_US truncates a TIMESTAMP_NS to microseconds as the canonical text does
        t = fn("TIMEZONE", s("UTC"), column.copy()) if with_tz else fn("MAKE_TIMESTAMP", fn("EPOCH_US", column.copy()))

    def instant(text: str) -> exp.Expression:
        return cast(s(text), "timestamp", dialect)

    days = exp.Sub(this=cast(t.copy(), "date", dialect), expression=cast(s("1970-01-01"), "date", dialect))
    elsewhere = concat([to_text(days, dialect), s(" "), to_text(cast(t.copy(), "time", dialect), dialect)])
    return case(
        (exp.and_(exp.GTE(this=t.copy(), expression=instant("0001-01-01 00:00:00")),
                  exp.LT(this=t.copy(), expression=instant("10000-01-01 00:00:00"))), to_text(t, dialect)),
        # the column itself: DuckDB's EPOCH_US of infinity is NULL
        (exp.EQ(this=column.copy(), expression=instant("infinity")), s("infinity")),
        (exp.EQ(this=column.copy(), expression=instant("-infinity")), s("-infinity")),
        default=elsewhere,
    )


def prints_canonically(declared: LogicalType, compared: LogicalType, dialect: str) -> bool:
    """True when a plain cast to text of a column declared `declared` gives the canonical text of
    `compared` (the type the pair is compared as) in `dialect` under PINNED_SETTINGS."""
    if dialect not in _CHEAP_DIALECTS or declared.kind != compared.kind or not declared.own_text:
        return False
    if compared.kind == "date":
        return True
    if compared.kind == "string" and dialect == "postgres" and declared.fixed_length and compared.fixed_length:
        return True  # bpchar -> text drops the padding spaces; case folding is applied on top by cheap_canonical_expr
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
    peer: str | None = None,
) -> exp.Expression:
    """The canonical text of `column` (compared as `compared`, declared `declared`) by the least
    expensive expression that produces it in `dialect`; `canonical_expr` where none is cheaper. With
    `peer` (the other side's dialect, both sides pinned) a pair form where there is one."""
    pair = pair_form(compared, dialect, peer)
    if pair == "printed_float":
        return _printed_float(column, dialect, options)
    if pair == "printed_timestamp":
        return _printed_timestamp(column, compared, dialect)
    form = cheap_form(declared, compared, dialect)
    if form == "text" and compared.kind == "string":
        text = to_text(column, dialect)
        return fn("LOWER", text) if (options or NormalizeOptions()).casefold_strings else text
    if form == "text":
        return to_text(column, dialect)
    if form == "padded_timestamp":
        return _padded_timestamp(column, compared, options)
    return canonical_expr(column, compared, dialect, options)


def cheap_row_text_expr(
    columns: Sequence[tuple[exp.Expression, LogicalType, LogicalType]],
    dialect: str,
    options: NormalizeOptions | None = None,
    peer: str | None = None,
) -> exp.Expression:
    """The canonical row text (as `row_text_expr`) of (column, declared type, compared type) triples,
    each column by `cheap_canonical_expr` (with `peer`: pair forms where there are). DuckDB joins them with one variadic CONCAT, which builds
    the row text once, where a chain of `||` copies it at every column (about twice as fast on 18
    columns); the parts are never NULL, so both give the same text."""
    if not columns:
        raise ValueError("a row hash needs at least one column")
    parts: list[exp.Expression] = []
    texts: list[exp.Expression] = []
    for i, (column, declared, compared) in enumerate(columns):
        if i:
            parts.append(s(SEPARATOR))
        text = cheap_canonical_expr(column, declared, compared, dialect, options, peer)
        own = _prints_itself(declared, compared, dialect, options) and pair_form(compared, dialect, peer) is None
        texts.append(column.copy() if own else text.copy())
        parts.append(exp.Coalesce(this=text, expressions=[s(NULL_MARKER)]))
    if dialect == "duckdb" and len(parts) > 1:
        return fn("CONCAT", *parts)
    if dialect == "postgres":
        any_null = exp.or_(*(exp.Is(this=column.copy(), expression=exp.Null()) for column, _, _ in columns))
        return exp.Case(ifs=[exp.If(this=any_null, true=concat(parts))], default=_concat_ws(texts))
    return concat(parts)


MAX_FUNCTION_ARGS = 100  # PostgreSQL's FUNC_MAX_ARGS: CONCAT_WS takes the separator and 99 texts


def _concat_ws(texts: Sequence[exp.Expression]) -> exp.Expression:
    """CONCAT_WS(U+001F, texts...), nested in groups where there are more texts than one call takes
    (the groups' results are never NULL here, so the nesting gives the same text)."""
    per_call = MAX_FUNCTION_ARGS - 1
    if len(texts) <= per_call:
        return fn("CONCAT_WS", s(SEPARATOR), *texts)
    return _concat_ws([_concat_ws(texts[i : i + per_call]) for i in range(0, len(texts), per_call)])


def _prints_itself(declared: LogicalType, compared: LogicalType, dialect: str, options: NormalizeOptions | None) -> bool:
    """PostgreSQL: the column's own output (what CONCAT_WS prints) is its canonical text. True for
    integers, same-scale decimals and dates (their cast to text is the output function) and strings
    neither fixed-length (a CHAR(n) prints its padding), trimmed nor case-folded."""
    if dialect != "postgres" or declared.kind != compared.kind or not declared.own_text:
        return False
    if declared.kind == "integer":
        return True
    if declared.kind == "string":
        opts = options or NormalizeOptions()
        return not (declared.fixed_length or compared.fixed_length or opts.trim_strings or opts.casefold_strings)
    return declared.kind in ("decimal", "date") and cheap_form(declared, compared, dialect) == "text"
