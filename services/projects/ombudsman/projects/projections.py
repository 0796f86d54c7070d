"""Read models of the projects service.

- `project_list`: one row per project with its folded state (the same fold as the aggregate),
  fed synchronously from the service's own events.
- `project_flags`: setup status flags fed by the metadata service's events (a JetStream consumer).
- `connection_secrets` is NOT a projection: encrypted URLs are kept out of the event log on purpose.
"""

from __future__ import annotations

import json

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from ombudsman.contracts.envelope import EventEnvelope
from ombudsman.contracts.state.project import ProjectState, apply
from ombudsman.contracts.subjects import events_filter
from ombudsman.eventstore.projections import Projection

SCHEMA = "projects"


def ddl(schema: str = SCHEMA) -> list[str]:
    return [
        f"""CREATE TABLE IF NOT EXISTS {schema}.connection_secrets (
            project_id text NOT NULL, name text NOT NULL, kind text NOT NULL, ciphertext text NOT NULL,
            PRIMARY KEY (project_id, name))""",
    ]


class ProjectList(Projection):
    """Every project's current state, for get/list queries."""

    name = "project_list"

    async def setup(self, conn: AsyncConnection) -> None:
        await conn.execute(
            text(
                f"""CREATE TABLE IF NOT EXISTS {SCHEMA}.project_list (
                    id text PRIMARY KEY, name text NOT NULL, deleted boolean NOT NULL, members jsonb NOT NULL,
                    version integer NOT NULL, state jsonb NOT NULL, created_at timestamptz, updated_at timestamptz)"""
            )
        )

    async def reset(self, conn: AsyncConnection) -> None:
        await conn.execute(text(f"DELETE FROM {SCHEMA}.project_list"))

    async def apply(self, conn: AsyncConnection, envelope: EventEnvelope) -> None:
        if envelope.stream_type != "project":
            return
        row = (
            await conn.execute(
                text(f"SELECT state FROM {SCHEMA}.project_list WHERE id = :id"), {"id": envelope.stream_id}
            )
        ).scalar_one_or_none()
        state = ProjectState.model_validate(row if isinstance(row, dict) else json.loads(row)) if row else ProjectState()
        state = apply(state, envelope)
        await conn.execute(
            text(
                f"""INSERT INTO {SCHEMA}.project_list (id, name, deleted, members, version, state, created_at, updated_at)
                    VALUES (:id, :name, :deleted, CAST(:members AS jsonb), :version, CAST(:state AS jsonb),
                            :created_at, :updated_at)
                    ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, deleted = EXCLUDED.deleted,
                        members = EXCLUDED.members, version = EXCLUDED.version, state = EXCLUDED.state,
                        updated_at = EXCLUDED.updated_at"""
            ),
            {
                "id": envelope.stream_id,
                "name": state.name,
                "deleted": state.deleted,
                "members": json.dumps(state.members),
                "version": state.version,
                "state": state.model_dump_json(),
                "created_at": state.created_at,
                "updated_at": state.updated_at,
            },
        )


class ProjectFlags(Projection):
    """Setup status flags from the metadata service's events."""

    name = "project_flags"
    event_types = frozenset({"MetadataExtracted", "DdlUploaded", "RelationshipsInferred", "PipelinesGenerated"})
    replay_source = "stream"
    replay_filter = events_filter("metadata", "*", "*")

    async def setup(self, conn: AsyncConnection) -> None:
        await conn.execute(
            text(
                f"""CREATE TABLE IF NOT EXISTS {SCHEMA}.project_flags (
                    project_id text PRIMARY KEY, has_metadata boolean NOT NULL DEFAULT false,
                    has_relationships boolean NOT NULL DEFAULT false,
                    automation_completed boolean NOT NULL DEFAULT false, updated_at timestamptz)"""
            )
        )

    async def reset(self, conn: AsyncConnection) -> None:
        await conn.execute(text(f"DELETE FROM {SCHEMA}.project_flags"))

    async def apply(self, conn: AsyncConnection, envelope: EventEnvelope) -> None:
        column = {
            "MetadataExtracted": "has_metadata",
            "DdlUploaded": "has_metadata",
            "RelationshipsInferred": "has_relationships",
            "PipelinesGenerated": "automation_completed",
        }.get(envelope.event_type)
        project_id = envelope.data.get("project_id")
        if column is None or not project_id:
            return
        await conn.execute(
            text(
                f"""INSERT INTO {SCHEMA}.project_flags (project_id, {column}, updated_at) VALUES (:p, true, :at)
                    ON CONFLICT (project_id) DO UPDATE SET {column} = true, updated_at = EXCLUDED.updated_at"""
            ),
            {"p": project_id, "at": envelope.occurred_at},
        )


def all_projections() -> list[Projection]:
    """For `ombudsman replay projects`."""
    return [ProjectList(), ProjectFlags()]
