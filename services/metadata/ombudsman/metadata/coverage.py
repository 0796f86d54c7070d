"""Coverage of a migration: which source tables and columns are neither mapped nor excluded by a
person, and the project-level pipeline whose `schema_coverage` steps (one per source schema) fail
for each of them at run time. Pure.

Exclusions are `MappingExcluded` events (a whole table, or some of its columns, with a note);
`fold_exclusion` folds one into the per-table exclusion document used by the domain state and the
read model alike.
"""

from __future__ import annotations

from typing import Any

import yaml
from pydantic import BaseModel, Field

from ombudsman.contracts import events as ev
from ombudsman.contracts.catalog import Catalog
from ombudsman.contracts.pipeline import load_pipeline
from ombudsman.metadata.generate import (
    DEFAULT_CONNECTIONS,
    ApprovedMapping,
    GeneratedPipeline,
    ValidatorFields,
)

COVERAGE_PIPELINE_ID = "validate-coverage"


class Exclusion(BaseModel):
    """What a person excluded of one source table: the whole table, or some columns; with notes."""

    source_table: str
    table: bool = False
    columns: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)


def fold_exclusion(current: Exclusion | None, event: ev.MappingExcluded) -> Exclusion | None:
    """The table's exclusion after `event` (None when nothing of the table stays excluded)."""
    found = current or Exclusion(source_table=event.source_table)
    lowered = {c.lower() for c in event.columns}
    if event.withdrawn:
        if not event.columns:
            return None
        found.columns = [c for c in found.columns if c.lower() not in lowered]
    elif not event.columns:
        found.table = True
    else:
        found.columns += [c for c in event.columns if c.lower() not in {x.lower() for x in found.columns}]
    if event.note and not event.withdrawn:
        found.notes.append(event.note)
    return found if found.table or found.columns else None


class Uncovered(BaseModel):
    """Source tables and columns neither mapped nor excluded (as known from the extracted catalogs)."""

    tables: list[str] = Field(default_factory=list)
    columns: list[dict[str, str]] = Field(default_factory=list)  # {table, column}

    def empty(self) -> bool:
        return not self.tables and not self.columns


def uncovered(source: Catalog, approved: list[ApprovedMapping], excluded: dict[str, Exclusion]) -> Uncovered:
    """What the coverage check will report, from the catalogs extracted now."""
    by_source = {m.source_table.lower(): m for m in approved}
    found = Uncovered()
    for table in sorted(source.tables, key=lambda t: t.qualified_name.lower()):
        key = table.qualified_name.lower()
        exclusion = excluded.get(key)
        if exclusion is not None and exclusion.table:
            continue
        mapping = by_source.get(key)
        if mapping is None:
            found.tables.append(table.qualified_name)
            continue
        known = {c.lower() for c in mapping.columns} | {c.lower() for c in (exclusion.columns if exclusion else [])}
        found.columns += [{"table": table.qualified_name, "column": c.name}
                          for c in table.columns if c.name.lower() not in known]
    return found


def _schema_of(name: str) -> str:
    return name.rsplit(".", 1)[0] if "." in name else ""


def build_coverage_pipeline(
    source: Catalog,
    target: Catalog,
    approved: list[ApprovedMapping],
    excluded: dict[str, Exclusion],
    *,
    connections: dict[str, str] | None = None,
    fields: ValidatorFields | None = None,
) -> GeneratedPipeline | None:
    """The project's coverage pipeline: one `schema_coverage` step per source schema, its parameters
    the approved mapping and the exclusions of that schema's tables. None (with nothing to run) when
    the validator is not installed."""
    from ombudsman.metadata.generate import engine_validator_fields

    if (fields or engine_validator_fields)("schema_coverage") is None:
        return None
    schemas = source.schemas or sorted({t.schema_name for t in source.tables})
    target_schemas = target.schemas or sorted({t.schema_name for t in target.tables})
    steps: list[dict[str, Any]] = []
    for schema in schemas:
        tables = {
            m.source_table: {"target": m.target_table, "columns": sorted(m.columns),
                             **({"excluded_columns": sorted(excluded[m.source_table.lower()].columns)}
                                if m.source_table.lower() in excluded else {})}
            for m in sorted(approved, key=lambda m: m.source_table.lower())
            if _schema_of(m.source_table).lower() == schema.lower()
        }
        excluded_tables = sorted(e.source_table for e in excluded.values()
                                 if e.table and _schema_of(e.source_table).lower() == schema.lower())
        steps.append({
            "id": "coverage_" + "".join(ch if ch.isalnum() or ch in "_-" else "_" for ch in schema.lower())[:100],
            "validator": "schema_coverage",
            "description": f"every table and column of source schema {schema} is mapped or excluded",
            "parameters": {"source_schemas": [schema], "target_schemas": list(target_schemas), "tables": tables,
                           "excluded_tables": excluded_tables},
        })
    spec: dict[str, Any] = {
        "name": "coverage",
        "description": "every source table and column is mapped or excluded by a person (generated by Ombudsman)",
        "connections": dict(connections or DEFAULT_CONNECTIONS),
        "defaults": {"source_connection": "source", "target_connection": "target"},
        "steps": steps,
    }
    text = yaml.safe_dump(spec, sort_keys=False, allow_unicode=True, width=120)
    load_pipeline(text)
    return GeneratedPipeline(
        pipeline_id=COVERAGE_PIPELINE_ID, name="coverage", description=spec["description"],
        tags=["generated", "coverage"], yaml=text, source_table="*", target_table="*",
        steps=[s["id"] for s in steps],
    )
