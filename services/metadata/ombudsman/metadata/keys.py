"""Keys of catalog tables: declared (primary key or unique constraint), discovered in the data
(`KeyDiscovered`, with evidence), confirmed or overridden by a person (`KeyConfirmed`,
`KeyOverridden`). Pure: records folded from events, decisions and what generation uses.

One record per (side, table). A person's decision is never replaced by a later discovery: the
discovery is kept beside it (`discovered`) for the person to compare.
"""

from __future__ import annotations

from typing import Any, Literal, TypeAlias

from pydantic import BaseModel, Field

from ombudsman.contracts import events as ev
from ombudsman.contracts.catalog import Catalog, TableInfo
from ombudsman.contracts.commands.metadata import ConfirmKey, OverrideKey
from ombudsman.contracts.registry import Event
from ombudsman.contracts.replies import Conflict, Invalid, NotFound

Side = Literal["source", "target"]
KeyStatus = Literal["declared", "discovered", "confirmed", "overridden", "none"]
KeyEvent: TypeAlias = ev.KeyDiscovered | ev.KeyConfirmed | ev.KeyOverridden
PERSON = ("confirmed", "overridden")


class KeyRecord(BaseModel):
    """The key recorded for one table on one side."""

    table: str
    side: Side
    columns: list[str] = Field(default_factory=list)
    status: KeyStatus = "discovered"
    evidence: dict[str, Any] = Field(default_factory=dict)  # of the last discovery
    discovered: list[str] = Field(default_factory=list)  # the last discovery's columns
    note: str = ""
    by: str | None = None  # who confirmed or overrode (the envelope's actor; read model only)
    at: str | None = None


def record_key(side: str, table: str) -> str:
    """The state key of a table's record: `side:lower(table)`."""
    return f"{side}:{table.lower()}"


def fold_key(current: KeyRecord | None, event: KeyEvent, by: str | None = None, at: str | None = None) -> KeyRecord:
    """The record after one key event (`by`/`at` from the envelope, for the read model)."""
    record = current or KeyRecord(table=event.table, side=event.side)
    if isinstance(event, ev.KeyDiscovered):
        update: dict[str, Any] = {"discovered": list(event.columns), "evidence": dict(event.evidence)}
        if record.status not in PERSON:
            update |= {"columns": list(event.columns), "status": "discovered", "at": at, "by": None}
        return record.model_copy(update=update)
    status = "confirmed" if isinstance(event, ev.KeyConfirmed) else "overridden"
    note = event.note if isinstance(event, ev.KeyOverridden) else ""
    return record.model_copy(update={"columns": list(event.columns), "status": status, "note": note, "by": by,
                                     "at": at})


def declared_key(table: TableInfo) -> list[str]:
    """The key the catalog declares: primary key, else the first unique constraint."""
    if table.primary_key:
        return list(table.primary_key)
    return list(table.unique_constraints[0]) if table.unique_constraints else []


def key_view(table: TableInfo, record: KeyRecord | None) -> dict[str, Any]:
    """What the catalog shows of a table's key: a person's decision, else the declared key, else
    the discovered one, else none."""
    declared = declared_key(table)
    view: dict[str, Any]
    if record is not None and record.status in PERSON:
        view = {"columns": record.columns, "status": record.status, "by": record.by, "at": record.at,
                "note": record.note}
    elif declared:
        view = {"columns": declared, "status": "declared"}
    elif record is not None and record.columns:
        view = {"columns": record.columns, "status": "discovered", "at": record.at}
    else:
        view = {"columns": [], "status": "none"}
    if declared:
        view["declared"] = declared
    if record is not None and record.discovered:
        view |= {"discovered": record.discovered, "evidence": record.evidence}
    return view


def effective_keys(records: dict[str, KeyRecord], source: Catalog) -> dict[str, list[str]]:
    """Lower-case source table → the key generated row_hash steps use: a person's decision always,
    a discovery only while the table declares no key."""
    found: dict[str, list[str]] = {}
    for record in records.values():
        if record.side != "source" or not record.columns:
            continue
        schema, _, name = record.table.rpartition(".")
        table = source.table(schema, name)
        if table is None:
            continue
        if record.status in PERSON or not declared_key(table):
            found[table.qualified_name.lower()] = list(record.columns)
    return found


def needs_discovery(table: TableInfo, record: KeyRecord | None) -> bool:
    """A table without a declared key that no person has decided on."""
    return not declared_key(table) and (record is None or record.status not in PERSON)


# --- decisions -------------------------------------------------------------------------------


def find_table(catalog: Catalog, name: str, side: Side) -> TableInfo:
    """The catalog's table `schema.table` (`Invalid` when not qualified, `NotFound` when unknown)."""
    if "." not in name:
        raise Invalid(f"table: {name!r} must be schema.table", {"field": "table"})
    schema, table_name = name.rsplit(".", 1)
    table = catalog.table(schema, table_name)
    if table is None:
        raise NotFound(f"table: no table {name!r} in the {side} catalog", {"field": "table", "side": side})
    return table


def _columns(table: TableInfo, columns: list[str]) -> list[str]:
    """The columns as the catalog spells them; `Invalid` naming `columns` for unknown or repeated ones."""
    unknown = [c for c in columns if table.column(c) is None]
    if unknown:
        raise Invalid(f"columns: no column {', '.join(unknown)} in table {table.qualified_name}",
                      {"field": "columns", "unknown": unknown})
    named = [table.column(c).name for c in columns]  # type: ignore[union-attr]
    if len({c.lower() for c in named}) != len(named):
        raise Invalid("columns: a column is named twice", {"field": "columns"})
    return named


def confirm(project: str, cmd: ConfirmKey, table: TableInfo, record: KeyRecord | None) -> list[Event]:
    """Confirm the discovered key of a table (no event when it is already confirmed)."""
    if record is None or not record.discovered:
        raise Conflict(f"table {table.qualified_name}: no discovered key to confirm on the {cmd.side} side; "
                       "run discover_keys, or override with the key's columns", {"field": "table"})
    if cmd.columns is not None and [c.lower() for c in _columns(table, cmd.columns)] != [
            c.lower() for c in record.discovered]:
        raise Invalid(f"columns: the discovered key is {record.discovered}; to use other columns, override the key",
                      {"field": "columns", "discovered": record.discovered})
    if record.status == "confirmed" and record.columns == record.discovered:
        return []
    return [ev.KeyConfirmed(project_id=project, table=table.qualified_name, side=cmd.side,
                            columns=list(record.discovered))]


def override(project: str, cmd: OverrideKey, table: TableInfo, record: KeyRecord | None) -> list[Event]:
    """Set a table's key to columns a person chose (they must exist in that side's catalog)."""
    columns = _columns(table, cmd.columns)
    previous = record.columns if record is not None and record.columns else declared_key(table)
    if record is not None and record.status == "overridden" and record.columns == columns \
            and record.note == cmd.note.strip():
        return []
    return [ev.KeyOverridden(project_id=project, table=table.qualified_name, side=cmd.side, columns=columns,
                             previous=list(previous), note=cmd.note.strip())]


def discovered(project: str, side: Side, table: str, columns: list[str], evidence: dict[str, Any],
               record: KeyRecord | None, *, only_changes: bool) -> list[Event]:
    """A KeyDiscovered event (none when `only_changes` and the same columns were discovered before)."""
    if only_changes and record is not None and [c.lower() for c in record.discovered] == [c.lower() for c in columns]:
        return []
    return [ev.KeyDiscovered(project_id=project, table=table, side=side, columns=columns, evidence=evidence)]
