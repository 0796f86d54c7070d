"""Metric validators: sums, averages and ratios of measures grouped by chosen dimensions.

Each side computes `GROUP BY <dimensions>` in its database; at most `max_groups` groups come back
and are compared group by group within the step's tolerance (absolute or percentage).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

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
)
from ombudsman.engine.validators.compare import GroupDiff, compare_groups


class GroupedParams(ValidatorParams):
    group_by: list[str] = Field(default_factory=list, description="dimension columns (source names)")
    max_groups: int = Field(default=10_000, ge=1, le=1_000_000, description="groups fetched per side at most")


async def grouped_both(
    ctx: ValidationContext, group_by: list[str], measures: dict[str, Any], max_groups: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Run SELECT <group_by>, <measures(side)> ... GROUP BY <group_by> on both sides."""

    def build(side: Side) -> exp.Expr:
        keys = [ctx.col(side, g) for g in group_by]
        projections = [k.as_(g) for k, g in zip(keys, group_by, strict=True)]
        projections += [make(side).as_(name) for name, make in measures.items()]
        select = ctx.select_from(side, *projections)
        if keys:
            select = select.group_by(*keys).order_by(*[exp.Ordered(this=k) for k in keys])
        return select.limit(max_groups + 1)

    rows = await ctx.rows_both(build)
    if len(rows.source) > max_groups or len(rows.target) > max_groups:
        raise ValidationInputError(f"more than {max_groups} groups; group by fewer columns or raise max_groups")
    return rows.source, rows.target


def grouped_result(
    ctx: ValidationContext, what: str, diff: GroupDiff, measures: list[str], affected: list[str]
) -> StepResult:
    if diff.differing == 0:
        message = f"{what} match in all {diff.source_groups} groups"
    else:
        message = (
            f"{what} differ: {len(diff.mismatched)} groups with different values, "
            f"{len(diff.missing_in_target)} missing in target, {len(diff.extra_in_target)} extra in target"
        )
    cols = sorted({m for r in diff.mismatched for m in measures if m in r}) or (affected if diff.differing else [])
    return ctx.result(
        "failed" if diff.differing else "passed", message,
        source={"groups": diff.source_groups}, target={"groups": diff.target_groups},
        match_percentage=diff.match_percentage, affected_columns=cols, sample=diff.sample(ctx.sample_limit),
        details={"differing_groups": diff.differing},
    )


@register
class MetricSums(Validator):
    name = "metric_sums"
    category = "metric"
    description = "SUM of each measure per group of the chosen dimensions, on each side, within the tolerance."

    class Params(GroupedParams):
        measures: list[str] = Field(min_length=1)

    async def run(self, ctx: ValidationContext, params: Params) -> StepResult:
        def exact_sum(measure: str) -> Callable[[Side], exp.Expr]:
            return lambda side: q.as_decimal(exp.Sum(this=q.as_decimal(ctx.col(side, measure))))

        measures: dict[str, Callable[[Side], exp.Expr]] = {m: exact_sum(m) for m in params.measures}
        measures["row_count"] = lambda side: q.count_star()
        source, target = await grouped_both(ctx, params.group_by, measures, params.max_groups)
        diff = compare_groups(source, target, params.group_by, [*params.measures, "row_count"], ctx.tolerance)
        return grouped_result(ctx, "sums", diff, params.measures, params.measures)


@register
class MetricAverages(Validator):
    name = "metric_averages"
    category = "metric"
    description = "AVG of each measure per group of the chosen dimensions, on each side, within the tolerance."

    class Params(GroupedParams):
        measures: list[str] = Field(min_length=1)

    async def run(self, ctx: ValidationContext, params: Params) -> StepResult:
        def average(measure: str) -> Callable[[Side], exp.Expr]:
            return lambda side: exp.Avg(this=q.as_float(ctx.col(side, measure)))

        measures = {m: average(m) for m in params.measures}
        source, target = await grouped_both(ctx, params.group_by, measures, params.max_groups)
        diff = compare_groups(source, target, params.group_by, params.measures, ctx.tolerance)
        return grouped_result(ctx, "averages", diff, params.measures, params.measures)


@register
class Ratios(Validator):
    name = "ratios"
    category = "metric"
    description = "SUM(numerator) / SUM(denominator) per group of the chosen dimensions, on each side, within the tolerance."

    class Params(GroupedParams):
        numerator: str
        denominator: str
        name: str = Field(default="ratio", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")

    async def run(self, ctx: ValidationContext, params: Params) -> StepResult:
        def ratio(side: Side) -> exp.Expr:
            num = exp.Sum(this=q.as_float(ctx.col(side, params.numerator)))
            den = exp.Sum(this=q.as_float(ctx.col(side, params.denominator)))
            return exp.Div(this=num, expression=exp.Nullif(this=den, expression=q.lit(0)))

        source, target = await grouped_both(ctx, params.group_by, {params.name: ratio}, params.max_groups)
        diff = compare_groups(source, target, params.group_by, [params.name], ctx.tolerance)
        return grouped_result(ctx, "ratios", diff, [params.name], [params.numerator, params.denominator])
