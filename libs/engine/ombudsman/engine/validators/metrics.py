"""Metric validators: sums, averages and ratios of measures grouped by chosen dimensions.

Each side computes `GROUP BY <dimensions>` in its database; up to `max_groups` groups come back
(ordered by key) and are compared group by group within the step's tolerance (absolute or
percentage); past that, per hash bucket of the group key with differing buckets refined (`grain`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

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
from ombudsman.engine.validators.compare import group_differences, write_differences
from ombudsman.engine.validators.grain import DEFAULT_BUCKETS, GrainedDiff, compare_grouped

if TYPE_CHECKING:
    from ombudsman.engine.rowdiff.plan import ColumnPair


class GroupedParams(ValidatorParams):
    group_by: list[str] = Field(default_factory=list, description="dimension columns (source names)")
    max_groups: int = Field(
        default=10_000, ge=1, le=1_000_000,
        description="groups compared one by one at most; past it, groups are compared per hash bucket",
    )
    buckets: int = Field(default=DEFAULT_BUCKETS, ge=16, le=65_536, description="hash buckets past max_groups")
    output: str | None = Field(
        default=None, description="file (.csv or .parquet) receiving every differing group, however many"
    )


def grouped_query(
    ctx: ValidationContext, side: Side, group_by: Sequence[ColumnPair], measures: dict[str, Any],
    names: Sequence[str] | None = None,
) -> exp.Expr:
    """SELECT <canonical group_by>, <measures(side)> FROM the step's table GROUP BY <canonical group_by>
    on one side. Groups are keyed by the columns' canonical texts (the row_hash normalisation), so a
    CHAR key padded on one side or a timestamp with more digits on the other is still the same group."""
    keys = [ctx.group_key(side, pair) for pair in group_by]
    aliases = list(names) if names is not None else [pair.name for pair in group_by]
    projections = [text.as_(alias) for (text, _), alias in zip(keys, aliases, strict=True)]
    projections += [make(side).as_(name) for name, make in measures.items()]
    select = ctx.select_from(side, *projections)
    return select.group_by(*[grouped for _, grouped in keys]) if keys else select


async def grouped_both(
    ctx: ValidationContext, group_by: list[str], measures: dict[str, Any], params: GroupedParams,
    compared: list[str] | None = None, floats: Sequence[str] = (),
) -> GrainedDiff:
    """Compare the measures per group of `group_by` (per hash bucket past `max_groups` groups);
    `floats`: measures of float columns (equal under the canonical float rule)."""
    pairs = await ctx.compared_columns(group_by)
    return await compare_grouped(
        ctx, lambda side: grouped_query(ctx, side, pairs, measures, group_by), group_by,
        compared or list(measures), max_groups=params.max_groups, buckets=params.buckets, floats=floats,
        key_types=[p.source_type for p in pairs],
    )


async def float_columns(ctx: ValidationContext, names: Sequence[str]) -> list[str]:
    """The given columns that are compared as floats (a float on either side)."""
    return [name for name, pair in zip(names, await ctx.compared_columns(names), strict=True) if pair.is_float]


def grouped_result(
    ctx: ValidationContext, what: str, grained: GrainedDiff, measures: list[str], affected: list[str],
    group_by: Sequence[str] = (), group_keys: Sequence[str] | None = None, output: str | None = None,
) -> StepResult:
    """The StepResult of a grouped comparison; its details say the grain it was exact at and the group
    columns; the groups that differ are in the sample (all of them in `output`). Values never go into
    the message: events keep messages whole, and only the sample's personal columns are masked."""
    diff = grained.diff
    failed = bool(diff.differing or grained.unrefined_buckets)
    per = f" per {', '.join(group_by)}" if group_by else ""
    if not failed:
        message = f"{what}{per} match in all {diff.source_groups} groups"
    else:
        message = (
            f"{what}{per} differ: {len(diff.mismatched)} groups with different values, "
            f"{len(diff.missing_in_target)} missing in target, {len(diff.extra_in_target)} extra in target"
        )
    if grained.note:
        message += f" ({grained.note})"
    if output:
        write_differences(output, group_differences(diff, group_by if group_keys is None else group_keys))
        message += f"; every differing group in {output}" if failed else ""
    cols = sorted({m for r in diff.mismatched for m in measures if m in r}) or (affected if failed else [])
    return ctx.result(
        "failed" if failed else "passed", message,
        source={"groups": diff.source_groups}, target={"groups": diff.target_groups},
        match_percentage=diff.match_percentage, affected_columns=cols, sample=diff.sample(ctx.sample_limit),
        details={
            "differing_groups": diff.differing, "group_by": list(group_by),
            "columns": list(dict.fromkeys([*group_by, *cols])) if failed else [], **grained.details(),
        },
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
        floats = await float_columns(ctx, params.measures)
        diff = await grouped_both(ctx, params.group_by, measures, params, floats=floats)
        return grouped_result(ctx, "sums", diff, params.measures, params.measures, params.group_by, output=params.output)


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
        floats = await float_columns(ctx, params.measures)
        diff = await grouped_both(ctx, params.group_by, measures, params, floats=floats)
        return grouped_result(ctx, "averages", diff, params.measures, params.measures, params.group_by, output=params.output)


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

        floats = [params.name] if await float_columns(ctx, [params.numerator, params.denominator]) else []
        diff = await grouped_both(ctx, params.group_by, {params.name: ratio}, params, floats=floats)
        return grouped_result(ctx, "ratios", diff, [params.name], [params.numerator, params.denominator], params.group_by, output=params.output)
