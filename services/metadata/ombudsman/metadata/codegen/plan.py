"""What every platform's generator renders from: one `TablePlan` per approved mapping, built from the
approved mappings, the source catalog, the table classes and the effective keys. Pure.

Names are kept exactly as the catalogs spell them (source names for reading, the approved target
names for writing); each generator quotes them for its own dialect. Types are the source's: the
target DDL chooses target types from them (target_ddl.py)."""

from __future__ import annotations

import hashlib
import re

from pydantic import BaseModel, Field

from ombudsman.contracts.catalog import Catalog, ColumnInfo, TableInfo
from ombudsman.contracts.replies import Invalid
from ombudsman.metadata.classify import TableClass
from ombudsman.metadata.generate import ApprovedMapping


class ColumnPlan(BaseModel):
    source: str  # source column, as the source catalog spells it
    target: str  # target column, as the approved mapping names it
    info: ColumnInfo  # the source column (type, nullability)


class Scd2Plan(BaseModel):
    """Target columns of a type 2 table: its business key and validity columns (valid_from is needed
    to end-date a version; the current flag is optional: `valid_to IS NULL` says current without it)."""

    business_key: list[str]
    valid_from: str
    valid_to: str
    current_flag: str | None = None
    attributes: list[str] = Field(default_factory=list)  # target columns whose change makes a new version


class TablePlan(BaseModel):
    source_schema: str
    source_table: str
    target_schema: str
    target_table: str
    columns: list[ColumnPlan]
    key: list[str] = Field(default_factory=list)  # target columns of the merge key ([] = append only)
    scd2: Scd2Plan | None = None
    slug: str  # a file- and identifier-safe name, unique within the plan

    @property
    def source_name(self) -> str:
        return f"{self.source_schema}.{self.source_table}"

    @property
    def target_name(self) -> str:
        return f"{self.target_schema}.{self.target_table}"

    def target_column(self, source_column: str) -> str | None:
        return next((c.target for c in self.columns if c.source.lower() == source_column.lower()), None)


class CodegenPlan(BaseModel):
    project_id: str
    source_kind: str  # connector kind of the source catalog (postgres, sqlserver, …)
    target_kind: str | None = None  # connector kind of the target catalog, when extracted
    tables: list[TablePlan]

    def target_catalog(self) -> Catalog:
        """The mapped tables under their target names and target column names with their source types:
        what the target DDL is generated from."""
        tables = [
            TableInfo(schema_name=t.target_schema, name=t.target_table, kind="table",
                      columns=[c.info.model_copy(update={"name": c.target}) for c in t.columns],
                      primary_key=list(t.key))
            for t in self.tables
        ]
        return Catalog(kind=self.source_kind, tables=tables, schemas=sorted({t.target_schema for t in self.tables}))


_UNSAFE = re.compile(r"[^a-z0-9]+")


def slug(name: str, taken: set[str] | None = None) -> str:
    """A lower-case ASCII name ([a-z][a-z0-9_]*) for file names and dbt names; a short hash of the
    original is added when the name had to change, so two hostile names never collide."""
    text = _UNSAFE.sub("_", name.lower()).strip("_")[:60] or "t"
    if not text[0].isalpha():
        text = f"t_{text}"
    if text != name.lower() or (taken is not None and text in taken):
        text = f"{text}_{hashlib.sha256(name.encode()).hexdigest()[:6]}"
    if taken is not None:
        taken.add(text)
    return text


def _split(name: str, field: str) -> tuple[str, str]:
    schema, _, table = name.rpartition(".")
    if not schema:
        raise Invalid(f"{field}: {name!r} must be schema.table", {"field": field})
    return schema, table


def _scd2(table_class: TableClass | None, columns: list[ColumnPlan], key: list[str],
          table: TablePlan) -> Scd2Plan | None:
    found = table_class.scd2 if table_class else None
    if found is None or not found.valid_from or not found.valid_to or not table_class.business_key:
        return None
    business = [table.target_column(c) for c in table_class.business_key]
    valid_from, valid_to = table.target_column(found.valid_from), table.target_column(found.valid_to)
    flag = table.target_column(found.current_flag) if found.current_flag else None
    if None in business or valid_from is None or valid_to is None:
        return None  # the versioning columns are not all mapped: loaded as a plain table
    surrogate = {c.lower() for c in table_class.surrogate_key}
    fixed = {c.lower() for c in (*business, valid_from, valid_to, flag) if c} | {
        (table.target_column(c) or "").lower() for c in surrogate} | {k.lower() for k in key}
    version = table.target_column(found.version) if found.version else None
    attributes = [c.target for c in columns if c.target.lower() not in fixed and c.target != version]
    return Scd2Plan(business_key=business, valid_from=valid_from, valid_to=valid_to, current_flag=flag,  # type: ignore[arg-type]
                    attributes=attributes)


def build_plan(
    project_id: str,
    approved: list[ApprovedMapping],
    source: Catalog,
    classes: list[TableClass],
    keys: dict[str, list[str]],
    *,
    target_kind: str | None = None,
) -> CodegenPlan:
    """One table plan per approved mapping whose source table is in the catalog, in the order of the
    source catalog. The merge key is the effective key (a person's, else declared, else discovered),
    else the primary key, else the business key; only when all its columns are mapped."""
    by_class = {c.table.lower(): c for c in classes}
    by_source = {m.source_table.lower(): m for m in approved}
    taken: set[str] = set()
    tables: list[TablePlan] = []
    for info in source.tables:
        mapping = by_source.get(info.qualified_name.lower())
        if mapping is None:
            continue
        target_schema, target_table = _split(mapping.target_table, "target_table")
        lowered = {k.lower(): v for k, v in mapping.columns.items()}
        columns = [ColumnPlan(source=c.name, target=lowered.get(c.name.lower(), c.name) if lowered else c.name, info=c)
                   for c in info.columns if not lowered or c.name.lower() in lowered]
        table_class = by_class.get(info.qualified_name.lower())
        plan = TablePlan(source_schema=info.schema_name, source_table=info.name, target_schema=target_schema,
                         target_table=target_table, columns=columns, slug=slug(target_table, taken))
        candidates = [keys.get(info.qualified_name.lower()), info.primary_key,
                      table_class.business_key if table_class else None]
        for candidate in candidates:
            mapped = [plan.target_column(c) for c in candidate or []]
            if mapped and None not in mapped:
                plan.key = mapped  # type: ignore[assignment]
                break
        plan.scd2 = _scd2(table_class, columns, plan.key, plan)
        tables.append(plan)
    return CodegenPlan(project_id=project_id, source_kind=source.kind, target_kind=target_kind, tables=tables)
