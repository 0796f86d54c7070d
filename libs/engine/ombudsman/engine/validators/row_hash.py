"""`row_hash`: the full row-level diff of a table pair (see ombudsman.engine.rowdiff)."""

from __future__ import annotations

from pydantic import Field

from ombudsman.contracts.results import StepResult
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
        columns: list[str] | None = Field(default=None, description="columns compared (source names); default: all")
        exclude_columns: list[str] = Field(default_factory=list, description="columns left out of the comparison")
        float_digits: int = Field(default=6, ge=1, le=15, description="significant digits compared of floats")
        trim_strings: bool = Field(default=False, description="ignore trailing spaces of strings")
        casefold_strings: bool = Field(default=False, description="compare strings case-insensitively")
        buckets: int = Field(default=4096, ge=1, le=1_000_000, description="buckets of the first scan")
        output: str | None = Field(
            default=None, description="file (.csv or .parquet) receiving every difference, however many"
        )

    async def run(self, ctx: ValidationContext, params: Params) -> StepResult:
        options = RowDiffOptions(
            normalize=NormalizeOptions(
                float_digits=params.float_digits,
                trim_strings=params.trim_strings,
                casefold_strings=params.casefold_strings,
            ),
            buckets=params.buckets,
            sample_limit=min(ctx.sample_limit, 100),
        )
        try:
            writer = open_writer(params.output) if params.output else None
        except (ValueError, OSError) as exc:
            raise ValidationInputError(f"parameters.output: {exc}") from None
        try:
            result = await diff_tables(
                DiffSide(ctx.source, ctx.table_ref("source"), ctx.filter("source")),
                DiffSide(ctx.target, ctx.table_ref("target"), ctx.filter("target")),
                key=params.key,
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
                "columns": result.columns,
                "changed": result.changed,
                "changed_columns": dict(result.changed_columns),
                "levels": result.levels,
                "queries": result.queries,
                "leaf_rows_fetched": result.leaf_rows_fetched,
                "output": params.output,
            },
        )
