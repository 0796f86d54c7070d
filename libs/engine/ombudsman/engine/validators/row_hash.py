"""`row_hash`: the full row-level diff of a table pair (see ombudsman.engine.rowdiff)."""

from __future__ import annotations

from pydantic import Field

from ombudsman.contracts.results import StepResult
from ombudsman.engine.keys import DiscoveredKey, discover_key
from ombudsman.engine.normalize import NormalizeOptions
from ombudsman.engine.rowdiff import DiffSide, RowDiffInputError, RowDiffOptions, diff_tables
from ombudsman.engine.validators.base import (
    ValidationContext,
    ValidationInputError,
    Validator,
    ValidatorParams,
    float_absolute,
    register,
)
from ombudsman.engine.validators.compare import open_output


@register
class RowHash(Validator):
    name = "row_hash"
    category = "comparison"
    description = (
        "Every row that differs, and in which columns: per-bucket row-hash checksums in one scan per side, "
        "refinement of the buckets that differ, then those rows compared column by column. Tables without "
        "a key are compared as multisets of rows."
    )

    class Params(ValidatorParams):
        key: list[str] | None = Field(
            default=None, description="key columns (source names); default: the source's primary key; [] for none"
        )
        discover_key: bool = Field(
            default=True,
            description="when `key` is not given and the source declares none: find one (names, types, unique "
            "constraints) confirmed unique on both sides, else compare as multisets",
        )
        columns: list[str] | None = Field(default=None, description="columns compared (source names); default: all")
        exclude_columns: list[str] = Field(default_factory=list, description="columns left out of the comparison")
        float_digits: int = Field(default=6, ge=1, le=15, description="significant digits compared of floats")
        float_absolute: float | None = Field(
            default=None, ge=0, le=1e6,
            description="floats closer than this are equal (|x| below it hashes as 0); default: the step's "
            "tolerance.absolute when set, else 1e-9",
        )
        pair_columns: int = Field(
            default=3, ge=0, le=64,
            description="tables without a key: a row on one side only is reported as changed when a row on the "
            "other side only differs from it in at most this many columns",
        )
        trim_strings: bool = Field(default=False, description="ignore trailing spaces of strings")
        casefold_strings: bool = Field(default=False, description="compare strings case-insensitively")
        buckets: int | None = Field(
            default=None, ge=1, le=1_000_000,
            description="buckets of the first scan; default: tuned from the row count and row width",
        )
        whole_table_first: bool | None = Field(
            default=None,
            description="compare the whole tables' checksums before any bucket, ending there when equal; "
            "default: when both sides count the same rows",
        )
        output: str | None = Field(
            default=None, description="file (.csv or .parquet) receiving every difference, however many"
        )

    async def run(self, ctx: ValidationContext, params: Params) -> StepResult:
        options = RowDiffOptions(
            normalize=NormalizeOptions(
                float_digits=params.float_digits,
                float_absolute=float_absolute(params.float_absolute, ctx.tolerance.absolute),
                trim_strings=params.trim_strings,
                casefold_strings=params.casefold_strings,
            ),
            buckets=params.buckets,
            whole_table_first=params.whole_table_first,
            pair_columns=params.pair_columns,
            sample_limit=min(ctx.sample_limit, 100),
        )
        writer = open_output(params.output) if params.output else None
        key, discovered = params.key, None
        if key is None and params.discover_key:
            discovered = await _discover(ctx)
            if discovered is not None:
                key = discovered.columns
        try:
            result = await diff_tables(
                DiffSide(ctx.source, ctx.table_ref("source"), ctx.filter("source")),
                DiffSide(ctx.target, ctx.table_ref("target"), ctx.filter("target")),
                key=key,
                columns=params.columns,
                exclude=params.exclude_columns,
                column_map=ctx.column_map,
                options=options,
                writer=writer,
            )
        except RowDiffInputError as exc:
            raise ValidationInputError(str(exc)) from None
        finally:
            if writer is not None:
                writer.close()
        for side in ("source", "target"):
            ctx.sql[side].extend(result.sql[side])
        rows = max(result.source_rows, result.target_rows)
        matched = result.source_rows - result.only_in_source - result.changed - result.duplicates_in_source
        changed_columns = [c for c, _ in result.changed_columns.most_common()]
        # the columns a finding involves: the key (which names the rows on one side) and what changed
        involved = list(dict.fromkeys([*result.key, *changed_columns])) if not result.equal else []
        columns = ", ".join(f"{c} ({n})" for c, n in result.changed_columns.most_common())
        table = ctx.location().get("table", "")
        if result.equal:
            message = f"all {result.source_rows} rows of {table} are identical ({len(result.columns)} columns)"
        else:
            by_key = f" by key {', '.join(result.key)}" if result.key else " (no key: compared as multisets)"
            message = (
                f"{table}{by_key}: {result.only_in_source} rows only in source, {result.only_in_target} only in target, "
                f"{result.changed} changed" + (f" (columns: {columns})" if columns else "")
            )
            duplicates = [f"{n} in the {side}" for side, n in
                          (("source", result.duplicates_in_source), ("target", result.duplicates_in_target)) if n]
            if duplicates:
                message += f"; duplicate rows of keys present on both sides: {', '.join(duplicates)}"
            if params.output:
                message += f"; every difference in {params.output}"
        return ctx.result(
            "passed" if result.equal else "failed",
            message,
            source={"rows": result.source_rows, "only_in_source": result.only_in_source},
            target={"rows": result.target_rows, "only_in_target": result.only_in_target},
            match_percentage=round(100.0 * max(matched, 0) / rows, 4) if rows else 100.0,
            affected_columns=changed_columns,
            sample=[d.as_dict() for d in result.sample],
            details={
                "strategy": result.strategy,
                "key": result.key,
                "key_discovered": (
                    {"columns": discovered.columns, **discovered.evidence()} if discovered is not None else None
                ),
                "columns": involved,
                "compared_columns": result.columns,
                "changed": result.changed,
                "duplicates": {"source": result.duplicates_in_source, "target": result.duplicates_in_target},
                "changed_columns": dict(result.changed_columns),
                "buckets": result.buckets,
                "snapshot": result.snapshot,
                "parallel": result.parallel,
                "whole_table": result.whole_table,
                "levels": result.levels,
                "queries": result.queries,
                "leaf_rows_fetched": result.leaf_rows_fetched,
                "output": params.output,
            },
        )


async def _discover(ctx: ValidationContext) -> DiscoveredKey | None:
    """A key for a source table that declares none (None when it has a primary key, or none is found)."""
    ref = ctx.table_ref("source")
    try:
        catalog = await ctx.source.introspect([ref.schema_name] if ref.schema_name else None)
    except Exception:
        return None
    table = next(
        (t for t in catalog.tables if t.name.lower() == ref.name.lower()
         and (ref.schema_name is None or t.schema_name.lower() == ref.schema_name.lower())),
        None,
    )
    if table is None or table.primary_key:
        return None
    return await discover_key(
        ctx.source, ctx.target, table, ctx.table_ref("target"), source_ref=ref, column_map=ctx.column_map
    )
