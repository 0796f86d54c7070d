"""Schema validators: columns, data types, nullability and constraints, from each side's catalog."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from ombudsman.contracts.catalog import ColumnInfo, TableInfo
from ombudsman.contracts.results import StepResult
from ombudsman.engine import typemap
from ombudsman.engine.validators.base import (
    Side,
    ValidationContext,
    ValidationInputError,
    Validator,
    ValidatorParams,
    register,
)
from ombudsman.engine.validators.compare import percentage


async def table_info(ctx: ValidationContext, side: Side) -> TableInfo:
    """The side's table from its catalog (introspected once per step)."""
    cache: dict[str, TableInfo] = ctx.__dict__.setdefault("_tables", {})
    if side not in cache:
        ref = ctx.table_ref(side)
        connector = ctx.connector(side)
        try:
            catalog = await connector.introspect([ref.schema_name] if ref.schema_name else None)
        except Exception as exc:
            from ombudsman.engine.validators.base import QueryError

            raise QueryError(side, "-- catalog introspection", exc) from exc
        ctx.sql[side].append(f"-- catalog introspection of {ref.schema_name or '(all schemas)'}")
        found = None
        for table in catalog.tables:
            if table.name.lower() == ref.name.lower() and (
                ref.schema_name is None or table.schema_name.lower() == ref.schema_name.lower()
            ):
                found = table
                break
        if found is None:
            raise ValidationInputError(f"{side} table {ref} not found in the catalog")
        cache[side] = found
    return cache[side]


async def paired_columns(ctx: ValidationContext) -> tuple[TableInfo, TableInfo, list[tuple[ColumnInfo, ColumnInfo | None]], list[ColumnInfo]]:
    """Source columns paired with their target column (through the mapping), and unpaired target columns."""
    source, target = await table_info(ctx, "source"), await table_info(ctx, "target")
    pairs = []
    used: set[str] = set()
    for column in source.columns:
        other = target.column(ctx.column_name("target", column.name))
        if other is not None:
            used.add(other.name.lower())
        pairs.append((column, other))
    extra = [c for c in target.columns if c.name.lower() not in used]
    return source, target, pairs, extra


def findings_details(source: TableInfo, target: TableInfo, findings: list[dict[str, Any]]) -> dict[str, Any]:
    """Where a schema step's findings are: both tables and every finding (all of them, not cut to
    the sample limit), so a failed step names its table and columns in `details`."""
    return {"source_table": source.qualified_name, "target_table": target.qualified_name,
            "columns": [f["column"] for f in findings], "findings": findings}


def type_text(c: ColumnInfo) -> str:
    if c.precision is not None and c.scale is not None and c.data_type in ("numeric", "decimal", "number"):
        return f"{c.data_type}({c.precision},{c.scale})"
    if c.length not in (None, 0):
        return f"{c.data_type}({'max' if c.length == -1 else c.length})"
    return c.data_type


@register
class SchemaColumns(Validator):
    name = "schema_columns"
    category = "schema"
    description = "Every source column exists in the target (through the column mapping), and the target has no extra columns."

    class Params(ValidatorParams):
        allow_extra: bool = Field(default=False, description="columns only in the target are allowed")
        check_order: bool = Field(default=False, description="columns keep their ordinal position")

    async def run(self, ctx: ValidationContext, params: Params) -> StepResult:
        source, target, pairs, extra = await paired_columns(ctx)
        sample: list[dict[str, Any]] = [{"column": s.name, "issue": "missing in target"} for s, t in pairs if t is None]
        if not params.allow_extra:
            sample += [{"column": c.name, "issue": "extra in target"} for c in extra]
        if params.check_order:
            present = [(s, t) for s, t in pairs if t is not None]
            target_order = sorted(present, key=lambda p: p[1].ordinal)
            sample += [
                {"column": s.name, "issue": "position differs", "source": i + 1, "target": target_order.index((s, t)) + 1}
                for i, (s, t) in enumerate(present) if target_order[i] != (s, t)
            ]
        matched = sum(1 for _, t in pairs if t is not None)
        where = f"{source.qualified_name} -> {target.qualified_name}"
        return ctx.result(
            "failed" if sample else "passed",
            f"{where}: {len(sample)} column differences: " + ", ".join(f"{r['column']} ({r['issue']})" for r in sample)
            if sample else f"{where}: all {len(source.columns)} columns present",
            source={"columns": [c.name for c in source.columns]}, target={"columns": [c.name for c in target.columns]},
            affected_columns=[s["column"] for s in sample], sample=sample,
            match_percentage=percentage(matched, max(len(source.columns), len(target.columns))),
            details=findings_details(source, target, sample),
        )


@register
class SchemaDatatypes(Validator):
    name = "schema_datatypes"
    category = "schema"
    description = (
        "Each mapped column's target type can hold the source type (type map: lossless / lossy / incompatible); "
        "incompatible and lossy fail (lossy only warns with strict: false). Each finding names its column, both "
        "types and the reason (precision, scale, range, exactness, length, time zone). To accept a known lossy "
        "change, accept the step's discrepancy: the same finding then no longer fails."
    )

    class Params(ValidatorParams):
        strict: bool = Field(default=True, description="lossy conversions fail (false: they only warn)")

    async def run(self, ctx: ValidationContext, params: Params) -> StepResult:
        source, target, pairs, _ = await paired_columns(ctx)
        sample = []
        worst: typemap.Fidelity = "lossless"
        for s, t in pairs:
            if t is None:
                continue
            level, note = typemap.judge(ctx.source.kind, s, ctx.target.kind, t)
            if level != "lossless":
                sample.append({"column": s.name, "target_column": t.name, "source_type": type_text(s),
                               "target_type": type_text(t), "verdict": level, "reason": typemap.loss_reason(level, note),
                               "note": note})
                worst = typemap.worst(worst, level)
        compared = sum(1 for _, t in pairs if t is not None)
        if worst == "incompatible" or (worst == "lossy" and params.strict):
            status = "failed"
        elif worst == "lossy":
            status = "warning"
        else:
            status = "passed"
        where = f"{source.qualified_name} -> {target.qualified_name}"
        # source/target hold only the findings' types: they are part of a discrepancy's fingerprint, so an
        # accepted lossy change stays accepted when unrelated columns are added or retyped losslessly
        return ctx.result(
            status,
            f"{where}: {len(sample)} of {compared} column types are not lossless: "
            + ", ".join(f"{r['column']} {r['source_type']} -> {r['target_type']} ({r['verdict']}, {r['reason']}"
                        f"{': ' + r['note'] if r['note'] else ''})" for r in sample)
            if sample else f"{where}: all {compared} column types compatible",
            source={"types": {r["column"]: r["source_type"] for r in sample}},
            target={"types": {r["target_column"]: r["target_type"] for r in sample}},
            affected_columns=[r["column"] for r in sample], sample=sample, match_percentage=percentage(compared - len(sample), compared),
            details={**findings_details(source, target, sample),
                     "discrepancy_type": "lossy_type" if worst == "lossy" else "schema_datatypes",
                     "all_types": {s.name: [type_text(s), type_text(t) if t is not None else None] for s, t in pairs}},
        )


@register
class SchemaNullability(Validator):
    name = "schema_nullability"
    category = "schema"
    description = "Each mapped column's NULL-ability is the same on both sides (a NOT NULL source column must not become nullable)."

    class Params(ValidatorParams):
        allow_relaxed: bool = Field(default=False, description="NOT NULL in the source may be nullable in the target")

    async def run(self, ctx: ValidationContext, params: Params) -> StepResult:
        source, target, pairs, _ = await paired_columns(ctx)
        sample = []
        for s, t in pairs:
            if t is None or s.nullable == t.nullable:
                continue
            if params.allow_relaxed and t.nullable:
                continue
            sample.append({"column": s.name, "source_nullable": s.nullable, "target_nullable": t.nullable})
        compared = sum(1 for _, t in pairs if t is not None)
        where = f"{source.qualified_name} -> {target.qualified_name}"
        return ctx.result(
            "failed" if sample else "passed",
            f"{where}: nullability differs: " + ", ".join(
                f"{r['column']} ({'NULL' if r['source_nullable'] else 'NOT NULL'} -> {'NULL' if r['target_nullable'] else 'NOT NULL'})"
                for r in sample) if sample else f"{where}: nullability matches in {compared} columns",
            source={"nullable": {s.name: s.nullable for s, _ in pairs}},
            target={"nullable": {t.name: t.nullable for _, t in pairs if t is not None}},
            affected_columns=[r["column"] for r in sample], sample=sample, match_percentage=percentage(compared - len(sample), compared),
            details=findings_details(source, target, sample),
        )


@register
class SchemaConstraints(Validator):
    name = "schema_constraints"
    category = "schema"
    description = "Primary key, unique constraints and foreign keys of the source exist on the target (column names through the mapping)."

    class Params(ValidatorParams):
        check_foreign_keys: bool = True
        check_unique: bool = True

    async def run(self, ctx: ValidationContext, params: Params) -> StepResult:
        source, target = await table_info(ctx, "source"), await table_info(ctx, "target")

        def mapped(columns: list[str]) -> tuple[str, ...]:
            return tuple(ctx.column_name("target", c).lower() for c in columns)

        def lowered(columns: list[str]) -> tuple[str, ...]:
            return tuple(c.lower() for c in columns)

        sample: list[dict[str, Any]] = []
        checked = 1
        if mapped(source.primary_key) != lowered(target.primary_key):
            sample.append({"constraint": "primary key", "source": source.primary_key, "target": target.primary_key})
        if params.check_unique:
            target_unique = {frozenset(lowered(u)) for u in target.unique_constraints} | {frozenset(lowered(target.primary_key))}
            for u in source.unique_constraints:
                checked += 1
                if frozenset(mapped(u)) not in target_unique:
                    sample.append({"constraint": "unique", "source": u, "target": None})
        if params.check_foreign_keys:
            target_fks = {(mapped_fk, fk.ref_table.lower()) for fk in target.foreign_keys for mapped_fk in [lowered(fk.columns)]}
            for fk in source.foreign_keys:
                checked += 1
                if (mapped(fk.columns), fk.ref_table.lower()) not in target_fks:
                    sample.append({"constraint": "foreign key", "source": f"({', '.join(fk.columns)}) -> {fk.ref_table}", "target": None})
        return ctx.result(
            "failed" if sample else "passed",
            f"{len(sample)} constraints missing or different in the target: "
            + ", ".join(f"{r['constraint']} {r['source']}" for r in sample) if sample else f"{checked} constraints match",
            source={"primary_key": source.primary_key, "unique": source.unique_constraints, "foreign_keys": len(source.foreign_keys)},
            target={"primary_key": target.primary_key, "unique": target.unique_constraints, "foreign_keys": len(target.foreign_keys)},
            affected_columns=sorted({c for r in sample for c in (r["source"] if isinstance(r["source"], list) else [])}),
            sample=sample, match_percentage=percentage(checked - len(sample), checked),
        )
