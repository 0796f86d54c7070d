"""Read models of the metadata service, fed by its events (and the projects service's
ProjectDeleted), rebuildable by replay.

One table, `metadata.documents`, holds every document by (project, kind, side, key):
catalog tables, catalog headers, catalog changes, mapping suggestions, approved mappings,
rejections, relationships, table classes, keys, column descriptions and per-side status. Writes are idempotent upserts with
times taken from the envelope, so a redelivered event changes nothing and a rebuild gives the
same rows.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from ombudsman.contracts import events as ev
from ombudsman.contracts.catalog import Catalog, TableInfo
from ombudsman.contracts.envelope import EventEnvelope
from ombudsman.contracts.registry import UnknownEventType, decode
from ombudsman.contracts.subjects import events_filter
from ombudsman.eventstore.migrations import create_schema_sql
from ombudsman.eventstore.projections import Projection
from ombudsman.metadata.classify import TableClass
from ombudsman.metadata.coverage import Exclusion, fold_exclusion
from ombudsman.metadata.descriptions import DescriptionRecord, fold_description
from ombudsman.metadata.diff import CatalogDiff
from ombudsman.metadata.domain import Side
from ombudsman.metadata.generate import ApprovedMapping
from ombudsman.metadata.keys import KeyRecord, fold_key
from ombudsman.metadata.mapping import MappingSuggestions, SchemaSuggestion, TableSuggestion
from ombudsman.metadata.relationships import Relationship

SCHEMA = "metadata"
DOCUMENTS = f"{SCHEMA}.documents"
PROJECT_EVENTS = frozenset({
    "MetadataDetailsRecorded", "MappingApproved", "MappingRejected", "MetadataExtractionStarted",
    "MetadataExtracted", "MetadataExtractionFailed", "PipelinesGenerated", "MappingSuggested",
    "RelationshipsInferred", "TablesClassified", "MappingExcluded", "KeyDiscovered", "KeyConfirmed", "KeyOverridden",
    "CodeGenerated", "ColumnDescriptionsSuggested", "ColumnDescriptionApproved", "ColumnDescriptionRejected",
})


def ddl(schema: str = SCHEMA) -> list[str]:
    """The read model's table (idempotent)."""
    return [
        create_schema_sql(schema),
        f"""CREATE TABLE IF NOT EXISTS {schema}.documents (
            project_id text NOT NULL,
            kind text NOT NULL,
            side text NOT NULL DEFAULT '',
            key text NOT NULL DEFAULT '',
            body jsonb NOT NULL,
            updated_at timestamptz NOT NULL,
            PRIMARY KEY (project_id, kind, side, key)
        )""",
        f"""CREATE TABLE IF NOT EXISTS {schema}.deleted_projects (
            project_id text PRIMARY KEY,
            deleted_at timestamptz NOT NULL
        )""",
    ]


def item_key(kind: str, item: dict[str, Any]) -> str:
    """The document key of one detail item."""
    if kind == "catalog":
        return f"{item['schema_name']}.{item['name']}".lower()
    if kind == "suggestions":
        return str(item["source_table"]).lower()
    if kind == "classification":
        return str(item["table"]).lower()
    if kind == "relationships":
        return "|".join(
            [item["child_table"], ",".join(item["child_columns"]), item["parent_table"], ",".join(item["parent_columns"])]
        ).lower()
    return ""


class MetadataProjection(Projection):
    """The documents read model, fed synchronously by this service's own events."""

    name = "metadata_documents"
    event_types = PROJECT_EVENTS

    async def setup(self, conn: AsyncConnection) -> None:
        for statement in ddl():
            await conn.execute(text(statement))

    async def reset(self, conn: AsyncConnection) -> None:
        # the workload's joins are another projection's rows (workload_joins.py)
        await conn.execute(text(f"DELETE FROM {DOCUMENTS} WHERE kind <> 'workload_join'"))

    async def apply(self, conn: AsyncConnection, envelope: EventEnvelope) -> None:
        try:
            event = decode(envelope)
        except UnknownEventType:
            return
        project = getattr(event, "project_id", None)
        if project is None or await _deleted(conn, project):
            return
        at = envelope.occurred_at
        if isinstance(event, ev.MetadataDetailsRecorded):
            side = event.side or ""
            if event.chunk == 1:
                await conn.execute(
                    text(f"DELETE FROM {DOCUMENTS} WHERE project_id = :p AND kind IN (:k, :h) AND side = :s"),
                    {"p": project, "k": event.kind, "h": f"{event.kind}_header", "s": side},
                )
                await _put(conn, project, f"{event.kind}_header", side, "", {**event.header, "batch_id": event.batch_id}, at)
            for item in event.items:
                await _put(conn, project, event.kind, side, item_key(event.kind, item), item, at)
        elif isinstance(event, ev.MappingApproved):
            body = event.model_dump(mode="json") | {"approved_at": at.isoformat(), "approved_by": envelope.actor.name}
            await _put(conn, project, "mapping", "", event.source_table.lower(), body, at)
            await conn.execute(
                text(f"DELETE FROM {DOCUMENTS} WHERE project_id = :p AND kind = 'rejection' AND key = :k"),
                {"p": project, "k": f"{event.source_table}|{event.target_table}".lower()},
            )
        elif isinstance(event, ev.MappingRejected):
            await conn.execute(
                text(f"DELETE FROM {DOCUMENTS} WHERE project_id = :p AND kind = 'mapping' AND key = :k "
                     "AND lower(body->>'target_table') = lower(:t)"),
                {"p": project, "k": event.source_table.lower(), "t": event.target_table},
            )
            await _put(conn, project, "rejection", "", f"{event.source_table}|{event.target_table}".lower(),
                       event.model_dump(mode="json"), at)
        elif isinstance(event, ev.MappingExcluded):
            key = event.source_table.lower()
            current = await _doc(conn, project, "exclusion", "", key)
            folded = fold_exclusion(Exclusion.model_validate(current) if current else None, event)
            if folded is None:
                await conn.execute(text(f"DELETE FROM {DOCUMENTS} WHERE project_id = :p AND kind = 'exclusion' "
                                        "AND key = :k"), {"p": project, "k": key})
            else:
                await _put(conn, project, "exclusion", "", key, folded.model_dump(mode="json"), at)
        elif isinstance(event, ev.KeyDiscovered | ev.KeyConfirmed | ev.KeyOverridden):
            key = event.table.lower()
            current = await _doc(conn, project, "key", event.side, key)
            record = fold_key(KeyRecord.model_validate(current) if current else None, event,
                              by=envelope.actor.name, at=at.isoformat())
            await _put(conn, project, "key", event.side, key, record.model_dump(mode="json"), at)
        elif isinstance(event, ev.ColumnDescriptionsSuggested | ev.ColumnDescriptionApproved
                        | ev.ColumnDescriptionRejected):
            key = event.table.lower()
            current = await _doc(conn, project, "description", event.side, key)
            described = fold_description(DescriptionRecord.model_validate(current) if current else None, event,
                                         by=envelope.actor.name, at=at.isoformat())
            await _put(conn, project, "description", event.side, key, described.model_dump(mode="json"), at)
        elif isinstance(event, ev.MetadataExtractionStarted | ev.MetadataExtracted | ev.MetadataExtractionFailed):
            body = event.model_dump(mode="json") | {"event": envelope.event_type, "at": at.isoformat()}
            await _put(conn, project, "status", event.side, "", body, at)
        elif isinstance(event, ev.PipelinesGenerated | ev.MappingSuggested | ev.RelationshipsInferred
                        | ev.TablesClassified):
            body = event.model_dump(mode="json") | {"at": at.isoformat()}
            await _put(conn, project, "summary", "", envelope.event_type, body, at)
        elif isinstance(event, ev.CodeGenerated):  # the last generation of each platform
            body = event.model_dump(mode="json") | {"at": at.isoformat(), "by": envelope.actor.name}
            await _put(conn, project, "summary", "", f"CodeGenerated.{event.platform}", body, at)


class ProjectCleanup(Projection):
    """Drops a deleted project's documents (the projects service's ProjectDeleted, via JetStream)."""

    name = "metadata_project_cleanup"
    event_types = frozenset({"ProjectDeleted"})
    replay_source = "stream"
    replay_filter = events_filter("project", "*", "ProjectDeleted")

    async def setup(self, conn: AsyncConnection) -> None:
        for statement in ddl():
            await conn.execute(text(statement))

    async def reset(self, conn: AsyncConnection) -> None:
        await conn.execute(text(f"DELETE FROM {SCHEMA}.deleted_projects"))

    async def apply(self, conn: AsyncConnection, envelope: EventEnvelope) -> None:
        # the deleted project is remembered, so whichever of the two projections is rebuilt last,
        # its documents stay gone
        project = envelope.data.get("project_id")
        if project:
            await conn.execute(text(f"DELETE FROM {DOCUMENTS} WHERE project_id = :p"), {"p": project})
            await conn.execute(
                text(f"INSERT INTO {SCHEMA}.deleted_projects (project_id, deleted_at) VALUES (:p, :at) "
                     "ON CONFLICT (project_id) DO NOTHING"),
                {"p": project, "at": envelope.occurred_at},
            )


async def _deleted(conn: AsyncConnection, project: str) -> bool:
    found = await conn.execute(text(f"SELECT 1 FROM {SCHEMA}.deleted_projects WHERE project_id = :p"), {"p": project})
    return found.first() is not None


async def _put(
    conn: AsyncConnection, project: str, kind: str, side: str, key: str, body: dict[str, Any], at: datetime
) -> None:
    await conn.execute(
        text(f"INSERT INTO {DOCUMENTS} (project_id, kind, side, key, body, updated_at) "
             "VALUES (:p, :k, :s, :key, CAST(:b AS jsonb), :at) "
             "ON CONFLICT (project_id, kind, side, key) DO UPDATE SET body = EXCLUDED.body, updated_at = EXCLUDED.updated_at"),
        {"p": project, "k": kind, "s": side, "key": key, "b": json.dumps(body), "at": at},
    )


def all_projections() -> list[Projection]:
    """For `ombudsman replay metadata`."""
    from ombudsman.metadata.jobs import AutomateJobs
    from ombudsman.metadata.workload_joins import WorkloadJoins

    return [MetadataProjection(), ProjectCleanup(), WorkloadJoins(), AutomateJobs()]


# --- reads (any SQLAlchemy AsyncConnection) -------------------------------------------------


def _body(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


async def _docs(conn: AsyncConnection, project: str, kind: str, side: str = "") -> list[dict[str, Any]]:
    rows = await conn.execute(
        text(f"SELECT body FROM {DOCUMENTS} WHERE project_id = :p AND kind = :k AND side = :s ORDER BY key"),
        {"p": project, "k": kind, "s": side},
    )
    return [_body(r.body) for r in rows]


async def _doc(conn: AsyncConnection, project: str, kind: str, side: str = "", key: str = "") -> dict[str, Any] | None:
    row = (await conn.execute(
        text(f"SELECT body FROM {DOCUMENTS} WHERE project_id = :p AND kind = :k AND side = :s AND key = :key"),
        {"p": project, "k": kind, "s": side, "key": key},
    )).first()
    return None if row is None else _body(row.body)


async def load_catalog(conn: AsyncConnection, project: str, side: Side) -> Catalog | None:
    """The last recorded catalog of one side, or None."""
    header = await _doc(conn, project, "catalog_header", side)
    if header is None:
        return None
    tables = [TableInfo.model_validate(t) for t in await _docs(conn, project, "catalog", side)]
    return Catalog(kind=header.get("kind") or "postgres", database=header.get("database"),
                   server_version=header.get("server_version"), schemas=header.get("schemas") or [], tables=tables)


async def load_changes(conn: AsyncConnection, project: str, side: Side) -> CatalogDiff | None:
    docs = await _docs(conn, project, "changes", side)
    return CatalogDiff.model_validate(docs[0]) if docs else None


async def load_suggestions(conn: AsyncConnection, project: str) -> MappingSuggestions | None:
    header = await _doc(conn, project, "suggestions_header")
    if header is None:
        return None
    return MappingSuggestions(
        schemas=[SchemaSuggestion.model_validate(s) for s in header.get("schemas", [])],
        tables=[TableSuggestion.model_validate(t) for t in await _docs(conn, project, "suggestions")],
        unmapped_source_tables=header.get("unmapped_source_tables", []),
        unmapped_target_tables=header.get("unmapped_target_tables", []),
    )


async def load_approved(conn: AsyncConnection, project: str) -> list[dict[str, Any]]:
    return await _docs(conn, project, "mapping")


def approved_mappings(docs: list[dict[str, Any]]) -> list[ApprovedMapping]:
    return [ApprovedMapping(source_table=d["source_table"], target_table=d["target_table"],
                            columns=d.get("columns") or {}, confidence=d.get("confidence")) for d in docs]


async def load_exclusions(conn: AsyncConnection, project: str) -> dict[str, Exclusion]:
    """What people excluded from coverage, by lower-case source table."""
    return {e.source_table.lower(): e for e in (Exclusion.model_validate(d) for d in await _docs(conn, project,
                                                                                                "exclusion"))}


async def load_relationships(conn: AsyncConnection, project: str, side: Side) -> list[Relationship]:
    return [Relationship.model_validate(r) for r in await _docs(conn, project, "relationships", side)]


async def load_classes(conn: AsyncConnection, project: str, side: Side) -> list[TableClass]:
    return [TableClass.model_validate(c) for c in await _docs(conn, project, "classification", side)]


async def load_keys(conn: AsyncConnection, project: str, side: Side) -> dict[str, KeyRecord]:
    """Recorded keys of one side's tables, by lower-case `schema.table`."""
    return {r.table.lower(): r for r in (KeyRecord.model_validate(d) for d in await _docs(conn, project, "key", side))}


async def load_descriptions(conn: AsyncConnection, project: str, side: str,
                            tables: list[str] | None = None) -> dict[str, DescriptionRecord]:
    """Column descriptions (approved, and the model's drafts) of one side's tables (or only of
    `tables`, `schema.table`: one page of the catalog), by lower-case `schema.table`."""
    if tables is None:
        docs = await _docs(conn, project, "description", side)
    else:
        rows = await conn.execute(
            text(f"SELECT body FROM {DOCUMENTS} WHERE project_id = :p AND kind = 'description' AND side = :s "
                 "AND key = ANY(:keys)"), {"p": project, "s": side, "keys": [t.lower() for t in tables]})
        docs = [_body(r.body) for r in rows]
    return {r.table.lower(): r for r in (DescriptionRecord.model_validate(d) for d in docs)}


async def load_status(conn: AsyncConnection, project: str) -> dict[str, Any]:
    """Per-side extraction status, the last summary events and the number of approved mappings."""
    summaries = await conn.execute(
        text(f"SELECT key, body FROM {DOCUMENTS} WHERE project_id = :p AND kind = 'summary' ORDER BY key"),
        {"p": project},
    )
    return {
        "sides": {side: await _doc(conn, project, "status", side) for side in ("source", "target")},
        "summaries": {r.key: _body(r.body) for r in summaries},
        "approved_mappings": len(await _docs(conn, project, "mapping")),
    }
