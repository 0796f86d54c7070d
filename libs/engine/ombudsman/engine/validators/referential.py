"""Referential validators: orphaned foreign keys, fact-to-dimension conformance."""

from __future__ import annotations

from typing import Any

from pydantic import Field
from sqlglot import exp

from ombudsman.contracts.pipeline import TableRef
from ombudsman.contracts.results import StepResult
from ombudsman.engine.validators import sql as q
from ombudsman.engine.validators.base import (
    SIDES,
    Side,
    Sides,
    ValidationContext,
    ValidationInputError,
    Validator,
    register,
    to_rows,
)
from ombudsman.engine.validators.grain import DEFAULT_BUCKETS, compare_grouped
from ombudsman.engine.validators.joinguard import JoinGuardParams, guard_join
from ombudsman.engine.validators.metrics import float_columns, grouped_result


def parent_ref(ctx: ValidationContext, side: Side, source_name: str, target_name: str | None) -> TableRef:
    """A table named in the parameters, on `side` (the target's own name when given, else folded)."""
    if side == "target" and target_name:
        return TableRef.parse(target_name)
    return ctx.fold_ref(side, TableRef.parse(source_name))


def parent_columns(ctx: ValidationContext, side: Side, source_names: list[str], target_names: list[str] | None) -> list[str]:
    """Columns of a parent (dimension) table named in the parameters, as they are on `side`.

    The target's own names (`target_*` parameters) are used exactly as written; names derived from
    the source side are folded by the side's identifier case. The step's `columns` mapping does not
    apply: it names the columns of the step's own table."""
    if side == "target" and target_names:
        return list(target_names)
    return [ctx.fold(side, name) for name in source_names]


def orphan_condition(
    ctx: ValidationContext, side: Side, columns: list[str], parent: TableRef, parent_columns: list[str]
) -> exp.Expr:
    """Child row `c` has a non-NULL key with no parent row `p`.

    `columns` are the child's (step table's) columns by source name; `parent_columns` are the
    parent's columns as named on `side` (see `parent_columns`)."""
    match = exp.and_(*[
        exp.EQ(this=q.col(pc, "p"), expression=ctx.col(side, c, "c")) for c, pc in zip(columns, parent_columns, strict=True)
    ])
    exists = exp.Exists(this=exp.select(q.lit(1)).from_(q.table(parent, "p")).where(match))
    not_null = [exp.Not(this=exp.Is(this=ctx.col(side, c, "c"), expression=exp.Null())) for c in columns]
    return exp.and_(*not_null, exp.Not(this=exists))


def child_where(ctx: ValidationContext, side: Side, condition: exp.Expr) -> exp.Expr:
    """The step's filter applies to the child table, which is aliased `c`."""
    user = ctx.filter(side)
    if user is not None:
        user = user.transform(lambda n: q.col(n.name, "c") if isinstance(n, exp.Column) and not n.table else n)
    return q.and_all([user, condition]) or condition


@register
class ForeignKeys(Validator):
    name = "foreign_keys"
    category = "referential"
    description = (
        "Orphans on each side: child rows whose (non-NULL) foreign key has no parent row (NOT EXISTS in the "
        "database). Fails when the target has more orphans than the source; warns when both have some."
    )

    class Params(JoinGuardParams):
        columns: list[str] = Field(min_length=1, description="foreign-key columns of the step's table")
        references: str = Field(description="parent table (schema.table) on the source")
        ref_columns: list[str] = Field(min_length=1, description="referenced columns of the parent")
        target_references: str | None = Field(default=None, description="parent table on the target, if named differently")
        target_ref_columns: list[str] | None = Field(
            default=None, description="referenced columns on the target, if named differently (used as written)"
        )

    async def run(self, ctx: ValidationContext, params: Params) -> StepResult:
        if len(params.columns) != len(params.ref_columns):
            raise ValidationInputError("parameters.ref_columns: needs as many columns as parameters.columns")
        if params.target_ref_columns is not None and len(params.target_ref_columns) != len(params.columns):
            raise ValidationInputError("parameters.target_ref_columns: needs as many columns as parameters.columns")
        # NOT EXISTS cannot multiply rows, but a parent key that is not unique is not a parent key
        guard = await guard_join(
            ctx, params,
            parent=Sides(*(parent_ref(ctx, side, params.references, params.target_references) for side in SIDES)),
            parent_columns=Sides(*(parent_columns(ctx, side, params.ref_columns, params.target_ref_columns) for side in SIDES)),
            child_count=False, what="foreign_keys",
        )

        def condition(side: Side) -> exp.Expr:
            parent = parent_ref(ctx, side, params.references, params.target_references)
            ref_cols = parent_columns(ctx, side, params.ref_columns, params.target_ref_columns)
            return orphan_condition(ctx, side, params.columns, parent, ref_cols)

        def build(side: Side) -> exp.Expr:
            return exp.select(q.count_star().as_("orphans")).from_(ctx.table(side, "c")).where(child_where(ctx, side, condition(side)))

        rows = await ctx.rows_both(build)
        src, tgt = int(rows.source[0]["orphans"]), int(rows.target[0]["orphans"])
        sample: list[dict[str, Any]] = []
        if tgt:
            keys = [ctx.col("target", c, "c").as_(c) for c in params.columns]
            query = (
                exp.select(*keys, q.count_star().as_("rows")).from_(ctx.table("target", "c"))
                .where(child_where(ctx, "target", condition("target")))
                .group_by(*[ctx.col("target", c, "c") for c in params.columns]).limit(ctx.sample_limit)
            )
            sample = to_rows(await ctx.query("target", query))
        status = "failed" if tgt > src else ("warning" if tgt else "passed")
        message = f"{tgt} orphaned rows in the target, {src} in the source (key {', '.join(params.columns)} -> {params.references})"
        return ctx.result(
            status, message, source={"orphans": src}, target={"orphans": tgt},
            affected_columns=list(params.columns) if tgt else [], sample=sample,
            match_percentage=100.0 if tgt <= src else 0.0,
            details={"join_guard": {side: guard[side].as_dict() for side in SIDES}},
        )


@register
class FactDimConformance(Validator):
    name = "fact_dim_conformance"
    category = "referential"
    description = (
        "Facts joined to their dimension: facts without a dimension row, and fact counts (and a measure's sum) "
        "per dimension attribute, compared between the sides."
    )

    class Params(JoinGuardParams):
        dimension: str = Field(description="dimension table (schema.table) on the source")
        target_dimension: str | None = None
        fact_key: str = Field(
            description="the fact table's key column pointing at the dimension (renamed on the target through "
            "the step's `columns` mapping, like every column of the step's table)"
        )
        dim_key: str = Field(description="the dimension's key column")
        target_dim_key: str | None = Field(
            default=None, description="the dimension's key column on the target, if named differently (used as written)"
        )
        attribute: str | None = Field(default=None, description="dimension attribute to group facts by")
        target_attribute: str | None = Field(
            default=None, description="the attribute's name on the target dimension, if named differently (used as written)"
        )
        measure: str | None = Field(default=None, description="fact measure to sum per group")
        max_groups: int = Field(
            default=10_000, ge=1, le=1_000_000,
            description="attribute values compared one by one at most; past it, per hash bucket",
        )
        buckets: int = Field(default=DEFAULT_BUCKETS, ge=16, le=65_536, description="hash buckets past max_groups")
        output: str | None = Field(
            default=None, description="file (.csv or .parquet) receiving every differing member, however many"
        )

    async def run(self, ctx: ValidationContext, params: Params) -> StepResult:
        def dim_column(side: Side, source_name: str, target_name: str | None) -> exp.Column:
            # The step's `columns` mapping names the fact table's columns, not the dimension's:
            # a renamed dimension column is given by its own target_* parameter, like foreign_keys does.
            [name] = parent_columns(ctx, side, [source_name], [target_name] if target_name else None)
            return q.col(name, "d")

        await ctx.compared_columns([params.fact_key])  # the fact's key on both sides (names as row_hash finds them)
        guard = await guard_join(
            ctx, params,
            parent=Sides(*(parent_ref(ctx, side, params.dimension, params.target_dimension) for side in SIDES)),
            parent_columns=Sides(*(
                parent_columns(ctx, side, [params.dim_key], [params.target_dim_key] if params.target_dim_key else None)
                for side in SIDES
            )),
            child_count=True, what="fact_dim_conformance",
        )

        dims = Sides(*(parent_ref(ctx, side, params.dimension, params.target_dimension) for side in SIDES))
        attribute = None
        if params.attribute:  # grouped by its canonical text (the row_hash normalisation), as metric keys are
            [attribute] = await ctx.compared_columns(
                [params.attribute], tables=dims, target_names=[params.target_attribute]
            )
        floats = ["measure_sum"] if params.measure and await float_columns(ctx, [params.measure]) else []

        def build(side: Side) -> exp.Expr:
            dim = dims[side]
            dim_key = dim_column(side, params.dim_key, params.target_dim_key)
            join_on = exp.EQ(this=dim_key, expression=ctx.col(side, params.fact_key, "f"))
            unmatched = exp.Case(
                ifs=[exp.If(this=exp.Is(this=dim_key.copy(), expression=exp.Null()), true=q.lit(1))],
                default=q.lit(0),
            )
            projections: list[exp.Expr] = []
            if attribute is not None:
                projections.append(ctx.group_key(side, attribute, "d")[0].as_("member"))
            projections += [q.count_star().as_("facts"), exp.Sum(this=unmatched).as_("unmatched")]
            if params.measure:
                projections.append(q.as_decimal(exp.Sum(this=q.as_decimal(ctx.col(side, params.measure, "f")))).as_("measure_sum"))
            select = exp.select(*projections).from_(ctx.table(side, "f")).join(q.table(dim, "d"), on=join_on, join_type="left")
            user = ctx.filter(side)
            if user is not None:
                select = select.where(user.transform(lambda n: q.col(n.name, "f") if isinstance(n, exp.Column) and not n.table else n))
            if attribute is not None:
                select = select.group_by(ctx.group_key(side, attribute, "d")[1])
            return select

        keys = ["member"] if params.attribute else []
        measures = ["facts", "unmatched"] + (["measure_sum"] if params.measure else [])
        grained = await compare_grouped(
            ctx, build, keys, measures, max_groups=params.max_groups, buckets=params.buckets, floats=floats,
            key_types=[attribute.source_type] if attribute is not None else None,
        )
        src_unmatched = int(grained.totals.source.get("unmatched") or 0)
        tgt_unmatched = int(grained.totals.target.get("unmatched") or 0)
        result = grouped_result(
            ctx, "fact counts per dimension member", grained, measures, [params.fact_key],
            [params.attribute] if params.attribute else [], keys, output=params.output,
        )
        result.details["dimension"] = {side: str(dims[side]) for side in SIDES}
        if params.attribute:
            result.details["columns"] = list(dict.fromkeys([params.fact_key, params.attribute, *result.details["columns"]]))
        result.source.update({"unmatched_facts": src_unmatched, "facts": int(grained.totals.source.get("facts") or 0)})
        result.target.update({"unmatched_facts": tgt_unmatched, "facts": int(grained.totals.target.get("facts") or 0)})
        result.details["join_guard"] = {side: guard[side].as_dict() for side in SIDES}
        if tgt_unmatched > src_unmatched:
            result.status = "failed"
            result.message = (
                f"{tgt_unmatched} target facts have no dimension row in {dims.target} "
                f"(key {params.fact_key}; source: {src_unmatched}); " + result.message
            )
            result.details["columns"] = list(dict.fromkeys([params.fact_key, *result.details["columns"]]))
        return result
