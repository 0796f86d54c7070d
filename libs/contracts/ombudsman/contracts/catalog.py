"""The catalog model: what a database holds (schemas, tables, columns, keys), from introspection
or from uploaded DDL. Shared by the engine (introspection), metadata (mapping) and the gateway."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, PrivateAttr


class ColumnInfo(BaseModel):
    name: str
    data_type: str  # the database's own type name, lower case, without length (e.g. "varchar", "numeric")
    ordinal: int  # 1-based position
    nullable: bool = True
    length: int | None = None  # character / binary length (-1: max)
    precision: int | None = None
    scale: int | None = None
    default: str | None = None


class ForeignKey(BaseModel):
    name: str | None = None
    columns: list[str]
    ref_schema: str
    ref_table: str
    ref_columns: list[str]


class TableInfo(BaseModel):
    schema_name: str
    name: str
    kind: Literal["table", "view"] = "table"
    columns: list[ColumnInfo] = Field(default_factory=list)
    primary_key: list[str] = Field(default_factory=list)
    foreign_keys: list[ForeignKey] = Field(default_factory=list)
    unique_constraints: list[list[str]] = Field(default_factory=list)
    row_count: int | None = None  # approximate, from the database's statistics

    @property
    def qualified_name(self) -> str:
        return f"{self.schema_name}.{self.name}"

    def column(self, name: str) -> ColumnInfo | None:
        lowered = name.lower()
        return next((c for c in self.columns if c.name.lower() == lowered), None)


class Catalog(BaseModel):
    """Every table and view of the introspected schemas of one database."""

    kind: str  # sqlserver | snowflake | postgres | duckdb
    database: str | None = None
    server_version: str | None = None
    schemas: list[str] = Field(default_factory=list)
    tables: list[TableInfo] = Field(default_factory=list)
    # (the tables list it was built from, its length, index by lower-case (schema, name))
    _index: tuple[Any, int, dict[tuple[str, str], TableInfo]] | None = PrivateAttr(default=None)

    def table(self, schema: str, name: str) -> TableInfo | None:
        """The table `schema.name` (case-insensitive), through an index built on first use: generating
        or approving 900 tables looked each one up in a list scan (quadratic)."""
        index = self._index
        if index is None or index[0] is not self.tables or index[1] != len(self.tables):
            built: dict[tuple[str, str], TableInfo] = {}
            for t in self.tables:
                built.setdefault((t.schema_name.lower(), t.name.lower()), t)  # the first, as the scan found
            index = self._index = (self.tables, len(self.tables), built)
        return index[2].get((schema.lower(), name.lower()))
