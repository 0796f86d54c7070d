"""Pipeline generation: one validation pipeline per approved table pair, validators chosen by the
table's classification, rendered as pipeline-spec YAML (libs/contracts pipeline.py). Pure (the
validator registry is only read); a step is generated only when the installed validator accepts
its parameters, otherwise the skip is said (generate_steps.py).

- every table: schema_columns, schema_datatypes (lossy fails), schema_nullability,
  schema_constraints (where the target declares constraints), record_counts, nulls on the source's
  NOT NULL columns, row_hash on the mapped columns (a column missing in the target is
  schema_columns' finding, the rest is still compared);
- dimension (generate_dimension.py): uniqueness of surrogate and business key, dim_business_keys,
  dim_surrogate_keys, scd2 where versioned, domain_values on low-cardinality attributes,
  ts_continuity on a date dimension's date column;
- fact (generate_fact.py): metric_sums / metric_averages on measures grouped by the date (bounded
  groups), late_arriving_facts against the date dimension, fact_dim_conformance per reference;
- every classified table: foreign_keys per inferred reference.

The dbt `sources.yml` export of the same checks is generate_dbt.py.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, Field

from ombudsman.contracts.catalog import Catalog, TableInfo
from ombudsman.contracts.pipeline import MAX_PIPELINE_BYTES, PipelineError, parse_pipeline, safe_dump_yaml
from ombudsman.metadata.classify import TableClass
from ombudsman.metadata.generate_dbt import dbt_sources
from ombudsman.metadata.generate_dimension import add_dimension_steps
from ombudsman.metadata.generate_fact import add_fact_steps, add_relationship_steps
from ombudsman.metadata.generate_steps import StepPlan, ValidatorFields
from ombudsman.metadata.relationships import Relationship

DEFAULT_CONNECTIONS = {"source": "${SOURCE_URL}", "target": "${TARGET_URL}"}
__all__ = ["DEFAULT_CONNECTIONS", "ApprovedMapping", "GeneratedPipeline", "ValidatorFields", "build_pipeline",
           "dbt_sources", "engine_validator_fields", "generate_pipelines", "pipeline_id_for"]


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


# libyaml when installed: pure-Python YAML was nearly all of the generation time at 900 tables


def _check_spec(spec: dict[str, Any], text: str) -> None:
    """The spec's own checks (those `load_pipeline` makes after parsing the YAML, on the dict the YAML
    was dumped from, without parsing it back): a generated pipeline is always loadable."""
    size = len(text.encode())
    if size > MAX_PIPELINE_BYTES:
        raise PipelineError([f"pipeline is {size} bytes; the limit is {MAX_PIPELINE_BYTES}"])
    parse_pipeline(spec)


def _add_constraints_step(plan: StepPlan, target: Catalog) -> None:
    """schema_constraints where the target keeps constraints: a target table that declares none (many
    Snowflake or lake targets drop unenforced constraints) gets no step, and foreign keys or unique
    constraints are compared only when the target declares some of that kind anywhere; said in `skipped`."""
    schema, name = plan.target_table.rsplit(".", 1) if "." in plan.target_table else ("", plan.target_table)
    mine = target.table(schema, name)
    if mine is not None and not (mine.primary_key or mine.unique_constraints or mine.foreign_keys):
        plan.skipped.append("schema_constraints: the target table declares no constraint")
        return
    params: dict[str, Any] = {}
    if not any(t.foreign_keys for t in target.tables):
        params["check_foreign_keys"] = False
        plan.skipped.append("schema_constraints: foreign keys not compared, the target declares none")
    if not any(t.unique_constraints for t in target.tables):
        params["check_unique"] = False
        plan.skipped.append("schema_constraints: unique constraints not compared, the target declares none")
    plan.add("schema_constraints", "schema_constraints", params or None)


def _add_table_steps(plan: StepPlan, table: TableInfo, target: Catalog, keys: list[str]) -> None:
    """What every table gets: schema ×4, record_counts, nulls on its NOT NULL (mapped) columns, row_hash."""
    plan.add("schema_columns", "schema_columns")
    plan.add("schema_datatypes", "schema_datatypes")
    plan.add("schema_nullability", "schema_nullability")
    _add_constraints_step(plan, target)
    plan.add("record_counts", "record_counts")
    not_null = [c.name for c in table.columns if not c.nullable and plan.is_mapped(c.name)]
    if not_null:
        plan.add("nulls", "nulls", {"columns": not_null})
    row_hash_fields = plan.fields("row_hash")
    if row_hash_fields is None:
        plan.skipped.append("row_hash: not installed")
        return
    params = _row_hash_params(row_hash_fields, keys, _mapped_columns(table, plan.columns))
    if params is None:
        plan.skipped.append("row_hash: no key parameter known for the installed validator")
    else:
        plan.add("row_hash", "row_hash", params, depends_on=["record_counts"])


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
    plan = StepPlan(mapping.source_table, mapping.target_table, mapping.columns, fields)
    _add_table_steps(plan, table, target, list(key) if key else _key_columns(table, cls))
    if cls and role == "dimension":
        add_dimension_steps(plan, table, cls, source.kind)
    if cls and role == "fact":
        add_fact_steps(plan, table, source.kind, cls, relationships, classes, approved)
    if cls:
        add_relationship_steps(plan, table, cls, relationships, approved)
    spec: dict[str, Any] = {
        "name": f"validate {table.qualified_name}",
        "description": f"{role} {table.qualified_name} → {mapping.target_table} (generated by Ombudsman)",
        "connections": dict(connections or DEFAULT_CONNECTIONS),
        "defaults": {"source_connection": "source", "target_connection": "target"},
        "steps": plan.steps,
    }
    text = safe_dump_yaml(spec)
    _check_spec(spec, text)
    tags = ["generated", role] + (["scd2"] if cls and cls.scd2 else []) + (["date"] if cls and cls.date_dimension else [])
    return GeneratedPipeline(
        pipeline_id=pipeline_id_for(table.qualified_name),
        name=spec["name"],
        description=spec["description"],
        tags=tags,
        yaml=text,
        source_table=mapping.source_table,
        target_table=mapping.target_table,
        steps=[s["id"] for s in spec["steps"]],
        skipped=plan.skipped,
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


