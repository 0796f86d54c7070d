"""The join guard: relationship checks join only child -> parent along a key unique on the parent.

Before a validator joins a child (fact) table to a parent (dimension) table, each side answers one
pushed-down query over the parent's key — `COUNT(*)` of key values, `SUM(n)` of rows and `MAX(n)`
duplicates per key value from `SELECT COUNT(*) n ... GROUP BY key` — and, for a real join, the
child's `COUNT(*)`. A parent key that is not unique is an error naming the key (a many-to-many
join multiplies rows: fact-to-fact joins reached ~0.9 billion rows); with
`allow_duplicate_parent_keys` the join may run when its estimate (child rows x the largest number of
parent rows per key) stays within `max_join_rows`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import Field
from sqlglot import exp

from ombudsman.contracts.pipeline import TableRef
from ombudsman.engine.validators import sql as q
from ombudsman.engine.validators.base import (
    SIDES,
    Side,
    Sides,
    ValidationContext,
    ValidationInputError,
    ValidatorParams,
    both,
    to_rows,
)

DEFAULT_MAX_JOIN_ROWS = 500_000_000


class JoinGuardParams(ValidatorParams):
    """Parameters of the join guard, shared by the relationship validators."""

    allow_duplicate_parent_keys: bool = Field(
        default=False,
        description="run even when the parent key is not unique (the join is then bounded by max_join_rows)",
    )
    max_join_rows: int = Field(
        default=DEFAULT_MAX_JOIN_ROWS, ge=1,
        description="refuse a join whose estimated size (child rows x parent rows per key) is larger",
    )


@dataclass
class ParentKeyFigures:
    """What the guard measured on one side."""

    parent_rows: int
    parent_keys: int
    max_duplicates: int
    child_rows: int | None = None

    @property
    def unique(self) -> bool:
        return self.max_duplicates <= 1

    @property
    def estimated_join_rows(self) -> int | None:
        return None if self.child_rows is None else self.child_rows * max(self.max_duplicates, 1)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"parent_rows": self.parent_rows, "parent_keys": self.parent_keys,
                               "parent_max_duplicates": self.max_duplicates}
        if self.child_rows is not None:
            out["estimated_join_rows"] = self.estimated_join_rows
        return out


def _parent_query(parent: TableRef, columns: list[str]) -> exp.Expr:
    cols = [q.col(c, "p") for c in columns]
    not_null = q.and_all([exp.Not(this=exp.Is(this=c.copy(), expression=exp.Null())) for c in cols])
    per_key = exp.select(q.count_star().as_("n")).from_(q.table(parent, "p")).where(not_null).group_by(*cols)
    n = q.col("n", "k")
    return exp.select(
        q.count_star().as_("keys"), exp.Sum(this=n).as_("parent_rows"), exp.Max(this=n.copy()).as_("max_dup")
    ).from_(exp.Subquery(this=per_key, alias=exp.TableAlias(this=q.ident("k"))))


async def guard_join(
    ctx: ValidationContext,
    params: JoinGuardParams,
    *,
    parent: Sides[TableRef],
    parent_columns: Sides[list[str]],
    child_count: bool,
    what: str,
) -> Sides[ParentKeyFigures]:
    """Check the parent key on both sides (and estimate the join when `child_count`); raise
    ValidationInputError with a clear message when the join is not affordable."""

    async def measure(side: Side) -> ParentKeyFigures:
        parent_rows = to_rows(await ctx.query(side, _parent_query(parent[side], parent_columns[side])))[0]
        child_rows = None
        if child_count:
            counted = to_rows(await ctx.query(side, ctx.select_from(side, q.count_star().as_("n"))))[0]
            child_rows = int(counted["n"] or 0)
        return ParentKeyFigures(
            parent_rows=int(parent_rows["parent_rows"] or 0), parent_keys=int(parent_rows["keys"] or 0),
            max_duplicates=int(parent_rows["max_dup"] or 0), child_rows=child_rows,
        )

    source, target = await both(measure("source"), measure("target"))
    figures = Sides(source, target)
    for side in SIDES:
        f = figures[side]
        key = f"{parent[side]}({', '.join(parent_columns[side])})"
        if not f.unique and not params.allow_duplicate_parent_keys:
            raise ValidationInputError(
                f"{what}: the {side} parent key {key} is not unique ({f.parent_rows} rows, {f.parent_keys} distinct "
                f"keys, up to {f.max_duplicates} rows per key), so the join would multiply rows; join to the table "
                "where this key is unique (the dimension, not another fact table), or set "
                "parameters.allow_duplicate_parent_keys with a max_join_rows bound"
            )
        estimate = f.estimated_join_rows
        if estimate is not None and estimate > params.max_join_rows:
            raise ValidationInputError(
                f"{what}: the {side} join along {key} is estimated at {estimate} rows ({f.child_rows} child rows x "
                f"{max(f.max_duplicates, 1)} parent rows per key), above parameters.max_join_rows = "
                f"{params.max_join_rows}; filter the step or raise max_join_rows"
            )
    return figures


__all__ = ["DEFAULT_MAX_JOIN_ROWS", "JoinGuardParams", "ParentKeyFigures", "guard_join"]
