"""The cheapest canonical text per column type pair gives exactly the canonical text (and row hash)
of the reference, value by value, in PostgreSQL (under the read session's pinned settings, even on
a database whose default DateStyle is not ISO), DuckDB and Snowflake (fakesnow)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

from sqlglot import exp

from ombudsman.engine.connectors import Connector, connect
from ombudsman.engine.normalize import (
    LogicalType,
    NormalizeOptions,
    canonical_text,
    hash_text_expr,
    logical_type,
    row_hash,
)
from ombudsman.engine.normalize.cheap import (
    cheap_canonical_expr,
    cheap_form,
    cheap_row_text_expr,
    prints_canonically,
)
from ombudsman.engine.normalize.sql import canonical_expr
from ombudsman.engine.rowdiff.capabilities import uses_fakesnow_hash
from ombudsman.engine.rowdiff.scan import session_settings
from tests.engine.normalize.test_normalize_dialects import CASES, Case, _literal_value, db, db_url  # noqa: F401  (fixtures)

INTEGER = LogicalType("integer")


async def _load(connector: Connector) -> None:
    dialect = connector.dialect
    for index, case in enumerate(CASES):
        sql_type = case.types[dialect]
        await connector.execute(f"CREATE TABLE cheap_{index} (id INT, v {sql_type})")
        rows = ", ".join(f"({i}, {_literal_value(v, sql_type, dialect)})" for i, v in enumerate(case.values))
        await connector.execute(f"INSERT INTO cheap_{index} VALUES {rows}")


async def _check(connector: Connector, fetch_rows: Callable[[str], Awaitable[list[tuple[Any, ...]]]]) -> int:
    """Every case's cheap text and cheap row hash against the reference; how many columns were cheap."""
    fakesnow, dialect = await uses_fakesnow_hash(connector), connector.dialect
    cheap_columns = 0
    for index, case in enumerate(CASES):
        declared = logical_type(case.types[dialect])
        cheap_columns += cheap_form(declared, case.logical, dialect) is not None
        column = exp.column("v")
        text = cheap_row_text_expr([(exp.column("id"), INTEGER, INTEGER), (column, declared, case.logical)], dialect, case.options)
        query = exp.select(
            exp.column("id"),
            cheap_canonical_expr(column, declared, case.logical, dialect, case.options).as_("canon"),
            hash_text_expr(text, dialect, fakesnow=fakesnow).as_("h"),
        ).from_(f"cheap_{index}").order_by("id")
        got = await fetch_rows(query.sql(dialect=dialect))
        assert len(got) == len(case.values), case.name
        for (row_id, canon, hashed), value in zip(got, case.values, strict=True):
            assert canon == canonical_text(value, case.logical, case.options), (case.name, value)
            assert int(hashed) == row_hash([row_id, value], [INTEGER, case.logical], case.options), (case.name, value)
    return cheap_columns


async def test_cheap_text_is_the_canonical_text(db: Connector) -> None:  # noqa: F811
    await _load(db)
    await _load_wide(db)
    if db.dialect == "postgres":
        # a database whose sessions print dates otherwise: only the pinned session may use the cheap forms
        await db.execute(
            "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET DateStyle = %L', current_database(), 'SQL, DMY'); END $$"
        )
        async with connect(db.url) as fresh:
            assert (await fresh.fetch_rows("SELECT CAST(DATE '2024-02-29' AS TEXT)")) == [("29/02/2024",)]
            async with fresh.read_session(session_settings("postgres")) as session:
                # date, same-scale decimal, CHAR(n), timestamp and timestamptz (padded text)
                assert await _check(fresh, session.fetch_rows) == 5
                await _check_wide(fresh, session.fetch_rows)
        return
    await _check_wide(db, db.fetch_rows)
    assert await _check(db, db.fetch_rows) == (2 if db.dialect == "duckdb" else 0)


def _wide_cases() -> list[Case]:
    return [c for c in CASES if c.options == NormalizeOptions()]


async def _load_wide(connector: Connector) -> None:
    """Every case's column side by side in one table, row r as `_wide_row`."""
    dialect, cases = connector.dialect, _wide_cases()
    columns = ", ".join(f"v{i} {c.types[dialect]}" for i, c in enumerate(cases))
    await connector.execute(f"CREATE TABLE cheap_wide (id INT, {columns})")
    for r in range(max(len(c.values) for c in cases)):
        literals = ", ".join(_literal_value(v, c.types[dialect], dialect) for v, c in zip(_wide_row(cases, r), cases, strict=True))
        await connector.execute(f"INSERT INTO cheap_wide VALUES ({r}, {literals})")


async def _check_wide(connector: Connector, fetch_rows: Callable[[str], Awaitable[list[tuple[Any, ...]]]]) -> None:
    """The cheap row hash of whole rows of the wide table (PostgreSQL: one CONCAT_WS when the row has
    no NULL, the chain otherwise) equals the reference's, for rows with and without NULLs."""
    dialect, fakesnow, cases = connector.dialect, await uses_fakesnow_hash(connector), _wide_cases()
    rows = max(len(c.values) for c in cases)
    triples = [(exp.column("id"), INTEGER, INTEGER)] + [
        (exp.column(f"v{i}"), logical_type(c.types[dialect]), c.logical) for i, c in enumerate(cases)
    ]
    text = cheap_row_text_expr(triples, dialect)
    if dialect == "postgres":
        assert "CONCAT_WS(" in text.sql(dialect=dialect)
    query = exp.select(exp.column("id"), hash_text_expr(text, dialect, fakesnow=fakesnow).as_("h")).from_("cheap_wide").order_by("id")
    got = await fetch_rows(query.sql(dialect=dialect))
    assert len(got) == rows
    types = [INTEGER] + [c.logical for c in cases]
    for r, (row_id, hashed) in enumerate(got):
        values = _wide_row(cases, r)
        assert int(hashed) == row_hash([row_id, *values], types), (r, values)


def _wide_row(cases: list[Any], r: int) -> list[Any]:
    """Row r of the wide table: each case's value r while it has non-NULL ones (each case's list ends
    with its NULL), then NULL: row 0 has no NULL, later rows more and more, the last only NULLs."""
    return [c.values[r] if r < len(c.values) - 1 else None for c in cases]


def test_which_pairs_print_canonically() -> None:
    date, dec2, dec4 = LogicalType("date"), LogicalType("decimal", scale=2), LogicalType("decimal", scale=4)
    for dialect in ("postgres", "duckdb"):
        assert prints_canonically(date, date, dialect)
        assert prints_canonically(dec2, dec2, dialect)
        assert not prints_canonically(dec2, dec4, dialect)  # a wider pair scale: cast to it
        assert not prints_canonically(LogicalType("decimal", scale=None), LogicalType("decimal", scale=6), dialect)
        assert not prints_canonically(date, LogicalType("timestamp"), dialect)  # date vs timestamp pair
        assert not prints_canonically(LogicalType("timestamp"), LogicalType("timestamp"), dialect)
    for dialect in ("snowflake", "tsql"):  # output formats not pinned there: the general form
        assert not prints_canonically(date, date, dialect)
        assert not prints_canonically(dec2, dec2, dialect)
    ts, tz = LogicalType("timestamp"), LogicalType("timestamp_tz")
    assert cheap_form(ts, ts, "postgres") == cheap_form(tz, tz, "postgres") == "padded_timestamp"
    assert cheap_form(date, ts, "postgres") is None  # a date compared as a timestamp: the general form
    assert cheap_form(ts, tz, "postgres") is None
    assert cheap_form(dec2, dec2, "postgres") == "text"
    for dialect in ("duckdb", "snowflake", "tsql"):
        assert cheap_form(ts, ts, dialect) is None
    assert cheap_form(LogicalType("float"), LogicalType("float"), "postgres") is None
    char, varchar = LogicalType("string", fixed_length=True), LogicalType("string")
    assert cheap_form(char, char, "postgres") == "text"  # bpchar -> text drops the padding itself
    assert cheap_form(varchar, char, "postgres") is None  # a VARCHAR compared with a CHAR: RTRIM
    assert cheap_form(char, char, "duckdb") is None
    folded = NormalizeOptions(casefold_strings=True)
    assert cheap_canonical_expr(exp.column("c"), char, char, "postgres", folded).sql(dialect="postgres") == "LOWER(CAST(c AS TEXT))"


# timestamps whose PostgreSQL text has another shape (BC, five-digit years, infinity) or sits at the
# edges of the padded form's years, and every fraction length from none to six digits
EDGE_TIMESTAMPS = [
    "0001-01-01 00:00:00", "0001-01-01 00:00:00.000001", "0099-12-31 23:59:59.9", "9999-12-31 23:59:59.999999",
    "10000-01-01 00:00:00", "0044-03-15 12:00:00 BC", "infinity", "-infinity", "2024-01-02 03:04:05.12",
    "2024-01-02 03:04:05.123", "2024-01-02 03:04:05.1234", "2024-01-02 03:04:05.12345", "2024-01-02 03:04:05.000010",
]


async def test_postgres_padded_timestamp_is_the_general_form_for_every_value(database_url: str) -> None:
    """The padded text equals TO_CHAR's canonical text on every timestamp PostgreSQL holds (years 1
    to 9999 padded, the rest through the general form), for TIMESTAMP and TIMESTAMPTZ."""
    async with connect(database_url) as pg:
        values = ", ".join(f"('{v}')" for v in EDGE_TIMESTAMPS)
        await pg.execute(f"CREATE TABLE ts_edges AS SELECT CAST(v AS TIMESTAMP) AS ts, CAST(v || CASE WHEN v LIKE '%infinity' "
                         f"THEN '' WHEN v LIKE '% BC' THEN '' ELSE '+05:30' END AS TIMESTAMPTZ) AS tz FROM (VALUES {values}) AS t(v)")
        async with pg.read_session(session_settings("postgres")) as session:
            for column, kind in (("ts", "timestamp"), ("tz", "timestamp_tz")):
                logical = LogicalType(kind)
                assert cheap_form(logical, logical, "postgres") == "padded_timestamp"
                cheap = cheap_canonical_expr(exp.column(column), logical, logical, "postgres")
                general = canonical_expr(exp.column(column), logical, "postgres")
                query = exp.select(cheap.as_("cheap"), general.as_("general")).from_("ts_edges").sql(dialect="postgres")
                rows = await session.fetch_rows(query)
                assert len(rows) == len(EDGE_TIMESTAMPS)
                assert all(cheap_text == general_text for cheap_text, general_text in rows), rows
                # the padded form was used for the ordinary years: six fraction digits
                assert ("2024-01-02 03:04:05.120000" if kind == "timestamp" else "2024-01-01 21:34:05.120000") in {r[0] for r in rows}


async def test_postgres_row_text_of_more_columns_than_one_call_takes(database_url: str) -> None:
    """250 columns (PostgreSQL calls take at most 100 arguments): the nested CONCAT_WS row text hashes
    as the reference, for a row without NULL and a row with one."""
    count = 250
    async with connect(database_url) as pg:
        await pg.execute(f"CREATE TABLE wide250 ({', '.join(f'c{i} BIGINT' for i in range(count))})")
        await pg.execute(f"INSERT INTO wide250 VALUES ({', '.join(str(i * 7) for i in range(count))})")
        await pg.execute(f"INSERT INTO wide250 VALUES ({', '.join('NULL' if i == 120 else str(-i) for i in range(count))})")
        triples = [(exp.column(f"c{i}"), INTEGER, INTEGER) for i in range(count)]
        text = cheap_row_text_expr(triples, "postgres")
        sql = text.sql(dialect="postgres")
        assert sql.count("CONCAT_WS(") == 4  # three groups of at most 99 texts, joined by a fourth call
        query = exp.select(hash_text_expr(text, "postgres").as_("h")).from_("wide250").order_by(exp.column("c1").desc())
        got = [int(row[0]) for row in await pg.fetch_rows(query.sql(dialect="postgres"))]
        rows = [[i * 7 for i in range(count)], [None if i == 120 else -i for i in range(count)]]
        assert got == [row_hash(values, [INTEGER] * count) for values in rows]


async def test_postgres_money_is_never_its_own_text(database_url: str) -> None:
    """PostgreSQL `money` prints `$12.50`: compared as a decimal at scale 4 it takes the general form
    (a cast to DECIMAL(38, 4)), never the plain cast, and hashes as the reference."""
    money = logical_type("money")
    assert money == LogicalType("decimal", scale=4) and cheap_form(money, LogicalType("decimal", scale=4), "postgres") is None
    values = [Decimal("12.5"), Decimal("-0.05"), Decimal("1234567.89"), None]
    async with connect(database_url) as pg:
        await pg.execute("CREATE TABLE cash (id INT, m MONEY)")
        for i, v in enumerate(values):
            await pg.execute(f"INSERT INTO cash VALUES ({i}, {'NULL' if v is None else f'CAST({v} AS MONEY)'})")
        compared = LogicalType("decimal", scale=4)
        text = cheap_row_text_expr([(exp.column("id"), INTEGER, INTEGER), (exp.column("m"), money, compared)], "postgres")
        query = exp.select(hash_text_expr(text, "postgres")).from_("cash").order_by("id").sql(dialect="postgres")
        async with pg.read_session(session_settings("postgres")) as session:
            got = [int(row[0]) for row in await session.fetch_rows(query)]
        assert got == [row_hash([i, v], [INTEGER, compared]) for i, v in enumerate(values)]

