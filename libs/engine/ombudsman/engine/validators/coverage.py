"""`schema_coverage`: every source table and column is either mapped onto the target or excluded by
a person. Project-level (no table of its own): both catalogs are introspected at run time (the
connectors' information_schema queries, one per side) and compared with the mapping given as the
step's parameters, so a table created after the pipeline was generated is reported too."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ombudsman.contracts.catalog import Catalog, TableInfo
from ombudsman.contracts.results import StepResult
from ombudsman.engine.validators.base import (
    QueryError,
    Side,
    ValidationContext,
    ValidationInputError,
    Validator,
    ValidatorParams,
    both,
    register,
)


class CoveredTable(BaseModel):
    """The mapping of one source table: its target and the source columns mapped or excluded."""

    model_config = ConfigDict(extra="forbid")

    target: str = Field(min_length=1, description="target table, schema.table")
    columns: list[str] = Field(default_factory=list, description="source columns mapped onto the target")
    excluded_columns: list[str] = Field(default_factory=list, description="source columns excluded by a person")


def _key(name: str) -> str:
    return name.lower()


async def _catalog(ctx: ValidationContext, side: Side, schemas: list[str]) -> Catalog:
    try:
        found: Catalog = await ctx.connector(side).introspect(schemas or None)
    except Exception as exc:
        raise QueryError(side, "-- catalog introspection", exc) from exc
    ctx.sql[side].append(f"-- catalog introspection (information_schema) of {', '.join(schemas) or 'every schema'}")
    return found


def _index(catalog: Catalog) -> dict[str, TableInfo]:
    return {_key(t.qualified_name): t for t in catalog.tables}


@register
class SchemaCoverage(Validator):
    name = "schema_coverage"
    category = "schema"
    description = (
        "Every source table and column of the given schemas is mapped onto an existing target table or excluded "
        "by a person; fails naming each uncovered table and column (catalogs introspected at run time)."
    )
    needs_table = False

    class Params(ValidatorParams):
        source_schemas: list[str] = Field(min_length=1, description="source schemas whose tables must be covered")
        target_schemas: list[str] = Field(default_factory=list, description="target schemas (default: every schema)")
        tables: dict[str, CoveredTable] = Field(
            default_factory=dict, description="source table (schema.table) -> its mapping"
        )
        excluded_tables: list[str] = Field(default_factory=list, description="source tables excluded by a person")

    async def run(self, ctx: ValidationContext, params: Params) -> StepResult:
        source, target = await both(_catalog(ctx, "source", params.source_schemas),
                                    _catalog(ctx, "target", params.target_schemas))
        if not source.tables:
            raise ValidationInputError(f"no table in source schema(s) {', '.join(params.source_schemas)}")
        sources, targets = _index(source), _index(target)
        mapped = {_key(k): v for k, v in params.tables.items()}
        excluded = {_key(t) for t in params.excluded_tables}
        findings: list[dict[str, Any]] = []
        columns_checked = 0
        for key, table in sorted(sources.items()):
            if key in excluded:
                continue
            covered = mapped.get(key)
            if covered is None:
                findings.append({"table": table.qualified_name, "column": None, "issue": "table not mapped"})
                continue
            if _key(covered.target) not in targets:
                findings.append({"table": table.qualified_name, "column": None,
                                 "issue": f"target table {covered.target} missing"})
            known = {_key(c) for c in [*covered.columns, *covered.excluded_columns]}
            for column in table.columns:
                columns_checked += 1
                if _key(column.name) not in known:
                    findings.append({"table": table.qualified_name, "column": column.name,
                                     "issue": "column not mapped"})
        for name in sorted(params.tables, key=_key):
            if _key(name) not in sources and _key(name) not in excluded:
                findings.append({"table": name, "column": None, "issue": "mapped source table missing"})
        tables = [f["table"] for f in findings if f["column"] is None]
        columns = [{"table": f["table"], "column": f["column"]} for f in findings if f["column"] is not None]
        total = len(sources) + columns_checked
        message = (
            f"{len(findings)} uncovered in {', '.join(params.source_schemas)}: "
            + "; ".join(f"{f['table']}{'.' + f['column'] if f['column'] else ''} ({f['issue']})" for f in findings)
            if findings else
            f"all {len(sources)} source tables and their {columns_checked} columns are mapped or excluded"
        )
        return ctx.result(
            "failed" if findings else "passed",
            message,
            source={"schemas": params.source_schemas, "tables": len(sources)},
            target={"schemas": params.target_schemas, "tables": len(targets)},
            affected_columns=[f"{f['table']}.{f['column']}" if f["column"] else f["table"] for f in findings],
            sample=findings,
            match_percentage=round(100.0 * (total - len(findings)) / total, 4) if total else 100.0,
            details={"discrepancy_type": "coverage", "uncovered_tables": tables, "uncovered_columns": columns,
                     "findings": findings, "excluded_tables": sorted(params.excluded_tables)},
        )
