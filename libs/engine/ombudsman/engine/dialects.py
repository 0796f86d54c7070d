"""The engine's sqlglot helpers: dialect names, quoting, table references, parsing and rendering.

Identifiers are always quoted, so a name is used exactly as the catalog spells it (Snowflake's
unquoted names are upper case, PostgreSQL's and DuckDB's lower case: take names from introspection,
not from memory). Values never go into SQL text: bind them as `?` parameters.
"""

from __future__ import annotations

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

from ombudsman.contracts.replies import Invalid

# connector kind -> sqlglot dialect
DIALECT_BY_KIND: dict[str, str] = {
    "sqlserver": "tsql",
    "snowflake": "snowflake",
    "postgres": "postgres",
    "duckdb": "duckdb",
    "file": "duckdb",  # files read through DuckDB (connectors.files)
}
DIALECTS = tuple(dict.fromkeys(DIALECT_BY_KIND.values()))
# kinds the engine writes types and DDL for without a connector (typemap.DDL_KINDS) -> sqlglot dialect
DDL_DIALECT_BY_KIND: dict[str, str] = {"bigquery": "bigquery", "databricks": "databricks"}


def dialect_for(kind: str) -> str:
    """The sqlglot dialect of a connector kind (`sqlserver` -> `tsql`); a dialect name passes through."""
    if kind in DIALECT_BY_KIND:
        return DIALECT_BY_KIND[kind]
    if kind in DIALECTS:
        return kind
    raise Invalid(f"unknown database kind {kind!r} (known: {', '.join(DIALECT_BY_KIND)})", {"field": "kind"})


def identifier(name: str) -> exp.Identifier:
    """A quoted identifier node."""
    return exp.to_identifier(name, quoted=True)


def quote_ident(name: str, dialect: str) -> str:
    """`name` quoted for `dialect` ("x" for postgres/duckdb/snowflake, [x] for tsql)."""
    return identifier(name).sql(dialect=dialect_for(dialect))


def table_expr(
    schema: str | None, table: str, database: str | None = None, alias: str | None = None
) -> exp.Table:
    """A quoted `[database.][schema.]table` node, optionally aliased."""
    node = exp.Table(
        this=identifier(table),
        db=identifier(schema) if schema else None,
        catalog=identifier(database) if database else None,
    )
    if alias:
        node.set("alias", exp.TableAlias(this=identifier(alias)))
    return node


def table_ref(schema: str | None, table: str, dialect: str, database: str | None = None) -> str:
    """A quoted table reference as SQL text for `dialect`."""
    return table_expr(schema, table, database).sql(dialect=dialect_for(dialect))


def column_expr(name: str, table: str | None = None) -> exp.Column:
    """A quoted column reference, optionally qualified by a table name or alias."""
    return exp.Column(this=identifier(name), table=identifier(table) if table else None)


def render(expression: exp.Expr, dialect: str, *, pretty: bool = False) -> str:
    """SQL text of an expression in `dialect` (unsupported constructs raise instead of degrading)."""
    return expression.sql(
        dialect=dialect_for(dialect), pretty=pretty, unsupported_level=sqlglot.ErrorLevel.RAISE
    )


def parse_one(sql: str, dialect: str) -> exp.Expr:
    """One statement parsed in `dialect`; `Invalid` (with the parser's message) when it does not parse."""
    try:
        expression = sqlglot.parse_one(sql, read=dialect_for(dialect))
    except ParseError as error:
        raise Invalid(f"SQL does not parse as {dialect}: {error}", {"dialect": dialect}) from None
    if expression is None:
        raise Invalid("SQL is empty", {"dialect": dialect})
    return expression


def parse_statements(sql: str, dialect: str) -> list[exp.Expr]:
    """Every statement of a script parsed in `dialect`; `Invalid` when any does not parse."""
    try:
        statements = [s for s in sqlglot.parse(sql, read=dialect_for(dialect)) if s is not None]
    except ParseError as error:
        raise Invalid(f"SQL does not parse as {dialect}: {error}", {"dialect": dialect}) from None
    if not statements:
        raise Invalid("SQL is empty", {"dialect": dialect})
    return statements


def ensure_single_select(sql: str, dialect: str) -> exp.Query:
    """The statement when `sql` is exactly one read-only query over tables (SELECT / UNION /
    WITH ... SELECT, checked by `ombudsman.engine.sqlguard`); `Invalid` otherwise. For user-written
    SQL (custom query steps), checked once more by the connector right before it runs."""
    from ombudsman.engine.sqlguard import check_user_query

    return check_user_query(sql, dialect_for(dialect), "query")


def transpile(sql: str, source: str, target: str) -> str:
    """One statement rewritten from dialect `source` to `target`."""
    return render(parse_one(sql, source), target)


def check_tsql(sql: str) -> list[exp.Expr]:
    """Parse T-SQL (one statement or a script) back with sqlglot's tsql dialect, as the tests of
    SQL Server code do (SQL Server itself cannot run here); `Invalid` when it does not parse, and
    an `AssertionError` when sqlglot parsed part of it as an opaque command."""
    statements = parse_statements(sql, "tsql")
    for statement in statements:
        if isinstance(statement, exp.Command):
            raise AssertionError(
                f"sqlglot could not parse this T-SQL, only kept it as text: {statement.sql()[:200]}"
            )
    return statements
