"""The metadata aggregate of one project: state folded from its events and the decisions that
produce new ones. Pure: no I/O. One stream per project (stream id = project id) holds the
project's metadata and mapping events, so approvals and extractions are ordered and guarded by one
optimistic-concurrency version.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from ombudsman.contracts import events as ev
from ombudsman.contracts.catalog import Catalog
from ombudsman.contracts.commands.metadata import ApproveMapping, ExcludeMapping
from ombudsman.contracts.envelope import EventEnvelope, new_id
from ombudsman.contracts.registry import Event, decode
from ombudsman.contracts.replies import Invalid, NotFound
from ombudsman.metadata.classify import TableClass, counts
from ombudsman.metadata.coverage import Exclusion, fold_exclusion
from ombudsman.metadata.diff import CatalogDiff
from ombudsman.metadata.keys import KeyRecord, fold_key, record_key
from ombudsman.metadata.mapping import MappingSuggestions
from ombudsman.metadata.relationships import Relationship

Side = Literal["source", "target"]
SIDES: tuple[Side, Side] = ("source", "target")
CHUNK_ITEMS = 50  # tables (or suggestions …) per MetadataDetailsRecorded event: well under 1 MB


class Approval(BaseModel):
    source_table: str
    target_table: str
    columns: dict[str, str] = Field(default_factory=dict)
    confidence: float | None = None
    automatic: bool = False


class SideState(BaseModel):
    extracted: bool = False
    tables: int = 0
    columns: int = 0
    schemas: int = 0
    failed: str | None = None
    kind: str | None = None


class MetadataState(BaseModel):
    """What the decisions need to know about a project's metadata."""

    project_id: str
    version: int = 0
    sides: dict[str, SideState] = Field(default_factory=lambda: {str(s): SideState() for s in SIDES})
    approved: dict[str, Approval] = Field(default_factory=dict)  # lower(source table) → approval
    rejected: set[tuple[str, str]] = Field(default_factory=set)  # (lower source, lower target)
    excluded: dict[str, Exclusion] = Field(default_factory=dict)  # lower(source table) → what a person excluded
    suggestions: int = 0
    relationships: int = 0
    classes: dict[str, int] = Field(default_factory=dict)
    pipeline_ids: list[str] = Field(default_factory=list)
    keys: dict[str, KeyRecord] = Field(default_factory=dict)  # side:lower(table) → key record (keys.py)

    def apply(self, event: Event) -> None:
        """Fold one event into the state."""
        if isinstance(event, ev.MetadataExtracted):
            self.sides[event.side] = SideState(
                extracted=True, tables=event.tables, columns=event.columns, schemas=event.schemas,
                kind=self.sides[event.side].kind,
            )
        elif isinstance(event, ev.MetadataExtractionStarted):
            self.sides[event.side].failed = None
        elif isinstance(event, ev.MetadataExtractionFailed):
            self.sides[event.side].failed = event.error
        elif isinstance(event, ev.MetadataDetailsRecorded) and event.kind == "catalog" and event.side:
            self.sides[event.side].kind = event.header.get("kind", self.sides[event.side].kind)
        elif isinstance(event, ev.MappingSuggested):
            self.suggestions = event.suggestions
        elif isinstance(event, ev.MappingApproved):
            self.approved[event.source_table.lower()] = Approval(
                source_table=event.source_table, target_table=event.target_table, columns=dict(event.columns),
                confidence=event.confidence, automatic=event.automatic,
            )
            self.rejected.discard((event.source_table.lower(), event.target_table.lower()))
        elif isinstance(event, ev.MappingRejected):
            key = event.source_table.lower()
            current = self.approved.get(key)
            if current and current.target_table.lower() == event.target_table.lower():
                del self.approved[key]
            self.rejected.add((key, event.target_table.lower()))
        elif isinstance(event, ev.MappingExcluded):
            key = event.source_table.lower()
            folded = fold_exclusion(self.excluded.get(key), event)
            if folded is None:
                self.excluded.pop(key, None)
            else:
                self.excluded[key] = folded
        elif isinstance(event, ev.RelationshipsInferred):
            self.relationships = event.relationships
        elif isinstance(event, ev.TablesClassified):
            self.classes = dict(event.classes)
        elif isinstance(event, ev.PipelinesGenerated):
            self.pipeline_ids = list(event.pipeline_ids)
        elif isinstance(event, ev.KeyDiscovered | ev.KeyConfirmed | ev.KeyOverridden):
            at = record_key(event.side, event.table)
            self.keys[at] = fold_key(self.keys.get(at), event)


class MetadataAggregate:
    """The metadata aggregate's fold (`ombudsman.eventstore.aggregate.Aggregate`): one stream per
    project holds its `metadata` and `mapping` events; `apply` changes the state it is given."""

    stream_type = "metadata"

    def initial(self, stream_id: str) -> MetadataState:
        return MetadataState(project_id=stream_id)

    def apply(self, state: MetadataState, envelope: EventEnvelope) -> MetadataState:
        state.apply(decode(envelope))
        state.version = envelope.version
        return state


METADATA = MetadataAggregate()


# --- decisions -----------------------------------------------------------------------------


def chunked(items: list[dict[str, Any]], size: int = CHUNK_ITEMS) -> list[list[dict[str, Any]]]:
    return [items[i : i + size] for i in range(0, len(items), size)] or [[]]


def details(
    project_id: str, kind: str, side: Side | None, items: list[dict[str, Any]], header: dict[str, Any] | None = None
) -> list[Event]:
    """MetadataDetailsRecorded events carrying `items` in chunks (one batch id)."""
    batch_id = new_id()
    parts = chunked(items)
    return [
        ev.MetadataDetailsRecorded(
            project_id=project_id, kind=kind, side=side, batch_id=batch_id,  # type: ignore[arg-type]
            chunk=index, chunks=len(parts), header=(header or {}) if index == 1 else {}, items=part,
        )
        for index, part in enumerate(parts, start=1)
    ]


def record_catalog(
    project_id: str, side: Side, catalog: Catalog, diff: CatalogDiff, *, dialect: str | None = None
) -> list[Event]:
    """Events recording a new catalog of one side: its tables, what changed, the summary (+ DDL upload)."""
    header = {"kind": catalog.kind, "database": catalog.database, "server_version": catalog.server_version,
              "schemas": catalog.schemas}
    tables = [t.model_dump(mode="json") for t in catalog.tables]
    result: list[Event] = [*details(project_id, "catalog", side, tables, header)]
    result += details(project_id, "changes", side, [diff.model_dump(mode="json")])
    if dialect is not None:
        result.append(ev.DdlUploaded(project_id=project_id, side=side, dialect=dialect, tables=len(catalog.tables)))
    result.append(
        ev.MetadataExtracted(
            project_id=project_id, side=side, schemas=len(catalog.schemas or {t.schema_name for t in catalog.tables}),
            tables=len(catalog.tables), columns=sum(len(t.columns) for t in catalog.tables), changes=diff.summary(),
        )
    )
    return result


def require_catalogs(state: MetadataState, *sides: Side) -> None:
    missing = [s for s in sides if not state.sides[s].extracted]
    if missing:
        raise NotFound(
            f"project {state.project_id!r} has no {' and no '.join(missing)} catalog yet: extract or upload DDL first",
            {"project_id": state.project_id, "missing": missing},
        )


def record_suggestions(state: MetadataState, suggestions: MappingSuggestions) -> list[Event]:
    require_catalogs(state, "source", "target")
    header = {
        "schemas": [s.model_dump(mode="json") for s in suggestions.schemas],
        "unmapped_source_tables": suggestions.unmapped_source_tables,
        "unmapped_target_tables": suggestions.unmapped_target_tables,
    }
    items = [t.model_dump(mode="json") for t in suggestions.tables]
    return [
        *details(state.project_id, "suggestions", None, items, header),
        ev.MappingSuggested(
            project_id=state.project_id, suggestions=len(suggestions.tables),
            unmapped_source=len(suggestions.unmapped_source_tables),
            unmapped_target=len(suggestions.unmapped_target_tables),
        ),
    ]


def approve(
    state: MetadataState, cmd: ApproveMapping, source: Catalog, target: Catalog, suggested_columns: dict[str, str]
) -> list[Event]:
    """Approve (or correct) the mapping of a source table onto a target table and their columns."""
    require_catalogs(state, "source", "target")
    src = _table(source, cmd.source_table, "source_table")
    tgt = _table(target, cmd.target_table, "target_table")
    columns = dict(suggested_columns if cmd.columns is None else cmd.columns)
    unknown_source = sorted(c for c in columns if src.column(c) is None)
    unknown_target = sorted(c for c in columns.values() if tgt.column(c) is None)
    if unknown_source or unknown_target:
        raise Invalid(
            "columns: unknown column(s) "
            + "; ".join(
                part
                for part in (
                    f"source {src.qualified_name}: {', '.join(unknown_source)}" if unknown_source else "",
                    f"target {tgt.qualified_name}: {', '.join(unknown_target)}" if unknown_target else "",
                )
                if part
            ),
            {"field": "columns", "source": unknown_source, "target": unknown_target},
        )
    if len(set(v.lower() for v in columns.values())) != len(columns):
        raise Invalid("columns: two source columns map onto the same target column", {"field": "columns"})
    # real names as the catalogs spell them
    columns = {src.column(k).name: tgt.column(v).name for k, v in columns.items()}  # type: ignore[union-attr]
    current = state.approved.get(src.qualified_name.lower())
    if current and current.target_table == tgt.qualified_name and current.columns == columns:
        return []
    return [
        ev.MappingApproved(
            project_id=state.project_id, source_table=src.qualified_name, target_table=tgt.qualified_name,
            columns=columns, confidence=cmd.confidence, automatic=cmd.automatic,
        )
    ]


def reject(state: MetadataState, source_table: str, target_table: str) -> list[Event]:
    """Reject a suggested (or approved) pair; an approval of that pair is withdrawn."""
    require_catalogs(state, "source", "target")
    if (source_table.lower(), target_table.lower()) in state.rejected:
        return []
    return [ev.MappingRejected(project_id=state.project_id, source_table=source_table, target_table=target_table)]


def exclude(state: MetadataState, cmd: ExcludeMapping, source: Catalog) -> list[Event]:
    """Record a person's exclusion (or its withdrawal); a note is required to exclude."""
    require_catalogs(state, "source")
    src = _table(source, cmd.source_table, "source_table")
    unknown = sorted(c for c in cmd.columns if src.column(c) is None)
    if unknown:
        raise Invalid(f"columns: no column {', '.join(unknown)} in source table {src.qualified_name}",
                      {"field": "columns", "unknown": unknown})
    if not cmd.withdraw and not cmd.note.strip():
        raise Invalid("note: say why this is excluded from the migration", {"field": "note"})
    columns = [src.column(c).name for c in cmd.columns]  # type: ignore[union-attr]
    current = state.excluded.get(src.qualified_name.lower())
    if cmd.withdraw and (current is None or (columns and not {c.lower() for c in columns}
                                             & {c.lower() for c in current.columns})):
        return []
    if not cmd.withdraw and current is not None and (
        (not columns and current.table)
        or (columns and {c.lower() for c in columns} <= {c.lower() for c in current.columns})
    ):
        return []
    return [ev.MappingExcluded(project_id=state.project_id, source_table=src.qualified_name, columns=columns,
                               note=cmd.note.strip(), withdrawn=cmd.withdraw)]


def _table(catalog: Catalog, name: str, field: str):  # type: ignore[no-untyped-def]
    if "." not in name:
        raise Invalid(f"{field}: {name!r} must be schema.table", {"field": field})
    schema, table_name = name.rsplit(".", 1)
    table = catalog.table(schema, table_name)
    if table is None:
        raise NotFound(f"{field}: no table {name!r} in the {field.split('_')[0]} catalog", {"field": field})
    return table


def record_relationships(state: MetadataState, side: Side, relationships: list[Relationship]) -> list[Event]:
    require_catalogs(state, side)
    items = [r.model_dump(mode="json") for r in relationships]
    return [*details(state.project_id, "relationships", side, items),
            ev.RelationshipsInferred(project_id=state.project_id, relationships=len(relationships))]


def record_classification(state: MetadataState, side: Side, classes: list[TableClass]) -> list[Event]:
    require_catalogs(state, side)
    items = [c.model_dump(mode="json") for c in classes]
    return [*details(state.project_id, "classification", side, items),
            ev.TablesClassified(project_id=state.project_id, classes=counts(classes))]


def pipelines_generated(state: MetadataState, pipeline_ids: list[str]) -> list[Event]:
    if not pipeline_ids:
        raise Invalid("no approved mapping to generate pipelines from: approve table mappings first",
                      {"field": "mappings"})
    return [ev.PipelinesGenerated(project_id=state.project_id, pipeline_ids=pipeline_ids)]


def code_generated(state: MetadataState, platform: str, version: str, tables: int,
                   artefacts: list[dict[str, str]]) -> list[Event]:
    """Record one generation of migration code ({path, sha256} of each file handed out)."""
    require_catalogs(state, "source")
    return [ev.CodeGenerated(project_id=state.project_id, platform=platform, generator_version=version, tables=tables,
                             artefacts=artefacts)]
