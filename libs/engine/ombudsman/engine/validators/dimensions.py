"""Dimension validators: business keys, surrogate keys, composite keys, SCD type 1 and type 2."""

from __future__ import annotations

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
    to_rows,
)
from ombudsman.engine.validators.compare import compare_figures, count_match
from ombudsman.engine.validators.quality import duplicate_keys_query, key_profile_query, profile_figures


async def key_profiles(ctx: ValidationContext, columns: list[str]) -> tuple[dict[str, int], dict[str, int]]:
    rows = await ctx.rows_both(lambda side: key_profile_query(ctx, side, columns))
    return profile_figures(rows.source[0]), profile_figures(rows.target[0])


async def duplicate_sample(ctx: ValidationContext, columns: list[str]) -> list[dict[str, Any]]:
    return to_rows(await ctx.query("target", duplicate_keys_query(ctx, "target", columns, ctx.sample_limit)))


def key_problems(src: dict[str, int], tgt: dict[str, int], label: str, *, strict: bool) -> list[str]:
    """What is wrong with the target's keys (strict: any duplicate or NULL; else: more than the source)."""
    problems = []
    if tgt["duplicate_keys"] > (0 if strict else src["duplicate_keys"]):
        problems.append(f"{tgt['duplicate_keys']} duplicate {label} values in the target (source: {src['duplicate_keys']})")
    if tgt["null_key_rows"] > (0 if strict else src["null_key_rows"]):
        problems.append(f"{tgt['null_key_rows']} target rows with a NULL {label} (source: {src['null_key_rows']})")
    return problems


@register
class DimBusinessKeys(Validator):
    name = "dim_business_keys"
    category = "dimension"
    description = (
        "Business keys of a dimension: the number of distinct keys matches the source (within the tolerance), "
        "and the target has no duplicated or NULL keys beyond the source's."
    )

    class Params(ValidatorParams):
        business_key: list[str] = Field(min_length=1)
        unique: bool = Field(default=False, description="one row per key (type-1 dimensions): any duplicate fails")

    async def run(self, ctx: ValidationContext, params: Params) -> StepResult:
        src, tgt = await key_profiles(ctx, params.business_key)
        problems = key_problems(src, tgt, "business key", strict=params.unique)
        if not ctx.tolerance.within(src["keys"], tgt["keys"]):
            problems.insert(0, f"{tgt['keys']} distinct business keys in the target, {src['keys']} in the source")
        sample = await duplicate_sample(ctx, params.business_key) if tgt["duplicate_keys"] else []
        return ctx.result(
            "failed" if problems else "passed",
            "; ".join(problems) or f"{tgt['keys']} business keys, consistent with the source",
            source=src, target=tgt, match_percentage=count_match(src["keys"], tgt["keys"]),
            affected_columns=list(params.business_key) if problems else [], sample=sample,
        )


@register
class DimSurrogateKeys(Validator):
    name = "dim_surrogate_keys"
    category = "dimension"
    description = (
        "Surrogate keys of a dimension are unique and never NULL in the target, their count matches the source, "
        "and the unknown member (e.g. -1) exists in the target when it exists in the source."
    )

    class Params(ValidatorParams):
        surrogate_key: str
        unknown_member: Any = Field(default=None, description="the key of the 'unknown' row, e.g. -1")

    async def run(self, ctx: ValidationContext, params: Params) -> StepResult:
        src, tgt = await key_profiles(ctx, [params.surrogate_key])
        problems = key_problems(src, tgt, "surrogate key", strict=True)
        if not ctx.tolerance.within(src["keys"], tgt["keys"]):
            problems.append(f"{tgt['keys']} surrogate keys in the target, {src['keys']} in the source")
        if params.unknown_member is not None:
            def build(side: Side) -> exp.Expr:
                return ctx.select_from(side, q.count_star().as_("n")).where(
                    exp.EQ(this=ctx.col(side, params.surrogate_key), expression=q.value(params.unknown_member))
                )

            rows = await ctx.rows_both(build)
            src["unknown_member_rows"], tgt["unknown_member_rows"] = int(rows.source[0]["n"]), int(rows.target[0]["n"])
            if src["unknown_member_rows"] and not tgt["unknown_member_rows"]:
                problems.append(f"the unknown member {params.unknown_member!r} is missing in the target")
        sample = await duplicate_sample(ctx, [params.surrogate_key]) if tgt["duplicate_keys"] else []
        return ctx.result(
            "failed" if problems else "passed", "; ".join(problems) or f"{tgt['keys']} surrogate keys, unique and not NULL",
            source=src, target=tgt, match_percentage=count_match(src["keys"], tgt["keys"]),
            affected_columns=[params.surrogate_key] if problems else [], sample=sample,
        )


@register
class CompositeKeys(Validator):
    name = "composite_keys"
    category = "dimension"
    description = "A multi-column key is unique and complete (no NULL part) in the target; duplicates found in the database."

    class Params(ValidatorParams):
        columns: list[str] = Field(min_length=1)

    async def run(self, ctx: ValidationContext, params: Params) -> StepResult:
        src, tgt = await key_profiles(ctx, params.columns)
        problems = key_problems(src, tgt, "key", strict=True)
        status = "failed" if problems else "passed"
        if problems and not key_problems(src, tgt, "key", strict=False):
            status = "warning"  # the source has the same problem: inherited, not introduced by the migration
        sample = await duplicate_sample(ctx, params.columns) if tgt["duplicate_keys"] else []
        return ctx.result(
            status, "; ".join(problems) or f"({', '.join(params.columns)}) is unique in {tgt['row_count']} target rows",
            source=src, target=tgt, affected_columns=list(params.columns) if problems else [], sample=sample,
            match_percentage=count_match(tgt["keys"] - tgt["duplicate_keys"], tgt["keys"]),
        )


@register
class Scd1(Validator):
    name = "scd1"
    category = "dimension"
    description = (
        "Type-1 dimension: exactly one row per business key in the target, the same number of keys as the "
        "source, and per attribute the same number of distinct and NULL values."
    )

    class Params(ValidatorParams):
        business_key: list[str] = Field(min_length=1)
        attributes: list[str] = Field(default_factory=list)

    async def run(self, ctx: ValidationContext, params: Params) -> StepResult:
        src, tgt = await key_profiles(ctx, params.business_key)
        problems = key_problems(src, tgt, "business key", strict=True)
        if not ctx.tolerance.within(src["keys"], tgt["keys"]):
            problems.append(f"{tgt['keys']} business keys in the target, {src['keys']} in the source")
        affected: list[str] = list(params.business_key) if problems else []
        mismatches: list[dict[str, Any]] = []
        if params.attributes:
            def build(side: Side) -> exp.Expr:
                projections = []
                for i, a in enumerate(params.attributes):
                    column = ctx.col(side, a)
                    projections.append(exp.Count(big_int=True, this=exp.Distinct(expressions=[column])).as_(f"d{i}"))
                    projections.append(exp.Sub(this=q.count_star(), expression=exp.Count(big_int=True, this=column)).as_(f"n{i}"))
                return ctx.select_from(side, *projections)

            rows = await ctx.rows_both(build)
            s_fig = {f"{a}.distinct": rows.source[0][f"d{i}"] for i, a in enumerate(params.attributes)}
            s_fig |= {f"{a}.nulls": rows.source[0][f"n{i}"] for i, a in enumerate(params.attributes)}
            t_fig = {f"{a}.distinct": rows.target[0][f"d{i}"] for i, a in enumerate(params.attributes)}
            t_fig |= {f"{a}.nulls": rows.target[0][f"n{i}"] for i, a in enumerate(params.attributes)}
            mismatches = compare_figures(s_fig, t_fig, ctx.tolerance).mismatches
            bad_attrs = sorted({m["figure"].split(".")[0] for m in mismatches}, key=params.attributes.index)
            if bad_attrs:
                problems.append("attribute values differ: " + ", ".join(bad_attrs))
                affected += bad_attrs
            src |= {k: int(v) for k, v in s_fig.items()}
            tgt |= {k: int(v) for k, v in t_fig.items()}
        sample = await duplicate_sample(ctx, params.business_key) if tgt["duplicate_keys"] else mismatches
        return ctx.result(
            "failed" if problems else "passed", "; ".join(problems) or f"{tgt['keys']} keys, one row each, attributes consistent",
            source=src, target=tgt, affected_columns=affected, sample=sample,
            match_percentage=count_match(src["keys"], tgt["keys"]),
        )


@register
class Scd2(Validator):
    name = "scd2"
    category = "dimension"
    description = (
        "Type-2 dimension history: per business key no overlapping validity ranges, no gaps between versions, "
        "exactly one current row; version counts match the source."
    )

    class Params(ValidatorParams):
        business_key: list[str] = Field(min_length=1)
        valid_from: str
        valid_to: str
        current_flag: str | None = Field(default=None, description="column marking the current row; default: valid_to IS NULL")
        current_value: Any = Field(default=True, description="value of current_flag on the current row")
        open_end: Any = Field(default=None, description="valid_to of the current row when not NULL (e.g. '9999-12-31')")
        end_inclusive: bool = Field(default=False, description="valid_to is the last valid day (next version starts a day later)")
        check_gaps: bool = True

    def _versions(self, ctx: ValidationContext, side: Side, params: Params) -> exp.Expr:
        keys = [ctx.col(side, k) for k in params.business_key]
        valid_from, valid_to = ctx.col(side, params.valid_from), ctx.col(side, params.valid_to)
        next_from = exp.Window(
            this=exp.Lead(this=valid_from.copy()), partition_by=keys,
            order=exp.Order(expressions=[exp.Ordered(this=valid_from.copy())]),
        )
        return ctx.select_from(
            side, *[k.as_(f"k{i}") for i, k in enumerate(keys)], valid_from.as_("vf"), valid_to.as_("vt"), next_from.as_("nf")
        )

    def _conditions(self, params: Params) -> tuple[exp.Expr, exp.Expr]:
        vt, nf = q.col("vt"), q.col("nf")
        open_end: exp.Expr = exp.Is(this=vt, expression=exp.Null())
        if params.open_end is not None:
            open_end = exp.or_(open_end, exp.EQ(this=vt, expression=q.value(params.open_end)))
        end = exp.DateAdd(this=vt, expression=q.lit(1), unit=exp.var("DAY")) if params.end_inclusive else vt
        has_next = exp.Not(this=exp.Is(this=nf, expression=exp.Null()))
        overlap = exp.and_(has_next, exp.or_(exp.Paren(this=open_end), exp.GT(this=end.copy(), expression=nf.copy())))
        gap = exp.and_(has_next.copy(), exp.Not(this=exp.Paren(this=open_end.copy())), exp.LT(this=end, expression=nf.copy()))
        return overlap, gap

    def _is_current(self, ctx: ValidationContext, side: Side, params: Params) -> exp.Expr:
        if params.current_flag:
            return exp.EQ(this=ctx.col(side, params.current_flag), expression=q.value(params.current_value))
        valid_to = ctx.col(side, params.valid_to)
        condition: exp.Expr = exp.Is(this=valid_to, expression=exp.Null())
        if params.open_end is not None:
            condition = exp.or_(condition, exp.EQ(this=valid_to.copy(), expression=q.value(params.open_end)))
        return condition

    async def run(self, ctx: ValidationContext, params: Params) -> StepResult:
        overlap, gap = self._conditions(params)

        def flag(condition: exp.Expr) -> exp.Expr:
            return exp.Sum(this=exp.Case(ifs=[exp.If(this=condition.copy(), true=q.lit(1))], default=q.lit(0)))

        def history(side: Side) -> exp.Expr:
            versions = exp.Subquery(this=self._versions(ctx, side, params), alias=exp.TableAlias(this=q.ident("v")))
            return exp.select(q.count_star().as_("versions"), flag(overlap).as_("overlaps"), flag(gap).as_("gaps")).from_(versions)

        def per_key(side: Side) -> exp.Expr:
            current = exp.Sum(this=exp.Case(ifs=[exp.If(this=self._is_current(ctx, side, params), true=q.lit(1))], default=q.lit(0)))
            keys = [ctx.col(side, k) for k in params.business_key]
            return ctx.select_from(side, *[k.as_(f"k{i}") for i, k in enumerate(keys)], current.as_("c")).group_by(*keys)

        def current(side: Side) -> exp.Expr:
            grouped = exp.Subquery(this=per_key(side), alias=exp.TableAlias(this=q.ident("g")))
            return exp.select(
                q.count_star().as_("keys"),
                flag(exp.EQ(this=q.col("c"), expression=q.lit(0))).as_("keys_without_current"),
                flag(exp.GT(this=q.col("c"), expression=q.lit(1))).as_("keys_with_several_current"),
            ).from_(grouped)

        hist, cur = await ctx.rows_both(history), await ctx.rows_both(current)
        src = {k: int(v or 0) for k, v in {**hist.source[0], **cur.source[0]}.items()}
        tgt = {k: int(v or 0) for k, v in {**hist.target[0], **cur.target[0]}.items()}
        problems = []
        if tgt["overlaps"]:
            problems.append(f"{tgt['overlaps']} overlapping validity ranges")
        if params.check_gaps and tgt["gaps"]:
            problems.append(f"{tgt['gaps']} gaps between versions")
        if tgt["keys_without_current"]:
            problems.append(f"{tgt['keys_without_current']} keys without a current row")
        if tgt["keys_with_several_current"]:
            problems.append(f"{tgt['keys_with_several_current']} keys with more than one current row")
        if not ctx.tolerance.within(src["versions"], tgt["versions"]):
            problems.append(f"{tgt['versions']} versions in the target, {src['versions']} in the source")
        sample: list[dict[str, Any]] = []
        if tgt["overlaps"] or (params.check_gaps and tgt["gaps"]):
            versions = exp.Subquery(this=self._versions(ctx, "target", params), alias=exp.TableAlias(this=q.ident("v")))
            bad = exp.or_(overlap.copy(), gap.copy()) if params.check_gaps else overlap.copy()
            query = exp.select(exp.Star()).from_(versions).where(bad).limit(ctx.sample_limit)
            names = {f"k{i}": k for i, k in enumerate(params.business_key)} | {
                "vf": params.valid_from, "vt": params.valid_to, "nf": "next_valid_from"}
            sample = [{names.get(k, k): v for k, v in r.items()} for r in to_rows(await ctx.query("target", query))]
        healthy = tgt["keys"] - tgt["keys_without_current"] - tgt["keys_with_several_current"]
        return ctx.result(
            "failed" if problems else "passed",
            "; ".join(problems) or f"{tgt['keys']} keys, {tgt['versions']} versions: history is consistent",
            source=src, target=tgt, sample=sample,
            affected_columns=[*params.business_key, params.valid_from, params.valid_to] if problems else [],
            match_percentage=count_match(healthy, tgt["keys"]),
        )
