"""What the gateway's user handlers share: the User aggregate's unit of work (events, outbox and the
users projection in one transaction), the token cache's invalidation and the public shape of a user.
The handlers are split by capability: user_accounts.py (register, unlock, roles, passwords) and
user_sessions.py (login, refresh, logout, the user behind a token); handlers.py joins them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from ombudsman.contracts.envelope import Metadata
from ombudsman.contracts.registry import Event
from ombudsman.contracts.replies import NotFound
from ombudsman.eventstore.aggregate import fold
from ombudsman.eventstore.store import EventStore
from ombudsman.eventstore.uow import UnitOfWork
from ombudsman.gateway import domain
from ombudsman.gateway.auth import TokenService
from ombudsman.gateway.livecache import LiveCache
from ombudsman.gateway.projections import SCHEMA, UsersProjection
from ombudsman.gateway.settings import GatewaySettings
from ombudsman.gateway.throttle import LoginThrottle


@dataclass(frozen=True)
class ActiveUser:
    id: str
    username: str
    role: str


@dataclass(frozen=True)
class IssuedTokens:
    access_token: str
    refresh_token: str
    expires_in: int
    user: dict[str, Any]


class UserBase:
    """The gateway's event store and settings, shared by the user handlers."""


    def __init__(self, engine: AsyncEngine, tokens: TokenService | None, settings: GatewaySettings,
                 on_commit: Callable[[], None] | None = None):
        self.engine = engine
        self.store = EventStore(SCHEMA)
        self.projection = UsersProjection()
        self.tokens = tokens
        self.settings = settings
        self.on_commit = on_commit
        # (user id, token id) -> the active user or None; kept current by user events (livecache.py)
        self.auth_cache = LiveCache()
        self.throttle = LoginThrottle(SCHEMA, settings)
        # The login clock; tests replace it to move time without sleeping.
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    def _uow(self) -> UnitOfWork:
        """One transaction: the user's events, their outbox rows and the users projection."""
        return UnitOfWork(self.engine, self.store, [self.projection], on_commit=self.on_commit)

    def _forget(self, user_id: str) -> None:
        self.auth_cache.forget(user_id)

    async def get(self, user_id: str) -> dict[str, Any]:
        async with self.engine.connect() as conn:
            row = (await conn.execute(text(f"SELECT * FROM {SCHEMA}.users WHERE id = :id"), {"id": user_id})).mappings().first()
        if row is None:
            raise NotFound(f"user {user_id!r} not found", {"user_id": user_id})
        return public_user_row(row)

    @staticmethod
    async def _emit(uow: UnitOfWork, state: domain.UserState, stream_id: str, events: list[Event],
                    meta: Metadata) -> domain.UserState:
        return fold(domain.USER, stream_id, await uow.emit(stream_id, events, meta, expected_version=state.version),
                    state)

def public_user_row(row: Any) -> dict[str, Any]:
    """A `gateway.users` row as replies show a user (no credentials)."""
    return {
        "id": row["id"], "username": row["username"], "role": row["role"], "created_at": row["created_at"],
        "last_login_at": row["last_login_at"], "locked_until": row["locked_until"],
    }


def public_user(state: domain.UserState) -> dict[str, Any]:
    """A user's state as replies show it (the same fields as `public_user_row`)."""
    return {
        "id": state.id, "username": state.username, "role": state.role, "created_at": state.created_at,
        "last_login_at": state.last_login_at, "locked_until": state.locked_until,
    }

