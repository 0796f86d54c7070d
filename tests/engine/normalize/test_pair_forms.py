"""The pair forms (normalize.cheap): a float's single-precision text (or `%.<digits>g` beyond 7 digits)
and a timestamp's own text print the same
text in PostgreSQL (the row diff's pinned read session) and DuckDB for every value — random doubles of
every magnitude, ties at the last digit, subnormals, zeros, the tolerance's edge, NaN and infinities;
timestamps of every year, every fraction length, and the years outside 1..9999 (canonical form)."""

from __future__ import annotations

import datetime as dt
import math
import random
import struct
from collections.abc import Sequence
from typing import Any

import asyncpg
import duckdb
import numpy as np
import pytest
from sqlglot import exp

from ombudsman.engine.connectors import connect
from ombudsman.engine.normalize import LogicalType, NormalizeOptions, floats_equal
from ombudsman.engine.normalize.cheap import (
    SINGLE_DIGITS,
    cheap_canonical_expr,
    cheap_row_text_expr,
    pair_form,
)
from ombudsman.engine.rowdiff.scan import session_settings

FLOAT, TS, TZ = LogicalType("float"), LogicalType("timestamp"), LogicalType("timestamp_tz")
EPOCH = dt.datetime(1970, 1, 1)


def _doubles(seed: int, count: int) -> list[float]:
    """Random finite bit patterns, short decimals, ties at the 7th and 16th digit, single-precision
    values and the midpoints between two of them, short binary fractions (ties of the shortest
    single-precision text), and the edges."""
    rng = random.Random(seed)
    values: list[float] = []
    while len(values) < count:
        kind = len(values) % 6
        if kind == 5:  # a short binary fraction: at 6 integer digits a tie between two shortest texts (383680.625)
            values.append(rng.randint(-2**24, 2**24) / 2 ** rng.randint(0, 14))
        elif kind == 4:  # a single-precision value, or the midpoint between it and the next one up
            bits = rng.getrandbits(31)
            low, high = (struct.unpack("<f", (b | (rng.getrandbits(1) << 31)).to_bytes(4, "little"))[0] for b in (bits, bits + 1))
            if math.isfinite(low) and math.isfinite(high):
                values.append(rng.choice((low, (low + high) / 2)))
        elif kind == 0:
            x = struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))[0]
            if math.isfinite(x):
                values.append(x)
        elif kind == 1:
            values.append(float(f"{rng.randint(1, 9_999_999)}e{rng.randint(-14, 14)}") * rng.choice((1, -1)))
        elif kind == 2:
            values.append(float(f"{rng.randint(100_000, 999_999)}5e{rng.randint(-20, 20)}"))
        else:
            values.append(float(f"{rng.randint(10**14, 10**15 - 1)}5e{rng.randint(-30, 30)}"))
    return [*values, 0.0, -0.0, 5e-324, -5e-324, 2.2250738585072014e-308, 1.7976931348623157e308, 1e-9, -1e-9,
            9.99e-10, -1e-10, 123456.5, 1234565.0, 0.1 + 0.2, 2.5, -2.5, 1e15, 1e16, 1e22, 999999.5, 3.4e38, 3.3999999e38, 1.2e-38, 1.1999999e-38, 999999999999999.9,
            float("nan"), float("inf"), float("-inf")]


def _shortest(x: float) -> str:
    """PostgreSQL's float8 output (extra_float_digits 1) of a double below 1e15: Python's repr
    without the `.0` of an integer."""
    text = repr(x)
    return text[:-2] if text.endswith(".0") else text


def _float_reference(x: float | None, options: NormalizeOptions) -> str | None:
    if x is None:
        return None
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    if x == 0 or abs(x) < options.float_absolute:
        return "0"
    if options.float_digits > SINGLE_DIGITS:
        return f"%.{options.float_digits}g" % x
    if abs(x) < 1.2e-38:
        return "_" + _shortest(x * 2.0**100)
    if abs(x) >= 3.4e38:
        return "^" + _shortest(x * 2.0**-1000)
    single = struct.unpack("<f", struct.pack("<f", x))[0]  # rounded to nearest
    if abs(x) < 1e6:  # PostgreSQL's float4 output: the shortest digits, exponential below 1e-4
        if abs(single) < 1e-4:
            return np.format_float_scientific(np.float32(single), unique=True, trim="-", exp_digits=2)
        return np.format_float_positional(np.float32(single), unique=True, trim="-")
    return _shortest(single) if abs(x) < 1e15 else "~" + _shortest(single * 2.0**-100)


def _micros(seed: int, count: int) -> list[int]:
    """Microseconds since 1970 of random instants of the years 1 to 9999 (a third on whole seconds,
    some with short fractions), the range's edges, and instants outside it (BC, year 10000)."""
    rng = random.Random(seed)
    low = int((dt.datetime(1, 1, 1) - EPOCH).total_seconds()) * 10**6
    high = int((dt.datetime(9999, 12, 31, 23, 59, 59) - EPOCH).total_seconds()) * 10**6 + 999_999
    values = []
    for i in range(count):
        us = rng.randrange(low, high + 1)
        if i % 3 == 0:
            us -= us % 10**6
        elif i % 3 == 1:
            us -= us % 10**6 - rng.choice((500_000, 120_000, 100, 1, 999_999, 10, 123_400))
        values.append(us)
    edges = [low, low + 1, high, high + 1, high + 10**6 * 86_400 * 400, low - 1, low - 10**6 * 86_400 * 365 * 44]
    return values + edges


def _timestamp_reference(us: int) -> str | None:
    """The pair text of an instant of the years 1 to 9999 (None elsewhere: the canonical form)."""
    try:
        t = EPOCH + dt.timedelta(microseconds=us)
    except OverflowError:
        return None
    text = f"{t.year:04d}-{t.month:02d}-{t.day:02d} {t.hour:02d}:{t.minute:02d}:{t.second:02d}"
    return text + f".{t.microsecond:06d}".rstrip("0") if t.microsecond else text


async def _postgres_texts(database_url: str, table_sql: str, values: Sequence[Any], expression: exp.Expression,
                          options: NormalizeOptions) -> list[str]:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("DROP TABLE IF EXISTS pair_values")
        await conn.execute(f"CREATE TABLE pair_values AS {table_sql}", list(values))
    finally:
        await conn.close()
    query = exp.select(expression.as_("t")).from_("pair_values").order_by("i").sql(dialect="postgres")
    async with connect(database_url) as pg, pg.read_session(session_settings("postgres", options)) as session:
        assert session.settings_pinned
        return [row[0] for row in await session.fetch_rows(query)]


def _duckdb_texts(table_sql: str, values: Sequence[Any], expression: exp.Expression) -> list[str]:
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute(f"CREATE TABLE pair_values AS {table_sql}", [list(values)])
        query = exp.select(expression.as_("t")).from_("pair_values").order_by("i").sql(dialect="duckdb")
        return [row[0] for row in con.execute(query).fetchall()]
    finally:
        con.close()


@pytest.mark.parametrize("options", [NormalizeOptions(), NormalizeOptions(float_digits=15, float_absolute=0),
                                     NormalizeOptions(float_digits=1, float_absolute=1e-3),
                                     NormalizeOptions(float_absolute=0), NormalizeOptions(float_digits=8)],
                         ids=["default", "15", "1", "no-absolute", "8"])
async def test_a_float_prints_alike_in_postgres_and_duckdb(database_url: str, options: NormalizeOptions) -> None:
    values: list[float | None] = [*_doubles(options.float_digits, 6000), None]
    column = exp.column("x")
    texts = {}
    for dialect, peer in (("postgres", "duckdb"), ("duckdb", "postgres")):
        expression = cheap_canonical_expr(column, FLOAT, FLOAT, dialect, options, peer)
        assert "LOG" not in expression.sql(dialect=dialect)  # not the canonical form
        texts[dialect] = (
            await _postgres_texts(database_url, "SELECT x, i FROM unnest($1::float8[]) WITH ORDINALITY AS t(x, i)",
                                  values, expression, options)
            if dialect == "postgres"
            else _duckdb_texts("SELECT unnest($1::DOUBLE[]) AS x, generate_subscripts($1::DOUBLE[], 1) AS i", values, expression)
        )
    expected = [_float_reference(x, options) for x in values]
    assert texts["postgres"] == expected
    assert texts["duckdb"] == expected


@pytest.mark.parametrize("compared", [TS, TZ], ids=["timestamp", "timestamptz"])
async def test_a_timestamp_prints_alike_in_postgres_and_duckdb(database_url: str, compared: LogicalType) -> None:
    values = _micros(11, 6000)
    column = exp.column("x")
    pg_type, duck_cast = ("timestamptz", "CAST({} AS TIMESTAMPTZ)") if compared == TZ else ("timestamp", "{}")
    # seconds and microseconds apart: an interval times a bigint goes through a double
    pg_table = (f"SELECT CAST(TIMESTAMP 'epoch' + (us / 1000000) * INTERVAL '1 second' + (us % 1000000) * INTERVAL '1 microsecond' AS {pg_type}) AS x, i "
                "FROM unnest($1::bigint[]) WITH ORDINALITY AS t(us, i)")
    duck_table = (f"SELECT {duck_cast.format('make_timestamp(us)')} AS x, i FROM "
                  "(SELECT unnest($1::BIGINT[]) AS us, generate_subscripts($1::BIGINT[], 1) AS i)")
    pg = await _postgres_texts(database_url, pg_table, values,
                               cheap_canonical_expr(column, compared, compared, "postgres", None, "duckdb"), NormalizeOptions())
    duck = _duckdb_texts(duck_table, values, cheap_canonical_expr(column, compared, compared, "duckdb", None, "postgres"))
    assert pg == duck
    expected = [_timestamp_reference(us) for us in values]
    assert [text for text, reference in zip(pg, expected, strict=True) if reference is not None] == [r for r in expected if r]
    outside = [text for text, reference in zip(pg, expected, strict=True) if reference is None]
    days = [(us // 10**6) // 86_400 for us, reference in zip(values, expected, strict=True) if reference is None]
    assert [text.split(" ")[0] for text in outside] == [str(d) for d in days] and len(days) == 4


async def test_infinite_timestamps_print_alike(database_url: str) -> None:
    column = exp.column("x")
    for compared in (TS, TZ):
        kind = "TIMESTAMPTZ" if compared == TZ else "TIMESTAMP"
        table = f"SELECT CAST(v AS {kind}) AS x, i FROM (VALUES ('infinity', 1), ('-infinity', 2)) AS t(v, i)"
        conn = await asyncpg.connect(database_url)
        try:
            await conn.execute(f"DROP TABLE IF EXISTS pair_values; CREATE TABLE pair_values AS {table}")
        finally:
            await conn.close()
        query = exp.select(cheap_canonical_expr(column, compared, compared, "postgres", None, "duckdb").as_("t"))
        async with connect(database_url) as pg, pg.read_session(session_settings("postgres")) as session:
            pg_texts = [r[0] for r in await session.fetch_rows(query.from_("pair_values").order_by("i").sql(dialect="postgres"))]
        con = duckdb.connect()
        con.execute(f"CREATE TABLE pair_values AS {table}")
        duck_query = exp.select(cheap_canonical_expr(column, compared, compared, "duckdb", None, "postgres").as_("t"))
        duck_texts = [r[0] for r in con.execute(duck_query.from_("pair_values").order_by("i").sql(dialect="duckdb")).fetchall()]
        assert pg_texts == duck_texts == ["infinity", "-infinity"]


def test_pair_forms_only_between_postgres_and_duckdb_and_by_the_compared_type_alone() -> None:
    for dialect, peer in (("postgres", "duckdb"), ("duckdb", "postgres"), ("postgres", "postgres"), ("duckdb", "duckdb")):
        assert pair_form(FLOAT, dialect, peer) == "printed_single"  # float_digits 6
        assert pair_form(FLOAT, dialect, peer, NormalizeOptions(float_digits=8)) == "printed_float"
        assert pair_form(TS, dialect, peer) == pair_form(TZ, dialect, peer) == "printed_timestamp"
        assert pair_form(LogicalType("date"), dialect, peer) is None
    for dialect, peer in (("postgres", "snowflake"), ("snowflake", "postgres"), ("duckdb", "tsql"), ("postgres", None)):
        assert pair_form(FLOAT, dialect, peer) is None and pair_form(TS, dialect, peer) is None
    # a float column in a PostgreSQL row without NULLs is not printed by its own output in CONCAT_WS
    text = cheap_row_text_expr([(exp.column("id"), LogicalType("integer"), LogicalType("integer")),
                                (exp.column("x"), FLOAT, FLOAT)], "postgres", None, "duckdb").sql(dialect="postgres")
    assert "CONCAT_WS(" in text and "LOG10" not in text and "CAST(CAST(x AS DOUBLE PRECISION) AS REAL)" in text
    # without a peer: the canonical form as before
    assert "LOG10" in cheap_row_text_expr([(exp.column("x"), FLOAT, FLOAT)], "postgres").sql(dialect="postgres")


@pytest.mark.parametrize("digits", [6, 7])
def test_a_single_precision_text_never_hides_a_difference(digits: int) -> None:
    """Two doubles printing the same single-precision text are equal under the tolerance, and a change
    just beyond the tolerance always changes the text (the form only ever makes the leaf look twice)."""
    options = NormalizeOptions(float_digits=digits)
    rng = random.Random(digits)
    relative = 10.0 ** (1 - digits)
    for x in _doubles(digits, 20_000):
        if not math.isfinite(x) or abs(x) < 1e-3 or abs(x) > 1e30:
            continue
        for y in (x * (1 + relative * 1.001), x * (1 - relative * 1.001), x * (1 + relative * rng.uniform(1.001, 100))):
            assert not floats_equal(x, y, options)
            assert _float_reference(x, options) != _float_reference(y, options), (x, y)
        close = x * (1 + rng.uniform(-1, 1) * 2.0**-26)
        if _float_reference(x, options) == _float_reference(close, options):
            assert floats_equal(x, close, options)


@pytest.mark.parametrize("n", [1, 5])
async def test_a_padded_char_is_equal_exactly_when_the_trimmed_texts_are(database_url: str, n: int) -> None:
    """PostgreSQL CHAR(n) printed with its padding against DuckDB strings padded to n: two values print
    the same padded text if and only if their trimmed (canonical) texts are equal, whatever spaces
    either side kept; a string longer than n (DuckDB only) never meets a CHAR(n)."""
    char, varchar = LogicalType("string", fixed_length=True, length=n), LogicalType("string")
    values = ["", " ", "a", "a ", "ab", "ab  ", "abcde", "abcde ", "abcdef", "abcdef  ", "é", "é    ", " a", "x\t"]
    held = [v for v in values if len(v.rstrip(" ")) <= n]
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("DROP TABLE IF EXISTS pad_values")
        await conn.execute(f"CREATE TABLE pad_values AS SELECT CAST(x AS CHAR({n})) AS x, i FROM unnest($1::text[]) "
                           "WITH ORDINALITY AS t(x, i)", held)
    finally:
        await conn.close()
    column = exp.column("x")
    pg_query = exp.select(cheap_row_text_expr([(column, char, char)], "postgres", None, "duckdb", [n]).as_("t"))
    async with connect(database_url) as pg, pg.read_session(session_settings("postgres")) as session:
        pg_texts = [r[0] for r in await session.fetch_rows(pg_query.from_("pad_values").order_by("i").sql(dialect="postgres"))]
    duck_texts = _duckdb_texts("SELECT unnest($1::VARCHAR[]) AS x, generate_subscripts($1::VARCHAR[], 1) AS i", values,
                               cheap_row_text_expr([(column, varchar, char)], "duckdb", None, "postgres", [n]))
    assert all(len(text) == n for text in pg_texts)
    for held_value, pg_text in zip(held, pg_texts, strict=True):
        for value, duck_text in zip(values, duck_texts, strict=True):
            assert (pg_text == duck_text) == (held_value.rstrip(" ") == value.rstrip(" ")), (held_value, value, pg_text, duck_text)
