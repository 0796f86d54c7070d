"""Uploaded DDL → catalog: CREATE TABLE (and ALTER TABLE … ADD CONSTRAINT) statements in T-SQL,
Snowflake or PostgreSQL parsed with sqlglot into `contracts.catalog.Catalog`. Pure: no I/O.

Statements that describe no table (SET, USE, CREATE INDEX, GRANT, …) are skipped; a statement
sqlglot cannot parse is an `Invalid` error naming its line and the statement it belongs to.
"""

from __future__ import annotations

import re
from typing import Any, Literal

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokens import Token, TokenType

from ombudsman.contracts.catalog import Catalog, ColumnInfo, ForeignKey, TableInfo
from ombudsman.contracts.replies import Invalid

DdlDialect = Literal["tsql", "snowflake", "postgres"]
KIND_BY_DIALECT: dict[str, str] = {"tsql": "sqlserver", "snowflake": "snowflake", "postgres": "postgres"}
DIALECT_ALIASES: dict[str, str] = {
    "tsql": "tsql",
    "sqlserver": "tsql",
    "mssql": "tsql",
    "snowflake": "snowflake",
    "postgres": "postgres",
    "postgresql": "postgres",
}
DEFAULT_SCHEMA: dict[str, str] = {"tsql": "dbo", "snowflake": "PUBLIC", "postgres": "public"}
MAX_DDL_BYTES = 10 * 1024 * 1024
_GO_LINE = re.compile(r"^[ \t]*GO(?:[ \t]+\d+)?[ \t]*;?[ \t]*$", re.IGNORECASE | re.MULTILINE)
# Types whose rendered names differ from what the database itself calls them.
_TYPE_NAMES: dict[tuple[str, str], str] = {
    ("snowflake", "timestampntz"): "timestamp_ntz",
    ("snowflake", "timestampltz"): "timestamp_ltz",
    ("snowflake", "timestamptz"): "timestamp_tz",
    ("snowflake", "decimal"): "number",
    ("snowflake", "double"): "float",
    ("postgres", "timestamptz"): "timestamp with time zone",
    ("postgres", "int"): "integer",
    ("postgres", "decimal"): "numeric",
    ("tsql", "integer"): "int",
    ("tsql", "numeric"): "decimal",
}
_LENGTH_TYPES = {
    exp.DataType.Type.CHAR,
    exp.DataType.Type.NCHAR,
    exp.DataType.Type.VARCHAR,
    exp.DataType.Type.NVARCHAR,
    exp.DataType.Type.BINARY,
    exp.DataType.Type.VARBINARY,
}


_SERIALS = {
    exp.DataType.Type.SMALLSERIAL: "smallint",
    exp.DataType.Type.SERIAL: "integer",
    exp.DataType.Type.BIGSERIAL: "bigint",
}


class Statement:
    """One statement of a DDL file: its text, first line (1-based) and ordinal."""

    def __init__(self, text: str, line: int, index: int):
        self.text = text
        self.line = line
        self.index = index

    def label(self) -> str:
        head = " ".join(self.text.split())[:60]
        return f"statement {self.index} ('{head}…')" if len(head) == 60 else f"statement {self.index} ('{head}')"


def normalise_dialect(dialect: str) -> str:
    """`tsql`, `snowflake` or `postgres` for any accepted spelling, else Invalid."""
    found = DIALECT_ALIASES.get(dialect.lower().strip())
    if found is None:
        raise Invalid(
            f"unsupported DDL dialect {dialect!r}",
            {"field": "dialect", "supported": sorted(set(DIALECT_ALIASES.values()))},
        )
    return found


def split_statements(text: str, dialect: str) -> list[Statement]:
    """Split a script into statements at `;` and T-SQL `GO` lines, keeping each one's line."""
    text = _GO_LINE.sub(lambda m: ";".ljust(len(m.group(0))), text)
    try:
        tokens = sqlglot.Dialect.get_or_raise(dialect).tokenize(text)
    except TokenError as exc:
        line = _failing_line(text, dialect)
        raise Invalid(
            f"DDL line {line}: cannot read the SQL text ({_first_line(str(exc))})",
            {"line": line},
        ) from None
    statements: list[Statement] = []
    chunk: list[Token] = []
    for token in [*tokens, None]:
        if token is None or token.token_type == TokenType.SEMICOLON:
            if chunk:
                body = text[chunk[0].start : chunk[-1].end + 1]
                statements.append(Statement(body, chunk[0].line, len(statements) + 1))
            chunk = []
        else:
            chunk.append(token)
    return statements


def _first_line(message: str) -> str:
    return message.strip().splitlines()[0] if message.strip() else "unknown error"


def _failing_line(text: str, dialect: str) -> int:
    """The first line whose prefix the tokenizer refuses (an unterminated string or comment)."""
    lines = text.splitlines()
    low, high = 1, len(lines)
    tokenizer = sqlglot.Dialect.get_or_raise(dialect)
    while low < high:
        mid = (low + high) // 2
        try:
            tokenizer.tokenize("\n".join(lines[:mid]))
            low = mid + 1
        except TokenError:
            high = mid
    return low


def parse_ddl(
    text: str, dialect: str, *, database: str | None = None, default_schema: str | None = None
) -> Catalog:
    """Parse a DDL script into a catalog; `Invalid` names the line and statement that failed."""
    dialect = normalise_dialect(dialect)
    if len(text.encode()) > MAX_DDL_BYTES:
        raise Invalid(f"DDL is larger than {MAX_DDL_BYTES} bytes", {"field": "ddl"})
    schema = default_schema or DEFAULT_SCHEMA[dialect]
    tables: dict[tuple[str, str], TableInfo] = {}
    pending: list[tuple[Statement, exp.Alter]] = []
    for statement in split_statements(text, dialect):
        parsed = _parse_statement(statement, dialect)
        if isinstance(parsed, exp.Create) and isinstance(parsed.this, exp.Schema):
            if (parsed.args.get("kind") or "").upper() != "TABLE":
                continue
            table = _table_from_create(parsed, dialect, schema, statement)
            key = (table.schema_name.lower(), table.name.lower())
            if key in tables:
                raise Invalid(
                    f"DDL line {statement.line}: {statement.label()}: table {table.qualified_name} is defined twice",
                    {"line": statement.line, "statement": statement.index},
                )
            tables[key] = table
        elif isinstance(parsed, exp.Alter):
            pending.append((statement, parsed))
    for statement, alter in pending:
        _apply_alter(alter, tables, dialect, schema, statement)
    if not tables:
        raise Invalid("DDL holds no CREATE TABLE statement", {"field": "ddl"})
    ordered = sorted(tables.values(), key=lambda t: (t.schema_name.lower(), t.name.lower()))
    return Catalog(
        kind=KIND_BY_DIALECT[dialect],
        database=database,
        schemas=sorted({t.schema_name for t in ordered}, key=str.lower),
        tables=ordered,
    )


def _parse_statement(statement: Statement, dialect: str) -> Any:
    try:
        parsed = sqlglot.parse_one(statement.text, read=dialect, error_level=sqlglot.ErrorLevel.RAISE)
    except ParseError as exc:
        detail = exc.errors[0] if exc.errors else {}
        line = statement.line + int(detail.get("line", 1)) - 1
        description = detail.get("description") or _first_line(str(exc))
        near = detail.get("highlight")
        where = f" near {near!r}" if near else ""
        raise Invalid(
            f"DDL line {line}: {statement.label()}: {description}{where}",
            {"line": line, "statement": statement.index, "column": detail.get("col")},
        ) from None
    if isinstance(parsed, exp.Command):
        word = str(parsed.this).upper()
        if word in {"CREATE", "ALTER"}:
            raise Invalid(
                f"DDL line {statement.line}: {statement.label()}: not understood as {word} TABLE",
                {"line": statement.line, "statement": statement.index},
            )
    return parsed


def _name(node: exp.Expression | None) -> str:
    if node is None:
        return ""
    if isinstance(node, exp.Identifier):
        return str(node.this)
    if isinstance(node, exp.Ordered | exp.Column):
        return _name(node.this)
    return node.name


def _table_name(table: exp.Table, schema: str) -> tuple[str, str]:
    return (_name(table.args.get("db")) or schema, _name(table.this))


def _int(node: Any) -> int | None:
    if isinstance(node, exp.DataTypeParam):
        node = node.this
    if isinstance(node, exp.Literal) and not node.is_string:
        try:
            return int(str(node.this))
        except ValueError:
            return None
    if isinstance(node, exp.Var) and str(node.this).upper() == "MAX":
        return -1
    return None


def type_name(kind: exp.DataType, dialect: str) -> str:
    """The database's own lower-case name of a parsed type, without its parameters."""
    bare = exp.DataType(this=kind.this, nested=kind.args.get("nested", False))
    if kind.this == exp.DataType.Type.USERDEFINED:
        return str(kind.args.get("kind") or kind.sql(dialect)).lower()
    rendered = bare.sql(dialect).lower()
    rendered = re.sub(r"\(.*\)$", "", rendered).strip()
    return _TYPE_NAMES.get((dialect, rendered), rendered)


def column_from_def(column: exp.ColumnDef, ordinal: int, dialect: str) -> ColumnInfo:
    """A catalog column from a sqlglot column definition (type parameters, NULL/NOT NULL, DEFAULT)."""
    kind = column.args.get("kind")
    data_type, length, precision, scale = "unknown", None, None, None
    if isinstance(kind, exp.DataType):
        data_type = type_name(kind, dialect)
        params = [_int(p) for p in kind.expressions]
        if kind.this in _LENGTH_TYPES:
            length = params[0] if params else None
        elif kind.this in {exp.DataType.Type.DECIMAL, exp.DataType.Type.BIGDECIMAL} or data_type in {
            "numeric",
            "number",
            "decimal",
        }:
            precision = params[0] if params else None
            scale = params[1] if len(params) > 1 else (0 if params else None)
        elif params and params[0] is not None and params[0] >= 0:
            precision = params[0]
    nullable, default = True, None
    if dialect == "postgres" and isinstance(kind, exp.DataType) and kind.this in _SERIALS:
        # what PostgreSQL itself reports for a serial column: the integer type and a sequence default
        data_type, default, nullable = _SERIALS[kind.this], "nextval(...)", False
    for constraint in column.constraints:
        ckind = constraint.args.get("kind")
        if isinstance(ckind, exp.NotNullColumnConstraint):
            nullable = bool(ckind.args.get("allow_null"))
        elif isinstance(ckind, exp.PrimaryKeyColumnConstraint):
            nullable = False
        elif isinstance(ckind, exp.DefaultColumnConstraint):
            default = ckind.this.sql(dialect)
    return ColumnInfo(
        name=_name(column.this),
        data_type=data_type,
        ordinal=ordinal,
        nullable=nullable,
        length=length,
        precision=precision,
        scale=scale,
        default=default,
    )


def _table_from_create(create: exp.Create, dialect: str, default_schema: str, statement: Statement) -> TableInfo:
    schema_node = create.this
    assert isinstance(schema_node, exp.Schema)
    table_node = schema_node.this
    if not isinstance(table_node, exp.Table):
        raise Invalid(
            f"DDL line {statement.line}: {statement.label()}: CREATE TABLE without a table name",
            {"line": statement.line, "statement": statement.index},
        )
    schema, name = _table_name(table_node, default_schema)
    info = TableInfo(schema_name=schema, name=name)
    for item in schema_node.expressions:
        if isinstance(item, exp.ColumnDef):
            column = column_from_def(item, len(info.columns) + 1, dialect)
            info.columns.append(column)
            for constraint in item.constraints:
                ckind = constraint.args.get("kind")
                if isinstance(ckind, exp.PrimaryKeyColumnConstraint):
                    info.primary_key = [column.name]
                elif isinstance(ckind, exp.UniqueColumnConstraint):
                    info.unique_constraints.append([column.name])
                elif isinstance(ckind, exp.Reference):
                    info.foreign_keys.append(_reference([column.name], ckind, None, default_schema))
        else:
            _apply_constraint(info, item, default_schema, None)
    _check_keys(info, statement)
    return info


def _reference(columns: list[str], ref: exp.Reference, name: str | None, default_schema: str) -> ForeignKey:
    target = ref.this
    ref_columns: list[str] = []
    if isinstance(target, exp.Schema):
        ref_columns = [_name(e) for e in target.expressions]
        target = target.this
    assert isinstance(target, exp.Table)
    ref_schema, ref_table = _table_name(target, default_schema)
    return ForeignKey(name=name, columns=columns, ref_schema=ref_schema, ref_table=ref_table, ref_columns=ref_columns)


def _apply_constraint(info: TableInfo, item: exp.Expression, default_schema: str, name: str | None) -> None:
    """Table-level constraints: PRIMARY KEY, UNIQUE, FOREIGN KEY (named or not, T-SQL CLUSTERED too)."""
    if isinstance(item, exp.Constraint):
        constraint_name = _name(item.this) or None
        parts = list(item.expressions)
        is_pk = any(isinstance(p, exp.PrimaryKeyColumnConstraint) for p in parts)
        is_unique = any(isinstance(p, exp.UniqueColumnConstraint) and p.this is None for p in parts)
        for part in parts:
            if isinstance(part, exp.ClusteredColumnConstraint | exp.NonClusteredColumnConstraint):
                columns = [_name(c) for c in part.this or []]
                if is_pk:
                    info.primary_key = columns
                elif is_unique:
                    info.unique_constraints.append(columns)
            else:
                _apply_constraint(info, part, default_schema, constraint_name)
    elif isinstance(item, exp.PrimaryKey):
        info.primary_key = [_name(e) for e in item.expressions]
    elif isinstance(item, exp.UniqueColumnConstraint) and isinstance(item.this, exp.Schema):
        info.unique_constraints.append([_name(e) for e in item.this.expressions])
    elif isinstance(item, exp.ForeignKey):
        reference = item.args.get("reference")
        if isinstance(reference, exp.Reference):
            columns = [_name(e) for e in item.expressions]
            info.foreign_keys.append(_reference(columns, reference, name, default_schema))


def _check_keys(info: TableInfo, statement: Statement) -> None:
    names = {c.name.lower() for c in info.columns}
    keyed = [*info.primary_key, *(c for u in info.unique_constraints for c in u)]
    keyed += [c for fk in info.foreign_keys for c in fk.columns]
    missing = sorted({c for c in keyed if c.lower() not in names})
    if missing:
        raise Invalid(
            f"DDL line {statement.line}: {statement.label()}: key names unknown column(s) {', '.join(missing)}",
            {"line": statement.line, "statement": statement.index, "columns": missing},
        )
    for column in info.columns:
        if column.name.lower() in {c.lower() for c in info.primary_key}:
            column.nullable = False


def _apply_alter(
    alter: exp.Alter, tables: dict[tuple[str, str], TableInfo], dialect: str, default_schema: str, statement: Statement
) -> None:
    target = alter.this
    if not isinstance(target, exp.Table):
        return
    schema, name = _table_name(target, default_schema)
    info = tables.get((schema.lower(), name.lower()))
    constraints = [
        c for action in alter.args.get("actions") or [] if isinstance(action, exp.AddConstraint) for c in action.expressions
    ]
    if not constraints:
        return
    if info is None:
        raise Invalid(
            f"DDL line {statement.line}: {statement.label()}: ALTER TABLE names unknown table {schema}.{name}",
            {"line": statement.line, "statement": statement.index},
        )
    for constraint in constraints:
        _apply_constraint(info, constraint, default_schema, None)
    _check_keys(info, statement)
