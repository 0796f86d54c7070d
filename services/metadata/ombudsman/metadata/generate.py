"""Pipeline generation: one validation pipeline per approved table pair, validators chosen by the
table's classification, rendered as pipeline-spec YAML (libs/contracts pipeline.py). Also the dbt
`sources.yml` export of the same checks. Pure (the validator registry is only read).

Every table: schema_columns, schema_datatypes, schema_nullability, record_counts, row_hash.
Dimension: dim_business_keys, dim_surrogate_keys, scd2 when detected.
Fact: metric_sums by date, foreign_keys and fact_dim_conformance per single-column reference (a
dimension key renamed on the target goes into `target_dim_key`; the fact's own key is renamed by
the step's `columns`; an installed validator without `target_dim_key` gets the step only when the
key keeps its name, otherwise the skip is said).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import yaml
from pydantic import BaseModel, Field

from ombudsman.contracts.catalog import Catalog, TableInfo
from ombudsman.contracts.pipeline import load_pipeline
from ombudsman.metadata.classify import TableClass
from ombudsman.metadata.relationships import Relationship
from ombudsman.metadata.types import type_info

DEFAULT_CONNECTIONS = {"source": "${SOURCE_URL}", "target": "${TARGET_URL}"}
ValidatorFields = Callable[[str], set[str] | None]


class ApprovedMapping(BaseModel):
    """An approved table pair and its column map (source column → target column)."""

    source_table: str
    target_table: str
    columns: dict[str, str] = Field(default_factory=dict)
    confidence: float | None = None


class GeneratedPipeline(BaseModel):
    pipeline_id: str
    name: str
    description: str
    tags: list[str]
    yaml: str
    source_table: str
    target_table: str
    steps: list[str]
    skipped: list[str] = Field(default_factory=list)  # validators left out, with why


def engine_validator_fields(name: str) -> set[str] | None:
    """Parameter names of an installed validator, or None when it is not installed."""
    try:
        from ombudsman.engine.validators import get_validator
    except ImportError:  # pragma: no cover - the engine is a dependency of this service
        return None
    try:
        validator = get_validator(name)
    except Exception:
        return None
    params = getattr(validator, "Params", None)
    return set(params.model_fields) if params is not None else set()


def pipeline_id_for(table: str) -> str:
    """A stable id from a source table name: `sales.fact_sales` → `validate-sales-fact-sales`."""
    return "validate-" + re.sub(r"[^a-z0-9]+", "-", table.lower()).strip("-")[:90]


def _key_columns(table: TableInfo, cls: TableClass | None) -> list[str]:
    if table.primary_key:
        return list(table.primary_key)
    if cls and cls.business_key:
        return list(cls.business_key)
    for unique in table.unique_constraints:
        return list(unique)
    return []


def _date_grouping(table: TableInfo, kind: str, cls: TableClass, rels: list[Relationship]) -> list[str]:
    """Group fact measures by its date column, else by its key into a date dimension."""
    if cls.date_columns:
        return [cls.date_columns[0]]
    for rel in rels:
        if rel.child_table.lower() == table.qualified_name.lower() and "date" in rel.parent_table.lower():
            return list(rel.child_columns)
    for column in table.columns:
        if type_info(column, kind).family == "date":
            return [column.name]
    return []


def _row_hash_params(fields: set[str], keys: list[str], mapped: list[str] | None = None) -> dict[str, Any] | None:
    """row_hash's key parameter and, when the table's columns are mapped, the explicit list of mapped
    source columns: a column missing in the target is then `schema_columns`' finding, and row_hash
    compares the rest instead of erroring."""
    params: dict[str, Any] | None = None
    for name in ("key_columns", "keys", "key"):
        if name in fields:
            params = {name: keys} if keys else {}
            break
    if params is None:
        if keys:
            return None
        params = {}
    if mapped and "columns" in fields:
        params["columns"] = list(mapped)
    return params


def _mapped_columns(table: TableInfo, columns: dict[str, str]) -> list[str]:
    """The table's source columns that are mapped onto the target, in source order ([] when the
    mapping names no columns: then every column is compared by its own name)."""
    lowered = {c.lower() for c in columns}
    return [c.name for c in table.columns if c.name.lower() in lowered]


def _is_mapped(column: str, columns: dict[str, str]) -> bool:
    return not columns or column.lower() in {c.lower() for c in columns}


def build_pipeline(
    mapping: ApprovedMapping,
    source: Catalog,
    target: Catalog,
    classes: dict[str, TableClass],
    relationships: list[Relationship],
    approved: dict[str, ApprovedMapping],
    *,
    connections: dict[str, str] | None = None,
    fields: ValidatorFields = engine_validator_fields,
    key: list[str] | None = None,
) -> GeneratedPipeline:
    """The validation pipeline of one approved table pair (YAML checked against the spec). `key`:
    the table's key recorded in the catalog (confirmed, overridden or discovered), used by row_hash."""
    src_schema, src_name = mapping.source_table.rsplit(".", 1)
    table = source.table(src_schema, src_name)
    if table is None:
        raise ValueError(f"source table {mapping.source_table} is not in the source catalog")
    cls = classes.get(table.qualified_name.lower())
    role = cls.role if cls else "unknown"
    steps: list[dict[str, Any]] = []
    skipped: list[str] = []
    columns = dict(mapping.columns)

    def add(step_id: str, validator: str, parameters: dict[str, Any] | None = None, **extra: Any) -> None:
        known = fields(validator)
        if known is None:
            skipped.append(f"{validator}: not installed")
            return
        unknown = set(parameters or {}) - known
        if unknown:
            skipped.append(f"{validator}: parameters {sorted(unknown)} not supported by the installed validator")
            return
        step: dict[str, Any] = {
            "id": step_id,
            "validator": validator,
            "tables": {"source": mapping.source_table, "target": mapping.target_table},
        }
        if columns:
            step["columns"] = dict(columns)  # a copy per step: no YAML anchors
        if parameters:
            step["parameters"] = parameters
        step.update(extra)
        steps.append(step)

    add("schema_columns", "schema_columns")
    add("schema_datatypes", "schema_datatypes")
    add("schema_nullability", "schema_nullability")
    add("record_counts", "record_counts")
    keys = list(key) if key else _key_columns(table, cls)
    row_hash_fields = fields("row_hash")
    if row_hash_fields is None:
        skipped.append("row_hash: not installed")
    else:
        params = _row_hash_params(row_hash_fields, keys, _mapped_columns(table, columns))
        if params is None:
            skipped.append("row_hash: no key parameter known for the installed validator")
        else:
            add("row_hash", "row_hash", params, depends_on=["record_counts"])

    if cls and role == "dimension":
        scd2 = cls.scd2
        if cls.business_key:
            add("dim_business_keys", "dim_business_keys", {"business_key": cls.business_key, "unique": scd2 is None})
        if cls.surrogate_key and len(cls.surrogate_key) == 1:
            add("dim_surrogate_keys", "dim_surrogate_keys", {"surrogate_key": cls.surrogate_key[0]})
        if scd2 and cls.business_key and scd2.valid_from and scd2.valid_to:
            params = {"business_key": cls.business_key, "valid_from": scd2.valid_from, "valid_to": scd2.valid_to}
            if scd2.current_flag:
                params["current_flag"] = scd2.current_flag
            add("scd2", "scd2", params)
    if cls and role == "fact":
        group_by = _date_grouping(table, source.kind, cls, relationships)
        measures = [m for m in cls.measures if m not in group_by and _is_mapped(m, columns)]
        if measures:
            add("metric_sums", "metric_sums", {"measures": measures, "group_by": group_by})
    if cls:
        conformance = fields("fact_dim_conformance") or set()
        for rel in relationships:
            if rel.child_table.lower() != table.qualified_name.lower():
                continue
            parent = approved.get(rel.parent_table.lower())
            if parent is None:
                skipped.append(f"foreign_keys {rel.child_columns} → {rel.parent_table}: parent table not mapped")
                continue
            unmapped = [c for c in rel.child_columns if not _is_mapped(c, columns)]
            if unmapped:
                skipped.append(f"foreign_keys {rel.child_columns} → {rel.parent_table}: column(s) {unmapped} not mapped")
                continue
            target_ref_columns = [parent.columns.get(c, c) for c in rel.parent_columns]
            suffix = "_".join(c.lower() for c in rel.child_columns)
            params = {
                "columns": rel.child_columns,
                "references": rel.parent_table,
                "ref_columns": rel.parent_columns,
                "target_references": parent.target_table,
                "target_ref_columns": target_ref_columns,
            }
            add(f"fk_{suffix}", "foreign_keys", params)
            # the dimension's key as the target names it (the parent's approved column map)
            same_key = target_ref_columns == rel.parent_columns
            if role != "fact":
                continue
            if len(rel.child_columns) == 1 and (same_key or "target_dim_key" in conformance):
                conf: dict[str, Any] = {
                    "dimension": rel.parent_table,
                    "target_dimension": parent.target_table,
                    "fact_key": rel.child_columns[0],
                    "dim_key": rel.parent_columns[0],
                }
                if not same_key:
                    conf["target_dim_key"] = target_ref_columns[0]
                add(f"conformance_{suffix}", "fact_dim_conformance", conf)
            elif len(rel.child_columns) == 1:
                skipped.append(
                    f"fact_dim_conformance {rel.child_columns[0]} → {rel.parent_table}: the dimension key is named "
                    "differently on the target and the installed validator cannot map it"
                )
    spec: dict[str, Any] = {
        "name": f"validate {table.qualified_name}",
        "description": f"{role} {table.qualified_name} → {mapping.target_table} (generated by Ombudsman)",
        "connections": dict(connections or DEFAULT_CONNECTIONS),
        "defaults": {"source_connection": "source", "target_connection": "target"},
        "steps": steps,
    }
    text = yaml.safe_dump(spec, sort_keys=False, allow_unicode=True, width=120)
    load_pipeline(text)  # the spec's own structural checks: a generated pipeline is always loadable
    return GeneratedPipeline(
        pipeline_id=pipeline_id_for(table.qualified_name),
        name=spec["name"],
        description=spec["description"],
        tags=["generated", role] + (["scd2"] if cls and cls.scd2 else []),
        yaml=text,
        source_table=mapping.source_table,
        target_table=mapping.target_table,
        steps=[s["id"] for s in spec["steps"]],
        skipped=skipped,
    )


def generate_pipelines(
    approved: list[ApprovedMapping],
    source: Catalog,
    target: Catalog,
    classes: list[TableClass],
    relationships: list[Relationship],
    *,
    connections: dict[str, str] | None = None,
    fields: ValidatorFields = engine_validator_fields,
    keys: dict[str, list[str]] | None = None,
) -> list[GeneratedPipeline]:
    """One pipeline per approved table pair, in source-table order. `keys`: lower-case source table →
    its key recorded in the catalog (metadata/keys.py `effective_keys`)."""
    by_table = {c.table.lower(): c for c in classes}
    by_source = {m.source_table.lower(): m for m in approved}
    return [
        build_pipeline(m, source, target, by_table, relationships, by_source, connections=connections, fields=fields,
                       key=(keys or {}).get(m.source_table.lower()))
        for m in sorted(approved, key=lambda m: m.source_table.lower())
    ]


def dbt_sources(
    catalog: Catalog,
    classes: list[TableClass],
    relationships: list[Relationship],
    *,
    source_name: str | None = None,
    database: str | None = None,
) -> str:
    """A dbt `sources.yml` for the catalog's tables with schema tests from the generated checks:
    not_null (NOT NULL columns), unique (single-column keys of non-SCD2 tables),
    relationships (inferred references), accepted_values for SCD2 current flags."""
    by_table = {c.table.lower(): c for c in classes}
    sources: list[dict[str, Any]] = []
    for schema in catalog.schemas or sorted({t.schema_name for t in catalog.tables}):
        tables_out = []
        for table in [t for t in catalog.tables if t.schema_name == schema]:
            cls = by_table.get(table.qualified_name.lower())
            unique_keys: set[str] = set()
            if not (cls and cls.scd2):
                for key in [table.primary_key, *table.unique_constraints, cls.business_key if cls else []]:
                    if len(key) == 1:
                        unique_keys.add(key[0].lower())
            if cls and cls.scd2:
                unique_keys |= {c.lower() for c in cls.surrogate_key}
            refs = {
                r.child_columns[0].lower(): r
                for r in relationships
                if r.child_table.lower() == table.qualified_name.lower() and len(r.child_columns) == 1
            }
            columns_out = []
            for column in table.columns:
                tests: list[Any] = []
                if not column.nullable:
                    tests.append("not_null")
                if column.name.lower() in unique_keys:
                    tests.append("unique")
                rel = refs.get(column.name.lower())
                if rel is not None:
                    parent_schema, parent_table = rel.parent_table.rsplit(".", 1)
                    tests.append({"relationships": {
                        "to": f"source('{source_name or parent_schema}', '{parent_table}')",
                        "field": rel.parent_columns[0],
                    }})
                if cls and cls.scd2 and column.name == cls.scd2.current_flag:
                    tests.append({"accepted_values": {"values": [True, False], "quote": False}})
                entry: dict[str, Any] = {"name": column.name, "data_type": column.data_type}
                if tests:
                    entry["tests"] = tests
                columns_out.append(entry)
            table_entry: dict[str, Any] = {"name": table.name}
            if cls:
                table_entry["description"] = f"{cls.role}" + (" (SCD type 2)" if cls.scd2 else "")
                if len(table.primary_key) > 1:
                    table_entry["tests"] = [{"dbt_utils.unique_combination_of_columns": {
                        "combination_of_columns": list(table.primary_key)}}]
            table_entry["columns"] = columns_out
            tables_out.append(table_entry)
        source_entry: dict[str, Any] = {"name": source_name or schema, "schema": schema}
        if database or catalog.database:
            source_entry["database"] = database or catalog.database
        source_entry["tables"] = tables_out
        sources.append(source_entry)
    return yaml.safe_dump({"version": 2, "sources": sources}, sort_keys=False, allow_unicode=True, width=120)
