"""The guard on SQL a person writes (custom query steps, row filters): one read-only SELECT over tables.

User SQL is parsed with sqlglot in the dialect of the connection it runs on, and the tree is then
checked node by node:

- **node types are allow-listed** (`_ALLOWED`): query structure (SELECT, UNION/INTERSECT/EXCEPT,
  WITH/CTE, subqueries, FROM/JOIN/WHERE/GROUP BY/HAVING/QUALIFY/ORDER BY/LIMIT, windows), column and
  table names, literals, operators, predicates, casts, CASE and functions. Anything sqlglot parses
  into another node (INSERT, COPY, ATTACH, PRAGMA, SET, `SELECT ... INTO`, `FOR UPDATE`, Snowflake
  `$1` and `IDENTIFIER(...)`, opaque commands like `GET @stage`) is refused, so a statement kind
  sqlglot adds later is refused until someone allows it here.
- **functions are allowed except a deny-list of names** (`_DENIED_NAMES`, `_DENIED_PREFIXES`): the
  ordinary scalar, aggregate and window functions are many and differ per dialect (an allow-list
  of names would refuse legitimate queries every week), while the functions that reach files,
  the host, other servers or the server's settings are few and recognisable by name
  (`pg_read_file`, `lo_import`, `dblink`, `read_text`, `getenv`, `current_setting`, `xp_cmdshell`,
  `SYSTEM$...`, `OPENROWSET` ...). The deny-list is the second line: the first is that
- **nothing but a plain table name, a subquery or a VALUES list may stand in table position**: no
  table function at all (`read_csv(...)`, `glob(...)`, `generate_series(...)`, `TABLE(...)`,
  `UNNEST`, `LATERAL FLATTEN`), no stage (`@stage`), and no name that looks like a path or URL
  (DuckDB reads `FROM 'file.csv'` as a file).

On top of this, the database is asked to enforce what it can: PostgreSQL runs user SQL in a
read-only transaction, DuckDB is opened with `enable_external_access=false` (see
`ombudsman.engine.connectors.duckdb`), and every result has a row limit.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

from ombudsman.contracts.replies import Invalid

GUARDED_DIALECTS = ("postgres", "duckdb", "snowflake", "tsql")

_ALLOWED: tuple[type[exp.Expr], ...] = (
    # query structure
    exp.Select, exp.Union, exp.Intersect, exp.Except, exp.With, exp.CTE, exp.Subquery, exp.From, exp.Join,
    exp.Where, exp.Group, exp.Having, exp.Qualify, exp.Order, exp.Ordered, exp.Limit, exp.Offset, exp.Fetch,
    exp.Distinct, exp.Window, exp.WindowSpec, exp.Values, exp.Tuple, exp.Lateral, exp.Rollup, exp.Cube,
    exp.GroupingSets, exp.WithTableHint,
    # names
    exp.Table, exp.TableAlias, exp.Alias, exp.Aliases, exp.Column, exp.Identifier, exp.Star, exp.Dot,
    # values and expressions
    exp.Literal, exp.Null, exp.Boolean, exp.Var, exp.Interval, exp.DataType, exp.DataTypeParam, exp.Cast,
    exp.TryCast, exp.Case, exp.If, exp.Binary, exp.Unary, exp.Predicate, exp.Func, exp.Bracket, exp.Array,
    exp.Lambda, exp.Kwarg, exp.Filter, exp.WithinGroup, exp.IgnoreNulls, exp.RespectNulls, exp.Collate,
    exp.Slice, exp.PropertyEQ, exp.Struct, exp.Placeholder,  # a bound value (`?`), from the engine only
)

# Refused even though their node type is allowed (writes, row locks, side channels).
_WRITES: tuple[type[exp.Expr], ...] = (
    exp.Into, exp.Lock, exp.Insert, exp.Update, exp.Delete, exp.Merge, exp.Create, exp.Drop, exp.Alter, exp.Copy,
    exp.TruncateTable, exp.Command, exp.Set, exp.Transaction, exp.Commit, exp.Rollback,
)
_REFUSED: tuple[type[exp.Expr], ...] = (exp.Parameter, exp.ReadCSV, exp.ReadParquet)

_DENIED_NAMES = frozenset({
    # DuckDB: files, the host, other databases, settings
    "glob", "getenv", "query", "query_table", "current_setting", "sniff_csv", "load_extension",
    "which_secret", "parquet_metadata", "parquet_schema", "parquet_file_metadata", "parquet_kv_metadata",
    # PostgreSQL: files, large objects, other servers, settings, other sessions
    "set_config", "copy", "txid_current",
    "query_to_xml", "query_to_xml_and_xmlschema", "query_to_xmlschema", "cursor_to_xml", "cursor_to_xmlschema",
    "table_to_xml", "table_to_xml_and_xmlschema", "table_to_xmlschema", "schema_to_xml", "database_to_xml",
    "schema_to_xml_and_xmlschema", "database_to_xml_and_xmlschema", "schema_to_xmlschema", "database_to_xmlschema",
    # Snowflake: stages and files
    "get_presigned_url", "build_stage_file_url", "build_scoped_file_url", "get_stage_location",
    "get_relative_path", "get_absolute_path", "infer_schema", "result_scan", "validate",
    # SQL Server: other servers, files, the shell
    "openrowset", "openquery", "opendatasource", "openxml",
    # anywhere
    "system", "shell", "exec", "execute", "eval",
})
_DENIED_PREFIXES = (
    "read_", "pg_", "lo_", "dblink", "xp_", "sp_", "fn_", "system$", "duckdb_", "sqlite_", "postgres_",
    "mysql_", "iceberg_", "delta_",
)
_DENIED_SUFFIXES = ("_scan", "_attach", "_query", "_execute")
# a table name part that is a path, URL or stage rather than a name
_PATHLIKE = re.compile(r"[/\\:@~]|\.(csv|tsv|txt|json|jsonl|ndjson|parquet|db|duckdb|sqlite|xlsx|gz|zst)$", re.I)


class UnsafeSql(Invalid):
    """User SQL the guard refuses; the message says where it was written and what was refused."""


def check_user_query(text: str, dialect: str, where: str) -> exp.Query:
    """The one read-only query in `text` (parsed in `dialect`), or `UnsafeSql` naming `where`
    (e.g. "steps[0] 'totals': parameters.source_sql") and what was refused."""
    statements = _parse(text, dialect, where)
    if len(statements) != 1:
        raise _refuse(where, dialect, f"must be exactly one SELECT statement (found {len(statements)})")
    statement = statements[0]
    if not isinstance(statement, exp.Query):
        raise _refuse(where, dialect, f"must be a SELECT, not {_kind(statement)}")
    _check_tree(statement, dialect, where)
    return statement


def check_user_condition(text: str, dialect: str, where: str) -> exp.Expr:
    """A row filter: one boolean condition over columns (subqueries over tables allowed), parsed in
    `dialect`; `UnsafeSql` naming `where` otherwise."""
    statements = _parse(text, dialect, where)
    if len(statements) != 1:
        raise _refuse(where, dialect, f"a filter is one condition (found {len(statements)} statements)")
    try:
        condition = sqlglot.condition(text, dialect=dialect)
    except ParseError as exc:
        raise _refuse(where, dialect, f"not a valid condition: {_first_line(exc)}") from None
    if isinstance(condition, exp.Query | exp.Command) or not isinstance(condition, exp.Condition):
        raise _refuse(where, dialect, f"a filter must be a condition, not {_kind(condition)}")
    _check_tree(condition, dialect, where)
    return condition


def check_user_query_any(text: str, dialects: Iterable[str], where: str) -> None:
    """For SQL whose database is not known yet (a connection given as `${VAR}` or a project
    connection name): refused when the guard refuses it in any dialect that parses it, or when
    none parses it."""
    _check_any(check_user_query, text, dialects, where)


def check_user_condition_any(text: str, dialects: Iterable[str], where: str) -> None:
    """`check_user_condition` for a filter whose database is not known yet (see check_user_query_any)."""
    _check_any(check_user_condition, text, dialects, where)


def _check_any(check: Callable[[str, str, str], object], text: str, dialects: Iterable[str], where: str) -> None:
    names = list(dialects)
    parse_errors: list[UnsafeSql] = []
    for dialect in names:
        try:
            check(text, dialect, where)
        except UnsafeSql as exc:
            if exc.details.get("reason") != "parse":
                raise
            parse_errors.append(exc)
    if parse_errors and len(parse_errors) == len(names):
        raise parse_errors[0]


def _parse(text: str, dialect: str, where: str) -> list[exp.Expr]:
    if not text or not text.strip():
        raise _refuse(where, dialect, "the SQL is empty", reason="parse")
    try:
        statements = [s for s in sqlglot.parse(text, read=dialect) if s is not None]
    except (ParseError, sqlglot.errors.TokenError) as exc:
        raise _refuse(where, dialect, f"not valid {dialect} SQL: {_first_line(exc)}", reason="parse") from None
    if not statements:
        raise _refuse(where, dialect, "the SQL is empty", reason="parse")
    return statements


def _check_tree(tree: exp.Expr, dialect: str, where: str) -> None:
    for node in tree.walk():
        if isinstance(node, _WRITES):
            raise _refuse(where, dialect, f"may only read: it contains {_kind(node)}")
        if isinstance(node, _REFUSED) or not isinstance(node, _ALLOWED) or isinstance(node, exp.Command):
            raise _refuse(where, dialect, f"{_kind(node)} is not allowed ({_excerpt(node)})")
        if isinstance(node, exp.Func):
            name = function_name(node)
            if _denied(name):
                raise _refuse(where, dialect, f"function {name}() is not allowed: it can reach files, the host, "
                                              "other servers or settings")
        if isinstance(node, exp.From | exp.Join):
            _check_table_position(node.this, dialect, where)
        if isinstance(node, exp.Lateral) and not isinstance(node.this, exp.Subquery):
            raise _refuse(where, dialect, f"a table function is not allowed in FROM ({_excerpt(node)})")
        if isinstance(node, exp.Table):
            _check_table_name(node, dialect, where)


def _check_table_position(source: exp.Expr | None, dialect: str, where: str) -> None:
    """What may stand in FROM / JOIN: a table name, a subquery, a VALUES list."""
    if isinstance(source, exp.Subquery | exp.Values):
        return
    if isinstance(source, exp.Table) and isinstance(source.this, exp.Identifier):
        return
    raise _refuse(where, dialect, f"only tables and subqueries may be read: a table function or other source is "
                                  f"not allowed in FROM ({_excerpt(source)})")


def _check_table_name(table: exp.Table, dialect: str, where: str) -> None:
    parts = [table.args.get(k) for k in ("catalog", "db", "this")]
    for part in parts:
        if part is None:
            continue
        if not isinstance(part, exp.Identifier):
            raise _refuse(where, dialect, f"only plain schema.table names may be read ({_excerpt(table)})")
        name = part.name
        if _PATHLIKE.search(name) or (dialect in ("duckdb", "snowflake") and "." in name):
            raise _refuse(where, dialect, f"table name {name!r} looks like a file, URL or stage; only tables may be read")
    for arg in ("version", "format", "pattern", "changes", "rows_from", "sample", "when", "partition"):
        if table.args.get(arg):
            raise _refuse(where, dialect, f"table option {arg.upper()} is not allowed ({_excerpt(table)})")


def function_name(node: exp.Func) -> str:
    """A function's name as written (anonymous functions) or as sqlglot renders it, lower case."""
    if isinstance(node, exp.Anonymous):
        return str(node.name).lower()
    return node.sql_name().lower()


def _denied(name: str) -> bool:
    return (name in _DENIED_NAMES or name.startswith(_DENIED_PREFIXES) or name.endswith(_DENIED_SUFFIXES))


def _refuse(where: str, dialect: str, what: str, *, reason: str = "refused") -> UnsafeSql:
    return UnsafeSql(f"{where}: {what}", {"field": where, "dialect": dialect, "reason": reason})


def _kind(node: exp.Expr) -> str:
    return node.key.upper()


def _excerpt(node: exp.Expr | None) -> str:
    if node is None:
        return "nothing"
    try:
        text = node.sql()
    except Exception:
        text = node.key
    return text if len(text) <= 80 else text[:77] + "..."


def _first_line(exc: Exception) -> str:
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))
    return text.splitlines()[0] if text else type(exc).__name__
