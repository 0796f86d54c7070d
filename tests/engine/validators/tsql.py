"""T-SQL renderings checked strictly: parsed with every error raised, a SELECT (not opaque text), and
rendered back to the very same text; what they read (tables, columns) is then asserted by each test."""

from __future__ import annotations

import sqlglot
from sqlglot import exp


def parse_tsql(sql: str) -> exp.Select:
    tree = sqlglot.parse_one(sql, read="tsql", error_level=sqlglot.ErrorLevel.RAISE)
    assert isinstance(tree, exp.Select), (type(tree).__name__, sql)
    assert tree.sql(dialect="tsql") == sql, sql  # round-trips unchanged
    return tree


def tables(sql: str) -> set[str]:
    """`schema.table` of every table the statement reads."""
    return {f"{t.db}.{t.name}" if t.db else t.name for t in parse_tsql(sql).find_all(exp.Table)}


def columns(sql: str) -> set[str]:
    """Every column name the statement references (without its table alias)."""
    return {c.name for c in parse_tsql(sql).find_all(exp.Column)}
