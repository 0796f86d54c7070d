"""Key discovery for tables without a declared key (Kimball facts: a degenerate key such as
SalesOrderNumber + SalesOrderLineNumber, surrogate `…Key` / `…ID` columns, business codes).

Candidates come from the catalog (unique constraints first) and from names and types; each is then
confirmed on a database by a pushed-down uniqueness check: no NULL in the key columns and no group of
the key columns with more than one row. On big tables a bounded sample (the first `sample_rows` rows)
is checked first, which rejects most wrong candidates cheaply, before the full check confirms.
`discover_key` confirms on both sides and returns the first candidate unique on both, with evidence.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlglot import exp

from ombudsman.contracts.catalog import TableInfo
from ombudsman.contracts.pipeline import TableRef
from ombudsman.engine.connectors.base import Connector
from ombudsman.engine.normalize import logical_type
from ombudsman.engine.validators import sql as q

KEY_KINDS = {"integer", "string", "uuid", "decimal", "date", "timestamp"}  # never floats, booleans, binaries
_LINE = re.compile(r"^(?P<stem>.*?)_?line_?(number|no|num|nbr)$", re.IGNORECASE)
_NUMBER = re.compile(r"(number|no|num|nbr)$", re.IGNORECASE)
_ID = re.compile(r"(^id$|_id$|[a-z]id$|key$|_code$|code$|guid$|uuid$)", re.IGNORECASE)


@dataclass
class KeyCandidate:
    """Columns that may identify a row, and why they were proposed."""

    columns: list[str]
    reason: str  # unique_constraint | degenerate_line | name_id | name_number


@dataclass
class KeyCheck:
    """The outcome of a uniqueness check on one side."""

    unique: bool
    rows: int | None = None
    duplicates: int = 0  # key values held by more than one row (in what was checked)
    nulls: int = 0
    sampled: bool = False  # rejected on the sample, the full table was not read

    def as_dict(self) -> dict[str, Any]:
        """A JSON-friendly form (evidence in results and events)."""
        return {"unique": self.unique, "rows": self.rows, "duplicates": self.duplicates, "nulls": self.nulls,
                "sampled": self.sampled}


@dataclass
class DiscoveredKey:
    """A key unique on both sides, with the evidence: why proposed, and each side's check."""

    columns: list[str]
    reason: str
    checks: dict[str, KeyCheck] = field(default_factory=dict)
    rejected: list[dict[str, Any]] = field(default_factory=list)

    def evidence(self) -> dict[str, Any]:
        """What a person needs to trust the key."""
        return {"reason": self.reason, **{side: c.as_dict() for side, c in self.checks.items()}, "rejected": self.rejected}


def _keyable(column_type: str, precision: int | None = None, scale: int | None = None) -> bool:
    return logical_type(column_type, precision=precision, scale=scale).kind in KEY_KINDS


def key_candidates(table: TableInfo, limit: int = 8) -> list[KeyCandidate]:
    """Candidate keys of a table, most likely first: declared unique constraints, the degenerate
    order line (`…Number` + `…LineNumber`), then single `…ID` / `…Key` / `…Code` / `…Number` columns."""
    columns = {c.name: c for c in table.columns}
    keyable = [c.name for c in table.columns if _keyable(c.data_type, c.precision, c.scale)]
    found: list[KeyCandidate] = []

    def add(names: Sequence[str], reason: str) -> None:
        if names and all(n in columns for n in names) and all(list(names) != c.columns for c in found):
            found.append(KeyCandidate(list(names), reason))

    for unique in table.unique_constraints:
        add(unique, "unique_constraint")
    for name in keyable:
        line = _LINE.match(name)
        if line:
            stem = line.group("stem").lower()
            headers = [o for o in keyable if o != name and _NUMBER.search(o) and o.lower().startswith(stem)]
            for header in headers:
                add([header, name], "degenerate_line")
    for name in keyable:
        if _ID.search(name) and not name.lower().endswith(("datekey", "date_key")):
            add([name], "name_id")
    for name in keyable:
        if _NUMBER.search(name) and not _LINE.match(name):
            add([name], "name_number")
    return found[:limit]


def _uniqueness_query(table: TableRef, columns: Sequence[str], sample_rows: int | None) -> exp.Expression:
    """Rows, key groups with more than one row, and rows with a NULL key column, in one query."""
    cols = [q.col(c) for c in columns]
    source: exp.Expression = q.table(table)
    if sample_rows is not None:
        source = exp.select(*[c.copy() for c in cols]).from_(q.table(table)).limit(sample_rows).subquery("s")
    has_null = exp.or_(*[exp.Is(this=c.copy(), expression=exp.Null()) for c in cols])
    groups = (
        exp.select(q.count_star().as_("n"), exp.Max(this=exp.Case().when(has_null, exp.Literal.number(1)).else_(exp.Literal.number(0))).as_("z"))
        .from_(source)
        .group_by(*[c.copy() for c in cols])
        .subquery("g")
    )
    return exp.select(
        exp.Sum(this=exp.column("n", "g")).as_("rows"),
        exp.Sum(this=exp.Case().when(exp.GT(this=exp.column("n", "g"), expression=exp.Literal.number(1)), exp.Literal.number(1))
                .else_(exp.Literal.number(0))).as_("dups"),
        exp.Sum(this=exp.Case().when(exp.EQ(this=exp.column("z", "g"), expression=exp.Literal.number(1)), exp.column("n", "g"))
                .else_(exp.Literal.number(0))).as_("nulls"),
    ).from_(groups)


async def check_unique(
    connector: Connector, table: TableRef, columns: Sequence[str], *, rows: int | None = None, sample_rows: int = 100_000
) -> KeyCheck:
    """Whether `columns` identify every row of `table` (no NULL, no duplicate), pushed down. When the
    table has (or may have) more than `sample_rows` rows, the first `sample_rows` are checked first."""

    async def run(sample: int | None) -> KeyCheck:
        sql, params = q.render(_uniqueness_query(table, columns, sample), connector.dialect)
        total, dups, nulls = (await connector.fetch_rows(sql, params))[0]
        total, dups, nulls = int(total or 0), int(dups or 0), int(nulls or 0)
        return KeyCheck(unique=dups == 0 and nulls == 0, rows=total, duplicates=dups, nulls=nulls, sampled=sample is not None)

    if rows is None or rows > sample_rows:
        first = await run(sample_rows)
        if not first.unique:
            return first
        if first.rows is not None and first.rows < sample_rows:
            first.sampled = False  # the sample was the whole table
            return first
    return await run(None)


async def discover_key(
    source: Connector,
    target: Connector,
    source_table: TableInfo,
    target_table: TableRef,
    *,
    source_ref: TableRef | None = None,
    column_map: Mapping[str, str] | None = None,
    sample_rows: int = 100_000,
) -> DiscoveredKey | None:
    """The first candidate key of `source_table` unique on both sides (target names through
    `column_map`, else the same names), or None. Rejected candidates are kept as evidence."""
    column_map = {k.lower(): v for k, v in (column_map or {}).items()}
    source_ref = source_ref or TableRef(schema_name=source_table.schema_name, name=source_table.name)
    rejected: list[dict[str, Any]] = []
    for candidate in key_candidates(source_table):
        source_check = await check_unique(source, source_ref, candidate.columns, rows=source_table.row_count, sample_rows=sample_rows)
        if not source_check.unique:
            rejected.append({"columns": candidate.columns, "side": "source", **source_check.as_dict()})
            continue
        target_columns = [column_map.get(c.lower(), c) for c in candidate.columns]
        try:
            target_check = await check_unique(target, target_table, target_columns, rows=source_check.rows, sample_rows=sample_rows)
        except Exception as exc:  # a column missing or named otherwise on the target
            rejected.append({"columns": candidate.columns, "side": "target", "error": str(exc)[:200]})
            continue
        if not target_check.unique:
            rejected.append({"columns": candidate.columns, "side": "target", **target_check.as_dict()})
            continue
        return DiscoveredKey(candidate.columns, candidate.reason, {"source": source_check, "target": target_check}, rejected)
    return None


async def discover_side_key(
    connector: Connector, table: TableInfo, *, side: str = "source", sample_rows: int = 100_000
) -> DiscoveredKey | None:
    """The first candidate key of `table` unique on one database (the catalog's own side), or None.
    For a catalog read before the other side is mapped; `discover_key` checks both sides."""
    ref = TableRef(schema_name=table.schema_name, name=table.name)
    rejected: list[dict[str, Any]] = []
    for candidate in key_candidates(table):
        check = await check_unique(connector, ref, candidate.columns, rows=table.row_count, sample_rows=sample_rows)
        if check.unique:
            return DiscoveredKey(candidate.columns, candidate.reason, {side: check}, rejected)
        rejected.append({"columns": candidate.columns, "side": side, **check.as_dict()})
    return None
