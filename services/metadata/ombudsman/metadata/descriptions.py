"""Column descriptions: drafted by the language model (`ColumnDescriptionsSuggested`), approved or
rejected by a person (`ColumnDescriptionApproved`, `ColumnDescriptionRejected`). Pure: the record
folded from events and the decisions.

One record per (side, table): `{table, side, columns: {lower(column): ColumnDescription}}`. An
approved description is the column's description in the catalog; a draft beside it waits for a
person and never replaces it by itself.
"""

from __future__ import annotations

from typing import Any, Literal, TypeAlias

from pydantic import BaseModel, Field

from ombudsman.contracts import events as ev
from ombudsman.contracts.catalog import TableInfo
from ombudsman.contracts.commands.metadata import ApproveDescription, RejectDescription
from ombudsman.contracts.registry import Event
from ombudsman.contracts.replies import Conflict, NotFound

DescriptionEvent: TypeAlias = ev.ColumnDescriptionsSuggested | ev.ColumnDescriptionApproved | ev.ColumnDescriptionRejected


class Draft(BaseModel):
    """The model's draft of a column's description, waiting for a person."""

    text: str
    model: str
    suggested_by: Literal["model"] = "model"
    at: str | None = None


class ColumnDescription(BaseModel):
    """A column's approved description (who approved it, whether the text is the model's) and the
    model's pending draft."""

    column: str
    description: str | None = None
    suggested_by: Literal["model", "person"] | None = None  # of the approved text
    model: str | None = None
    by: str | None = None
    at: str | None = None
    draft: Draft | None = None
    decided_at: str | None = None  # the last approval or rejection: an older draft redelivered stays gone


class DescriptionRecord(BaseModel):
    """The descriptions of one table's columns on one side."""

    table: str
    side: Literal["source", "target"]
    columns: dict[str, ColumnDescription] = Field(default_factory=dict)  # lower(column) -> its description


def fold_description(current: DescriptionRecord | None, event: DescriptionEvent, by: str | None = None,
                     at: str | None = None) -> DescriptionRecord:
    """The record after one event (`by`/`at` from the envelope, for the read model)."""
    record = current or DescriptionRecord(table=event.table, side=event.side)
    columns = dict(record.columns)
    if isinstance(event, ev.ColumnDescriptionsSuggested):
        for name, text in event.descriptions.items():
            found = columns.get(name.lower()) or ColumnDescription(column=name)
            if found.decided_at is not None and at is not None and at <= found.decided_at:
                continue  # a draft older than a person's decision (a redelivery) is not brought back
            columns[name.lower()] = found.model_copy(update={"draft": Draft(text=text, model=event.model, at=at)})
    elif isinstance(event, ev.ColumnDescriptionApproved):
        found = columns.get(event.column.lower()) or ColumnDescription(column=event.column)
        columns[event.column.lower()] = found.model_copy(update={
            "description": event.description, "suggested_by": event.suggested_by, "model": event.model,
            "by": by, "at": at, "draft": None, "decided_at": at})
    else:
        rejected = columns.get(event.column.lower())
        if rejected is not None:
            columns[event.column.lower()] = rejected.model_copy(update={"draft": None, "decided_at": at})
    return record.model_copy(update={"columns": columns})


def column_of(table: TableInfo, name: str) -> str:
    """The column as the catalog spells it; `NotFound` naming it otherwise."""
    found = table.column(name)
    if found is None:
        raise NotFound(f"column: no column {name!r} in table {table.qualified_name}", {"field": "column"})
    return found.name


def suggested(project: str, table: TableInfo, side: Literal["source", "target"], model: str,
              drafts: dict[str, str]) -> list[Event]:
    """One event with the model's drafts (none when it drafted nothing)."""
    if not drafts:
        return []
    return [ev.ColumnDescriptionsSuggested(project_id=project, table=table.qualified_name, side=side, model=model,
                                           descriptions=drafts)]


def approve(cmd: ApproveDescription, table: TableInfo, record: DescriptionRecord | None) -> list[Event]:
    """Approve the model's draft of a column (or the text a person gives); no event when that text is
    already the approved one; `Conflict` when there is neither a draft nor a text."""
    column = column_of(table, cmd.column)
    found = record.columns.get(column.lower()) if record else None
    draft = found.draft if found else None
    if cmd.description is None and draft is None and found is not None and found.description is not None:
        return []  # approved already (a retry): the approved text stays
    if cmd.description is None and draft is None:
        raise Conflict(f"column {column} of {table.qualified_name} has no drafted description to approve: ask the "
                       "model for one, or give the description", {"field": "description"})
    text = (cmd.description if cmd.description is not None else draft.text if draft else "").strip()
    if found is not None and found.description == text and draft is None:
        return []
    by_model = draft is not None and text == draft.text.strip()
    return [ev.ColumnDescriptionApproved(project_id=cmd.project_id, table=table.qualified_name, side=cmd.side,
                                         column=column, description=text,
                                         suggested_by="model" if by_model else "person",
                                         model=draft.model if by_model and draft else None)]


def reject(cmd: RejectDescription, table: TableInfo, record: DescriptionRecord | None) -> list[Event]:
    """Reject the model's draft of a column (no event when there is none)."""
    column = column_of(table, cmd.column)
    found = record.columns.get(column.lower()) if record else None
    if found is None or found.draft is None:
        return []
    return [ev.ColumnDescriptionRejected(project_id=cmd.project_id, table=table.qualified_name, side=cmd.side,
                                         column=column)]


def column_view(found: ColumnDescription | None) -> dict[str, object]:
    """What the catalog shows of a column's description: the approved text, and the model's draft."""
    if found is None:
        return {}
    view: dict[str, object] = {}
    if found.description is not None:
        view["description"] = found.description
        view["description_by"] = {"suggested_by": found.suggested_by, "model": found.model, "approved_by": found.by,
                                  "at": found.at}
    if found.draft is not None:
        view["description_draft"] = found.draft.model_dump(mode="json")
    return view


def annotate_descriptions(tables: list[dict[str, Any]], records: dict[str, DescriptionRecord]) -> list[dict[str, Any]]:
    """Catalog tables (JSON) with each described column's `description` (and its draft)."""
    annotated = []
    for item in tables:
        record = records.get(f"{item['schema_name']}.{item['name']}".lower())
        if record is None:
            annotated.append(item)
            continue
        columns = [{**c, **column_view(record.columns.get(str(c["name"]).lower()))} for c in item.get("columns") or []]
        annotated.append({**item, "columns": columns})
    return annotated
