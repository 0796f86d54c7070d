"""sqlglot helpers (quoting, references, parsing, the one-SELECT check, T-SQL parse-back) and the
qmark placeholder scanner that rewrites `?` for asyncpg."""

from __future__ import annotations

import pytest
from sqlglot import exp

from ombudsman.contracts.replies import Invalid
from ombudsman.engine.connectors.params import placeholder_positions, qmark_to_numbered
from ombudsman.engine.dialects import (
    check_tsql,
    dialect_for,
    ensure_single_select,
    parse_one,
    quote_ident,
    render,
    table_expr,
    table_ref,
    transpile,
)


def test_dialect_per_connector_kind() -> None:
    assert [dialect_for(k) for k in ("sqlserver", "snowflake", "postgres", "duckdb", "tsql")] == [
        "tsql",
        "snowflake",
        "postgres",
        "duckdb",
        "tsql",
    ]
    with pytest.raises(Invalid, match="unknown database kind 'oracle'"):
        dialect_for("oracle")


def test_identifiers_are_quoted_and_escaped_per_dialect() -> None:
    assert quote_ident('we"ird', "postgres") == '"we""ird"'
    assert quote_ident("Order]Details", "sqlserver") == "[Order]]Details]"
    assert quote_ident("lower", "snowflake") == '"lower"'
    assert table_ref("dbo", "Order Details", "sqlserver") == "[dbo].[Order Details]"
    assert table_ref("PUBLIC", "ORDERS", "snowflake", database="DB") == '"DB"."PUBLIC"."ORDERS"'
    assert table_ref(None, "t", "duckdb") == '"t"'


def test_rendered_expressions_parse_back_in_each_dialect() -> None:
    query = exp.select(exp.Count(this=exp.Star())).from_(table_expr("sales", "orders", alias="o")).limit(5)
    tsql = render(query, "sqlserver")
    assert tsql.startswith("SELECT TOP 5") and "[sales].[orders] AS [o]" in tsql
    assert len(check_tsql(tsql)) == 1
    for dialect in ("snowflake", "postgres", "duckdb"):
        assert parse_one(render(query, dialect), dialect).find(exp.Limit) is not None


def test_transpile_between_dialects() -> None:
    assert transpile("SELECT TOP 3 [a] FROM [t]", "tsql", "postgres") == 'SELECT "a" FROM "t" LIMIT 3'


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT a FROM t WHERE b = ?",
        "WITH x AS (SELECT 1 AS a) SELECT a FROM x",
        "SELECT a FROM t UNION ALL SELECT a FROM u",
    ],
)
def test_one_read_only_query_is_accepted(sql: str) -> None:
    assert isinstance(ensure_single_select(sql, "postgres"), exp.Query)


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("DELETE FROM t", "must be a SELECT, not DELETE"),
        ("SELECT 1; SELECT 2", "exactly one SELECT statement \\(found 2\\)"),
        ("SELECT * INTO copy FROM t", "may only read: it contains INTO"),
        ("WITH gone AS (DELETE FROM t RETURNING *) SELECT * FROM gone", "may only read: it contains DELETE"),
        ("SELEC nonsense FROM", "not valid postgres SQL"),
        ("", "empty"),
    ],
)
def test_anything_else_is_refused(sql: str, message: str) -> None:
    with pytest.raises(Invalid, match=message):
        ensure_single_select(sql, "postgres")


def test_check_tsql_refuses_what_sqlglot_only_keeps_as_text() -> None:
    with pytest.raises(AssertionError, match="only kept it as text"):
        check_tsql("GO")
    with pytest.raises(Invalid):
        check_tsql("SELECT FROM WHERE")


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT ?, ?", "SELECT $1, $2"),
        ("SELECT '?' , ?", "SELECT '?' , $1"),
        ("SELECT 'it''s ?', ?", "SELECT 'it''s ?', $1"),
        ("SELECT E'\\'?', ?", "SELECT E'\\'?', $1"),
        ('SELECT "col?" FROM t WHERE x = ?', 'SELECT "col?" FROM t WHERE x = $1'),
        ("SELECT ? -- why?\n, ?", "SELECT $1 -- why?\n, $2"),
        ("SELECT /* a /* nested ? */ ? */ ?", "SELECT /* a /* nested ? */ ? */ $1"),
        ("SELECT $$ ? $$, $tag$ ? $tag$, ?", "SELECT $$ ? $$, $tag$ ? $tag$, $1"),
    ],
)
def test_qmark_rewrite_skips_literals_identifiers_comments(sql: str, expected: str) -> None:
    count = len(placeholder_positions(sql))
    assert qmark_to_numbered(sql, [0] * count) == expected


def test_placeholder_count_must_match_the_values() -> None:
    with pytest.raises(Invalid, match="has 2 '\\?' placeholder\\(s\\) but 3 parameter value\\(s\\)"):
        qmark_to_numbered("SELECT ?, ?", [1, 2, 3])
