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

import math
from collections.abc import Sequence
from typing import Any

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
    """PINNED_SETTINGS of `dialect`, with PostgreSQL's float output as the float pair form prints it:
    shortest exact digits (`extra_float_digits` 1) for `printed_single`, else `%.<float_digits>g`
    (`extra_float_digits` = digits - 15)."""
    settings = dict(PINNED_SETTINGS.get(dialect, {}))
    if dialect == "postgres":
        digits = (options or NormalizeOptions()).float_digits
        settings["extra_float_digits"] = "1" if digits <= SINGLE_DIGITS else str(digits - 15)
    return settings


def pair_form(compared: LogicalType, dialect: str, peer: str | None, options: NormalizeOptions | None = None) -> str | None:
    """The pair form (`printed_single`, `printed_float`, `printed_timestamp`) a column compared as
    `compared` gets in `dialect` when the other side is `peer`, or None. Only the dialects, the
    compared type and the options decide, so both sides of a pair choose alike; `peer` None: no pair
    forms (a side not pinned)."""
    if peer is None or dialect not in PAIR_DIALECTS or peer not in PAIR_DIALECTS:
        return None
    if compared.kind == "float":
        return "printed_single" if (options or NormalizeOptions()).float_digits <= SINGLE_DIGITS else "printed_float"
    if compared.kind in ("timestamp", "timestamp_tz"):
        return "printed_timestamp"
    return None


# A float rounded to single precision moves by at most 2^-24 of itself (2^-23 at a binade's foot),
# less than the tolerance's one unit of the last kept digit while float_digits <= 7: two doubles
# printing the same single-precision text are always equal under the tolerance.
SINGLE_DIGITS = 7
_SINGLE_LOW, _SINGLE_HIGH = 1.2e-38, 3.4e38  # inside single precision's normal range
_SINGLE_FIXED_BELOW = 1e6  # PostgreSQL prints a single in fixed notation below 1e6, exponential above
_FIXED_BELOW = 1e15  # PostgreSQL prints a double in fixed notation below 1e15 (and integers exactly)


def _double(value: float, dialect: str) -> exp.Expression:
    """A double constant spelt exactly (its shortest text, cast: DuckDB reads `1e15` as DOUBLE but
    `0.5` as DECIMAL)."""
    return cast(s("Infinity" if value == math.inf else repr(value)), "double", dialect)


def _shortest(value: exp.Expression, dialect: str) -> exp.Expression:
    """The shortest exact text of a double below 1e15 in magnitude (not an integer of 2^53 or more)
    as PostgreSQL prints it with `extra_float_digits` 1 (ryu): DuckDB's text is the same digits with
    `.0` after an integer, so an integer is printed as a BIGINT there."""
    if dialect == "postgres":
        return to_text(value, dialect)
    whole = exp.EQ(this=value.copy(), expression=fn("TRUNC", value.copy()))
    return case((whole, to_text(cast(value.copy(), "bigint", dialect), dialect)), default=to_text(value, dialect))


def _single_shortest(single: exp.Expression, dialect: str) -> exp.Expression:
    """A single below 1e6 by its shortest digits, as PostgreSQL's float4 output prints it
    (`extra_float_digits` 1, ryu): `0.1`, `123456`, `1.5e-05`. DuckDB's REAL text is the same but
    for `.0` after an integer, and for a tie — a single whose exact value is one digit longer than
    its shortest text and ends in 5, which DuckDB prints whole (`383680.625`) where PostgreSQL
    rounds it half to even (`383680.62`): a text ending in 5 is printed again at 6, 7 and 8 digits
    (`%g`, rounding the exact value half to even) and the first that reads back as the same single
    is taken (0 of 400,000 values printed otherwise than PostgreSQL, ties included)."""
    text = to_text(single, dialect)
    if dialect == "postgres":
        return text

    def printed(digits: int) -> exp.Expression:
        return fn("PRINTF", s(f"%.{digits}g"), single.copy())

    shortest = case(
        *((exp.EQ(this=cast(printed(d), "real", dialect), expression=single.copy()), printed(d)) for d in (6, 7, 8)),
        default=text.copy(),
    )
    return case(
        (fn("SUFFIX", text.copy(), s("5")), shortest),
        (fn("SUFFIX", text.copy(), s(".0")), fn("LEFT", text.copy(), exp.Sub(this=fn("LENGTH", text.copy()), expression=n(2)))),
        default=text,
    )


def _printed_single(column: exp.Expression, dialect: str, options: NormalizeOptions | None) -> exp.Expression:
    """The double rounded to single precision (IEEE, to nearest: alike everywhere), printed by its
    shortest digits: below 1e6, PostgreSQL's float4 output (ryu), five times cheaper than its `%.6g`
    (snprintf), and DuckDB's REAL text (ties mended, `_single_shortest`); from 1e6 to 1e15 the single's
    value as a double (float8 output: PostgreSQL lays a single out otherwise there). Values whose texts
    the two lay out differently still are scaled by an exact power of two first, behind a mark that
    keeps them apart from the others: `~` for 1e15 <= |x| < 3.4e38 (times 2^-100), `^` for larger
    ones (the double itself times 2^-1000), `_` below single precision's normal range (times 2^100,
    the double itself: exact). `0` below the absolute tolerance; NaN and the infinities as
    PostgreSQL spells them; NULL for NULL.

    Shape: COALESCE(<the common case>, <the others>), the common case a plain expression of the
    single (NULL outside its range): nested under a CASE, DuckDB evaluates the REAL text once per
    use (0.70 s against 0.63 s for 1M rows of the bench's table, its floor 0.60 s)."""
    opts = options or NormalizeOptions()
    x = cast(column, "double", dialect)
    a = fn("ABS", x.copy())

    def below(bound: float) -> exp.Expression:
        return exp.LT(this=a.copy(), expression=_double(bound, dialect))

    def scaled(value: exp.Expression, factor: float, mark: str) -> exp.Expression:
        return exp.DPipe(this=s(mark), expression=_shortest(exp.Mul(this=value, expression=_double(factor, dialect)), dialect),
                         safe=True)

    # the common case: the value itself (0 below the tolerance) where its single is normal and below 1e6
    zero = below(opts.float_absolute) if opts.float_absolute > 0 else exp.EQ(this=x.copy(), expression=n(0))
    in_range = below(_SINGLE_FIXED_BELOW)
    if opts.float_absolute < _SINGLE_LOW:
        in_range = exp.And(this=in_range, expression=exp.Not(this=below(_SINGLE_LOW)))
    common = case((zero, _double(0.0, dialect)), (in_range, x.copy()))
    single = cast(cast(x.copy(), "real", dialect), "double", dialect)
    others: list[tuple[exp.Expression, exp.Expression]] = []
    if opts.float_absolute < _SINGLE_LOW:
        others.append((below(_SINGLE_LOW), scaled(x.copy(), 2.0**100, "_")))
    others += [
        (below(_FIXED_BELOW), _shortest(single, dialect)),
        (below(_SINGLE_HIGH), scaled(single.copy(), 2.0**-100, "~")),
        (below(math.inf), scaled(x.copy(), 2.0**-1000, "^")),
    ]
    if dialect == "postgres":
        rest = case(*others, default=to_text(x.copy(), dialect))  # NaN, Infinity, -Infinity, NULL
    else:
        others += [
            (fn("ISNAN", x.copy()), s("NaN")),
            (exp.GT(this=x.copy(), expression=n(0)), s("Infinity")),
            (exp.LT(this=x.copy(), expression=n(0)), s("-Infinity")),
        ]
        rest = case(*others)  # NULL for NULL
    return fn("COALESCE", _single_shortest(cast(common, "real", dialect), dialect), rest)


def _printed_float(column: exp.Expression, dialect: str, options: NormalizeOptions | None) -> exp.Expression:
    """`%.<float_digits>g` of the double: PostgreSQL's float8 output under pinned_settings, DuckDB's
    PRINTF, with NaN and the infinities spelt as PostgreSQL does; `0` for zero and below the tolerance."""
    opts = options or NormalizeOptions()
    x = cast(column, "double", dialect)
    zero: Any = exp.EQ(this=x, expression=n(0))
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
    pair = pair_form(compared, dialect, peer, options)
    if pair == "printed_single":
        return _printed_single(column, dialect, options)
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
    pads: Sequence[int | None] | None = None,
) -> exp.Expression:
    """The canonical row text (as `row_text_expr`) of (column, declared type, compared type) triples,
    each column by `cheap_canonical_expr` (with `peer`: pair forms where there are; `pads`: per
    column, the n of the padded CHAR form, see `padded_char`). DuckDB joins them with one variadic CONCAT, which builds
    the row text once, where a chain of `||` copies it at every column (about twice as fast on 18
    columns); the parts are never NULL, so both give the same text."""
    if not columns:
        raise ValueError("a row hash needs at least one column")
    parts: list[exp.Expression] = []
    texts: list[exp.Expression] = []
    for i, (column, declared, compared) in enumerate(columns):
        if i:
            parts.append(s(SEPARATOR))
        pad = pads[i] if pads is not None else None
        if pad is not None:
            text = padded_char(column, declared, dialect, pad)
            own = dialect == "postgres" and declared.fixed_length  # CONCAT_WS prints a CHAR(n) padded
        else:
            text = cheap_canonical_expr(column, declared, compared, dialect, options, peer)
            own = _prints_itself(declared, compared, dialect, options) and pair_form(compared, dialect, peer, options) is None
        texts.append(column.copy() if own else text.copy())
        parts.append(exp.Coalesce(this=text, expressions=[s(NULL_MARKER)]))
    if dialect == "duckdb" and len(parts) > 1:
        return fn("CONCAT", *parts)
    if dialect == "postgres":
        any_null = exp.or_(*(exp.Is(this=column.copy(), expression=exp.Null()) for column, _, _ in columns))
        return exp.Case(ifs=[exp.If(this=any_null, true=concat(parts))], default=_concat_ws(texts))
    return concat(parts)


def padded_char(column: exp.Expression, declared: LogicalType, dialect: str, n: int) -> exp.Expression:
    """A pair form of strings compared as fixed-length (`Plan.char_pad`: a PostgreSQL CHAR(n) on one
    side or both, of one n): the value padded with spaces to n characters. PostgreSQL prints a CHAR(n)
    padded by itself (its output function: no trim, ~10 % of a scan with two CHAR(1) flags), so the
    other side pads its trimmed text; one longer than n keeps its trimmed text (no CHAR(n) holds it).
    Equal texts <=> equal canonical texts (trimmed), both ways."""
    if dialect == "postgres" and declared.fixed_length:
        return fn("TEXTIN", fn("BPCHAROUT", column.copy()))  # the padded text, NULL for NULL
    trimmed = fn("RTRIM", to_text(column.copy(), dialect), s(" "))
    fits = exp.LTE(this=fn("LENGTH", trimmed.copy()), expression=exp.Literal.number(n))
    return case((fits, fn("RPAD", trimmed.copy(), exp.Literal.number(n), s(" "))), default=trimmed)


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
