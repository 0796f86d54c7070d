"""Read models of the projects service.

- `project_list`: one row per project with its folded state (the same fold as the aggregate) and
  its reply shape (`public`), fed synchronously from the service's own events.
- `project_flags`: setup status flags fed by the metadata service's events (a JetStream consumer).
- `connection_secrets` is NOT a projection: encrypted URLs are kept out of the event log on purpose.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from itertools import groupby

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from ombudsman.contracts.envelope import EventEnvelope
from ombudsman.contracts.subjects import events_filter
from ombudsman.eventstore.aggregate import fold
from ombudsman.eventstore.projections import Projection
from ombudsman.projects.domain import PROJECT, ProjectState

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
        # The project's reply shape (`ProjectState.public()`), kept beside the state so a list reads it
        # as it is instead of validating every row's whole state (saved pipelines' YAML included) per
        # read. Added after the table: rows written before it hold NULL until the project's next event
        # or a replay, and are listed from their state meanwhile (queries.list_projects).
        await conn.execute(text(f"ALTER TABLE {SCHEMA}.project_list ADD COLUMN IF NOT EXISTS public jsonb"))

    async def reset(self, conn: AsyncConnection) -> None:
        await conn.execute(text(f"DELETE FROM {SCHEMA}.project_list"))

    async def apply(self, conn: AsyncConnection, envelope: EventEnvelope) -> None:
        await self.apply_many(conn, [envelope])

    async def apply_many(self, conn: AsyncConnection, envelopes: Sequence[EventEnvelope]) -> None:
        """Consecutive events of one project read and write its row once (a batch of saved
        pipelines is one row update, not one per pipeline)."""
        for stream_id, group in groupby((e for e in envelopes if e.stream_type == "project"), lambda e: e.stream_id):
            state = fold(PROJECT, stream_id, group, await self._load(conn, stream_id))
            await self._store(conn, stream_id, state)

    async def _load(self, conn: AsyncConnection, project_id: str) -> ProjectState:
        row = (
            await conn.execute(text(f"SELECT state FROM {SCHEMA}.project_list WHERE id = :id"), {"id": project_id})
        ).scalar_one_or_none()
        return ProjectState.model_validate(row if isinstance(row, dict) else json.loads(row)) if row else ProjectState()

    async def _store(self, conn: AsyncConnection, project_id: str, state: ProjectState) -> None:
        await conn.execute(
            text(
                f"""INSERT INTO {SCHEMA}.project_list (id, name, deleted, members, version, state, public,
                                                       created_at, updated_at)
                    VALUES (:id, :name, :deleted, CAST(:members AS jsonb), :version, CAST(:state AS jsonb),
                            CAST(:public AS jsonb), :created_at, :updated_at)
                    ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, deleted = EXCLUDED.deleted,
                        members = EXCLUDED.members, version = EXCLUDED.version, state = EXCLUDED.state,
                        public = EXCLUDED.public, updated_at = EXCLUDED.updated_at"""
            ),
            {
                "id": project_id,
                "name": state.name,
                "deleted": state.deleted,
                "members": json.dumps(state.members),
                "version": state.version,
                "state": state.model_dump_json(),
                "public": json.dumps(state.public()),
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
