"""Target DDL from a source catalog: CREATE TABLE statements for Snowflake, PostgreSQL, BigQuery and
Databricks, rendered by sqlglot, with every lossy conversion flagged (a SQL comment on the column
and an entry in the returned list). Pure.

The engine's type map (`ombudsman.engine.typemap.map_type`, one dialect class per database,
BigQuery and Databricks included) chooses each target type and says how faithful it is: the
narrowest target type that holds the source's values; when none does (a timestamp offset BigQuery
cannot keep, 7 fractional digits PostgreSQL rounds to 6, a DECIMAL(50,2) Snowflake caps at 38
digits …) the conversion is lossy.
"""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import BaseModel, Field
from sqlglot import exp

from ombudsman.contracts.catalog import Catalog, ColumnInfo, ForeignKey, TableInfo
from ombudsman.contracts.commands.metadata import TargetDdlKind
from ombudsman.contracts.replies import Invalid
from ombudsman.engine.typemap import map_type

TargetKind = TargetDdlKind
TARGETS: tuple[str, ...] = get_args(TargetDdlKind)
NameCase = Literal["upper", "lower", "preserve"]
DEFAULT_CASE: dict[str, NameCase] = {"snowflake": "upper", "postgres": "lower", "bigquery": "preserve",
                                     "databricks": "lower"}


class LossyConversion(BaseModel):
    table: str
    column: str
    source_type: str
    target_type: str
    compatibility: Literal["lossy", "incompatible"]
    reason: str


class TargetDdl(BaseModel):
    target: TargetKind
    statements: list[str] = Field(default_factory=list)
    lossy: list[LossyConversion] = Field(default_factory=list)
    table_names: dict[str, str] = Field(default_factory=dict)  # source schema.table → target schema.table

    @property
    def sql(self) -> str:
        return "".join(f"{s};\n\n" for s in self.statements)


def _name(name: str, case: NameCase) -> str:
    return name.upper() if case == "upper" else name.lower() if case == "lower" else name


def _source_type_text(column: ColumnInfo) -> str:
    from ombudsman.metadata.diff import render_type

    return render_type(column)


def _convert(column: ColumnInfo, source_kind: str, target: str) -> tuple[exp.DataType, str, str | None, str | None]:
    """The target type of a column (the engine's type map: `ombudsman.engine.typemap.map_type`), its
    fidelity, why when not lossless, and a note worth a comment."""
    mapped = map_type(source_kind, column, target)
    reason = None if mapped.fidelity == "lossless" else (mapped.note or f"{mapped.fidelity} conversion")
    note = mapped.note if mapped.fidelity == "lossless" and mapped.note else None
    return exp.DataType.build(mapped.target_type, dialect=target), mapped.fidelity, reason, note


def table_ddl(
    table: TableInfo,
    source_kind: str,
    target: str,
    *,
    schema: str,
    case: NameCase,
    with_primary_key: bool = True,
) -> tuple[exp.Create, list[LossyConversion]]:
    """One CREATE TABLE expression for `target` and the lossy conversions of its columns."""
    lossy: list[LossyConversion] = []
    columns: list[exp.Expression] = []
    for column in table.columns:
        kind, verdict, reason, note = _convert(column, source_kind, target)
        if verdict != "lossless" or reason:
            verdict = "lossy" if verdict == "lossless" else verdict
        constraints = [] if column.nullable else [exp.ColumnConstraint(kind=exp.NotNullColumnConstraint())]
        node = exp.ColumnDef(this=exp.to_identifier(_name(column.name, case)), kind=kind, constraints=constraints)
        if note:
            node.add_comments([f" NOTE: {note} "])
        if reason:
            rendered = kind.sql(dialect=target)
            node.add_comments([f" {verdict.upper()}: {column.data_type} → {rendered}: {reason} "])
            lossy.append(
                LossyConversion(
                    table=table.qualified_name,
                    column=column.name,
                    source_type=_source_type_text(column),
                    target_type=rendered,
                    compatibility=verdict,  # type: ignore[arg-type]
                    reason=reason,
                )
            )
        columns.append(node)
    if with_primary_key and table.primary_key:
        columns.append(exp.PrimaryKey(expressions=[exp.to_identifier(_name(c, case)) for c in table.primary_key]))
    create = exp.Create(
        this=exp.Schema(this=exp.table_(_name(table.name, case), db=schema), expressions=columns),
        kind="TABLE",
        exists=True,
    )
    return create, lossy


def _foreign_key(
    table: TableInfo, parent: TableInfo, fk: ForeignKey, index: int, schemas: dict[str, str], case: NameCase
) -> exp.Constraint:
    parent_table = exp.table_(_name(parent.name, case), db=schemas[parent.schema_name])
    reference = exp.Reference(
        this=exp.Schema(this=parent_table, expressions=[exp.to_identifier(_name(c, case)) for c in fk.ref_columns])
    )
    return exp.Constraint(
        this=exp.to_identifier(_name(fk.name or f"fk_{table.name}_{index}", case)),
        expressions=[exp.ForeignKey(expressions=[exp.to_identifier(_name(c, case)) for c in fk.columns],
                                    reference=reference)],
    )


def _parents_first(catalog: Catalog, tables: list[TableInfo]) -> tuple[list[TableInfo], set[tuple[str, int]]]:
    """Tables ordered so that every referenced table comes first; the foreign keys of a cycle
    (child name, fk index) are returned to be added by ALTER TABLE at the end."""
    by_name = {t.qualified_name.lower(): t for t in tables}
    ordered: list[TableInfo] = []
    deferred: set[tuple[str, int]] = set()
    state: dict[str, int] = {}  # 1 visiting, 2 done

    def visit(table: TableInfo) -> None:
        key = table.qualified_name.lower()
        state[key] = 1
        for index, fk in enumerate(table.foreign_keys, start=1):
            parent_key = f"{fk.ref_schema}.{fk.ref_table}".lower()
            parent = by_name.get(parent_key)
            if parent is None or parent_key == key:
                continue  # unknown parent (left out), or a self-reference (fine inline)
            if state.get(parent_key) == 1:
                deferred.add((table.qualified_name, index))
            elif state.get(parent_key) is None:
                visit(parent)
        state[key] = 2
        ordered.append(table)

    for table in tables:
        if state.get(table.qualified_name.lower()) is None:
            visit(table)
    return ordered, deferred


def generate_target_ddl(
    catalog: Catalog,
    target: str,
    *,
    schema_map: dict[str, str] | None = None,
    case: NameCase | None = None,
    foreign_keys: bool = True,
) -> TargetDdl:
    """CREATE SCHEMA / CREATE TABLE (and FOREIGN KEY) statements for every table of `catalog`.

    Schema names follow `schema_map` (source → target), else the source's, in the target's case.
    Primary and foreign keys are declared on Snowflake and PostgreSQL (BigQuery and Databricks only
    accept unenforced or Unity-Catalog constraints, so they are left out there); tables come parents
    first with their foreign keys inline, and only the keys of a reference cycle are added by ALTER TABLE.
    """
    if target not in TARGETS:
        raise Invalid(f"unsupported target {target!r}", {"field": "target", "supported": list(TARGETS)})
    case = case or DEFAULT_CASE[target]
    given = {k.lower(): v for k, v in (schema_map or {}).items()}
    with_keys = target in ("snowflake", "postgres")
    result = TargetDdl(target=target)  # type: ignore[arg-type]
    schemas: dict[str, str] = {}
    for table in catalog.tables:
        schemas[table.schema_name] = given.get(table.schema_name.lower()) or _name(table.schema_name, case)
    for schema in dict.fromkeys(schemas.values()):
        create_schema = exp.Create(this=exp.table_(schema), kind="SCHEMA", exists=True)
        result.statements.append(create_schema.sql(dialect=target, identify=True))
    tables = [t for t in catalog.tables if t.kind == "table"]
    ordered, deferred = _parents_first(catalog, tables) if with_keys and foreign_keys else (tables, set())
    alters: list[str] = []
    for table in ordered:
        schema = schemas[table.schema_name]
        create, lossy = table_ddl(table, catalog.kind, target, schema=schema, case=case, with_primary_key=with_keys)
        if with_keys and foreign_keys:
            for index, fk in enumerate(table.foreign_keys, start=1):
                parent = catalog.table(fk.ref_schema, fk.ref_table)
                if parent is None:
                    continue
                constraint = _foreign_key(table, parent, fk, index, schemas, case)
                if (table.qualified_name, index) in deferred:
                    # a cycle: the parent does not exist yet, so the key is added once it does
                    child = exp.table_(_name(table.name, case), db=schema)
                    alter = exp.Alter(this=child, kind="TABLE", actions=[exp.AddConstraint(expressions=[constraint])])
                    alters.append(alter.sql(dialect=target, identify=True))
                else:
                    create.this.append("expressions", constraint)
        result.statements.append(create.sql(dialect=target, pretty=True, identify=True))
        result.lossy.extend(lossy)
        result.table_names[table.qualified_name] = f"{schema}.{_name(table.name, case)}"
    result.statements.extend(alters)
    return result
