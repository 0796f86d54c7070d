"""The canonical text and row hash are the same in PostgreSQL, DuckDB and Snowflake (fakesnow) as in
the Python reference, value by value; T-SQL renderings parse back with sqlglot's tsql dialect."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest
import sqlglot
from sqlglot import exp

from ombudsman.engine.connectors import Connector, connect
from ombudsman.engine.normalize import (
    LogicalType,
    NormalizeOptions,
    canonical_expr,
    canonical_text,
    row_hash,
    row_hash_expr,
)
from ombudsman.engine.rowdiff.capabilities import uses_fakesnow_hash
from tests.engine.normalize.sqlvalues import literal

TZ_PLUS2 = dt.timezone(dt.timedelta(hours=2))
TZ_MINUS5 = dt.timezone(dt.timedelta(hours=-5))
BASE_FLOAT = 1234.5678


@dataclass
class Case:
    name: str
    logical: LogicalType
    types: dict[str, str]  # dialect -> column type
    values: list[Any]
    options: NormalizeOptions = field(default_factory=NormalizeOptions)


def _same(sql_type: str) -> dict[str, str]:
    return {"postgres": sql_type, "duckdb": sql_type, "snowflake": sql_type}


CASES = [
    Case("integer", LogicalType("integer"), {"postgres": "BIGINT", "duckdb": "BIGINT", "snowflake": "NUMBER(38,0)"},
         [0, -42, 9007199254740993, None]),
    Case("decimal", LogicalType("decimal", scale=2), {"postgres": "NUMERIC(12,2)", "duckdb": "DECIMAL(12,2)", "snowflake": "NUMBER(12,2)"},
         [Decimal("12.50"), Decimal("-0.05"), Decimal("0"), Decimal("9999999999.99"), None]),
    Case("decimal_at_wider_scale", LogicalType("decimal", scale=4), {"postgres": "NUMERIC(12,2)", "duckdb": "DECIMAL(12,2)", "snowflake": "NUMBER(12,2)"},
         [Decimal("12.5"), Decimal("-7.25"), None]),
    Case("float", LogicalType("float"), {"postgres": "DOUBLE PRECISION", "duckdb": "DOUBLE", "snowflake": "FLOAT"},
         [BASE_FLOAT, BASE_FLOAT * (1 + 1e-7), BASE_FLOAT * (1 - 1e-7), BASE_FLOAT * 1.0001, -0.000123456789, 1e300, 0.0,
          999999.9999, 1e22, 1000.0, 0.001, 123456789012.0, float("nan"), float("inf"), float("-inf"), None]),
    Case("boolean", LogicalType("boolean"), _same("BOOLEAN"), [True, False, None]),
    Case("string", LogicalType("string"), _same("VARCHAR(100)"),
         ["", "abc", "trailing  ", "héllo wörld ✓ 日本語 🎉", "a'b\\c", "MiXeD", None]),
    Case("string_trimmed_casefolded", LogicalType("string"), _same("VARCHAR(100)"),
         ["", "trailing  ", "MiXeD Case ", "ÄÖÜ", None], NormalizeOptions(trim_strings=True, casefold_strings=True)),
    Case("char", LogicalType("string", fixed_length=True), _same("CHAR(10)"), ["ab", "", " a b ", None]),
    Case("date", LogicalType("date"), _same("DATE"), [dt.date(2024, 2, 29), dt.date(1900, 1, 1), None]),
    Case("time", LogicalType("time"), _same("TIME"), [dt.time(1, 2, 3, 500000), dt.time(23, 59, 59, 999999), dt.time(0, 0), None]),
    Case("timestamp", LogicalType("timestamp"), {"postgres": "TIMESTAMP", "duckdb": "TIMESTAMP", "snowflake": "TIMESTAMP_NTZ"},
         [dt.datetime(2024, 1, 2, 3, 4, 5, 123456), dt.datetime(2024, 1, 2), None]),
    Case("timestamp_tz", LogicalType("timestamp_tz"), {"postgres": "TIMESTAMPTZ", "duckdb": "TIMESTAMPTZ", "snowflake": "TIMESTAMP_TZ"},
         [dt.datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=TZ_PLUS2), dt.datetime(2024, 12, 31, 23, 30, tzinfo=TZ_MINUS5),
          dt.datetime(2024, 6, 1, 12, 0, tzinfo=dt.UTC), None]),
    Case("binary", LogicalType("binary"), {"postgres": "BYTEA", "duckdb": "BLOB", "snowflake": "BINARY"},
         [b"", b"\x00\xab\xff", b"abc", None]),
    Case("uuid", LogicalType("uuid"), {"postgres": "UUID", "duckdb": "UUID", "snowflake": "VARCHAR(36)"},
         [uuid.UUID("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"), uuid.UUID(int=0), None]),
]


@pytest.fixture(params=["postgres", "duckdb", "fakesnow"])
def db_url(request: pytest.FixtureRequest) -> str:
    fixture = {"postgres": "database_url", "duckdb": "duckdb_url", "fakesnow": "fakesnow_url"}[request.param]
    return str(request.getfixturevalue(fixture))


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Connector]:
    async with connect(db_url) as connector:
        yield connector


def _literal_value(value: Any, sql_type: str, dialect: str) -> str:
    if isinstance(value, uuid.UUID) and sql_type.startswith("VARCHAR"):
        value = str(value).upper()  # Snowflake keeps UUIDs as text, here in upper case
    return literal(value, sql_type, dialect)


async def test_canonical_text_and_row_hash_match_the_reference(db: Connector) -> None:
    fakesnow = await uses_fakesnow_hash(db)
    for index, case in enumerate(CASES):
        sql_type = case.types[db.dialect]
        table = f"norm_{index}"
        await db.execute(f"CREATE TABLE {table} (id INT, v {sql_type})")
        rows = ", ".join(f"({i}, {_literal_value(v, sql_type, db.dialect)})" for i, v in enumerate(case.values))
        await db.execute(f"INSERT INTO {table} VALUES {rows}")
        column = exp.column("v")
        id_column = (exp.column("id"), LogicalType("integer"))
        query = exp.select(
            exp.column("id"),
            canonical_expr(column, case.logical, db.dialect, case.options).as_("canon"),
            row_hash_expr([id_column, (column, case.logical)], db.dialect, case.options, fakesnow=fakesnow).as_("h"),
        ).from_(table).order_by("id")
        got = (await db.fetch(query.sql(dialect=db.dialect))).to_pylist()
        assert len(got) == len(case.values), case.name
        for row, value in zip(got, case.values, strict=True):
            row = {k.lower(): v for k, v in row.items()}
            expected_text = canonical_text(value, case.logical, case.options)
            assert row["canon"] == expected_text, (case.name, value)
            expected_hash = row_hash([row["id"], value], [LogicalType("integer"), case.logical], case.options)
            assert int(row["h"]) == expected_hash, (case.name, value)


async def test_float_noise_is_not_a_difference_but_a_change_is(db: Connector) -> None:
    values = [BASE_FLOAT, BASE_FLOAT * (1 + 1e-7), BASE_FLOAT * (1 - 1e-7), BASE_FLOAT * 1.0001, 0.1, 0.1 + 1e-8, 0.1 * 1.01]
    ftype = {"postgres": "DOUBLE PRECISION", "duckdb": "DOUBLE", "snowflake": "FLOAT"}[db.dialect]
    await db.execute(f"CREATE TABLE f (id INT, v {ftype})")
    await db.execute("INSERT INTO f VALUES " + ", ".join(f"({i}, {v!r})" for i, v in enumerate(values)))
    query = exp.select(canonical_expr(exp.column("v"), LogicalType("float"), db.dialect).as_("c")).from_("f").order_by("id")
    texts = [next(iter(r.values())) for r in (await db.fetch(query.sql(dialect=db.dialect))).to_pylist()]
    assert texts[0] == texts[1] == texts[2] == "123457e-2"
    assert texts[3] != texts[0]
    assert texts[4] == texts[5] == "100000e-6"
    assert texts[6] != texts[4]


def test_empty_string_null_and_separators_are_distinct() -> None:
    string = LogicalType("string")
    hashes = {
        row_hash(values, [string, string])
        for values in (["", None], [None, ""], ["", ""], [None, None], ["a", "b"], [*["a\x1fb", None][:1], ""], ["ab", ""])
    }
    assert len(hashes) == 7


def test_reference_examples() -> None:
    assert canonical_text(Decimal("-0.001"), LogicalType("decimal", scale=2)) == "0.00"
    assert canonical_text(1e-7, LogicalType("float")) == "100000e-12"
    assert canonical_text(-2.5, LogicalType("float"), NormalizeOptions(float_digits=1)) == "-3e0"
    assert canonical_text(dt.datetime(2024, 12, 31, 23, 30, tzinfo=TZ_MINUS5), LogicalType("timestamp_tz")) == "2025-01-01 04:30:00.000000"
    assert canonical_text(True, LogicalType("boolean")) == "1"
    assert canonical_text(b"\x0a", LogicalType("binary")) == "0a"


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_tsql_rendering_parses_back(case: Case) -> None:
    columns = [(exp.column("id", quoted=True), LogicalType("integer")), (exp.column("v", quoted=True), case.logical)]
    for expression in (
        canonical_expr(columns[1][0], case.logical, "tsql", case.options),
        row_hash_expr(columns, "tsql", case.options),
    ):
        sql = exp.select(expression.as_("x")).from_("t").sql(dialect="tsql")
        # parses as T-SQL, and what sqlglot makes of it is stable (LOG10(x) may come back as LOG(x, 10))
        back = sqlglot.parse_one(sql, read="tsql", error_level=sqlglot.ErrorLevel.RAISE).sql(dialect="tsql")
        assert sqlglot.parse_one(back, read="tsql").sql(dialect="tsql") == back
        assert len(back) >= len(sql) * 0.9
    hashed = row_hash_expr(columns, "tsql", case.options).sql(dialect="tsql")
    assert "HASHBYTES('MD5'" in hashed and "COLLATE Latin1_General_100_BIN2_UTF8" in hashed
    assert "CONVERT(BIGINT, CONVERT(VARBINARY(8), '0' + LEFT(" in hashed


def test_real_snowflake_never_gets_the_fakesnow_rendering() -> None:
    columns = [(exp.column("v"), LogicalType("string"))]
    real = row_hash_expr(columns, "snowflake").sql(dialect="snowflake")
    fake = row_hash_expr(columns, "snowflake", fakesnow=True).sql(dialect="snowflake")
    assert "MD5_NUMBER_UPPER64" in real and "'0x'" not in real
    assert "'0x'" in fake
