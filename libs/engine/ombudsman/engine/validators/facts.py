"""Fact validators: late-arriving facts."""

from __future__ import annotations

from pydantic import Field
from sqlglot import exp

from ombudsman.contracts.results import StepResult
from ombudsman.engine.validators import sql as q
from ombudsman.engine.validators.base import (
    Side,
    ValidationContext,
    ValidationInputError,
    Validator,
    ValidatorParams,
    register,
    to_rows,
)
from ombudsman.engine.validators.compare import compare_figures
from ombudsman.engine.validators.referential import (
    child_where,
    orphan_condition,
    parent_columns,
    parent_ref,
)


@register
class LateArrivingFacts(Validator):
    name = "late_arriving_facts"
    category = "fact"
    description = (
        "Facts loaded more than max_lag_days after their event date, and facts whose dimension row is missing "
        "(early-arriving facts / inferred members): counted on each side, compared within the tolerance."
    )

    class Params(ValidatorParams):
        event_column: str
        load_column: str | None = Field(default=None, description="load timestamp column; with max_lag_days")
        max_lag_days: int = Field(default=1, ge=0)
        dimension: str | None = Field(default=None, description="dimension table (schema.table) the facts point to")
        target_dimension: str | None = Field(default=None, description="dimension table on the target, if named differently")
        fact_key: str | None = Field(
            default=None, description="the fact table's key column pointing at the dimension (renamed on the target "
            "through the step's `columns` mapping, like every column of the step's table)"
        )
        dim_key: str | None = Field(default=None, description="the dimension's key column")
        target_dim_key: str | None = Field(
            default=None, description="the dimension's key column on the target, if named differently (used as written)"
        )

    async def run(self, ctx: ValidationContext, params: Params) -> StepResult:
        if params.load_column is None and params.dimension is None:
            raise ValidationInputError("give parameters.load_column and/or parameters.dimension")
        if params.dimension and not (params.fact_key and params.dim_key):
            raise ValidationInputError("parameters.dimension needs parameters.fact_key and parameters.dim_key")
        if params.target_dim_key and not params.dimension:
            raise ValidationInputError("parameters.target_dim_key needs parameters.dimension")

        def conditions(side: Side) -> dict[str, exp.Expr]:
            found: dict[str, exp.Expr] = {}
            if params.load_column:
                deadline = exp.DateAdd(
                    this=ctx.col(side, params.event_column, "c"), expression=q.lit(params.max_lag_days), unit=exp.var("DAY")
                )
                found["late_facts"] = exp.GT(this=ctx.col(side, params.load_column, "c"), expression=deadline)
            if params.dimension and params.fact_key and params.dim_key:
                dim = parent_ref(ctx, side, params.dimension, params.target_dimension)
                dim_key = parent_columns(ctx, side, [params.dim_key], [params.target_dim_key] if params.target_dim_key else None)
                found["facts_without_dimension"] = orphan_condition(ctx, side, [params.fact_key], dim, dim_key)
            return found

        def build(side: Side) -> exp.Expr:
            flags = [
                exp.Sum(this=exp.Case(ifs=[exp.If(this=c, true=q.lit(1))], default=q.lit(0))).as_(name)
                for name, c in conditions(side).items()
            ]
            select = exp.select(q.count_star().as_("facts"), *flags).from_(ctx.table(side, "c"))
            user = ctx.filter(side)
            return select.where(child_where(ctx, side, exp.true())) if user is not None else select

        rows = await ctx.rows_both(build)
        src = {k: int(v or 0) for k, v in rows.source[0].items()}
        tgt = {k: int(v or 0) for k, v in rows.target[0].items()}
        figures = [k for k in src if k != "facts"]
        diff = compare_figures(src, tgt, ctx.tolerance, ["facts", *figures])
        sample = list(diff.mismatches)
        if diff.mismatches:
            condition = exp.or_(*conditions("target").values())
            columns = [params.event_column] + ([params.load_column] if params.load_column else []) + (
                [params.fact_key] if params.fact_key else [])
            query = (
                exp.select(*[ctx.col("target", c, "c").as_(c) for c in dict.fromkeys(columns)])
                .from_(ctx.table("target", "c")).where(child_where(ctx, "target", condition)).limit(ctx.sample_limit)
            )
            sample += to_rows(await ctx.query("target", query))
        summary = ", ".join(f"{k.replace('_', ' ')}: {tgt[k]} (source {src[k]})" for k in figures)
        return ctx.result(
            "failed" if diff.mismatches else "passed", f"{tgt['facts']} target facts; {summary}",
            source=src, target=tgt, sample=sample, match_percentage=diff.match_percentage,
            affected_columns=[params.event_column] if diff.mismatches else [],
        )
