"""The gateway's own tables in schema `gateway`: the users read model (a Projection fed by the user
events in the transaction that appends them, rebuildable by replay), and the credentials, refresh
tokens and revoked access tokens.

Password hashes and refresh-token hashes live only here, never in an event: OMB_EVENTS is public.
They are state, not projections: a replay of the users projection leaves them alone.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from ombudsman.contracts.envelope import EventEnvelope
from ombudsman.eventstore.migrations import create_schema_sql
from ombudsman.eventstore.projections import Projection
from ombudsman.gateway import domain

SCHEMA = "gateway"


def users_ddl(schema: str = SCHEMA) -> list[str]:
    return [
        f"""CREATE TABLE IF NOT EXISTS {schema}.users (
            id text PRIMARY KEY,
            username text NOT NULL,
            role text NOT NULL,
            failed_attempts int NOT NULL DEFAULT 0,
            locked_until timestamptz,
            last_login_at timestamptz,
            created_at timestamptz,
            version int NOT NULL
        )""",
        f"CREATE UNIQUE INDEX IF NOT EXISTS users_username ON {schema}.users (lower(username))",
    ]


def ddl(schema: str = SCHEMA) -> list[str]:
    """The gateway's own tables (idempotent)."""
    return [
        create_schema_sql(schema),
        *users_ddl(schema),
        f"""CREATE TABLE IF NOT EXISTS {schema}.credentials (
            user_id text PRIMARY KEY,
            password_hash text NOT NULL,
            updated_at timestamptz NOT NULL DEFAULT now()
        )""",
        f"""CREATE TABLE IF NOT EXISTS {schema}.refresh_tokens (
            token_hash text PRIMARY KEY,
            user_id text NOT NULL,
            family_id text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            expires_at timestamptz NOT NULL,
            used_at timestamptz,
            revoked_at timestamptz
        )""",
        f"CREATE INDEX IF NOT EXISTS refresh_tokens_family ON {schema}.refresh_tokens (family_id)",
        f"CREATE INDEX IF NOT EXISTS refresh_tokens_user ON {schema}.refresh_tokens (user_id)",
        f"""CREATE TABLE IF NOT EXISTS {schema}.revoked_tokens (
            jti text PRIMARY KEY,
            user_id text NOT NULL,
            expires_at timestamptz NOT NULL
        )""",
    ]


async def apply_user_event(conn: AsyncConnection, envelope: EventEnvelope, schema: str = SCHEMA) -> None:
    """Fold one user event into `gateway.users` (idempotent: rows at or past the version are kept)."""
    row = (
        await conn.execute(text(f"SELECT * FROM {schema}.users WHERE id = :id"), {"id": envelope.stream_id})
    ).mappings().first()
    if row is not None and row["version"] >= envelope.version:
        return
    state = _state_from_row(row) if row else domain.UserState()
    state = domain.USER.apply(state, envelope)
    await conn.execute(
        text(
            f"""INSERT INTO {schema}.users (id, username, role, failed_attempts, locked_until, last_login_at,
                                            created_at, version)
                VALUES (:id, :username, :role, :failed_attempts, :locked_until, :last_login_at, :created_at, :version)
                ON CONFLICT (id) DO UPDATE SET username = EXCLUDED.username, role = EXCLUDED.role,
                  failed_attempts = EXCLUDED.failed_attempts, locked_until = EXCLUDED.locked_until,
                  last_login_at = EXCLUDED.last_login_at, version = EXCLUDED.version"""
        ),
        _row_from_state(state),
    )


def _state_from_row(row: Any) -> domain.UserState:
    return domain.UserState(
        id=row["id"], version=row["version"], username=row["username"], role=row["role"],
        failed_attempts=row["failed_attempts"], locked_until=row["locked_until"],
        last_login_at=row["last_login_at"], created_at=row["created_at"],
    )


def _row_from_state(state: domain.UserState) -> dict[str, Any]:
    return {
        "id": state.id, "username": state.username, "role": state.role, "failed_attempts": state.failed_attempts,
        "locked_until": state.locked_until, "last_login_at": state.last_login_at, "created_at": state.created_at,
        "version": state.version,
    }


class UsersProjection(Projection):
    """`gateway.users`: one row per user, from the user events."""

    name = "users"
    event_types = frozenset({"UserRegistered", "UserLoggedIn", "LoginFailed", "UserLockedOut", "UserUnlocked",
                             "UserRoleChanged", "UserLoggedOut", "UserPasswordChanged"})
    replay_source = "store"

    async def setup(self, conn: AsyncConnection) -> None:
        for statement in users_ddl(SCHEMA):
            await conn.execute(text(statement))

    async def reset(self, conn: AsyncConnection) -> None:
        await conn.execute(text(f"DELETE FROM {SCHEMA}.users"))

    async def apply(self, conn: AsyncConnection, envelope: EventEnvelope) -> None:
        await apply_user_event(conn, envelope)
