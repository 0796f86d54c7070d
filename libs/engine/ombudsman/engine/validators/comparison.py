"""Comparison validators: per-column aggregates, and user-written queries compared result to result."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlglot import exp

from ombudsman.contracts.results import StepResult
from ombudsman.engine.normalize import (
    LogicalType,
    NormalizeOptions,
    canonical_text,
    canonical_value,
    logical_type_of_field,
    pair_types,
)
from ombudsman.engine.normalize.types import FLOAT
from ombudsman.engine.rowdiff.plan import ColumnPair, find_column
from ombudsman.engine.sqlguard import UnsafeSql, check_user_query
from ombudsman.engine.validators import sql as q
from ombudsman.engine.validators.base import (
    QueryError,
    Side,
    ValidationContext,
    ValidationInputError,
    Validator,
    ValidatorParams,
    both,
    jsonable,
    register,
    to_rows,
)
from ombudsman.engine.validators.compare import compare_groups, normalize, percentage, values_match

Aggregate = Literal["count", "sum", "min", "max", "count_distinct"]


@register
class ColumnAggregates(Validator):
    name = "column_aggregates"
    category = "comparison"
    description = (
        "Per column: non-NULL count, sum (numeric columns, exact DECIMAL), min and max (numeric and temporal "
        "columns), count of distinct values; one query per side, compared within the tolerance."
    )

    class Params(ValidatorParams):
        columns: list[str] | None = Field(default=None, description="source column names; default: all")
        aggregates: list[Aggregate] = ["count", "sum", "min", "max", "count_distinct"]

    async def run(self, ctx: ValidationContext, params: Params) -> StepResult:
        source_types = await ctx.column_types("source")
        columns = params.columns or list(source_types)
        unknown = [c for c in columns if find_column(c, list(source_types)) is None]
        if unknown:
            raise ValidationInputError(f"no such column in the source table {ctx.location()['table']}: {', '.join(unknown)}")
        pairs = await ctx.compared_columns(columns)  # names, and the types both sides are compared at
        plan: list[tuple[str, Aggregate, str]] = []  # (column, aggregate, alias)
        for i, (c, pair) in enumerate(zip(columns, pairs, strict=True)):
            kind = pair.source_type.kind
            numeric = kind in NUMERIC_KINDS
            ordered = numeric or kind in TEMPORAL_KINDS
            for a in params.aggregates:
                if (a == "sum" and not numeric) or (a in ("min", "max") and not ordered):
                    continue
                plan.append((c, a, f"{a}_{i}"))
        by_name = dict(zip(columns, pairs, strict=True))

        def aggregate(side: Side, column: str, kind: Aggregate) -> exp.Expr:
            pair = by_name[column]
            c = q.col(pair.column(side))
            if kind == "count":
                return exp.Count(big_int=True, this=c)
            if kind == "count_distinct":  # distinct canonical texts: padding or float noise adds no value
                return exp.Count(big_int=True, this=exp.Distinct(expressions=[ctx.canonical(side, pair)]))
            if kind == "sum":
                return exp.Sum(this=q.as_float(c)) if pair.is_float else q.as_decimal(exp.Sum(this=q.as_decimal(c)))
            return exp.Min(this=c) if kind == "min" else exp.Max(this=c)

        def build(side: Side) -> exp.Expr:
            return ctx.select_from(side, *[aggregate(side, c, a).as_(al) for c, a, al in plan])

        rows = await ctx.rows_both(build)
        src_row, tgt_row = rows.source[0], rows.target[0]
        src: dict[str, dict[str, Any]] = {}
        tgt: dict[str, dict[str, Any]] = {}
        mismatches = []
        for c, a, al in plan:
            src.setdefault(c, {})[a] = jsonable(normalize(src_row.get(al)))
            tgt.setdefault(c, {})[a] = jsonable(normalize(tgt_row.get(al)))
            if not self._same(ctx, by_name[c], a, src_row.get(al), tgt_row.get(al)):
                mismatches.append({"column": c, "aggregate": a, "source": src[c][a], "target": tgt[c][a]})
        affected = list(dict.fromkeys(m["column"] for m in mismatches))
        return ctx.result(
            "failed" if mismatches else "passed",
            f"{len(mismatches)} of {len(plan)} aggregates differ, in {', '.join(affected)}: "
            + ", ".join(f"{m['aggregate']}({m['column']})" for m in mismatches[:5]) if mismatches
            else f"{len(plan)} aggregates over {len(columns)} columns match",
            source=src, target=tgt, affected_columns=affected, sample=mismatches,
            match_percentage=percentage(len(plan) - len(mismatches), len(plan)),
        )

    @staticmethod
    def _same(ctx: ValidationContext, pair: ColumnPair, aggregate: Aggregate, source: Any, target: Any) -> bool:
        """One aggregate compared with the canonical rules of its column: floats at `float_digits`,
        MIN/MAX of dates and timestamps as canonical text (microseconds, UTC), numbers within the tolerance."""
        if aggregate in ("min", "max") and pair.source_type.kind in TEMPORAL_KINDS:
            if source is None or target is None:
                return source is None and target is None
            options = ctx.normalize_options
            return canonical_text(source, pair.source_type, options) == canonical_text(target, pair.target_type, options)
        floats = pair.is_float and aggregate in ("sum", "min", "max")
        return values_match(source, target, ctx.tolerance, ctx.normalize_options if floats else None)


NUMERIC_KINDS = ("integer", "decimal", "float")
TEMPORAL_KINDS = ("date", "time", "timestamp", "timestamp_tz")


def checked_select(text: str, dialect: str, side: Side) -> exp.Query:
    """The one read-only SELECT in `text` (`ombudsman.engine.sqlguard`); ValidationInputError otherwise."""
    try:
        return check_user_query(text, dialect, f"{side} query")
    except UnsafeSql as exc:
        raise ValidationInputError(exc.message) from None


def render_as_written(ctx: ValidationContext, side: Side, query: exp.Query) -> str:
    """User SQL rendered with its own quoting, recorded like every query of the step.

    Unlike generated SQL (every name quoted, see `sql.render`), names the user left unquoted stay
    unquoted so the database folds them as it does for unquoted names (Snowflake to upper case,
    PostgreSQL to lower case); quoted names stay quoted. The query carries no bound values."""
    for dialect in ctx.render_also:
        ctx.renderings.setdefault(dialect, []).append(query.sql(dialect=dialect, identify=False))
    sql = query.sql(dialect=ctx.dialect(side), identify=False)
    ctx.sql[side].append(sql)
    return sql


@register
class CustomQuery(Validator):
    name = "custom_query"
    category = "comparison"
    description = (
        "Two SELECTs, one per side, whose result sets must match: by key columns (other columns within the "
        "tolerance) or as multisets of rows. User SQL runs read-only: exactly one SELECT (checked with sqlglot), "
        "wrapped with a row limit, in a read-only transaction where the database has one."
    )
    needs_table = False

    class Params(ValidatorParams):
        source_sql: str = Field(min_length=1)
        target_sql: str | None = Field(default=None, description="default: source_sql")
        key_columns: list[str] = Field(default_factory=list, description="match rows by these columns")
        max_rows: int = Field(default=10_000, ge=1, le=1_000_000)

    @classmethod
    def user_sql(cls, params: BaseModel) -> list[tuple[str, Side, str]]:
        assert isinstance(params, cls.Params)
        target = ("target_sql", params.target_sql) if params.target_sql else ("source_sql", params.source_sql)
        return [("source_sql", "source", params.source_sql), (target[0], "target", target[1])]

    async def _run_user(
        self, ctx: ValidationContext, side: Side, text: str, max_rows: int
    ) -> tuple[list[dict[str, Any]], list[str], list[LogicalType]]:
        """The rows of one side's query, its column names (lower case) and their logical types."""
        statement = checked_select(text, ctx.dialect(side), side)
        inner = statement.copy()
        if isinstance(inner, exp.Select) and inner.args.get("order") and not inner.args.get("limit"):
            inner.set("order", None)  # an ORDER BY in a derived table is an error in T-SQL; order is irrelevant here
        wrapped = exp.select(exp.Star()).from_(exp.Subquery(this=inner, alias=exp.TableAlias(this=q.ident("omb_q"))))
        wrapped = wrapped.limit(max_rows + 1)
        sql = render_as_written(ctx, side, wrapped)
        try:
            # the connector checks once more and uses a read-only transaction where the database has one
            table = await ctx.connector(side).fetch_readonly(sql)
        except Exception as exc:
            raise QueryError(side, sql, exc) from exc
        rows = to_rows(table)
        if len(rows) > max_rows:
            raise ValidationInputError(f"{side} query returned more than max_rows={max_rows} rows")
        return rows, [n.lower() for n in table.column_names], [logical_type_of_field(f) for f in table.schema]

    async def run(self, ctx: ValidationContext, params: Params) -> StepResult:
        (source, s_cols, s_types), (target, t_cols, t_types) = await both(
            self._run_user(ctx, "source", params.source_sql, params.max_rows),
            self._run_user(ctx, "target", params.target_sql or params.source_sql, params.max_rows),
        )
        if len(s_cols) != len(t_cols):
            return ctx.result(
                "failed", f"the queries return different columns: {s_cols} vs {t_cols}",
                source={"rows": len(source), "columns": s_cols}, target={"rows": len(target), "columns": t_cols},
                details={"columns": sorted(set(s_cols) ^ set(t_cols))},
            )
        if s_cols != t_cols:  # align target columns to the source's names by position
            target = [dict(zip(s_cols, r.values(), strict=True)) for r in target]
        # both results in canonical form (the row_hash normalisation, column pair by column pair):
        # numbers stay numbers (compared within the tolerance), everything else is canonical text
        types = dict(zip(s_cols, (pair_types(s, t) for s, t in zip(s_types, t_types, strict=True)), strict=True))
        floats = [c for c, (s, t) in types.items() if "float" in (s.kind, t.kind)]
        options = ctx.normalize_options
        keys = [k.lower() for k in params.key_columns]
        source = [canonical_row(r, {c: t[0] for c, t in types.items()}, options, keys) for r in source]
        target = [canonical_row(r, {c: t[1] for c, t in types.items()}, options, keys) for r in target]
        figures = ({"rows": len(source)}, {"rows": len(target)})
        if keys:
            missing = [k for k in keys if k not in s_cols]
            if missing:
                raise ValidationInputError(f"key columns not in the source query's result: {', '.join(missing)}")
            measures = [c for c in s_cols if c not in keys]
            diff = compare_groups(source, target, keys, measures, ctx.tolerance, floats=floats, float_rule=options)
            for row in (*diff.missing_in_target, *diff.extra_in_target, *diff.mismatched, *diff.duplicates):
                for k in keys:  # keys were matched as canonical text; report them as values
                    row[k] = jsonable(canonical_value(row.get(k), types[k][0]))
            affected = sorted({m for r in diff.mismatched for m in measures if m in r})
            return ctx.result(
                "failed" if diff.differing else "passed",
                f"{diff.differing} of {max(len(source), len(target))} rows differ (by {', '.join(keys)}"
                + (f"; values differ in {', '.join(affected)}" if affected else "")
                + (f"; {len(diff.duplicates)} keys on more than one row" if diff.duplicates else "") + ")" if diff.differing
                else f"{len(source)} rows match",
                source=figures[0], target=figures[1], sample=diff.sample(ctx.sample_limit),
                match_percentage=diff.match_percentage, affected_columns=affected,
                details={"columns": [*keys, *affected] if diff.differing else [], "key_columns": keys},
            )
        return self._multiset(ctx, source, target, figures, floats)

    def _multiset(
        self, ctx: ValidationContext, source: list[dict[str, Any]], target: list[dict[str, Any]],
        figures: tuple[dict, dict], floats: list[str],
    ) -> StepResult:
        names = list(source[0].keys()) if source else list(target[0].keys()) if target else []
        options = ctx.normalize_options

        def exact(row: dict[str, Any]) -> tuple[Any, ...]:
            """Floats at their canonical text (most noise matches here, without pairing), the rest as is."""
            return tuple(
                canonical_text(v, FLOAT, options) if n in floats and isinstance(v, int | float) else v
                for n, v in zip(names, row.values(), strict=True)
            )

        originals = {exact(r): tuple(r.values()) for r in [*source, *target]}

        s_count, t_count = Counter(map(exact, source)), Counter(map(exact, target))
        only_source, only_target = s_count - t_count, t_count - s_count
        # Unmatched rows may still match numerically within the tolerance (floats: the float rule): pair them off.
        rules = [options if n in floats else None for n in names]
        leftovers = [originals[r] for r in only_target.elements()]
        unmatched_source = []
        for row in (originals[r] for r in only_source.elements()):
            hit = next((i for i, t in enumerate(leftovers) if len(t) == len(row)
                        and all(values_match(a, b, ctx.tolerance, rule) for a, b, rule in zip(row, t, rules, strict=True))), None)
            if hit is None:
                unmatched_source.append(row)
            else:
                leftovers.pop(hit)
        sample = [{"issue": "missing in target", **dict(zip(names, r, strict=False))} for r in unmatched_source]
        sample += [{"issue": "extra in target", **dict(zip(names, r, strict=False))} for r in leftovers]
        differing = len(unmatched_source) + len(leftovers)
        total = max(len(source), len(target))
        return ctx.result(
            "failed" if differing else "passed",
            f"{len(unmatched_source)} source rows not in the target, {len(leftovers)} target rows not in the source"
            f" (columns {', '.join(names)})" if differing else f"{len(source)} rows match",
            source=figures[0], target=figures[1], sample=sample,
            match_percentage=percentage(total - max(len(unmatched_source), len(leftovers)), total),
            details={"columns": names if differing else []},
        )


def canonical_row(
    row: dict[str, Any], types: dict[str, LogicalType], options: NormalizeOptions, keys: Sequence[str] = ()
) -> dict[str, Any]:
    """A result row with the canonical rules applied in Python (the row_hash normalisation of each
    column's logical type): keys and non-numbers as canonical text; numbers as comparable numbers."""
    out: dict[str, Any] = {}
    for name, value in row.items():
        logical = types.get(name)
        if logical is None or value is None:
            out[name] = normalize(value)
        elif logical.kind in ("integer", "decimal", "float") and name not in keys:
            out[name] = normalize(value)
        else:
            try:
                out[name] = canonical_text(value, logical, options)
            except (TypeError, ValueError, ArithmeticError, AttributeError):
                out[name] = normalize(value)  # a value the type does not describe: compared as it is
    return out
