"""Metric validators: sums, averages and ratios of measures grouped by chosen dimensions.

Each side computes `GROUP BY <dimensions>` in its database; up to `max_groups` groups come back
(ordered by key) and are compared group by group within the step's tolerance (absolute or
percentage); past that, per hash bucket of the group key with differing buckets refined (`grain`).
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
    Validator,
    ValidatorParams,
    register,
)
from ombudsman.engine.validators.grain import DEFAULT_BUCKETS, GrainedDiff, compare_grouped


class GroupedParams(ValidatorParams):
    group_by: list[str] = Field(default_factory=list, description="dimension columns (source names)")
    max_groups: int = Field(
        default=10_000, ge=1, le=1_000_000,
        description="groups compared one by one at most; past it, groups are compared per hash bucket",
    )
    buckets: int = Field(default=DEFAULT_BUCKETS, ge=16, le=65_536, description="hash buckets past max_groups")


def grouped_query(ctx: ValidationContext, side: Side, group_by: list[str], measures: dict[str, Any]) -> exp.Expr:
    """SELECT <group_by>, <measures(side)> FROM the step's table GROUP BY <group_by> on one side."""
    keys = [ctx.col(side, g) for g in group_by]
    projections = [k.as_(g) for k, g in zip(keys, group_by, strict=True)]
    projections += [make(side).as_(name) for name, make in measures.items()]
    select = ctx.select_from(side, *projections)
    return select.group_by(*keys) if keys else select


async def grouped_both(
    ctx: ValidationContext, group_by: list[str], measures: dict[str, Any], params: GroupedParams,
    compared: list[str] | None = None,
) -> GrainedDiff:
    """Compare the measures per group of `group_by` (per hash bucket past `max_groups` groups)."""
    return await compare_grouped(
        ctx, lambda side: grouped_query(ctx, side, group_by, measures), group_by, compared or list(measures),
        max_groups=params.max_groups, buckets=params.buckets,
    )


def grouped_result(
    ctx: ValidationContext, what: str, grained: GrainedDiff, measures: list[str], affected: list[str]
) -> StepResult:
    """The StepResult of a grouped comparison; its details say the grain it was exact at."""
    diff = grained.diff
    failed = bool(diff.differing or grained.unrefined_buckets)
    if not failed:
        message = f"{what} match in all {diff.source_groups} groups"
    else:
        message = (
            f"{what} differ: {len(diff.mismatched)} groups with different values, "
            f"{len(diff.missing_in_target)} missing in target, {len(diff.extra_in_target)} extra in target"
        )
    if grained.note:
        message += f" ({grained.note})"
    cols = sorted({m for r in diff.mismatched for m in measures if m in r}) or (affected if failed else [])
    return ctx.result(
        "failed" if failed else "passed", message,
        source={"groups": diff.source_groups}, target={"groups": diff.target_groups},
        match_percentage=diff.match_percentage, affected_columns=cols, sample=diff.sample(ctx.sample_limit),
        details={"differing_groups": diff.differing, **grained.details()},
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
        diff = await grouped_both(ctx, params.group_by, measures, params)
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
        diff = await grouped_both(ctx, params.group_by, measures, params)
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

        diff = await grouped_both(ctx, params.group_by, {params.name: ratio}, params)
        return grouped_result(ctx, "ratios", diff, [params.name], [params.numerator, params.denominator])
