"""Data-quality validators: counts, NULLs, uniqueness, statistics, distributions, outliers, domains, patterns.

Each one aggregates in the databases (one small query per side, run concurrently) and compares the
figures in Python.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field
from sqlglot import exp

from ombudsman.contracts.results import StepResult
from ombudsman.engine.normalize import LogicalType, canonical_text, canonical_value
from ombudsman.engine.validators import sql as q
from ombudsman.engine.validators.base import (
    SIDES,
    Side,
    ValidationContext,
    ValidationInputError,
    Validator,
    ValidatorParams,
    jsonable,
    register,
    to_rows,
)
from ombudsman.engine.validators.compare import (
    compare_figures,
    count_match,
    group_differences,
    normalize,
    percentage,
    write_differences,
)
from ombudsman.engine.validators.grain import DEFAULT_BUCKETS, bucketed_queries, compare_grouped

if TYPE_CHECKING:
    from ombudsman.engine.rowdiff.plan import ColumnPair


def alias(prefix: str, index: int) -> str:
    return f"{prefix}_{index}"


async def one_row_both(ctx: ValidationContext, build: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    rows = await ctx.rows_both(build)
    return (rows.source[0] if rows.source else {}), (rows.target[0] if rows.target else {})


@register
class RecordCounts(Validator):
    name = "record_counts"
    category = "quality"
    description = "Row count of the table on each side (COUNT(*) with the step's filters), within the tolerance."

    class Params(ValidatorParams):
        pass

    async def run(self, ctx: ValidationContext, params: Params) -> StepResult:
        s, t = await one_row_both(ctx, lambda side: ctx.select_from(side, q.count_star().as_("row_count")))
        sc, tc = int(s["row_count"]), int(t["row_count"])
        ok = ctx.tolerance.within(sc, tc)
        message = f"{sc} source rows, {tc} target rows" + ("" if sc == tc else f" (difference {tc - sc:+d})")
        return ctx.result(
            "passed" if ok else "failed", message,
            source={"row_count": sc}, target={"row_count": tc}, match_percentage=count_match(sc, tc),
        )


class ColumnsParams(ValidatorParams):
    columns: list[str] | None = Field(default=None, description="source column names; default: all")


@register
class Nulls(Validator):
    name = "nulls"
    category = "quality"
    description = "NULL count per column on each side; a column whose NULL count differs beyond the tolerance fails."

    class Params(ColumnsParams):
        max_null_percentage: float | None = Field(
            default=None, ge=0, le=100, description="also fail when the target's NULL share of a column exceeds this"
        )

    async def run(self, ctx: ValidationContext, params: Params) -> StepResult:
        columns = params.columns or await ctx.all_columns()

        def build(side: Side) -> exp.Expr:
            projections: list[exp.Expr] = [q.count_star().as_("row_count")]
            for i, c in enumerate(columns):
                projections.append(exp.Sub(this=q.count_star(), expression=exp.Count(big_int=True, this=ctx.col(side, c))).as_(alias("n", i)))
            return ctx.select_from(side, *projections)

        s, t = await one_row_both(ctx, build)
        src = {c: int(s[alias("n", i)]) for i, c in enumerate(columns)}
        tgt = {c: int(t[alias("n", i)]) for i, c in enumerate(columns)}
        diff = compare_figures(src, tgt, ctx.tolerance)
        bad = {m["figure"] for m in diff.mismatches}
        target_rows = int(t["row_count"])
        if params.max_null_percentage is not None and target_rows:
            for c, n in tgt.items():
                if percentage(n, target_rows) > params.max_null_percentage and c not in bad:
                    bad.add(c)
                    diff.mismatches.append({"figure": c, "source": src[c], "target": n, "issue": "too many NULLs"})
        affected = [c for c in columns if c in bad]
        message = (
            f"NULL counts match in {len(columns)} columns" if not affected
            else f"NULL counts differ in {len(affected)} of {len(columns)} columns: {', '.join(affected)}"
        )
        return ctx.result(
            "failed" if affected else "passed", message, source={"row_count": int(s["row_count"]), "nulls": src},
            target={"row_count": target_rows, "nulls": tgt}, affected_columns=affected,
            match_percentage=percentage(len(columns) - len(affected), len(columns)), sample=diff.mismatches,
        )


@register
class Uniqueness(Validator):
    name = "uniqueness"
    category = "quality"
    description = (
        "Duplicate values per column (non-NULL count minus distinct count) on each side; fails when the "
        "target has duplicates the source does not (or any, with expect_unique)."
    )

    class Params(ValidatorParams):
        columns: list[str] = Field(min_length=1, description="columns that should be unique")
        expect_unique: bool = Field(default=False, description="fail on any duplicate in the target")

    async def run(self, ctx: ValidationContext, params: Params) -> StepResult:
        def build(side: Side) -> exp.Expr:
            projections = []
            for i, c in enumerate(params.columns):
                column = ctx.col(side, c)
                projections.append(
                    exp.Sub(this=exp.Count(big_int=True, this=column), expression=exp.Count(big_int=True, this=exp.Distinct(expressions=[column]))).as_(alias("d", i))
                )
            return ctx.select_from(side, *projections)

        s, t = await one_row_both(ctx, build)
        src = {c: int(s[alias("d", i)]) for i, c in enumerate(params.columns)}
        tgt = {c: int(t[alias("d", i)]) for i, c in enumerate(params.columns)}
        affected = [c for c in params.columns if tgt[c] > src[c] or (params.expect_unique and tgt[c] > 0)]
        sample: list[dict[str, Any]] = []
        for c in affected:
            if len(sample) >= ctx.sample_limit:
                break
            column = ctx.col("target", c)
            query = (
                ctx.select_from("target", column.as_("value"), q.count_star().as_("occurrences"))
                .group_by(column).having(exp.GT(this=q.count_star(), expression=q.lit(1)))
                .order_by(exp.Ordered(this=q.count_star(), desc=True)).limit(ctx.sample_limit)
            )
            sample += [{"column": c, **r} for r in to_rows(await ctx.query("target", query))]
        message = (
            f"no new duplicates in {len(params.columns)} columns" if not affected
            else "duplicates in the target: " + ", ".join(f"{c} ({tgt[c]} vs {src[c]} in source)" for c in affected)
        )
        return ctx.result(
            "failed" if affected else "passed", message, source={"duplicates": src}, target={"duplicates": tgt},
            affected_columns=affected, sample=sample,
            match_percentage=percentage(len(params.columns) - len(affected), len(params.columns)),
        )


def percentile(column: exp.Expr, fraction: float) -> exp.Expr:
    """PERCENTILE_CONT(f) WITHIN GROUP (ORDER BY column) (a window function in T-SQL: see sql.render)."""
    order = exp.Order(expressions=[exp.Ordered(this=column)])
    return exp.WithinGroup(this=exp.PercentileCont(this=q.lit(fraction)), expression=order)


@register
class Statistics(Validator):
    name = "statistics"
    category = "quality"
    description = "Per numeric column: min, max, mean, standard deviation and percentiles on each side, within the tolerance."

    class Params(ColumnsParams):
        percentiles: list[float] = Field(default=[0.25, 0.5, 0.75], description="fractions between 0 and 1")
        figures: list[Literal["min", "max", "mean", "stddev"]] = ["min", "max", "mean", "stddev"]

    async def run(self, ctx: ValidationContext, params: Params) -> StepResult:
        if any(not 0 <= p <= 1 for p in params.percentiles):
            raise ValidationInputError("parameters.percentiles: each must be between 0 and 1")
        columns = params.columns or await ctx.numeric_columns()
        if not columns:
            raise ValidationInputError("the table has no numeric columns; name some in parameters.columns")
        pairs = await ctx.compared_columns(columns)

        def names(i: int) -> list[str]:
            return [f"{f}_{i}" for f in params.figures] + [f"p{j}_{i}" for j in range(len(params.percentiles))]

        def aggregates(side: Side) -> exp.Expr:
            projections: list[exp.Expr] = []
            for i, c in enumerate(columns):
                column = q.as_float(ctx.col(side, c))
                make = {
                    "min": exp.Min(this=column), "max": exp.Max(this=column), "mean": exp.Avg(this=column),
                    "stddev": exp.Stddev(this=column),
                }
                projections += [make[f].as_(f"{f}_{i}") for f in params.figures]
            return ctx.select_from(side, *projections)

        def percentiles(side: Side) -> exp.Expr:
            # A query of its own: in T-SQL PERCENTILE_CONT is a window function and cannot sit
            # next to MIN/MAX; TOP 1 / LIMIT 1 keeps one row of the (constant) window result.
            projections = [
                percentile(q.as_float(ctx.col(side, c)), p).as_(f"p{j}_{i}")
                for i, c in enumerate(columns) for j, p in enumerate(params.percentiles)
            ]
            return ctx.select_from(side, *projections).limit(1)

        rows = await ctx.rows_both(aggregates)
        figures = {"source": rows.source[0], "target": rows.target[0]}
        if params.percentiles:
            extra = await ctx.rows_both(percentiles)
            for side in ("source", "target"):
                figures[side].update(extra[side][0] if extra[side] else {})
        labels = list(params.figures) + [f"p{int(p * 100) if p * 100 == int(p * 100) else p * 100}" for p in params.percentiles]
        src: dict[str, dict[str, Any]] = {}
        tgt: dict[str, dict[str, Any]] = {}
        mismatches = []
        for i, c in enumerate(columns):
            src[c] = {label: jsonable(normalize(figures["source"].get(n))) for label, n in zip(labels, names(i), strict=True)}
            tgt[c] = {label: jsonable(normalize(figures["target"].get(n))) for label, n in zip(labels, names(i), strict=True)}
            rule = ctx.normalize_options if pairs[i].is_float else None  # float columns: the canonical float rule
            for m in compare_figures(src[c], tgt[c], ctx.tolerance, float_rule=rule).mismatches:
                mismatches.append({"column": c, **m})
        affected = sorted({m["column"] for m in mismatches}, key=columns.index)
        total = len(columns) * len(labels)
        message = (
            f"statistics match for {len(columns)} columns" if not affected
            else f"{len(mismatches)} statistics differ in {', '.join(affected)}"
        )
        return ctx.result(
            "failed" if affected else "passed", message, source=src, target=tgt, affected_columns=affected,
            sample=mismatches, match_percentage=percentage(total - len(mismatches), total),
        )


@register
class Distribution(Validator):
    name = "distribution"
    category = "quality"
    description = (
        "Value distribution of one column: categorical frequencies or a numeric histogram, computed in each "
        "database (GROUP BY) and compared with a chi-square test (scipy); KS statistic reported for numbers."
    )

    class Params(ValidatorParams):
        column: str
        kind: Literal["auto", "categorical", "numeric"] = "auto"
        bins: int = Field(default=10, ge=2, le=1000)
        max_categories: int = Field(default=1000, ge=1, le=100_000)
        alpha: float = Field(default=0.01, gt=0, lt=1, description="fail when the test's p-value is below this")
        min_share_difference: float = Field(
            default=1.0, ge=0, le=100,
            description="...and some bucket's share (percentage points) differs by more than this",
        )

    async def run(self, ctx: ValidationContext, params: Params) -> StepResult:
        kind = params.kind
        if kind == "auto":
            kind = "numeric" if params.column in await ctx.numeric_columns() else "categorical"
        if kind == "categorical":
            buckets = await self._categorical(ctx, params)
        else:
            buckets = await self._histogram(ctx, params)
        return self._evaluate(ctx, params, kind, buckets)

    async def _categorical(self, ctx: ValidationContext, params: Params) -> dict[str, dict[Any, int]]:
        """Frequency per value; past max_categories values on a side, frequency per hash bucket of the
        value (max_categories buckets: a coarser partition, the same on both sides), never a top-N."""
        self._grain = "value"
        [pair] = await ctx.compared_columns([params.column])

        def build(side: Side) -> exp.Expr:  # frequencies per canonical text (the row_hash normalisation)
            value, grouped = ctx.group_key(side, pair)
            return ctx.select_from(side, value.as_("bucket"), q.count_star().as_("n")).group_by(grouped)

        def first(side: Side) -> exp.Expr:
            grouped = exp.Subquery(this=build(side), alias=exp.TableAlias(this=q.ident("g")))
            return exp.select(exp.Star()).from_(grouped).order_by(exp.Ordered(this=q.col("bucket", "g"))).limit(
                params.max_categories + 1
            )

        rows = await ctx.rows_both(first)
        if max(len(rows.source), len(rows.target)) > params.max_categories:
            bucketed = await bucketed_queries(ctx, {side: build(side) for side in ("source", "target")}, ["bucket"],
                                              params.max_categories)

            def per_bucket(side: Side) -> exp.Expr:
                inner = exp.Subquery(this=bucketed[side], alias=exp.TableAlias(this=q.ident("x")))
                return (exp.select(q.col("omb_b", "x").as_("bucket"), exp.Sum(this=q.col("n", "x")).as_("n"))
                        .from_(inner).group_by(q.col("omb_b", "x")))

            rows = await ctx.rows_both(per_bucket)
            self._grain = f"bucket:{params.max_categories}"
        if self._grain == "value":  # values were grouped by canonical text: report them as values
            return {side: {canonical_value(r["bucket"], pair.source_type): int(r["n"]) for r in rows[side]} for side in SIDES}
        return {side: {normalize(r["bucket"]): int(r["n"]) for r in rows[side]} for side in SIDES}

    async def _histogram(self, ctx: ValidationContext, params: Params) -> dict[str, dict[Any, int]]:
        def bounds(side: Side) -> exp.Expr:
            column = q.as_float(ctx.col(side, params.column))
            return ctx.select_from(side, exp.Min(this=column).as_("lo"), exp.Max(this=column).as_("hi"))

        b = await ctx.rows_both(bounds)
        lows = [r["lo"] for r in (b.source[0], b.target[0]) if r["lo"] is not None]
        highs = [r["hi"] for r in (b.source[0], b.target[0]) if r["hi"] is not None]
        if not lows:
            return {"source": {}, "target": {}}
        lo, hi = float(min(lows)), float(max(highs))
        width = (hi - lo) / params.bins or 1.0

        def histogram(side: Side) -> exp.Expr:
            column = q.as_float(ctx.col(side, params.column))
            raw = exp.Floor(this=exp.Div(this=exp.Paren(this=exp.Sub(this=column, expression=q.value(lo))), expression=q.value(width)))
            bucket = exp.Case(
                ifs=[exp.If(this=exp.GTE(this=column, expression=q.value(hi)), true=q.lit(params.bins - 1))], default=raw
            )
            # Bucket in a derived table, group outside: GROUP BY an expression holding bound
            # parameters would not match the SELECT's expression (each placeholder is distinct).
            buckets = (
                ctx.select_from(side, bucket.as_("bucket"))
                .where(exp.Not(this=exp.Is(this=ctx.col(side, params.column), expression=exp.Null())))
            )
            return (
                exp.select(q.col("bucket"), q.count_star().as_("n"))
                .from_(exp.Subquery(this=buckets, alias=exp.TableAlias(this=q.ident("b"))))
                .group_by(q.col("bucket"))
            )

        rows = await ctx.rows_both(histogram)
        return {
            side: {round(lo + int(r["bucket"]) * width, 10): int(r["n"]) for r in rows[side] if r["bucket"] is not None}
            for side in ("source", "target")
        }

    def _evaluate(self, ctx: ValidationContext, params: Params, kind: str, buckets: dict[str, dict[Any, int]]) -> StepResult:
        from scipy.stats import chi2_contingency

        source, target = buckets["source"], buckets["target"]
        keys = sorted(set(source) | set(target), key=lambda k: (k is None, str(type(k)), k if k is not None else 0))
        s_total, t_total = sum(source.values()), sum(target.values())
        shares = []
        for k in keys:
            s_share = percentage(source.get(k, 0), s_total) if s_total else 0.0
            t_share = percentage(target.get(k, 0), t_total) if t_total else 0.0
            shares.append({"bucket": jsonable(k), "source": source.get(k, 0), "target": target.get(k, 0),
                           "source_pct": s_share, "target_pct": t_share, "difference_pct": round(t_share - s_share, 4)})
        max_diff = max((abs(s["difference_pct"]) for s in shares), default=0.0)
        p_value = 1.0
        statistic = 0.0
        if s_total and t_total and len(keys) > 1:
            table = [[source.get(k, 0) for k in keys], [target.get(k, 0) for k in keys]]
            statistic, p_value, _, _ = chi2_contingency(table)
        ks = None
        if kind == "numeric" and s_total and t_total:
            s_cdf = t_cdf = 0.0
            ks = 0.0
            for k in keys:
                s_cdf += source.get(k, 0) / s_total
                t_cdf += target.get(k, 0) / t_total
                ks = max(ks, abs(s_cdf - t_cdf))
        failed = (s_total == 0) != (t_total == 0) or (p_value < params.alpha and max_diff > params.min_share_difference)
        shares.sort(key=lambda s: -abs(s["difference_pct"]))
        grain = getattr(self, "_grain", "value") if kind == "categorical" else f"histogram:{params.bins}"
        message = (
            f"{kind} distribution of {params.column} {'differs' if failed else 'matches'}: chi-square p={p_value:.4g}, "
            f"largest share difference {max_diff:.2f} points over {len(keys)} buckets"
        )
        return ctx.result(
            "failed" if failed else "passed", message,
            source={"rows": s_total, "buckets": len(source)}, target={"rows": t_total, "buckets": len(target)},
            affected_columns=[params.column] if failed else [], sample=shares,
            match_percentage=round(100.0 - min(100.0, sum(abs(s["difference_pct"]) for s in shares) / 2), 4),
            details={"kind": kind, "chi2": float(statistic), "p_value": float(p_value), "ks_statistic": ks,
                     "max_share_difference": max_diff, "grain": grain,
                     **({"grain_note": f"more than {params.max_categories} distinct values: compared per "
                         f"{params.max_categories} hash buckets of the value"} if grain.startswith("bucket") else {})},
        )


@register
class Outliers(Validator):
    name = "outliers"
    category = "quality"
    description = (
        "Rows whose value lies more than `threshold` standard deviations from the column mean (z-score, "
        "computed in the database) or outside fixed bounds; the target may not have more than the source."
    )

    class Params(ValidatorParams):
        columns: list[str] = Field(min_length=1)
        method: Literal["zscore", "bounds"] = "zscore"
        threshold: float = Field(default=3.0, gt=0)
        min_value: float | None = None
        max_value: float | None = None

    def _is_outlier(self, ctx: ValidationContext, side: Side, params: Params, c: str, stats: str | None) -> exp.Expr:
        column = q.as_float(ctx.col(side, c, "t"))
        if params.method == "bounds":
            conditions: list[exp.Expr] = []
            if params.min_value is not None:
                conditions.append(exp.LT(this=column, expression=q.value(params.min_value)))
            if params.max_value is not None:
                conditions.append(exp.GT(this=column, expression=q.value(params.max_value)))
            if not conditions:
                raise ValidationInputError("method 'bounds' needs parameters.min_value and/or max_value")
            return exp.or_(*conditions) if len(conditions) > 1 else conditions[0]
        assert stats is not None
        distance = exp.Abs(this=exp.Sub(this=column, expression=q.col("m", stats)))
        return exp.GT(this=distance, expression=exp.Mul(this=q.value(params.threshold), expression=q.col("s", stats)))

    def _from(self, ctx: ValidationContext, side: Side, params: Params, i: int, c: str) -> exp.Select:
        base = exp.select().from_(ctx.table(side, "t"))
        if params.method == "zscore":
            column = q.as_float(ctx.col(side, c))
            stats = ctx.select_from(side, exp.Avg(this=column).as_("m"), exp.Stddev(this=column).as_("s"))
            base = base.join(exp.Subquery(this=stats, alias=exp.TableAlias(this=q.ident(f"st{i}"))), join_type="cross")
        condition = ctx.where(side, self._is_outlier(ctx, side, params, c, f"st{i}" if params.method == "zscore" else None))
        return base.where(condition) if condition is not None else base

    async def run(self, ctx: ValidationContext, params: Params) -> StepResult:
        def build(side: Side) -> exp.Expr:
            parts = [
                exp.Subquery(this=self._from(ctx, side, params, i, c).select(q.count_star())).as_(alias("o", i))
                for i, c in enumerate(params.columns)
            ]
            return exp.select(*parts)

        s, t = await one_row_both(ctx, build)
        src = {c: int(s[alias("o", i)]) for i, c in enumerate(params.columns)}
        tgt = {c: int(t[alias("o", i)]) for i, c in enumerate(params.columns)}
        affected = [c for c in params.columns if tgt[c] > src[c] and not ctx.tolerance.within(src[c], tgt[c])]
        sample: list[dict[str, Any]] = []
        for i, c in enumerate(params.columns):
            if c in affected and len(sample) < ctx.sample_limit:
                query = self._from(ctx, "target", params, i, c).select(ctx.col("target", c, "t").as_("value")).limit(ctx.sample_limit)
                sample += [{"column": c, **r} for r in to_rows(await ctx.query("target", query))]
        message = (
            f"outlier counts consistent in {len(params.columns)} columns" if not affected
            else "more outliers in the target: " + ", ".join(f"{c} ({tgt[c]} vs {src[c]})" for c in affected)
        )
        return ctx.result(
            "failed" if affected else "passed", message, source={"outliers": src}, target={"outliers": tgt},
            affected_columns=affected, sample=sample,
            match_percentage=percentage(len(params.columns) - len(affected), len(params.columns)),
        )


@register
class DomainValues(Validator):
    name = "domain_values"
    category = "quality"
    description = (
        "A column's values lie in an allowed set (rows outside it counted in the database), or, without a "
        "set, the distinct values of source and target are the same."
    )

    class Params(ValidatorParams):
        column: str
        allowed: list[Any] | None = Field(default=None, description="allowed values; default: the source's values")
        max_values: int = Field(
            default=10_000, ge=1, le=1_000_000,
            description="distinct values compared one by one at most; past it, per hash bucket of the value",
        )
        buckets: int = Field(default=DEFAULT_BUCKETS, ge=16, le=65_536, description="hash buckets past max_values")
        output: str | None = Field(
            default=None, description="file (.csv or .parquet) receiving every differing value, however many"
        )

    async def run(self, ctx: ValidationContext, params: Params) -> StepResult:
        [pair] = await ctx.compared_columns([params.column])
        if params.allowed is not None:
            return await self._allowed(ctx, params, pair)

        def build(side: Side) -> exp.Expr:  # values compared by canonical text (the row_hash normalisation)
            value, grouped = ctx.group_key(side, pair)
            return ctx.select_from(side, value.as_("value"), q.count_star().as_("n")).group_by(grouped)

        grained = await compare_grouped(
            ctx, build, ["value"], [], max_groups=params.max_values, buckets=params.buckets, carry=["n"],
            key_types=[pair.source_type],
        )
        diff = grained.diff
        extra = [{"value": r["value"], "target_rows": r.get("n"), "issue": "not in source"} for r in diff.extra_in_target]
        missing = [{"value": r["value"], "source_rows": r.get("n"), "issue": "missing in target"} for r in diff.missing_in_target]
        bad = extra + missing
        failed = bool(bad or grained.unrefined_buckets)
        message = (
            f"{diff.source_groups} distinct values of {params.column}, the same on both sides" if not failed
            else f"{len(extra)} values of {params.column} only in the target, {len(missing)} only in the source"
        )
        if grained.note:
            message += f" ({grained.note})"
        if params.output:
            write_differences(params.output, group_differences(diff, ["value"]))
            message += f"; every differing value in {params.output}" if failed else ""
        return ctx.result(
            "failed" if failed else "passed", message, source={"distinct_values": diff.source_groups},
            target={"distinct_values": diff.target_groups}, affected_columns=[params.column] if failed else [], sample=bad,
            match_percentage=percentage(
                diff.source_groups - len(missing), diff.target_groups + len(missing)
            ),
            details=grained.details(),
        )

    async def _allowed(self, ctx: ValidationContext, params: Params, pair: ColumnPair) -> StepResult:
        allowed = [v for v in params.allowed or [] if v is not None]
        # the allowed values as canonical texts of the column's type on each side, matched against the
        # column's canonical text: a CHAR's padding or a float's last digits never put a value outside
        texts: dict[Side, list[str]] = {}
        for side in SIDES:
            try:
                texts[side] = sorted({allowed_text(v, pair.type(side), ctx) for v in allowed})
            except (TypeError, ValueError, ArithmeticError, AttributeError):
                raise ValidationInputError(
                    f"parameters.allowed: the values must be of {params.column}'s type ({pair.type(side)})"
                ) from None

        def outside(side: Side) -> exp.Expr:
            column = ctx.canonical(side, pair)
            condition = (
                exp.Not(this=exp.In(this=column, expressions=[q.value(v) for v in texts[side]])) if allowed else exp.true()
            )
            return exp.and_(exp.Not(this=exp.Is(this=column.copy(), expression=exp.Null())), condition)

        def build(side: Side) -> exp.Expr:
            flag = exp.Case(ifs=[exp.If(this=outside(side), true=q.lit(1))], default=q.lit(0))
            return ctx.select_from(side, q.count_star().as_("row_count"), exp.Sum(this=flag).as_("outside"))

        s, t = await one_row_both(ctx, build)
        src, tgt = int(s["outside"] or 0), int(t["outside"] or 0)
        sample: list[dict[str, Any]] = []
        if tgt:
            column = q.col(pair.target)
            query = (
                exp.select(column.as_("value"), q.count_star().as_("n")).from_(ctx.table("target"))
                .where(ctx.where("target", outside("target"))).group_by(column.copy()).limit(ctx.sample_limit)
            )
            sample = to_rows(await ctx.query("target", query))
        message = (
            f"all values of {params.column} are allowed" if not tgt
            else f"{tgt} target rows of {params.column} hold values outside the allowed set (source: {src})"
        )
        return ctx.result(
            "failed" if tgt else "passed", message,
            source={"row_count": int(s["row_count"]), "outside": src}, target={"row_count": int(t["row_count"]), "outside": tgt},
            affected_columns=[params.column] if tgt else [], sample=sample,
            match_percentage=percentage(int(t["row_count"]) - tgt, int(t["row_count"])),
        )


def allowed_text(value: Any, logical_type: LogicalType, ctx: ValidationContext) -> str:
    """An allowed value (as JSON gives it) as the canonical text of a column of `logical_type`."""
    if isinstance(value, str) and logical_type.kind in ("date", "time", "timestamp", "timestamp_tz"):
        parse = {"date": datetime.date.fromisoformat, "time": datetime.time.fromisoformat}.get(
            logical_type.kind, datetime.datetime.fromisoformat
        )
        value = parse(value)
    return str(canonical_text(value, logical_type, ctx.normalize_options))


def regex_full_match(column: exp.Expr, pattern: str) -> exp.Expr:
    """column matches the whole pattern (anchored, so PostgreSQL's search `~` behaves like a full match)."""
    return exp.RegexpLike(this=column, expression=q.value(f"^({pattern})$"))


@register
class RegexPatterns(Validator):
    name = "regex_patterns"
    category = "quality"
    description = (
        "Non-NULL values that do not fully match a regular expression (POSIX-style; counted in the database); "
        "fails when the target has more than the source (or more than max_violations)."
    )

    class Params(ValidatorParams):
        column: str
        pattern: str = Field(min_length=1)
        max_violations: int | None = Field(default=None, ge=0, description="default: the source's count")

    async def run(self, ctx: ValidationContext, params: Params) -> StepResult:
        def violation(side: Side) -> exp.Expr:
            column = ctx.col(side, params.column)
            return exp.and_(
                exp.Not(this=exp.Is(this=column, expression=exp.Null())),
                exp.Not(this=regex_full_match(column, params.pattern)),
            )

        def build(side: Side) -> exp.Expr:
            flag = exp.Case(ifs=[exp.If(this=violation(side), true=q.lit(1))], default=q.lit(0))
            return ctx.select_from(side, q.count_star().as_("row_count"), exp.Sum(this=flag).as_("violations"))

        s, t = await one_row_both(ctx, build)
        src, tgt = int(s["violations"] or 0), int(t["violations"] or 0)
        allowed = src if params.max_violations is None else params.max_violations
        failed = tgt > allowed
        sample: list[dict[str, Any]] = []
        if failed:
            column = ctx.col("target", params.column)
            query = (
                exp.select(column.as_("value")).from_(ctx.table("target"))
                .where(ctx.where("target", violation("target"))).limit(ctx.sample_limit)
            )
            sample = to_rows(await ctx.query("target", query))
        rows = int(t["row_count"])
        return ctx.result(
            "failed" if failed else "passed",
            f"{tgt} target values of {params.column} do not match the pattern (source: {src}, allowed: {allowed})",
            source={"row_count": int(s["row_count"]), "violations": src}, target={"row_count": rows, "violations": tgt},
            affected_columns=[params.column] if failed else [], sample=sample, match_percentage=percentage(rows - tgt, rows),
        )


def key_profile_query(ctx: ValidationContext, side: Side, columns: Sequence[str]) -> exp.Expr:
    """rows, distinct keys, keys with more than one row, rows whose key has a NULL part — in one query."""
    key_cols = [ctx.col(side, c) for c in columns]
    grouped = ctx.select_from(side, *[k.as_(f"k{i}") for i, k in enumerate(key_cols)], q.count_star().as_("n")).group_by(*key_cols)
    null_key = exp.or_(*[exp.Is(this=q.col(f"k{i}"), expression=exp.Null()) for i in range(len(columns))])
    return exp.select(
        exp.Coalesce(this=exp.Sum(this=q.col("n")), expressions=[q.lit(0)]).as_("row_count"),
        q.count_star().as_("keys"),
        exp.Sum(this=exp.Case(ifs=[exp.If(this=exp.GT(this=q.col("n"), expression=q.lit(1)), true=q.lit(1))], default=q.lit(0))).as_("duplicate_keys"),
        exp.Sum(this=exp.Case(ifs=[exp.If(this=exp.GT(this=q.col("n"), expression=q.lit(1)), true=q.col("n"))], default=q.lit(0))).as_("duplicate_rows"),
        exp.Sum(this=exp.Case(ifs=[exp.If(this=null_key, true=q.col("n"))], default=q.lit(0))).as_("null_key_rows"),
    ).from_(exp.Subquery(this=grouped, alias=exp.TableAlias(this=q.ident("g"))))


def duplicate_keys_query(ctx: ValidationContext, side: Side, columns: Sequence[str], limit: int) -> exp.Expr:
    """The keys that occur more than once (at most `limit`)."""
    key_cols = [ctx.col(side, c) for c in columns]
    return (
        ctx.select_from(side, *[k.as_(c) for k, c in zip(key_cols, columns, strict=True)], q.count_star().as_("occurrences"))
        .group_by(*key_cols).having(exp.GT(this=q.count_star(), expression=q.lit(1)))
        .order_by(exp.Ordered(this=q.count_star(), desc=True)).limit(limit)
    )


def profile_figures(row: dict[str, Any]) -> dict[str, int]:
    return {k: int(row.get(k) or 0) for k in ("row_count", "keys", "duplicate_keys", "duplicate_rows", "null_key_rows")}
