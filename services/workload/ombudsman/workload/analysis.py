"""What one query reads and how: sqlglot (dialect tsql) over the query text, pure.

Per statement: the catalog tables it reads or writes (CTE names, `#temp` tables and `@table`
variables are not catalog tables), every column with how it is used (select, where, join, group_by,
order_by, having, aggregate) and the operators it is compared with, join pairs with their columns,
aggregates (SUM/AVG/COUNT/MIN/MAX) and on which column, and the columns filtered by dates.
Columns are resolved to their table through the aliases of their scope, and unqualified columns
through the catalog when several tables are in scope.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.scope import Scope, traverse_scope

from ombudsman.contracts.catalog import Catalog, TableInfo
from ombudsman.contracts.commands.workload import (
    schema_lookup as schema_lookup,  # its home is the command shapes
)

DEFAULT_SCHEMA = "dbo"
_AGGREGATES: dict[type[exp.Expr], str] = {
    exp.Sum: "SUM", exp.Avg: "AVG", exp.Count: "COUNT", exp.Min: "MIN", exp.Max: "MAX",
}
_OPERATORS: dict[type[exp.Expr], str] = {
    exp.EQ: "=", exp.NEQ: "<>", exp.GT: ">", exp.GTE: ">=", exp.LT: "<", exp.LTE: "<=",
    exp.In: "IN", exp.Between: "BETWEEN", exp.Like: "LIKE", exp.Is: "IS",
}
_RANGE_OPS = (exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Between, exp.EQ)
_PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")  # written unquoted: the database folds its case
_DATE_LITERAL = re.compile(r"^\d{4}-?\d{2}-?\d{2}")
_DATE_NAME = re.compile(r"(date|time|_at$|_on$|^dt_|_dt$|^dt$|day|month|year|period)", re.IGNORECASE)
_DATE_TYPES = ("date", "time", "datetime", "datetime2", "smalldatetime", "datetimeoffset", "timestamp",
               "timestamp_ntz", "timestamp_ltz", "timestamp_tz", "timestamptz")
_DATE_FUNCS = (exp.CurrentDate, exp.CurrentTimestamp, exp.DateAdd, exp.DateSub, exp.TsOrDsAdd, exp.DateTrunc,
               exp.CurrentDatetime)
_DATE_FUNC_NAMES = frozenset({"GETDATE", "GETUTCDATE", "SYSDATETIME", "SYSUTCDATETIME", "DATEADD", "EOMONTH",
                              "DATEFROMPARTS", "SYSDATETIMEOFFSET"})
ANALYSED = (exp.Query, exp.Insert, exp.Update, exp.Delete, exp.Merge)
STATEMENT_KINDS: dict[type[exp.Expr], str] = {
    exp.Select: "select", exp.Union: "select", exp.Intersect: "select", exp.Except: "select",
    exp.Insert: "insert", exp.Update: "update", exp.Delete: "delete", exp.Merge: "merge",
}


class CatalogIndex:
    """Table lookup by (schema, name) and by name alone, plus column names and types per table."""

    def __init__(self, catalog: Catalog | None, default_schema: str = DEFAULT_SCHEMA):
        self.catalog = catalog
        self.default_schema = default_schema
        self._by_key: dict[tuple[str, str], TableInfo] = {}
        self._by_name: dict[str, list[TableInfo]] = {}
        self._columns: dict[str, dict[str, str]] = {}
        self._tables: dict[str, TableInfo] = {}
        for table in catalog.tables if catalog else []:
            self._by_key[(table.schema_name.lower(), table.name.lower())] = table
            self._by_name.setdefault(table.name.lower(), []).append(table)
            self._columns[table.qualified_name] = {c.name.lower(): c.data_type.lower() for c in table.columns}
            self._tables[table.qualified_name] = table

    def table(self, qualified_name: str) -> TableInfo | None:
        """The catalog table of a resolved name."""
        return self._tables.get(qualified_name)

    def resolve(self, schema: str | None, name: str) -> tuple[str, bool]:
        """The table's qualified name (the catalog's spelling when it is there) and whether it is."""
        wanted_schema = (schema or self.default_schema).lower()
        table = self._by_key.get((wanted_schema, name.lower()))
        if table is None and schema is None:
            candidates = self._by_name.get(name.lower(), [])
            table = candidates[0] if len(candidates) == 1 else None
        if table is not None:
            return table.qualified_name, True
        return f"{wanted_schema}.{name.lower()}", False

    def columns(self, table: str) -> dict[str, str] | None:
        """Column name (lower case) -> data type of a catalog table; None when not in the catalog."""
        return self._columns.get(table)

    def column_name(self, table: str, column: str) -> str:
        """The catalog's spelling of a column (the text as written when unknown)."""
        info = self._tables.get(table)
        if info is not None:
            found = info.column(column)
            if found is not None:
                return found.name
        return column.lower()


@dataclass
class ColumnUse:
    """How one column is used in one query."""

    table: str
    column: str
    usages: set[str] = field(default_factory=set)
    operators: set[str] = field(default_factory=set)
    aggregates: set[str] = field(default_factory=set)


@dataclass
class QueryAnalysis:
    """Everything learned from one query text (one or more statements)."""

    kind: str = "select"
    tables: dict[str, bool] = field(default_factory=dict)  # qualified name -> in the catalog
    columns: dict[tuple[str, str], ColumnUse] = field(default_factory=dict)
    joins: set[tuple[str, str, str, str]] = field(default_factory=set)  # (left table, col, right table, col), sorted
    date_filters: set[tuple[str, str]] = field(default_factory=set)
    literal_filters: dict[str, tuple[str, str]] = field(default_factory=dict)  # identifier as written -> (table, col)
    ctes: set[str] = field(default_factory=set)
    temp_tables: set[str] = field(default_factory=set)
    features: set[str] = field(default_factory=set)  # window, cte, top, temp_table, subquery, nolock, ...
    replayable: bool = True  # one SELECT over catalog tables only, no variables: can run on both sides
    unresolved_columns: int = 0

    def use(self, table: str, column: str) -> ColumnUse:
        key = (table, column)
        found = self.columns.get(key)
        if found is None:
            found = self.columns[key] = ColumnUse(table, column)
        return found

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form (sorted, so equal analyses serialise equally)."""
        return {
            "kind": self.kind,
            "tables": [{"table": t, "in_catalog": c} for t, c in sorted(self.tables.items())],
            "columns": [
                {"table": u.table, "column": u.column, "usages": sorted(u.usages), "operators": sorted(u.operators),
                 "aggregates": sorted(u.aggregates)}
                for _, u in sorted(self.columns.items())
            ],
            "joins": [list(j) for j in sorted(self.joins)],
            "date_filters": [list(d) for d in sorted(self.date_filters)],
            "literal_filters": {k: list(v) for k, v in sorted(self.literal_filters.items())},
            "ctes": sorted(self.ctes),
            "temp_tables": sorted(self.temp_tables),
            "features": sorted(self.features),
            "replayable": self.replayable,
            "unresolved_columns": self.unresolved_columns,
        }


class UnparsableQuery(ValueError):
    """A query sqlglot cannot parse or that holds no statement we analyse; the message says why."""


def _first_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    line = text[0] if text else type(error).__name__
    return re.sub(r"\x1b\[[0-9;]*m", "", line)[:300]


def parse_statements(sql: str) -> list[exp.Expr]:
    """The statements of a T-SQL text that we analyse (others, e.g. CREATE TABLE #t, are left out);
    `UnparsableQuery` with the parser's reason, or when none is left."""
    try:
        statements = [s for s in sqlglot.parse(sql, read="tsql") if s is not None]
    except SqlglotError as exc:
        raise UnparsableQuery(f"parse error: {_first_line(exc)}") from None
    except (RecursionError, ValueError, TypeError, KeyError, AttributeError) as exc:
        raise UnparsableQuery(f"parse error: {type(exc).__name__}: {_first_line(exc)}") from None
    analysable: list[exp.Expr] = [s for s in statements if isinstance(s, ANALYSED)]
    if not analysable:
        words = re.sub(r"--[^\n]*|/\*.*?\*/", " ", sql, flags=re.S).split()
        kind = words[0].strip(";") if words else "empty"
        raise UnparsableQuery(f"not analysed: {kind.upper()} statement (only SELECT, INSERT, UPDATE, DELETE, MERGE)")
    return analysable


def _is_temp(table: exp.Table) -> bool:
    """A `#temp` table (sqlglot marks its identifier temporary) or a `@table` variable."""
    name = table.name
    this = table.this
    return (name.startswith(("#", "@")) or (isinstance(this, exp.Identifier) and bool(this.args.get("temporary")))
            or isinstance(this, exp.Parameter | exp.Var | exp.Placeholder))


def _identifier_text(column: exp.Column) -> str:
    return ".".join(p.name.lower() for p in column.parts)


# What a name in FROM leads to: a catalog table, the plain output columns of a derived table or
# CTE (output name -> catalog table and column), or nothing we can follow.
Source = str | dict[str, tuple[str, str]] | None


class _Analyzer:
    def __init__(self, index: CatalogIndex, result: QueryAnalysis):
        self.index = index
        self.result = result
        self._outputs: dict[int, dict[str, tuple[str, str]]] = {}  # id(scope expression) -> outputs

    def table_name(self, table: exp.Table) -> str | None:
        """The qualified name of a catalog table reference; None for temp tables and table variables."""
        if _is_temp(table):
            self.result.temp_tables.add("#" + table.name.lower().lstrip("#") if not table.name.startswith("@")
                                        and not isinstance(table.this, exp.Parameter) else "@" + table.name.lower().lstrip("@"))
            self.result.features.add("temp_table")
            return None
        name, known = self.index.resolve(table.db or None, table.name)
        self.result.tables[name] = known or self.result.tables.get(name, False)
        return name

    def run(self, statement: exp.Expr) -> None:
        result = self.result
        for cte in statement.find_all(exp.CTE):
            result.ctes.add(cte.alias_or_name.lower())
            result.features.add("cte")
        if statement.find(exp.Window):
            result.features.add("window")
        if statement.find(exp.WithTableHint):
            result.features.add("table_hint")
        if isinstance(statement, exp.Select) and statement.args.get("limit") is not None:
            result.features.add("top")
        into = statement.args.get("into") if isinstance(statement, exp.Select) else None
        if into is not None:
            result.replayable = False
            target = into.find(exp.Table)
            if target is not None:
                self.table_name(target)
        if statement.find(exp.Parameter, exp.Placeholder) is not None:
            result.replayable = False
        try:
            scopes = traverse_scope(statement)
        except (SqlglotError, RecursionError, ValueError, KeyError, AttributeError, TypeError):
            scopes = []
        if not scopes:
            self.without_scope(statement)
            return
        covered: set[int] = set()
        for scope in scopes:
            self.scope(scope)
            covered.update(id(t) for t in scope.tables)
        # DML targets and tables outside any SELECT scope (UPDATE t SET …, INSERT INTO t …)
        for table in statement.find_all(exp.Table):
            if id(table) not in covered and table.name.lower() not in result.ctes:
                self.table_name(table)

    def without_scope(self, statement: exp.Expr) -> None:
        """Tables only, and columns when exactly one table is read (statements scope analysis cannot take)."""
        names = [n for t in statement.find_all(exp.Table) if t.name.lower() not in self.result.ctes
                 for n in [self.table_name(t)] if n]
        if len(set(names)) == 1:
            for column in statement.find_all(exp.Column):
                if column.name and not isinstance(column.this, exp.Star):
                    self.column(column, names[0], statement)

    def scope(self, scope: Scope) -> None:
        sources: dict[str, Source] = {}
        for alias, source in scope.sources.items():
            if isinstance(source, exp.Table):
                if source.name.lower() in self.result.ctes and not source.db:
                    sources[alias.lower()] = None
                else:
                    sources[alias.lower()] = self.table_name(source)
            else:  # a derived table or CTE: its plain output columns lead to catalog columns
                sources[alias.lower()] = self._outputs.get(id(source.expression))
                self.result.features.add("subquery")
        select_aliases = {e.alias.lower() for e in getattr(scope.expression, "expressions", []) if isinstance(e, exp.Alias)}
        for column in scope.columns:
            if isinstance(column.this, exp.Star) or not column.name:
                continue
            found = self.resolve(column, sources, select_aliases)
            if found is not None:
                self.column(column, found[0], scope.expression, found[1])
        self.joins_of(scope, sources, select_aliases)
        outputs: dict[str, tuple[str, str]] = {}
        for projection in getattr(scope.expression, "expressions", []) if isinstance(scope.expression, exp.Select) else []:
            inner = projection.this if isinstance(projection, exp.Alias) else projection
            if isinstance(inner, exp.Column) and not isinstance(inner.this, exp.Star):
                found = self.resolve(inner, sources, set(), count_unresolved=False)
                if found is not None:
                    outputs[projection.alias_or_name.lower()] = found
        self._outputs[id(scope.expression)] = outputs

    def resolve(self, column: exp.Column, sources: dict[str, Source], select_aliases: set[str],
                count_unresolved: bool = True) -> tuple[str, str] | None:
        """(catalog table, column name) of a column reference in a scope, or None."""
        name = column.name.lower()

        def through(source: Source) -> tuple[str, str] | None:
            if isinstance(source, str):
                return source, self.index.column_name(source, column.name)
            if isinstance(source, dict):
                return source.get(name)
            return None

        qualifier = column.table.lower()
        if qualifier:
            if qualifier in sources:
                return through(sources[qualifier])
        elif len(sources) == 1:
            return through(next(iter(sources.values())))
        else:
            known = [t for t in sources.values() if isinstance(t, str)
                     and (cols := self.index.columns(t)) is not None and name in cols]
            derived = [d[name] for d in sources.values() if isinstance(d, dict) and name in d]
            if len(known) + len(derived) == 1:
                return (known[0], self.index.column_name(known[0], column.name)) if known else derived[0]
            if name in select_aliases:
                return None
        if count_unresolved:
            self.result.unresolved_columns += 1
        return None

    def column(self, column: exp.Column, table: str, root: exp.Expr, name: str | None = None) -> None:
        use = self.result.use(table, name or self.index.column_name(table, column.name))
        if isinstance(root, exp.Update) and isinstance(column.parent, exp.EQ) and column.parent.arg_key == "expressions":
            use.usages.add("set")  # the target of UPDATE ... SET column = ...
            return
        node: exp.Expr = column
        clause = None
        while node.parent is not None:
            parent = node.parent
            aggregate = _AGGREGATES.get(type(parent))
            if aggregate:
                use.aggregates.add(aggregate)
                use.usages.add("aggregate")
            operator = _OPERATORS.get(type(parent))
            if operator and not use.operators.issuperset({operator}):
                use.operators.add(operator)
                if isinstance(parent, _RANGE_OPS) and self.is_date_comparison(parent, column, table):
                    self.result.date_filters.add((table, use.column))
                if isinstance(parent, exp.EQ | exp.NEQ | exp.In) and self.literal_against(parent, column):
                    self.result.literal_filters[_identifier_text(column)] = (table, use.column)
            if isinstance(parent, exp.Window):
                if node.arg_key == "partition_by":
                    use.usages.add("group_by")
                elif node.arg_key == "order":
                    use.usages.add("order_by")
                clause = clause or "window"
            if parent is root:
                clause = node.arg_key
                break
            node = parent
        usage = {"expressions": "select", "where": "where", "joins": "join", "group": "group_by",
                 "order": "order_by", "having": "having"}.get(clause or "")
        if usage and not (usage == "select" and "aggregate" in use.usages and clause == "expressions"
                          and _inside_aggregate(column, root)):
            use.usages.add(usage)

    def literal_against(self, predicate: exp.Expr, column: exp.Column) -> bool:
        if isinstance(predicate, exp.In):
            values = predicate.expressions
            return predicate.this is column and bool(values) and all(isinstance(v, exp.Literal) for v in values)
        other = predicate.expression if predicate.this is column else predicate.this
        return isinstance(other, exp.Literal) and predicate.this is column

    def is_date_comparison(self, predicate: exp.Expr, column: exp.Column, table: str) -> bool:
        types = self.index.columns(table)
        if types is not None and column.name.lower() in types:
            return types[column.name.lower()].startswith(_DATE_TYPES)
        others = [v for k, v in predicate.args.items() if k != "this" or v is not column]
        for other in others:
            if not isinstance(other, exp.Expr):
                continue
            if isinstance(other, exp.Literal) and other.is_string and _DATE_LITERAL.match(other.this):
                return True
            if other.find(*_DATE_FUNCS) is not None:
                return True
            if any(isinstance(f, exp.Anonymous) and str(f.this).upper() in _DATE_FUNC_NAMES for f in other.find_all(exp.Anonymous)):
                return True
            if isinstance(other, exp.Cast) and other.to.is_type(*exp.DataType.TEMPORAL_TYPES):
                return True
        return bool(_DATE_NAME.search(column.name)) and any(isinstance(o, exp.Literal) for o in others)

    def joins_of(self, scope: Scope, sources: dict[str, Source], select_aliases: set[str]) -> None:
        expression = scope.expression
        conditions: list[exp.Expr] = []
        for join in expression.args.get("joins") or []:
            if join.args.get("on") is not None:
                conditions.append(join.args["on"])
        where = expression.args.get("where")
        if where is not None and len(sources) > 1:
            conditions.append(where.this)
        for condition in conditions:
            for eq in _conjuncts_eq(condition):
                left, right = eq.this, eq.expression
                if not (isinstance(left, exp.Column) and isinstance(right, exp.Column)):
                    continue
                a = self.resolve(left, sources, select_aliases, count_unresolved=False)
                b = self.resolve(right, sources, select_aliases, count_unresolved=False)
                if a is None or b is None or (a[0] == b[0] and left.table.lower() == right.table.lower()):
                    continue
                first, second = sorted((a, b))
                self.result.joins.add((first[0], first[1], second[0], second[1]))
                self.result.use(*a).usages.add("join")
                self.result.use(*b).usages.add("join")


def _inside_aggregate(column: exp.Column, root: exp.Expr) -> bool:
    node = column.parent
    while node is not None and node is not root:
        if type(node) in _AGGREGATES:
            return True
        node = node.parent
    return False


def _conjuncts_eq(condition: exp.Expr) -> list[exp.EQ]:
    """The equalities ANDed together at the top of a condition (an OR is not a join condition)."""
    if isinstance(condition, exp.Paren):
        return _conjuncts_eq(condition.this)
    if isinstance(condition, exp.And):
        return _conjuncts_eq(condition.this) + _conjuncts_eq(condition.expression)
    return [condition] if isinstance(condition, exp.EQ) else []


def analyze_statements(statements: list[exp.Expr], index: CatalogIndex) -> QueryAnalysis:
    """The analysis of parsed statements (see `analyze`)."""
    result = QueryAnalysis()
    kinds = [STATEMENT_KINDS.get(type(s), type(s).__name__.lower()) for s in statements]
    result.kind = kinds[0] if len(set(kinds)) == 1 else "batch"
    if len(statements) != 1 or not isinstance(statements[0], exp.Query):
        result.replayable = False
    for statement in statements:
        _Analyzer(index, result).run(statement)
    unknown = index.catalog is not None and any(not known for known in result.tables.values())
    if unknown or not result.tables or result.temp_tables:
        result.replayable = False
    return result


def analyze(sql: str, index: CatalogIndex) -> QueryAnalysis:
    """Tables, columns by usage, operators, joins, aggregates and date filters of one query text.

    Raises `UnparsableQuery` (with the reason) when sqlglot cannot parse it or it holds no statement
    we analyse (EXEC, DBCC, SET options ...).
    """
    statements = parse_statements(sql)
    try:
        return analyze_statements(statements, index)
    except RecursionError:
        raise UnparsableQuery("not analysed: the query is nested too deeply") from None


def transpile_select(sql: str, dialect: str, default_schema: str = DEFAULT_SCHEMA) -> str:
    """A T-SQL SELECT rendered for `dialect`: tables without a schema get `default_schema` (as SQL
    Server resolves them), identifiers are unquoted where they are plain words (so each database
    folds their case as it does for unquoted names, and they are written in that case) and table
    hints (NOLOCK …) are dropped."""
    statement = parse_statements(sql)[0].copy()
    ctes = {cte.alias_or_name.lower() for cte in statement.find_all(exp.CTE)}
    for table in statement.find_all(exp.Table):
        if not table.db and table.name and table.name.lower() not in ctes and not _is_temp(table):
            table.set("db", exp.to_identifier(default_schema))
    for hint in list(statement.find_all(exp.WithTableHint)):
        hint.pop()
    for identifier in statement.find_all(exp.Identifier):
        if identifier.quoted and _PLAIN_NAME.fullmatch(identifier.name):
            identifier.set("quoted", False)
    if dialect in ("tsql", "sqlserver"):
        return statement.sql(dialect="tsql")
    # Fold the now unquoted names as the target database does (lower in PostgreSQL, upper in
    # Snowflake): the replay stays right even where the SQL is re-rendered with every name quoted
    # (the engine's custom_query does that).
    from sqlglot.optimizer.normalize_identifiers import normalize_identifiers

    return normalize_identifiers(statement, dialect=dialect).sql(dialect=dialect)


def _schema_identifier(name: str, dialect: str) -> exp.Identifier:
    """A target schema name as `transpile_select` writes names: unquoted where it is a plain word and
    then in the case the target folds unquoted names to; quoted, exactly as given, otherwise."""
    identifier = exp.to_identifier(name, quoted=not _PLAIN_NAME.fullmatch(name))
    if identifier.quoted or dialect == "tsql":
        return identifier
    from sqlglot.optimizer.normalize_identifiers import normalize_identifiers

    return normalize_identifiers(identifier, dialect=dialect)


def map_schemas(sql: str, dialect: str, schema_map: Mapping[str, str]) -> str:
    """One SELECT written in `dialect` (a replay's target SQL) with its schema qualifiers mapped.

    Each table whose schema is a key of `schema_map` (source schema -> target schema, matched
    case-insensitively) gets the mapped schema, and so do the columns qualified by such a table
    (`dbo.FactSales.Amount`). Unqualified names (CTE names among them), temp tables and schemas
    the map does not name are left as they are. The statement is re-rendered in `dialect` only when
    something was mapped; the new schema is written as `transpile_select` writes names. Raises
    `UnparsableQuery` when `sql` is not exactly one statement sqlglot can parse in `dialect`."""
    lookup = schema_lookup(schema_map)
    if not lookup:
        return sql
    dialect = "tsql" if dialect == "sqlserver" else dialect
    try:
        statements = [s for s in sqlglot.parse(sql, read=dialect) if s is not None]
    except SqlglotError as exc:
        raise UnparsableQuery(f"parse error ({dialect}): {_first_line(exc)}") from None
    if len(statements) != 1:
        raise UnparsableQuery(f"expected one statement, found {len(statements)}")
    statement = statements[0]
    mapped: set[tuple[str, str]] = set()  # (source schema, table) in lower case
    for table in statement.find_all(exp.Table):
        target = lookup.get(table.db.lower()) if table.db and table.name else None
        if target is None or _is_temp(table):
            continue
        mapped.add((table.db.lower(), table.name.lower()))
        table.set("db", _schema_identifier(target, dialect))
    if not mapped:
        return sql
    for column in statement.find_all(exp.Column):
        db = column.args.get("db")
        if isinstance(db, exp.Identifier) and (db.name.lower(), column.table.lower()) in mapped:
            column.set("db", _schema_identifier(lookup[db.name.lower()], dialect))
    return statement.sql(dialect=dialect)
