"""Read models of the metadata service, fed by its events (and the projects service's
ProjectDeleted), rebuildable by replay.

One table, `metadata.documents`, holds every document by (project, kind, side, key):
catalog tables, catalog headers, catalog changes, mapping suggestions, approved mappings,
rejections, relationships, table classes and per-side status. Writes are idempotent upserts, so a
redelivered event changes nothing.
"""

from __future__ import annotations

import json
from typing import Any

from ombudsman.contracts import events as ev
from ombudsman.contracts.catalog import Catalog, TableInfo
from ombudsman.contracts.envelope import EventEnvelope
from ombudsman.contracts.registry import UnknownEventType, decode
from ombudsman.metadata.classify import TableClass
from ombudsman.metadata.diff import CatalogDiff
from ombudsman.metadata.domain import Side
from ombudsman.metadata.generate import ApprovedMapping
from ombudsman.metadata.mapping import MappingSuggestions, SchemaSuggestion, TableSuggestion
from ombudsman.metadata.relationships import Relationship

SCHEMA = "metadata"
DOCUMENTS = f"{SCHEMA}.documents"
DDL = f"""
CREATE SCHEMA IF NOT EXISTS {SCHEMA};
CREATE TABLE IF NOT EXISTS {DOCUMENTS} (
    project_id text NOT NULL,
    kind text NOT NULL,
    side text NOT NULL DEFAULT '',
    key text NOT NULL DEFAULT '',
    body jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, kind, side, key)
);
"""


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


class MetadataProjection:
    """The documents read model. `apply` takes one envelope inside the caller's transaction."""

    name = "metadata_documents"
    tables = (DOCUMENTS,)

    async def setup(self, conn: Any) -> None:
        await conn.execute(DDL)

    async def reset(self, conn: Any) -> None:
        await conn.execute(f"TRUNCATE {DOCUMENTS}")

    async def apply(self, conn: Any, envelope: EventEnvelope) -> None:
        try:
            event = decode(envelope)
        except UnknownEventType:
            return
        if isinstance(event, ev.ProjectDeleted):
            await conn.execute(f"DELETE FROM {DOCUMENTS} WHERE project_id = $1", event.project_id)
            return
        project = getattr(event, "project_id", None)
        if project is None:
            return
        if isinstance(event, ev.MetadataDetailsRecorded):
            side = event.side or ""
            if event.chunk == 1:
                await conn.execute(
                    f"DELETE FROM {DOCUMENTS} WHERE project_id = $1 AND kind = ANY($2::text[]) AND side = $3",
                    project, [event.kind, f"{event.kind}_header"], side,
                )
                await _put(conn, project, f"{event.kind}_header", side, "", {**event.header, "batch_id": event.batch_id})
            for item in event.items:
                await _put(conn, project, event.kind, side, item_key(event.kind, item), item)
        elif isinstance(event, ev.MappingApproved):
            body = event.model_dump(mode="json") | {"approved_at": envelope.occurred_at.isoformat(),
                                                     "approved_by": envelope.actor.name}
            await _put(conn, project, "mapping", "", event.source_table.lower(), body)
            await conn.execute(
                f"DELETE FROM {DOCUMENTS} WHERE project_id = $1 AND kind = 'rejection' AND key = $2",
                project, f"{event.source_table}|{event.target_table}".lower(),
            )
        elif isinstance(event, ev.MappingRejected):
            await conn.execute(
                f"DELETE FROM {DOCUMENTS} WHERE project_id = $1 AND kind = 'mapping' AND key = $2 "
                "AND lower(body->>'target_table') = lower($3)",
                project, event.source_table.lower(), event.target_table,
            )
            await _put(conn, project, "rejection", "", f"{event.source_table}|{event.target_table}".lower(),
                       event.model_dump(mode="json"))
        elif isinstance(event, ev.MetadataExtractionStarted | ev.MetadataExtracted | ev.MetadataExtractionFailed):
            body = event.model_dump(mode="json") | {"event": envelope.event_type, "at": envelope.occurred_at.isoformat()}
            await _put(conn, project, "status", event.side, "", body)
        elif isinstance(event, ev.PipelinesGenerated | ev.MappingSuggested | ev.RelationshipsInferred
                        | ev.TablesClassified):
            body = event.model_dump(mode="json") | {"at": envelope.occurred_at.isoformat()}
            await _put(conn, project, "summary", "", envelope.event_type, body)


async def _put(conn: Any, project: str, kind: str, side: str, key: str, body: dict[str, Any]) -> None:
    await conn.execute(
        f"INSERT INTO {DOCUMENTS} (project_id, kind, side, key, body) VALUES ($1, $2, $3, $4, $5::jsonb) "
        "ON CONFLICT (project_id, kind, side, key) DO UPDATE SET body = EXCLUDED.body, updated_at = now()",
        project, kind, side, key, json.dumps(body),
    )


# --- reads ---------------------------------------------------------------------------------


async def _docs(conn: Any, project: str, kind: str, side: str = "") -> list[dict[str, Any]]:
    rows = await conn.fetch(
        f"SELECT body FROM {DOCUMENTS} WHERE project_id = $1 AND kind = $2 AND side = $3 ORDER BY key",
        project, kind, side,
    )
    return [json.loads(r["body"]) if isinstance(r["body"], str) else r["body"] for r in rows]


async def _doc(conn: Any, project: str, kind: str, side: str = "", key: str = "") -> dict[str, Any] | None:
    row = await conn.fetchrow(
        f"SELECT body FROM {DOCUMENTS} WHERE project_id = $1 AND kind = $2 AND side = $3 AND key = $4",
        project, kind, side, key,
    )
    if row is None:
        return None
    return json.loads(row["body"]) if isinstance(row["body"], str) else row["body"]


async def load_catalog(conn: Any, project: str, side: Side) -> Catalog | None:
    """The last recorded catalog of one side, or None."""
    header = await _doc(conn, project, "catalog_header", side)
    if header is None:
        return None
    tables = [TableInfo.model_validate(t) for t in await _docs(conn, project, "catalog", side)]
    return Catalog(kind=header.get("kind") or "postgres", database=header.get("database"),
                   server_version=header.get("server_version"), schemas=header.get("schemas") or [], tables=tables)


async def load_changes(conn: Any, project: str, side: Side) -> CatalogDiff | None:
    docs = await _docs(conn, project, "changes", side)
    return CatalogDiff.model_validate(docs[0]) if docs else None


async def load_suggestions(conn: Any, project: str) -> MappingSuggestions | None:
    header = await _doc(conn, project, "suggestions_header")
    if header is None:
        return None
    return MappingSuggestions(
        schemas=[SchemaSuggestion.model_validate(s) for s in header.get("schemas", [])],
        tables=[TableSuggestion.model_validate(t) for t in await _docs(conn, project, "suggestions")],
        unmapped_source_tables=header.get("unmapped_source_tables", []),
        unmapped_target_tables=header.get("unmapped_target_tables", []),
    )


async def load_approved(conn: Any, project: str) -> list[dict[str, Any]]:
    return await _docs(conn, project, "mapping")


def approved_mappings(docs: list[dict[str, Any]]) -> list[ApprovedMapping]:
    return [ApprovedMapping(source_table=d["source_table"], target_table=d["target_table"],
                            columns=d.get("columns") or {}, confidence=d.get("confidence")) for d in docs]


async def load_relationships(conn: Any, project: str, side: Side) -> list[Relationship]:
    return [Relationship.model_validate(r) for r in await _docs(conn, project, "relationships", side)]


async def load_classes(conn: Any, project: str, side: Side) -> list[TableClass]:
    return [TableClass.model_validate(c) for c in await _docs(conn, project, "classification", side)]


async def load_status(conn: Any, project: str) -> dict[str, Any]:
    """Per-side extraction status and the last summary events."""
    return {
        "sides": {side: await _doc(conn, project, "status", side) for side in ("source", "target")},
        "summaries": {
            r["key"]: json.loads(r["body"]) if isinstance(r["body"], str) else r["body"]
            for r in await conn.fetch(
                f"SELECT key, body FROM {DOCUMENTS} WHERE project_id = $1 AND kind = 'summary'", project
            )
        },
        "approved_mappings": len(await _docs(conn, project, "mapping")),
    }
