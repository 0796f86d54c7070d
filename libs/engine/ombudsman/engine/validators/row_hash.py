"""`row_hash`: the full row-level diff of a table pair (see ombudsman.engine.rowdiff)."""

from __future__ import annotations

from pydantic import Field

from ombudsman.contracts.results import StepResult
from ombudsman.engine.keys import DiscoveredKey, discover_key
from ombudsman.engine.normalize import NormalizeOptions
from ombudsman.engine.rowdiff import DiffSide, RowDiffInputError, RowDiffOptions, diff_tables, open_writer
from ombudsman.engine.validators.base import (
    ValidationContext,
    ValidationInputError,
    Validator,
    ValidatorParams,
    register,
)


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
        output: str | None = Field(
            default=None, description="file (.csv or .parquet) receiving every difference, however many"
        )

    async def run(self, ctx: ValidationContext, params: Params) -> StepResult:
        options = RowDiffOptions(
            normalize=NormalizeOptions(
                float_digits=params.float_digits,
                float_absolute=_float_absolute(params.float_absolute, ctx.tolerance.absolute),
                trim_strings=params.trim_strings,
                casefold_strings=params.casefold_strings,
            ),
            buckets=params.buckets,
            pair_columns=params.pair_columns,
            sample_limit=min(ctx.sample_limit, 100),
        )
        try:
            writer = open_writer(params.output) if params.output else None
        except (ValueError, OSError) as exc:
            raise ValidationInputError(f"parameters.output: {exc}") from None
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
        matched = result.source_rows - result.only_in_source - result.changed
        columns = ", ".join(f"{c} ({n})" for c, n in result.changed_columns.most_common())
        if result.equal:
            message = f"all {result.source_rows} rows are identical ({len(result.columns)} columns)"
        else:
            message = (
                f"{result.only_in_source} rows only in source, {result.only_in_target} only in target, "
                f"{result.changed} changed" + (f" (columns: {columns})" if columns else "")
            )
        return ctx.result(
            "passed" if result.equal else "failed",
            message,
            source={"rows": result.source_rows, "only_in_source": result.only_in_source},
            target={"rows": result.target_rows, "only_in_target": result.only_in_target},
            match_percentage=round(100.0 * matched / rows, 4) if rows else 100.0,
            affected_columns=[c for c, _ in result.changed_columns.most_common()],
            sample=[d.as_dict() for d in result.sample],
            details={
                "strategy": result.strategy,
                "key": result.key,
                "key_discovered": (
                    {"columns": discovered.columns, **discovered.evidence()} if discovered is not None else None
                ),
                "columns": result.columns,
                "changed": result.changed,
                "changed_columns": dict(result.changed_columns),
                "buckets": result.buckets,
                "snapshot": result.snapshot,
                "levels": result.levels,
                "queries": result.queries,
                "leaf_rows_fetched": result.leaf_rows_fetched,
                "output": params.output,
            },
        )


def _float_absolute(explicit: float | None, step_absolute: float) -> float:
    """The absolute float tolerance: the parameter, else the step's tolerance, else the default."""
    if explicit is not None:
        return explicit
    return min(step_absolute, 1e6) if step_absolute > 0 else NormalizeOptions().float_absolute


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
