"""Building validator SQL as sqlglot expressions and rendering it per dialect.

Identifiers are always quoted by the renderer (so names keep their case and never inject SQL) and
values are bound: `value(x)` makes a placeholder that carries `x`; `render()` returns the SQL text
with qmark (`?`) placeholders and the values in the order they appear in that text (which can differ
per dialect, e.g. T-SQL's TOP moves the limit to the front).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from sqlglot import exp

from ombudsman.contracts.pipeline import TableRef

DIALECTS = ("tsql", "snowflake", "postgres", "duckdb")
_PLACEHOLDER = re.compile(r"%\(omb_p(\d+)\)s|[:$@]omb_p(\d+)\b")


def ident(name: str) -> exp.Identifier:
    """A quoted identifier."""
    return exp.to_identifier(name, quoted=True)


def col(name: str, table: str | None = None) -> exp.Column:
    """A quoted column reference, optionally qualified by a table alias."""
    return exp.Column(this=ident(name), table=ident(table) if table else None)


def table(ref: TableRef, alias: str | None = None) -> exp.Table:
    """A quoted (database.)(schema.)table reference."""
    node = exp.Table(
        this=ident(ref.name),
        db=ident(ref.schema_name) if ref.schema_name else None,
        catalog=ident(ref.database) if ref.database else None,
    )
    if alias:
        node.set("alias", exp.TableAlias(this=ident(alias)))
    return node


def value(v: Any) -> exp.Expr:
    """A bound parameter holding `v` (NULL is rendered as a literal NULL)."""
    if v is None:
        return exp.Null()
    node = exp.Placeholder(this="omb_p")
    # Numbers get a typed placeholder: some drivers bind every parameter as text (Snowflake's
    # qmark binding in fakesnow), and `? * DOUBLE` is then ambiguous.
    if isinstance(v, float) or (isinstance(v, int) and not isinstance(v, bool)):
        node.meta["value"] = float(v) if isinstance(v, float) else int(v)
        return exp.Cast(this=node, to=exp.DataType.build("double" if isinstance(v, float) else "bigint"))
    node.meta["value"] = v
    return node


def lit(v: int | float | str) -> exp.Expr:
    """A literal for values we generate ourselves (numbers, fixed strings), never user input."""
    if isinstance(v, str):
        return exp.Literal.string(v)
    return exp.Literal.number(v)


def count_star() -> exp.Expr:
    return exp.Count(big_int=True, this=exp.Star())


def as_float(e: exp.Expr) -> exp.Expr:
    """CAST(e AS DOUBLE PRECISION) (FLOAT in T-SQL): averages and ratios without integer division."""
    return exp.Cast(this=e, to=exp.DataType.build("double"))


def as_decimal(e: exp.Expr, precision: int = 38, scale: int = 6) -> exp.Expr:
    """CAST(e AS DECIMAL(p, s)): sums that are exact in every dialect (no DOUBLE, no BIGINT overflow)."""
    return exp.Cast(this=e, to=exp.DataType.build(f"decimal({precision}, {scale})"))


def and_all(conditions: Sequence[exp.Expr | None]) -> exp.Expr | None:
    present = [c for c in conditions if c is not None]
    if not present:
        return None
    return exp.and_(*present) if len(present) > 1 else present[0]


def _tsql_fixups(node: exp.Expr) -> exp.Expr:
    """SQL Server has PERCENTILE_CONT only as a window function, with one plain ORDER BY key."""
    if isinstance(node, exp.WithinGroup) and not isinstance(node.parent, exp.Window):
        for ordered in node.find_all(exp.Ordered):
            ordered.set("nulls_first", True)  # SQL Server's own order: no CASE-based NULL ordering
        return exp.Window(this=node.copy(), partition_by=[])
    return node


def render(expression: exp.Expr, dialect: str) -> tuple[str, list[Any]]:
    """SQL text for `dialect` (identifiers quoted) and its bound values in placeholder order."""
    tree = expression.copy()
    if dialect == "tsql":
        tree = tree.transform(_tsql_fixups)
    values: list[Any] = []
    for node in tree.find_all(exp.Placeholder):
        if "value" in node.meta:
            node.set("this", f"omb_p{len(values)}")
            values.append(node.meta["value"])
    sql = tree.sql(dialect=dialect, identify=True)
    ordered: list[Any] = []

    def _qmark(match: re.Match[str]) -> str:
        ordered.append(values[int(match.group(1) or match.group(2))])
        return "?"

    return _PLACEHOLDER.sub(_qmark, sql), ordered
