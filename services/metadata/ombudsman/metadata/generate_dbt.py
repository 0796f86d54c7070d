"""dbt `sources.yml` export of the generated checks. Pure."""

from __future__ import annotations

from typing import Any

import yaml

from ombudsman.contracts.catalog import Catalog
from ombudsman.metadata.classify import TableClass
from ombudsman.metadata.relationships import Relationship


def dbt_sources(
    catalog: Catalog,
    classes: list[TableClass],
    relationships: list[Relationship],
    *,
    source_name: str | None = None,
    database: str | None = None,
    descriptions: dict[str, dict[str, str]] | None = None,
) -> str:
    """A dbt `sources.yml` for the catalog's tables with schema tests from the generated checks:
    not_null (NOT NULL columns), unique (single-column keys of non-SCD2 tables),
    relationships (inferred references), accepted_values for SCD2 current flags; each column's
    approved description (`descriptions`: lower `schema.table` -> lower column -> text; a draft
    no person approved is never in it)."""
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
                described = (descriptions or {}).get(table.qualified_name.lower(), {}).get(column.name.lower())
                if described:
                    entry["description"] = described
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
