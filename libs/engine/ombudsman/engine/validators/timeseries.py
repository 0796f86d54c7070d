"""Time-series validators: missing periods, duplicates, rolling drift, period-over-period change.

Each side aggregates per period (`DATE_TRUNC(grain, column)` ... GROUP BY) in its database; the
series (one row per period, bounded by max_periods) are compared in Python.
"""

from __future__ import annotations

import datetime
import itertools
from typing import Any, Literal

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
    jsonable,
    register,
    to_rows,
)
from ombudsman.engine.validators.compare import count_match, normalize, values_match
from ombudsman.engine.validators.dimensions import duplicate_sample, key_problems, key_profiles
from ombudsman.engine.validators.metrics import float_columns

Grain = Literal["minute", "hour", "day", "week", "month", "quarter", "year"]


class SeriesParams(ValidatorParams):
    time_column: str
    grain: Grain = "day"
    max_periods: int = Field(default=100_000, ge=1, le=10_000_000)


def as_datetime(value: Any) -> datetime.datetime:
    value = normalize(value)
    if isinstance(value, datetime.datetime):
        return value
    if isinstance(value, datetime.date):
        return datetime.datetime.combine(value, datetime.time())
    if isinstance(value, str):
        return datetime.datetime.fromisoformat(value)
    raise ValidationInputError(f"the time column gave {value!r}, not a date or timestamp")


def next_period(moment: datetime.datetime, grain: Grain) -> datetime.datetime:
    if grain in ("minute", "hour", "day", "week"):
        step = {"minute": datetime.timedelta(minutes=1), "hour": datetime.timedelta(hours=1),
                "day": datetime.timedelta(days=1), "week": datetime.timedelta(days=7)}[grain]
        return moment + step
    months = {"month": 1, "quarter": 3, "year": 12}[grain]
    total = moment.year * 12 + moment.month - 1 + months
    return moment.replace(year=total // 12, month=total % 12 + 1, day=1)


COARSER: dict[str, Grain] = {"minute": "hour", "hour": "day", "day": "month", "week": "month", "month": "year",
                              "quarter": "year"}


async def period_series(
    ctx: ValidationContext, params: SeriesParams, measure: Any | None = None
) -> tuple[dict[datetime.datetime, dict[str, Any]], dict[datetime.datetime, dict[str, Any]], Grain]:
    """period -> {"n": rows, "value": measure} per side, aggregated in the databases, and the grain used:
    the step's grain, or the next coarser one (day -> month -> year) while either side has more than
    max_periods periods (never a truncated series)."""
    grain: Grain = params.grain
    while True:

        def build(side: Side, grain: Grain = grain) -> exp.Expr:
            period = exp.TimestampTrunc(this=ctx.col(side, params.time_column), unit=exp.var(grain.upper()))
            projections = [period.as_("period"), q.count_star().as_("n")]
            if measure is not None:
                projections.append(measure(side).as_("value"))
            return (
                ctx.select_from(side, *projections)
                .where(exp.Not(this=exp.Is(this=ctx.col(side, params.time_column), expression=exp.Null())))
                .group_by(period.copy()).order_by(exp.Ordered(this=period.copy())).limit(params.max_periods + 1)
            )

        rows = await ctx.rows_both(build)
        if len(rows.source) <= params.max_periods and len(rows.target) <= params.max_periods:
            break
        if grain not in COARSER:
            raise ValidationInputError(f"more than {params.max_periods} {grain} periods; raise max_periods")
        grain = COARSER[grain]
    return (
        {as_datetime(r["period"]): r for r in rows.source},
        {as_datetime(r["period"]): r for r in rows.target},
        grain,
    )


def grain_details(params: SeriesParams, grain: Grain) -> dict[str, Any]:
    """StepResult details naming the period grain compared (coarser than asked past max_periods)."""
    if grain == params.grain:
        return {"grain": grain, "exact": True}
    return {"grain": grain, "exact": False, "grain_note": f"more than {params.max_periods} {params.grain} periods: "
            f"compared per {grain} instead"}


def grain_suffix(params: SeriesParams, grain: Grain) -> str:
    return "" if grain == params.grain else f" (compared per {grain}: more than {params.max_periods} {params.grain} periods)"


def missing_periods(periods: set[datetime.datetime], grain: Grain, limit: int = 1_000_000) -> list[datetime.datetime]:
    if not periods:
        return []
    missing: list[datetime.datetime] = []
    moment, last = min(periods), max(periods)
    while moment < last and len(missing) < limit:
        moment = next_period(moment, grain)
        if moment not in periods and moment <= last:
            missing.append(moment)
    return missing


@register
class TsContinuity(Validator):
    name = "ts_continuity"
    category = "timeseries"
    description = (
        "Missing periods: every period (at the chosen grain) between the first and last one holds rows; "
        "fails when the target misses periods the source has."
    )

    class Params(SeriesParams):
        pass

    async def run(self, ctx: ValidationContext, params: Params) -> StepResult:
        source, target, grain = await period_series(ctx, params)
        src_missing = missing_periods(set(source), grain)
        tgt_missing = missing_periods(set(target), grain)
        lost = sorted(p for p in set(source) - set(target))
        new_gaps = [p for p in tgt_missing if p not in set(src_missing)]
        status = "failed" if lost or new_gaps else ("warning" if tgt_missing else "passed")
        sample = [{"period": p.isoformat(), "issue": "rows in source, none in target", "source_rows": int(source[p]["n"])} for p in lost]
        sample += [{"period": p.isoformat(), "issue": "missing period in target"} for p in new_gaps if p not in source]
        if status == "passed":
            message = f"{len(target)} {grain} periods, none missing"
        elif status == "warning":
            message = f"{len(tgt_missing)} missing periods, the same as in the source"
        else:
            message = f"{len(set(lost) | set(new_gaps))} periods missing in the target (source misses {len(src_missing)})"
        return ctx.result(
            status, message + grain_suffix(params, grain), details=grain_details(params, grain), source={"periods": len(source), "missing_periods": len(src_missing)},
            target={"periods": len(target), "missing_periods": len(tgt_missing)}, sample=sample,
            affected_columns=[params.time_column] if status != "passed" else [],
            match_percentage=count_match(len(set(source) & set(target)), len(set(source) | set(target))),
        )


@register
class TsDuplicates(Validator):
    name = "ts_duplicates"
    category = "timeseries"
    description = "Duplicate observations: more than one row per (time column, key columns); the target may not have more than the source."

    class Params(ValidatorParams):
        time_column: str
        key_columns: list[str] = Field(default_factory=list, description="series identifiers (e.g. sensor_id)")

    async def run(self, ctx: ValidationContext, params: Params) -> StepResult:
        columns = [params.time_column, *params.key_columns]
        src, tgt = await key_profiles(ctx, columns)
        problems = key_problems(src, tgt, "timestamp", strict=False)
        inherited = tgt["duplicate_keys"] and not problems
        sample = await duplicate_sample(ctx, columns) if tgt["duplicate_keys"] else []
        message = "; ".join(problems) or (
            f"{tgt['duplicate_keys']} duplicated observations, the same as the source" if inherited
            else f"no duplicated observations in {tgt['row_count']} rows"
        )
        return ctx.result(
            "failed" if problems else ("warning" if inherited else "passed"), message, source=src, target=tgt,
            sample=sample, affected_columns=columns if problems else [],
            match_percentage=count_match(tgt["keys"] - tgt["duplicate_keys"], tgt["keys"]),
        )


class MeasureParams(SeriesParams):
    measure: str | None = Field(default=None, description="column to aggregate; default: row count")
    aggregate: Literal["sum", "avg", "count"] = "sum"


def measure_of(ctx: ValidationContext, params: MeasureParams) -> Any:
    if params.measure is None or params.aggregate == "count":
        return None

    def make(side: Side) -> exp.Expr:
        column = q.as_float(ctx.col(side, params.measure or ""))
        return exp.Sum(this=column) if params.aggregate == "sum" else exp.Avg(this=column)

    return make


def series_values(rows: dict[datetime.datetime, dict[str, Any]], params: MeasureParams) -> dict[datetime.datetime, float]:
    key = "n" if measure_is_count(params) else "value"
    return {p: float(normalize(r[key]) or 0.0) for p, r in rows.items()}


def measure_is_count(params: MeasureParams) -> bool:
    return params.measure is None or params.aggregate == "count"


@register
class TsRollingDrift(Validator):
    name = "ts_rolling_drift"
    category = "timeseries"
    description = (
        "Rolling average of a per-period aggregate (computed per period in the database) over `window` periods; "
        "fails where the target's rolling value drifts from the source's beyond the tolerance."
    )

    class Params(MeasureParams):
        window: int = Field(default=7, ge=1, le=1000)

    async def run(self, ctx: ValidationContext, params: Params) -> StepResult:
        # resolving the measure first also finds the columns' names as row_hash does (case-insensitively)
        floats = params.measure is not None and not measure_is_count(params) and bool(await float_columns(ctx, [params.measure]))
        rule = ctx.normalize_options if floats else None  # a float measure: also the canonical float rule
        source_rows, target_rows, grain = await period_series(ctx, params, measure_of(ctx, params))
        source, target = series_values(source_rows, params), series_values(target_rows, params)
        periods = sorted(set(source) | set(target))
        drifts: list[dict[str, Any]] = []
        s_window: list[float] = []
        t_window: list[float] = []
        for p in periods:
            s_window = [*s_window, source.get(p, 0.0)][-params.window :]
            t_window = [*t_window, target.get(p, 0.0)][-params.window :]
            s_avg, t_avg = sum(s_window) / len(s_window), sum(t_window) / len(t_window)
            if not values_match(s_avg, t_avg, ctx.tolerance, rule):
                drifts.append({"period": p.isoformat(), "source_rolling": round(s_avg, 6), "target_rolling": round(t_avg, 6),
                               "drift_pct": round(abs(t_avg - s_avg) / max(abs(s_avg), abs(t_avg)) * 100, 4)})
        worst = max((d["drift_pct"] for d in drifts), default=0.0)
        drifts.sort(key=lambda d: -d["drift_pct"])
        return ctx.result(
            "failed" if drifts else "passed",
            (f"rolling {params.window}-period average drifts in {len(drifts)} of {len(periods)} periods (worst {worst:.2f}%)"
             if drifts else f"rolling {params.window}-period average matches in all {len(periods)} periods")
            + grain_suffix(params, grain), details=grain_details(params, grain),
            source={"periods": len(source), "total": sum(source.values())}, target={"periods": len(target), "total": sum(target.values())},
            sample=drifts, match_percentage=count_match(len(periods) - len(drifts), len(periods)),
            affected_columns=[params.measure or params.time_column] if drifts else [],
        )


@register
class PeriodOverPeriod(Validator):
    name = "period_over_period"
    category = "timeseries"
    description = (
        "Change of a per-period aggregate from one period to the next, on each side; fails where the target's "
        "change differs from the source's beyond the tolerance (absolute in percentage points, or relative)."
    )

    class Params(MeasureParams):
        pass

    async def run(self, ctx: ValidationContext, params: Params) -> StepResult:
        source_rows, target_rows, grain = await period_series(ctx, params, measure_of(ctx, params))
        source, target = series_values(source_rows, params), series_values(target_rows, params)
        periods = sorted(set(source) | set(target))

        def changes(series: dict[datetime.datetime, float]) -> dict[datetime.datetime, float | None]:
            out: dict[datetime.datetime, float | None] = {}
            for prev, cur in itertools.pairwise(periods):
                before, now = series.get(prev, 0.0), series.get(cur, 0.0)
                out[cur] = round((now - before) / abs(before) * 100.0, 6) if before else None
            return out

        s_change, t_change = changes(source), changes(target)
        differing = [
            {"period": p.isoformat(), "source_change_pct": s_change[p], "target_change_pct": t_change[p],
             "source_value": source.get(p), "target_value": target.get(p)}
            for p in s_change if not values_match(s_change[p], t_change[p], ctx.tolerance)
        ]
        return ctx.result(
            "failed" if differing else "passed",
            (f"period-over-period change differs in {len(differing)} of {len(s_change)} periods" if differing
             else f"period-over-period change matches in all {len(s_change)} periods")
            + grain_suffix(params, grain), details=grain_details(params, grain),
            source={"periods": len(source)}, target={"periods": len(target)}, sample=jsonable(differing),
            match_percentage=count_match(len(s_change) - len(differing), len(s_change)),
            affected_columns=[params.measure or params.time_column] if differing else [],
        )


__all__ = ["PeriodOverPeriod", "TsContinuity", "TsDuplicates", "TsRollingDrift", "to_rows"]
