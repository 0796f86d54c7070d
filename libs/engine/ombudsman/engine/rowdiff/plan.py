"""Which columns are compared, under which names and logical types, and the SQL per side for them.

Columns are named by their source name; the target name comes from the column map or, failing that,
from a case-insensitive match (Snowflake upper-cases what PostgreSQL lower-cases). Logical types come
from the catalog when the connector can introspect, otherwise from the Arrow schema of an empty
result; `pair_types` then decides how each pair is rendered so that equal values hash alike.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import pyarrow as pa
from sqlglot import exp

from ombudsman.contracts.pipeline import TableRef
from ombudsman.engine.connectors.base import Connector
from ombudsman.engine.normalize import (
    LogicalType,
    NormalizeOptions,
    canonical_expr,
    hash_text_expr,
    logical_type,
    logical_type_from_arrow,
    pair_types,
    row_text_expr,
)
from ombudsman.engine.normalize.cheap import PAIR_DIALECTS, cheap_row_text_expr
from ombudsman.engine.rowdiff.capabilities import uses_fakesnow_hash
from ombudsman.engine.validators import sql as q
from ombudsman.engine.validators.base import all_settled

Side = Literal["source", "target"]
SIDES: tuple[Side, Side] = ("source", "target")


class RowDiffInputError(ValueError):
    """The diff cannot run as asked (missing column, unknown key ...); the message says what."""


@dataclass
class DiffSide:
    """One side of a diff: a connection, a table, and an optional row filter in its own dialect."""

    connector: Connector
    table: TableRef
    where: exp.Expression | None = None


@dataclass(frozen=True)
class ColumnPair:
    name: str  # the source column's name: how the column is reported
    source: str
    target: str
    source_type: LogicalType
    target_type: LogicalType
    source_declared: LogicalType | None = None  # the column's own type (before pairing), when known
    target_declared: LogicalType | None = None

    def column(self, side: Side) -> str:
        return self.source if side == "source" else self.target

    @property
    def is_float(self) -> bool:
        """Compared as floats (with a tolerance) on both sides."""
        return self.source_type.kind == "float" or self.target_type.kind == "float"

    def type(self, side: Side) -> LogicalType:
        return self.source_type if side == "source" else self.target_type

    def canonical(
        self, side: Side, dialect: str, options: NormalizeOptions | None = None, table_alias: str | None = None
    ) -> exp.Expression:
        """The column's canonical text on `side` (the rendering row_hash compares and hashes)."""
        return canonical_expr(q.col(self.column(side), table_alias), self.type(side), dialect, options)

    def declared(self, side: Side) -> LogicalType:
        found = self.source_declared if side == "source" else self.target_declared
        return found if found is not None else self.type(side)


@dataclass
class Plan:
    """Everything the diff renders per side: columns, key, hash expressions."""

    sides: dict[Side, DiffSide]
    key: list[ColumnPair]
    columns: list[ColumnPair]  # every compared column, key columns first
    options: NormalizeOptions
    fakesnow: dict[Side, bool] = field(default_factory=dict)
    # hashes use the cheapest canonical text per column (normalize.cheap): only inside the diff's read
    # session, whose pinned settings (DateStyle ISO ...) those forms need
    cheap: dict[Side, bool] = field(default_factory=dict)
    # Snowflake time travel: the instant a side's tables are read AT (pinned at the diff's start)
    read_at: dict[Side, str] = field(default_factory=dict)

    def dialect(self, side: Side) -> str:
        return self.sides[side].connector.dialect

    def col(self, side: Side, pair: ColumnPair) -> exp.Column:
        return q.col(pair.column(side))

    def table(self, side: Side) -> exp.Table:
        node = q.table(self.sides[side].table)
        at = self.read_at.get(side)
        if at is not None:  # `AT (TIMESTAMP => CAST('...' AS TIMESTAMP_LTZ))`
            instant = exp.Cast(this=exp.Literal.string(at), to=exp.DataType.build("timestamp_ltz", dialect="snowflake"))
            node.set("when", exp.HistoricalData(this="AT", kind="TIMESTAMP", expression=instant))
        return node

    def canonical(self, side: Side, pair: ColumnPair) -> exp.Expression:
        return pair.canonical(side, self.dialect(side), self.options)

    def peer(self, side: Side) -> str | None:
        """The other side's dialect when both sides read in their pinned sessions (normalize.cheap's
        pair forms print alike only there); None otherwise."""
        other: Side = "target" if side == "source" else "source"
        if self.cheap.get(side, False) and self.cheap.get(other, False):
            return self.dialect(other)
        return None

    def char_pad(self, pair: ColumnPair) -> int | None:
        """The n of the padded pair form (normalize.cheap) for a pair compared as fixed-length strings:
        every CHAR side is a PostgreSQL CHAR(n) of one known n, both sides read pinned, no case folding."""
        if self.peer("source") is None or self.options.casefold_strings or not pair.type("source").fixed_length:
            return None
        lengths = set()
        for side in SIDES:
            declared = pair.declared(side)
            if declared.kind != "string" or self.dialect(side) not in PAIR_DIALECTS:
                return None
            if declared.fixed_length:
                if self.dialect(side) != "postgres" or declared.length is None:
                    return None
                lengths.add(declared.length)
        return lengths.pop() if len(lengths) == 1 else None

    def _hash(self, side: Side, pairs: Sequence[ColumnPair]) -> exp.Expression:
        if self.cheap.get(side, False):
            triples = [(self.col(side, p), p.declared(side), p.type(side)) for p in pairs]
            pads = [self.char_pad(p) for p in pairs]
            text = cheap_row_text_expr(triples, self.dialect(side), self.options, self.peer(side), pads)
        else:
            text = row_text_expr([(self.col(side, p), p.type(side)) for p in pairs], self.dialect(side), self.options)
        return hash_text_expr(text, self.dialect(side), fakesnow=self.fakesnow.get(side, False))

    def row_hash(self, side: Side) -> exp.Expression:
        """The 60-bit hash of every compared column (key included, so a moved row is a difference)."""
        return self._hash(side, self.columns)

    def key_hash(self, side: Side) -> exp.Expression:
        """The 60-bit hash of the key columns: the bucket of a row whatever its other values."""
        return self._hash(side, self.key)

    def bucket_hash(self, side: Side) -> exp.Expression:
        """Keyless tables: the hash that buckets a row. It leaves floats out, so that noise below the
        tolerance (which can still move a float's canonical text across a rounding boundary) never
        moves a row to another bucket: both copies meet in the leaf compare, which judges them with
        the real tolerance. A table of floats only buckets by its floats at 3 fewer digits."""
        others = [p for p in self.columns if not p.is_float]
        if others:
            return self._hash(side, others)
        coarse = self.options.model_copy(update={"float_digits": max(1, self.options.float_digits - 3)})
        text = row_text_expr([(self.col(side, p), p.type(side)) for p in self.columns], self.dialect(side), coarse)
        return hash_text_expr(text, self.dialect(side), fakesnow=self.fakesnow.get(side, False))

    def raw_float(self, side: Side, pair: ColumnPair) -> exp.Expression:
        """A float column's value as a double, for the leaf compare's tolerance check."""
        dialect = self.dialect(side)
        return exp.Cast(this=self.col(side, pair), to=exp.DataType.build("float" if dialect == "tsql" else "double", dialect=dialect))

    def where(self, side: Side, *conditions: exp.Expression | None) -> exp.Expression | None:
        return q.and_all([self.sides[side].where, *conditions])

    @property
    def integer_key(self) -> bool:
        return len(self.key) == 1 and self.key[0].source_type.kind == "integer" and self.key[0].target_type.kind == "integer"


async def column_types(connector: Connector, table: TableRef) -> dict[str, LogicalType]:
    """Each column's logical type by its actual name, in table order: declared types from
    information_schema where the database has them, else the Arrow type of an empty result
    (PostgreSQL reports no scale for NUMERIC there, hence the catalog first)."""
    schema = await _empty_result_schema(connector, table)
    types = {f.name: logical_type_from_arrow(f.type) for f in schema}
    try:
        declared = await _declared_types(connector, table)
    except Exception:  # no information_schema: the Arrow types stand
        declared = {}
    for name in types:
        found = declared.get(name.lower())
        if found is not None and found.kind != "other":
            types[name] = found
    return types


_DEFAULT_SCHEMAS = ("public", "main", "dbo")


async def _declared_types(connector: Connector, table: TableRef) -> dict[str, LogicalType]:
    # plain SQL: information_schema is spelled alike in the four dialects, unquoted (Snowflake upper-cases it)
    sql = (
        "SELECT table_schema, column_name, data_type, numeric_precision, numeric_scale"
        " FROM information_schema.columns WHERE UPPER(table_name) = ?"
    )
    params = [table.name.upper()]
    if table.schema_name:
        sql += " AND UPPER(table_schema) = ?"
        params.append(table.schema_name.upper())
    if connector.dialect == "postgres":  # a CHAR(n)'s n: the padded pair form (normalize.cheap)
        sql = sql.replace(", numeric_scale", ", numeric_scale, character_maximum_length")
    rows = await connector.fetch_rows(sql, params)
    schemas = sorted({r[0] for r in rows}, key=lambda name: (str(name).lower() not in _DEFAULT_SCHEMAS, str(name)))
    if not schemas:
        return {}
    types = {}
    for r in rows:
        if r[0] == schemas[0]:
            found = logical_type(str(r[2]), precision=_opt_int(r[3]), scale=_opt_int(r[4]))
            if found.fixed_length and len(r) > 5 and _opt_int(r[5]):
                found = replace(found, length=_opt_int(r[5]))
            types[str(r[1]).lower()] = found
    return types


def _opt_int(value: Any) -> int | None:
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None


async def primary_key(connector: Connector, table: TableRef) -> list[str]:
    """The table's primary key columns from the catalog ([] when none or unknown)."""
    try:
        catalog = await connector.introspect([table.schema_name] if table.schema_name else None)
    except Exception:
        return []
    for candidate in getattr(catalog, "tables", []):
        if candidate.name.lower() == table.name.lower() and (
            table.schema_name is None or candidate.schema_name.lower() == table.schema_name.lower()
        ):
            return list(candidate.primary_key)
    return []


async def _empty_result_schema(connector: Connector, table: TableRef) -> pa.Schema:
    query = exp.select(exp.Star()).from_(q.table(table)).where(exp.false())
    sql, params = q.render(query, connector.dialect)
    try:
        return (await connector.fetch(sql, params)).schema
    except Exception as exc:
        raise RowDiffInputError(f"cannot read table {table} ({connector.dialect}): {exc}") from exc


def find_column(name: str, available: Sequence[str]) -> str | None:
    """The actual name of column `name` among `available`: exactly, else the one that differs only in
    case (Snowflake upper-cases what PostgreSQL lower-cases); None when absent or ambiguous."""
    if name in available:
        return name
    lowered = [a for a in available if a.lower() == name.lower()]
    return lowered[0] if len(lowered) == 1 else None


def pair_column(
    source_name: str, source_types: Mapping[str, LogicalType], target_types: Mapping[str, LogicalType],
    target_name: str | None = None,
) -> ColumnPair | None:
    """A source column and its target column (`target_name`, default the source's name, found as
    `find_column` does) with the logical types `pair_types` renders them at; None when either side
    lacks the column. Every cross-side comparison resolves its columns through this."""
    source = find_column(source_name, list(source_types))
    target = find_column(target_name or source_name, list(target_types))
    if source is None or target is None:
        return None
    s_type, t_type = pair_types(source_types[source], target_types[target])
    return ColumnPair(name=source, source=source, target=target, source_type=s_type, target_type=t_type,
                      source_declared=source_types[source], target_declared=target_types[target])


async def build_plan(
    source: DiffSide,
    target: DiffSide,
    *,
    key: Sequence[str] | None,
    columns: Sequence[str] | None = None,
    exclude: Sequence[str] = (),
    column_map: Mapping[str, str] | None = None,
    options: NormalizeOptions | None = None,
) -> Plan:
    """Resolve columns, names, types and key of a table pair; RowDiffInputError naming what is wrong."""
    column_map = {k.lower(): v for k, v in (column_map or {}).items()}
    source_types, target_types = await all_settled(
        column_types(source.connector, source.table), column_types(target.connector, target.table)
    )
    source_names = list(source_types)
    if key is None:
        key = await primary_key(source.connector, source.table)
    wanted: list[str] = list(columns) if columns else list(source_names)
    excluded = {e.lower() for e in exclude}
    resolved_key = []
    for name in key:
        actual = find_column(name, source_names)
        if actual is None:
            raise RowDiffInputError(f"key column {name!r} is not in source table {source.table}")
        resolved_key.append(actual)
    ordered: list[str] = list(resolved_key)
    for name in wanted:
        actual = find_column(name, source_names)
        if actual is None:
            raise RowDiffInputError(f"column {name!r} is not in source table {source.table}")
        if actual not in ordered and actual.lower() not in excluded:
            ordered.append(actual)
    pairs: list[ColumnPair] = []
    missing = []
    for name in ordered:
        pair = pair_column(name, source_types, target_types, column_map.get(name.lower(), name))
        if pair is None:
            missing.append(column_map.get(name.lower(), name))
            continue
        pairs.append(pair)
    if missing:
        raise RowDiffInputError(f"target table {target.table} has no column {', '.join(repr(m) for m in missing)}")
    if not pairs:
        raise RowDiffInputError("no columns to compare")
    fakesnow_source, fakesnow_target = await all_settled(
        uses_fakesnow_hash(source.connector), uses_fakesnow_hash(target.connector)
    )
    return Plan(
        sides={"source": source, "target": target},
        key=[p for p in pairs if p.name in resolved_key],
        columns=pairs,
        options=options or NormalizeOptions(),
        fakesnow={"source": fakesnow_source, "target": fakesnow_target},
    )


def as_int(value: Any) -> int:
    """A count, sum or bucket id from any driver (int, Decimal, numpy) as a Python int."""
    return int(value) if value is not None else 0
