"""Subtypes of a classified table, each with its evidence. Pure.

Facts (`fact_kind`): an accumulating snapshot tracks a process through milestones, so it holds several
dates or date keys (order, ship, deliver …) and either lag/duration measures or later milestones that
stay NULL until reached while the first is NOT NULL (a schema where every date is nullable says
nothing); a periodic snapshot holds a date or period key and semi-additive levels (balance, on hand,
inventory …) or is named so (…_snapshot, …_daily, inventory); any other fact records transactions.

Dimensions (`dimension_kinds`): date and time-of-day dimensions; a junk dimension (only low-cardinality
flags, indicators and codes beside its key, and named so — …junk, …flags, …profile — or holding only
flags and indicators: an unnamed table of low-cardinality attributes may be a demographics
mini-dimension); role-playing (one table references it through two or more
different foreign keys); SCD2 (versioned) or SCD1 (a business key without versioning: overwritten).
"""

from __future__ import annotations

from typing import Literal

from ombudsman.contracts.catalog import ColumnInfo, TableInfo
from ombudsman.metadata import naming
from ombudsman.metadata.relationships import Relationship
from ombudsman.metadata.types import type_info

FactKind = Literal["transaction", "periodic_snapshot", "accumulating_snapshot"]
DimensionKind = Literal["date", "time", "junk", "role_playing", "scd2", "scd1"]

_DATE_TABLE_WORDS = frozenset({"date", "day", "calendar"})
_TIME_TABLE_WORDS = frozenset({"time", "hour", "minute"})
_TIME_COLUMN_WORDS = frozenset({"hour", "minute", "second", "am", "pm", "shift"})
_LAG_WORDS = frozenset({"lag", "duration", "elapsed", "turnaround", "leadtime", "latency"})
_LAG_UNITS = frozenset({"days", "day", "hours", "hour", "minutes", "mins", "seconds", "secs"})
_SNAPSHOT_TABLE_WORDS = frozenset({"snapshot", "snap", "daily", "weekly", "monthly", "quarterly", "yearly",
                                   "eod", "eom", "inventory", "balance", "balances", "position", "positions"})
_SEMI_ADDITIVE_WORDS = frozenset({"balance", "bal", "inventory", "stock", "level", "headcount", "outstanding",
                                  "position", "closing", "opening", "ending", "onhand"})
_PERIOD_WORDS = frozenset({"period", "month", "week", "quarter", "year", "snapshot"})
_JUNK_TABLE_WORDS = frozenset({"junk", "flag", "flags", "profile", "indicator", "indicators", "misc"})
_INDICATOR_WORDS = frozenset({"flag", "flg", "ind", "indicator", "yn"})
_TEMPORAL = ("date", "timestamp", "timestamptz")


def _words(name: str) -> list[str]:
    words = list(naming.tokens(name))
    joined: list[str] = []  # "on_hand" / "lead_time" are one word for this module's vocabularies
    for word in words:
        if joined and joined[-1] in ("on", "lead") and word in ("hand", "time"):
            joined[-1] += word
        else:
            joined.append(word)
    return joined


def is_date_table(name: str) -> bool:
    """A table named as a dimension of dates (date_dim, DimDate, calendar)."""
    return bool(_DATE_TABLE_WORDS & set(_words(name)))


def _is_time_table(name: str) -> bool:
    words = set(_words(name))
    return bool(_TIME_TABLE_WORDS & words) and not (_DATE_TABLE_WORDS & words)


def _lag_measure(name: str) -> bool:
    words = set(_words(name))
    return bool(_LAG_WORDS & words) or (bool(_LAG_UNITS & words) and bool({"to", "between"} & words))


def snapshot_signs(table: TableInfo, measures: list[str]) -> tuple[list[str], list[str]]:
    """(semi-additive level measures, snapshot words of the table's name): what makes a periodic snapshot."""
    levels = [m for m in measures if _SEMI_ADDITIVE_WORDS & set(_words(m))]
    return levels, sorted(_SNAPSHOT_TABLE_WORDS & set(_words(table.name)))


def fact_kind(table: TableInfo, kind: str, outgoing: list[Relationship], measures: list[str],
              dates: list[str]) -> tuple[FactKind, str]:
    """Transaction, periodic snapshot or accumulating snapshot, and why (see the module's docstring)."""
    date_keys = [r.child_columns[0] for r in outgoing
                 if len(r.child_columns) == 1 and is_date_table(r.parent_table.split(".")[-1])]
    milestones: list[str] = list(dict.fromkeys([*date_keys, *dates]))
    lags = [m for m in measures if _lag_measure(m)]
    if len(milestones) >= 2:
        columns = [c for c in (table.column(m) for m in milestones) if c is not None]
        required = [c.name for c in columns if not c.nullable]
        pending = [c.name for c in columns if c.nullable]
        if lags:
            return "accumulating_snapshot", (
                f"accumulating snapshot: milestone dates {', '.join(milestones)} and lag/duration measures "
                f"{', '.join(lags)}")
        if required and pending:
            return "accumulating_snapshot", (
                f"accumulating snapshot: milestone dates {', '.join(milestones)}; {', '.join(required)} NOT NULL, "
                f"later milestones {', '.join(pending)} nullable until reached")
    period_columns = [c.name for c in table.columns if _PERIOD_WORDS & set(_words(c.name))]
    periods = list(dict.fromkeys([*date_keys, *dates, *period_columns]))
    levels, named = snapshot_signs(table, measures)
    if periods and (levels or named):
        why = (f"semi-additive measures {', '.join(levels)}" if levels
               else f"name says snapshot ({', '.join(named)})")
        return "periodic_snapshot", f"periodic snapshot: period key {periods[0]} and {why}"
    return "transaction", "transaction fact: no milestone dates with lags or pending milestones, no snapshot levels"


def _time_columns(table: TableInfo, kind: str) -> list[str]:
    return [c.name for c in table.columns
            if type_info(c, kind).family == "time" or _TIME_COLUMN_WORDS & set(_words(c.name))]


def _junk_columns(table: TableInfo, kind: str, keys: set[str]) -> tuple[list[str], list[str]]:
    """(low-cardinality columns, other columns) beside the keys and audit columns."""
    from ombudsman.metadata.generate_dimension import low_cardinality  # it imports classify: import when used

    flags, others = [], []
    for column in table.columns:
        if column.name.lower() in keys:
            continue
        if type_info(column, kind).family in _TEMPORAL:
            others.append(column.name)
        elif low_cardinality(column, kind):
            flags.append(column.name)
        else:
            others.append(column.name)
    return flags, others


def _is_indicator(column: ColumnInfo, kind: str) -> bool:
    words = _words(column.name)
    if type_info(column, kind).family == "boolean":
        return True
    return bool(words) and (words[-1] in _INDICATOR_WORDS or words[0] in ("is", "has"))


def _role_playing(name: str, incoming: list[Relationship]) -> str | None:
    by_child: dict[str, list[str]] = {}
    for rel in incoming:
        if rel.parent_table.lower() == name and not rel.hierarchy:
            columns = by_child.setdefault(rel.child_table, [])
            column = ", ".join(rel.child_columns)
            if column not in columns:
                columns.append(column)
    for child, columns in sorted(by_child.items()):
        if len(columns) >= 2:
            return f"role-playing: {child} references it through {len(columns)} keys ({'; '.join(columns)})"
    return None


def dimension_kinds(table: TableInfo, kind: str, incoming: list[Relationship], *, date_dimension: bool,
                    scd2: bool, surrogate: list[str], business: list[str],
                    audit: list[str]) -> tuple[list[DimensionKind], list[str]]:
    """What kind of dimension a table is (several may hold), each with its evidence."""
    kinds: list[DimensionKind] = []
    evidence: list[str] = []
    if date_dimension:
        kinds.append("date")
    time_columns = _time_columns(table, kind)
    no_dates = not any(type_info(c, kind).family in _TEMPORAL for c in table.columns)
    named_time = _is_time_table(table.name) and bool(time_columns)
    if not date_dimension and (named_time or (len(time_columns) >= 2 and no_dates)):
        kinds.append("time")
        evidence.append(f"time-of-day dimension: {table.name} with columns {', '.join(time_columns[:4])}")
    keys = {c.lower() for c in [*table.primary_key, *surrogate, *audit]}
    flags, others = _junk_columns(table, kind, keys)
    named = sorted(_JUNK_TABLE_WORDS & set(_words(table.name)))
    indicators = [c for c in flags if _is_indicator(table.column(c), kind)]  # type: ignore[arg-type]
    # unnamed, a table of low-cardinality attributes may be a mini-dimension (demographics): flags only
    if not kinds and not scd2 and not others and len(flags) >= 2 and (named or len(indicators) == len(flags) >= 3):
        kinds.append("junk")
        why = f", name says {', '.join(named)}" if named else ""
        evidence.append(f"junk dimension: only low-cardinality columns {', '.join(flags)} beside its key{why}")
    playing = _role_playing(table.qualified_name.lower(), incoming)
    if playing:
        kinds.append("role_playing")
        evidence.append(playing)
    if scd2:
        kinds.append("scd2")
    elif business and not {"date", "time", "junk"} & set(kinds):
        kinds.append("scd1")
        evidence.append(f"SCD1: business key {', '.join(business)} without validity or version columns "
                        "(one row per key, overwritten)")
    return kinds, evidence


def is_version_column(column: ColumnInfo, kind: str, snake: str) -> bool:
    """An SCD2 row-version counter (version, row_version, scd_version, version_number)."""
    return type_info(column, kind).family == "integer" and snake in {
        "version", "row_version", "scd_version", "version_number", "version_no", "version_num", "ver",
        "record_version", "dim_version"}
