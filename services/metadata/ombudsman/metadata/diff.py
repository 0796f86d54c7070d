"""What changed between two extractions of one catalog: tables and columns added, removed, retyped. Pure."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from ombudsman.contracts.catalog import Catalog, ColumnInfo


class ColumnChange(BaseModel):
    column: str
    before: str
    after: str


class CatalogDiff(BaseModel):
    tables_added: list[str] = Field(default_factory=list)
    tables_removed: list[str] = Field(default_factory=list)
    columns_added: dict[str, list[str]] = Field(default_factory=dict)
    columns_removed: dict[str, list[str]] = Field(default_factory=dict)
    columns_retyped: dict[str, list[ColumnChange]] = Field(default_factory=dict)
    nullability_changed: dict[str, list[ColumnChange]] = Field(default_factory=dict)
    first_extraction: bool = False

    @property
    def empty(self) -> bool:
        return not (
            self.tables_added
            or self.tables_removed
            or self.columns_added
            or self.columns_removed
            or self.columns_retyped
            or self.nullability_changed
        )

    def summary(self) -> dict[str, Any]:
        """Counts for the MetadataExtracted event (the details stay in the projection)."""
        return {
            "first_extraction": self.first_extraction,
            "tables_added": len(self.tables_added),
            "tables_removed": len(self.tables_removed),
            "columns_added": sum(len(v) for v in self.columns_added.values()),
            "columns_removed": sum(len(v) for v in self.columns_removed.values()),
            "columns_retyped": sum(len(v) for v in self.columns_retyped.values()),
            "nullability_changed": sum(len(v) for v in self.nullability_changed.values()),
        }


def render_type(column: ColumnInfo) -> str:
    """`varchar(50)`, `numeric(12,2)`, `timestamp(6)`, `int`: the type with its parameters."""
    if column.length is not None:
        return f"{column.data_type}({'max' if column.length < 0 else column.length})"
    if column.precision is not None and column.scale is not None:
        return f"{column.data_type}({column.precision},{column.scale})"
    if column.precision is not None:
        return f"{column.data_type}({column.precision})"
    return column.data_type


def diff_catalogs(before: Catalog | None, after: Catalog) -> CatalogDiff:
    """Compare a previous extraction with a new one (tables and columns matched case-insensitively)."""
    if before is None:
        return CatalogDiff(tables_added=[t.qualified_name for t in after.tables], first_extraction=True)
    old = {t.qualified_name.lower(): t for t in before.tables}
    new = {t.qualified_name.lower(): t for t in after.tables}
    result = CatalogDiff(
        tables_added=[new[k].qualified_name for k in new if k not in old],
        tables_removed=[old[k].qualified_name for k in old if k not in new],
    )
    for key in new.keys() & old.keys():
        table_before, table_after = old[key], new[key]
        name = table_after.qualified_name
        cols_before = {c.name.lower(): c for c in table_before.columns}
        cols_after = {c.name.lower(): c for c in table_after.columns}
        added = [cols_after[c].name for c in cols_after if c not in cols_before]
        removed = [cols_before[c].name for c in cols_before if c not in cols_after]
        if added:
            result.columns_added[name] = added
        if removed:
            result.columns_removed[name] = removed
        for col in cols_after.keys() & cols_before.keys():
            b, a = cols_before[col], cols_after[col]
            if render_type(b) != render_type(a):
                result.columns_retyped.setdefault(name, []).append(
                    ColumnChange(column=a.name, before=render_type(b), after=render_type(a))
                )
            if b.nullable != a.nullable:
                result.nullability_changed.setdefault(name, []).append(
                    ColumnChange(
                        column=a.name,
                        before="null" if b.nullable else "not null",
                        after="null" if a.nullable else "not null",
                    )
                )
    for mapping in (result.columns_retyped, result.nullability_changed):
        for changes in mapping.values():
            changes.sort(key=lambda c: c.column.lower())
    result.tables_added.sort(key=str.lower)
    result.tables_removed.sort(key=str.lower)
    return result
