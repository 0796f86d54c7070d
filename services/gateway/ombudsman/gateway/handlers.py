"""Users and auth: load the user aggregate, decide, append its events with the read model and the
credential/token rows in one transaction, and answer."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ombudsman.contracts.envelope import Actor, Metadata, new_id
from ombudsman.contracts.registry import Event
from ombudsman.contracts.replies import Conflict, NotFound, OmbudsmanError, Unauthorized
from ombudsman.eventstore.db import read_connection
from ombudsman.eventstore.decide import retry_conflicts
from ombudsman.eventstore.store import EventStore
from ombudsman.eventstore.uow import UnitOfWork
from ombudsman.gateway import domain
from ombudsman.gateway.auth import (
    TokenService,
    burn_password_check,
    hash_password,
    hash_refresh_token,
    new_refresh_token,
    verify_password,
)
from ombudsman.gateway.errors import RateLimited
from ombudsman.gateway.livecache import LiveCache
from ombudsman.gateway.projections import SCHEMA, UsersProjection
from ombudsman.gateway.settings import GatewaySettings
from ombudsman.gateway.throttle import LoginThrottle

log = logging.getLogger("ombudsman.gateway.auth")


def _invalid_login() -> Unauthorized:
    """The one answer to every refused login: the same status, message and (empty) details."""
    return Unauthorized("invalid username or password")


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


class UserService:
    """Registration, login, refresh, logout and role changes over the gateway's event store."""

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

    # --- reading -----------------------------------------------------------------------------

    async def active_user(self, user_id: str, jti: str) -> ActiveUser | None:
        """The user behind a token, unless the user is gone or the token was revoked.

        Answered from memory after the first request of a token: a logout or role change made here
        is forgotten at once; one made through another gateway replica reaches this one as an event
        (livecache.Invalidator) and applies as soon as it arrives.
        """
        key = (user_id, jti)
        found, user = self.auth_cache.get(key)
        if found:
            return user
        generation = self.auth_cache.generation(user_id)
        user = await self._load_active_user(user_id, jti)
        self.auth_cache.put(key, user_id, user, generation)
        return user

    def _forget(self, user_id: str) -> None:
        self.auth_cache.forget(user_id)

    async def _load_active_user(self, user_id: str, jti: str) -> ActiveUser | None:
        async with read_connection(self.engine) as conn:
            row = (
                await conn.execute(
                    text(
                        f"""SELECT id, username, role FROM {SCHEMA}.users u WHERE u.id = :id
                            AND NOT EXISTS (SELECT 1 FROM {SCHEMA}.revoked_tokens r WHERE r.jti = :jti)"""
                    ),
                    {"id": user_id, "jti": jti},
                )
            ).first()
        return ActiveUser(row.id, row.username, row.role) if row else None

    async def get(self, user_id: str) -> dict[str, Any]:
        async with self.engine.connect() as conn:
            row = (await conn.execute(text(f"SELECT * FROM {SCHEMA}.users WHERE id = :id"), {"id": user_id})).mappings().first()
        if row is None:
            raise NotFound(f"user {user_id!r} not found", {"user_id": user_id})
        return _public(row)

    async def list_users(self, offset: int, limit: int, role: str | None = None,
                         q: str | None = None) -> tuple[list[dict[str, Any]], int]:
        """A page of users (by username), filtered by role and a username substring."""
        where: list[str] = ["TRUE"]
        params: dict[str, Any] = {"offset": offset, "limit": limit}
        if role:
            where.append("role = :role")
            params["role"] = role
        if q:
            where.append("username ILIKE :q")
            params["q"] = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        clause = " AND ".join(where)
        async with self.engine.connect() as conn:
            total = (await conn.execute(text(f"SELECT count(*) FROM {SCHEMA}.users WHERE {clause}"), params)).scalar_one()
            rows = (
                await conn.execute(
                    text(f"SELECT * FROM {SCHEMA}.users WHERE {clause} ORDER BY username OFFSET :offset LIMIT :limit"),
                    params,
                )
            ).mappings().all()
        return [_public(r) for r in rows], int(total)

    # --- writing -----------------------------------------------------------------------------

    @staticmethod
    async def _emit(uow: UnitOfWork, state: domain.UserState, stream_id: str, events: list[Event],
                    meta: Metadata) -> domain.UserState:
        for envelope in await uow.emit(stream_id, events, meta, expected_version=state.version):
            state = domain.apply(state, envelope)
        return state

    async def register(self, username: str, password: str, role: domain.Role, actor: Actor | None = None) -> dict[str, Any]:
        """A new user with a bcrypt hash of `password`; Conflict when the username is taken."""
        cmd = domain.RegisterUser(username=username, password=password, role=role)
        password_hash = await asyncio.to_thread(hash_password, cmd.password, self.settings.bcrypt_rounds)
        user_id = new_id()
        meta = Metadata(actor=actor or Actor(id=user_id, name=cmd.username, role=role))
        try:
            async with self._uow() as uow:
                conn = uow.conn
                taken = (
                    await conn.execute(text(f"SELECT 1 FROM {SCHEMA}.users WHERE lower(username) = lower(:u)"),
                                       {"u": cmd.username})
                ).first()
                if taken:
                    raise Conflict(f"username {cmd.username!r} is taken", {"field": "username"})
                events = domain.register(domain.UserState(), user_id, cmd.username, cmd.role)
                await self._emit(uow, domain.UserState(), user_id, events, meta)
                await conn.execute(
                    text(f"INSERT INTO {SCHEMA}.credentials (user_id, password_hash) VALUES (:id, :h)"),
                    {"id": user_id, "h": password_hash},
                )
        except IntegrityError:
            raise Conflict(f"username {cmd.username!r} is taken", {"field": "username"}) from None
        log.info("user registered: %s (%s)", cmd.username, cmd.role)
        return await self.get(user_id)

    async def login(self, username: str, password: str, ip: str = "unknown") -> IssuedTokens:
        """Tokens for a correct password from a source that may try now.

        Every refusal (unknown user, wrong password, throttled source, flagged account) is the same
        `Unauthorized("invalid username or password")` after the same bcrypt work; only a client
        address past its own per-IP budget gets 429 (ombudsman.gateway.throttle has the design).
        """
        now = self.clock()
        async with self.engine.begin() as conn:
            ip_verdict = await self.throttle.check_ip(conn, ip, now)
            if not ip_verdict.allowed:
                log.info("login refused: client address throttled")
                raise RateLimited("too many failed logins from this address; retry later",
                                  {"retry_after": ip_verdict.retry_after})
            verdict = await self.throttle.check_account(conn, username, ip, now)
            row = (
                await conn.execute(
                    text(f"""SELECT u.id, c.password_hash FROM {SCHEMA}.users u
                             JOIN {SCHEMA}.credentials c ON c.user_id = u.id WHERE lower(u.username) = lower(:u)"""),
                    {"u": username},
                )
            ).first()
        if row is None or not verdict.allowed:
            # Same bcrypt work as a real check: the answer's timing does not tell why it failed.
            await asyncio.to_thread(burn_password_check, password, self.settings.bcrypt_rounds)
            log.info("login failed: %s", "unknown username" if row is None else "source throttled")
            if row is None and verdict.allowed:  # a refused attempt costs nothing more, known or not
                async with self.engine.begin() as conn:
                    await self.throttle.failed(conn, username, ip, now, account_flagged=False)
            raise _invalid_login()
        user_id, password_hash = row.id, row.password_hash
        password_ok = await asyncio.to_thread(verify_password, password, password_hash)
        async def attempt() -> IssuedTokens | None:  # None: refused, the failure recorded
            async with self._uow() as uow:
                state = domain.fold(await uow.load(user_id))
                flagged = state.locked(now)
                events = domain.login(
                    state, password_ok=password_ok, now=now, threshold=self.settings.lockout_threshold,
                    lockout=timedelta(minutes=self.settings.lockout_minutes),
                    source_failed_before=verdict.seen_failures,
                )
                meta = Metadata(actor=Actor(id=state.id, name=state.username, role=state.role))
                state = await self._emit(uow, state, user_id, events, meta)
                if not events or not password_ok:
                    await self.throttle.failed(uow.conn, username, ip, now,
                                               account_flagged=flagged or state.locked(now))
                    log.info("login failed: %s (%d failures%s)", state.username, state.failed_attempts,
                             ", lockout flag up" if state.locked(now) else "")
                    return None
                await self.throttle.succeeded(uow.conn, username, ip)
                issued = await self._issue(uow.conn, state, family_id=new_id())
                log.info("login: %s", state.username)
                return issued

        issued = await retry_conflicts(attempt, stream_id=user_id)
        if issued is None:
            raise _invalid_login()
        return issued

    async def unlock(self, user_id: str, actor: Actor) -> dict[str, Any]:
        """An admin clears the user's lockout flag and every per-address throttle (event UserUnlocked)."""
        async with self._uow() as uow:
            state = domain.fold(await uow.load(user_id))
            if not state.exists:
                raise NotFound(f"user {user_id!r} not found", {"user_id": user_id})
            await self._emit(uow, state, user_id, domain.unlock(state), Metadata(actor=actor))
            await self.throttle.clear_account(uow.conn, state.username)
        log.info("user %s unlocked by %s", state.username, actor.name)
        return await self.get(user_id)

    async def _issue(self, conn: AsyncConnection, state: domain.UserState, family_id: str) -> IssuedTokens:
        if self.tokens is None:
            raise RuntimeError("this UserService was made without a token service (admin tooling)")
        access, claims = self.tokens.issue(state.id, state.username, state.role)
        refresh = new_refresh_token()
        await conn.execute(
            text(f"""INSERT INTO {SCHEMA}.refresh_tokens (token_hash, user_id, family_id, expires_at)
                     VALUES (:h, :u, :f, :e)"""),
            {"h": hash_refresh_token(refresh), "u": state.id, "f": family_id,
             "e": datetime.now(UTC) + timedelta(days=self.settings.refresh_token_days)},
        )
        return IssuedTokens(access, refresh, claims.exp - claims.iat, _public_state(state))

    async def refresh(self, refresh_token: str) -> IssuedTokens:
        """A new token pair for an unused refresh token; a reused one revokes its whole family."""
        token_hash = hash_refresh_token(refresh_token)
        reused = False
        async with self._uow() as uow:
            conn = uow.conn
            row = (
                await conn.execute(
                    text(f"SELECT * FROM {SCHEMA}.refresh_tokens WHERE token_hash = :h FOR UPDATE"), {"h": token_hash}
                )
            ).mappings().first()
            if row is None:
                raise Unauthorized("invalid refresh token")
            if row["used_at"] is not None or row["revoked_at"] is not None:
                await conn.execute(
                    text(f"UPDATE {SCHEMA}.refresh_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE family_id = :f"),
                    {"f": row["family_id"]},
                )
                reused = row["used_at"] is not None
            elif row["expires_at"] <= datetime.now(UTC):
                raise Unauthorized("refresh token expired")
            else:
                await conn.execute(text(f"UPDATE {SCHEMA}.refresh_tokens SET used_at = now() WHERE token_hash = :h"),
                                   {"h": token_hash})
                state = domain.fold(await uow.load(row["user_id"]))
                if not state.exists:
                    raise Unauthorized("invalid refresh token")
                return await self._issue(conn, state, family_id=row["family_id"])
        if reused:
            log.warning("refresh token reuse detected for user %s: token family revoked", row["user_id"])
        raise Unauthorized("refresh token was already used or revoked")

    async def logout(self, user_id: str, jti: str, exp: int, refresh_token: str | None) -> None:
        """Revoke the access token, and the refresh token's family (or every refresh token of the user)."""
        async with self._uow() as uow:
            conn = uow.conn
            await conn.execute(
                text(f"""INSERT INTO {SCHEMA}.revoked_tokens (jti, user_id, expires_at) VALUES (:j, :u, :e)
                         ON CONFLICT (jti) DO NOTHING"""),
                {"j": jti, "u": user_id, "e": datetime.fromtimestamp(exp, UTC)},
            )
            if refresh_token:
                await conn.execute(
                    text(f"""UPDATE {SCHEMA}.refresh_tokens SET revoked_at = coalesce(revoked_at, now())
                             WHERE family_id = (SELECT family_id FROM {SCHEMA}.refresh_tokens
                                                WHERE token_hash = :h AND user_id = :u)"""),
                    {"h": hash_refresh_token(refresh_token), "u": user_id},
                )
            else:
                await conn.execute(
                    text(f"UPDATE {SCHEMA}.refresh_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE user_id = :u"),
                    {"u": user_id},
                )
            state = domain.fold(await uow.load(user_id))
            meta = Metadata(actor=Actor(id=state.id, name=state.username, role=state.role))
            await self._emit(uow, state, user_id, domain.logout(state), meta)
            await conn.execute(text(f"DELETE FROM {SCHEMA}.revoked_tokens WHERE expires_at < now()"))
        self._forget(user_id)
        log.info("logout: %s", state.username)

    async def change_password(self, user_id: str, current: str, new: str) -> None:
        """The user's own password change: the current password checked (bcrypt), the new one
        hashed into the credentials table, event UserPasswordChanged, and every refresh token of
        the user revoked (other sessions end when their access token expires)."""
        cmd = domain.RegisterUser(username="placeholder", password=new)  # the same password rules
        async with self.engine.connect() as conn:
            stored = (await conn.execute(text(f"SELECT password_hash FROM {SCHEMA}.credentials WHERE user_id = :u"),
                                         {"u": user_id})).scalar_one_or_none()
        current_ok = stored is not None and await asyncio.to_thread(verify_password, current, stored)
        new_hash = await asyncio.to_thread(hash_password, cmd.password, self.settings.bcrypt_rounds)
        async with self._uow() as uow:
            state = domain.fold(await uow.load(user_id))
            events = domain.change_password(state, current_ok=current_ok)
            meta = Metadata(actor=Actor(id=state.id, name=state.username, role=state.role))
            await self._emit(uow, state, user_id, events, meta)
            await uow.conn.execute(text(f"UPDATE {SCHEMA}.credentials SET password_hash = :h WHERE user_id = :u"),
                                   {"h": new_hash, "u": user_id})
            await uow.conn.execute(text(f"UPDATE {SCHEMA}.refresh_tokens SET revoked_at = coalesce(revoked_at, now())"
                                        " WHERE user_id = :u"), {"u": user_id})
        log.info("password changed: %s", state.username)

    async def change_role(self, user_id: str, role: domain.Role, actor: Actor) -> dict[str, Any]:
        async with self._uow() as uow:
            conn = uow.conn
            state = domain.fold(await uow.load(user_id))
            if not state.exists:
                raise NotFound(f"user {user_id!r} not found", {"user_id": user_id})
            if state.role == "admin" and role != "admin":
                admins = (await conn.execute(text(f"SELECT count(*) FROM {SCHEMA}.users WHERE role = 'admin'"))).scalar_one()
                if admins <= 1:
                    raise Conflict("cannot demote the last admin", {"field": "role"})
            await self._emit(uow, state, user_id, domain.change_role(state, role), Metadata(actor=actor))
        self._forget(user_id)
        log.info("role of %s set to %s by %s", state.username, role, actor.name)
        return await self.get(user_id)

    async def admin_count(self) -> int:
        async with self.engine.connect() as conn:
            return int((await conn.execute(text(f"SELECT count(*) FROM {SCHEMA}.users WHERE role = 'admin'"))).scalar_one())


def _public(row: Any) -> dict[str, Any]:
    return {
        "id": row["id"], "username": row["username"], "role": row["role"], "created_at": row["created_at"],
        "last_login_at": row["last_login_at"], "locked_until": row["locked_until"],
    }


def _public_state(state: domain.UserState) -> dict[str, Any]:
    return {
        "id": state.id, "username": state.username, "role": state.role, "created_at": state.created_at,
        "last_login_at": state.last_login_at, "locked_until": state.locked_until,
    }


__all__ = ["ActiveUser", "IssuedTokens", "OmbudsmanError", "UserService"]
