"""Target DDL from a source catalog: CREATE TABLE statements for Snowflake, PostgreSQL, BigQuery and
Databricks, rendered by sqlglot, with every lossy conversion flagged (a SQL comment on the column
and an entry in the returned list). Pure.

Between the databases the engine knows (SQL Server, Snowflake, PostgreSQL, DuckDB) the engine's
type map (`ombudsman.engine.typemap.map_type`) chooses each target type and says how faithful it
is. For BigQuery and Databricks each source column is read into its family and capacity (types.py)
and given the narrowest target type that holds it; when none does (a timestamp offset BigQuery cannot keep, 7 fractional digits
PostgreSQL rounds to 6, a DECIMAL(50,2) Snowflake caps at 38 digits …) the conversion is lossy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, Field
from sqlglot import exp

from ombudsman.contracts.catalog import Catalog, ColumnInfo, ForeignKey, TableInfo
from ombudsman.contracts.replies import Invalid
from ombudsman.metadata.types import ENGINE_KINDS, TypeInfo, compatibility, type_info

TargetKind = Literal["snowflake", "postgres", "bigquery", "databricks"]
TARGETS: tuple[str, ...] = ("snowflake", "postgres", "bigquery", "databricks")
NameCase = Literal["upper", "lower", "preserve"]
DEFAULT_CASE: dict[str, NameCase] = {"snowflake": "upper", "postgres": "lower", "bigquery": "preserve",
                                     "databricks": "lower"}
MAX_DECIMAL_DIGITS = {"snowflake": 38, "postgres": 1000, "bigquery": 76, "databricks": 38}
MAX_FRACTION = {"snowflake": 9, "postgres": 6, "bigquery": 6, "databricks": 6}
MAX_VARCHAR = {"snowflake": 16_777_216, "postgres": 10_485_760, "bigquery": None, "databricks": None}


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


@dataclass(frozen=True)
class _Choice:
    text: str  # type in the target's own syntax, parsed by sqlglot
    info: TypeInfo
    reason: str | None = None  # why the choice loses something, when it does


def _decimal(target: str, digits: int, scale: int) -> _Choice:
    limit = MAX_DECIMAL_DIGITS[target]
    reason = None
    if digits > limit:
        reason = f"{digits} digits exceed {target}'s maximum of {limit}"
        scale = max(0, min(scale, limit - (digits - scale)))
        digits = limit
    if target == "bigquery":
        name = "NUMERIC" if digits - scale <= 29 and scale <= 9 else "BIGNUMERIC"
        if scale > 38:
            reason = reason or "scale above 38 is not supported by BigQuery"
            scale = 38
    elif target == "snowflake":
        name = "NUMBER"
    else:
        name = "DECIMAL"
    info = TypeInfo("integer" if scale == 0 else "decimal", exp.DataType.Type.DECIMAL,
                    integer_digits=digits - scale, scale=scale)
    return _Choice(f"{name}({digits}, {scale})", info, reason)


def choose_type(source: TypeInfo, column: ColumnInfo, target: str) -> _Choice:
    """The target type for a source column (target syntax), with a reason when it is lossy."""
    T = exp.DataType.Type
    fam = source.family
    if fam == "integer":
        digits = source.integer_digits or 19
        if target == "bigquery" and (digits <= 18 or source.type in _SNOWFLAKE_INTS):
            return _Choice("INT64", TypeInfo("integer", T.BIGINT, integer_digits=19, scale=0))
        if target in ("postgres", "databricks") and digits <= 19:
            for name, dtype, width in (("SMALLINT", T.SMALLINT, 5), ("INT", T.INT, 10), ("BIGINT", T.BIGINT, 19)):
                if digits <= width and not (name == "SMALLINT" and digits > 4):
                    return _Choice(name, TypeInfo("integer", dtype, integer_digits=width, scale=0))
        if target == "snowflake" and source.type in _SNOWFLAKE_INTS:
            return _Choice(_SNOWFLAKE_INTS[source.type], TypeInfo("integer", T.DECIMAL, integer_digits=38, scale=0))
        return _decimal(target, digits, 0)
    if fam == "decimal":
        return _decimal(target, (source.integer_digits or 0) + (source.scale or 0), source.scale or 0)
    if fam == "float":
        single = (source.float_digits or 15) <= 7
        names = {"snowflake": "FLOAT", "postgres": "REAL" if single else "DOUBLE PRECISION",
                 "bigquery": "FLOAT64", "databricks": "FLOAT" if single else "DOUBLE"}
        digits = 7 if single and target in ("postgres", "databricks") else 15
        return _Choice(names[target], TypeInfo("float", T.DOUBLE, float_digits=digits))
    if fam == "string":
        length = source.length
        fixed = source.type in (T.CHAR, T.NCHAR) and length is not None
        limit = MAX_VARCHAR[target]
        if target in ("bigquery", "databricks"):
            return _Choice("STRING", TypeInfo("string", T.TEXT))
        if length is None or (limit is not None and length > limit):
            name = "VARCHAR" if target == "snowflake" else "TEXT"
            reason = f"length {length} exceeds {target}'s maximum" if length else None
            return _Choice(name, TypeInfo("string", T.TEXT, length=None if not reason else limit), reason)
        return _Choice(f"{'CHAR' if fixed else 'VARCHAR'}({length})", TypeInfo("string", T.VARCHAR, length=length))
    if fam == "binary":
        names = {"snowflake": "BINARY", "postgres": "BYTEA", "bigquery": "BYTES", "databricks": "BINARY"}
        return _Choice(names[target], TypeInfo("binary", T.VARBINARY))
    if fam == "boolean":
        return _Choice("BOOLEAN", TypeInfo("boolean", T.BOOLEAN))
    if fam == "date":
        return _Choice("DATE", TypeInfo("date", T.DATE))
    if fam in ("time", "timestamp", "timestamptz"):
        fraction = min(source.fraction if source.fraction is not None else 6, MAX_FRACTION[target])
        lost = (source.fraction or 0) > MAX_FRACTION[target]
        reason = f"fractional seconds {source.fraction} → {fraction} digits" if lost else None
        if fam == "time":
            if target == "databricks":
                return _Choice("STRING", TypeInfo("string", T.TEXT), "Databricks has no TIME type: stored as text")
            name = {"snowflake": f"TIME({fraction})", "postgres": f"TIME({fraction})", "bigquery": "TIME"}[target]
            return _Choice(name, TypeInfo("time", T.TIME, fraction=fraction), reason)
        if fam == "timestamp":
            name = {"snowflake": f"TIMESTAMP_NTZ({fraction})", "postgres": f"TIMESTAMP({fraction})",
                    "bigquery": "DATETIME", "databricks": "TIMESTAMP_NTZ"}[target]
            return _Choice(name, TypeInfo("timestamp", T.TIMESTAMP, fraction=fraction), reason)
        if target in ("bigquery", "databricks"):
            return _Choice("TIMESTAMP", TypeInfo("timestamp", T.TIMESTAMP, fraction=fraction),
                           f"{target} TIMESTAMP keeps the instant but not the original UTC offset")
        name = {"snowflake": f"TIMESTAMP_TZ({fraction})", "postgres": f"TIMESTAMPTZ({fraction})"}[target]
        return _Choice(name, TypeInfo("timestamptz", T.TIMESTAMPTZ, fraction=fraction), reason)
    if fam == "json":
        names = {"snowflake": "VARIANT", "postgres": "JSONB", "bigquery": "JSON", "databricks": "STRING"}
        if target == "databricks":
            return _Choice("STRING", TypeInfo("string", T.TEXT), "JSON stored as text")
        return _Choice(names[target], TypeInfo("json", T.JSON))
    if fam == "uuid":
        if target == "postgres":
            return _Choice("UUID", TypeInfo("uuid", T.UUID))
        text = "VARCHAR(36)" if target == "snowflake" else "STRING"
        return _Choice(text, TypeInfo("uuid", T.UUID), None)  # its canonical text form: nothing lost
    text = "VARCHAR" if target == "snowflake" else ("TEXT" if target == "postgres" else "STRING")
    return _Choice(text, TypeInfo("string", T.TEXT), f"no {target} equivalent of {column.data_type}: stored as text")


_SNOWFLAKE_INTS = {
    exp.DataType.Type.TINYINT: "TINYINT",
    exp.DataType.Type.SMALLINT: "SMALLINT",
    exp.DataType.Type.INT: "INT",
    exp.DataType.Type.BIGINT: "BIGINT",
    exp.DataType.Type.SERIAL: "INT",
    exp.DataType.Type.SMALLSERIAL: "SMALLINT",
    exp.DataType.Type.BIGSERIAL: "BIGINT",
}


def _name(name: str, case: NameCase) -> str:
    return name.upper() if case == "upper" else name.lower() if case == "lower" else name


def _source_type_text(column: ColumnInfo) -> str:
    from ombudsman.metadata.diff import render_type

    return render_type(column)


def _convert(column: ColumnInfo, source_kind: str, target: str) -> tuple[exp.DataType, str, str | None, str | None]:
    """The target type of a column, its fidelity, why when not lossless, and a note worth a comment.

    The engine's type map decides between the databases it knows (SQL Server, Snowflake,
    PostgreSQL, DuckDB); BigQuery and Databricks use the family rules of this module."""
    if source_kind in ENGINE_KINDS and target in ENGINE_KINDS:
        from ombudsman.engine.typemap import map_type

        mapped = map_type(source_kind, column, target)
        reason = None if mapped.fidelity == "lossless" else (mapped.note or f"{mapped.fidelity} conversion")
        note = mapped.note if mapped.fidelity == "lossless" and mapped.note else None
        return exp.DataType.build(mapped.target_type, dialect=target), mapped.fidelity, reason, note
    source = type_info(column, source_kind)
    choice = choose_type(source, column, target)
    verdict = compatibility(source, choice.info)
    reason = choice.reason
    if verdict != "lossless" and not reason:
        reason = f"{verdict} conversion {source.family} → {choice.info.family}"
    return exp.DataType.build(choice.text, dialect=target), verdict, reason, None


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
