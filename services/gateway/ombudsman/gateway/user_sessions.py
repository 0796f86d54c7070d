"""The gateway's user sessions: login, token refresh, logout and the user behind a token."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from ombudsman.contracts.envelope import Actor, Metadata, new_id
from ombudsman.contracts.replies import Unauthorized
from ombudsman.eventstore.aggregate import fold
from ombudsman.eventstore.db import read_connection
from ombudsman.eventstore.decide import retry_conflicts
from ombudsman.gateway import domain
from ombudsman.gateway.auth import (
    burn_password_check,
    hash_refresh_token,
    new_refresh_token,
    verify_password,
)
from ombudsman.gateway.domain import USER
from ombudsman.gateway.errors import RateLimited
from ombudsman.gateway.projections import SCHEMA
from ombudsman.gateway.user_base import (
    ActiveUser,
    IssuedTokens,
    UserBase,
    public_user,
)


def _invalid_login() -> Unauthorized:
    """The one answer to every refused login: the same status, message and (empty) details."""
    return Unauthorized("invalid username or password")

log = logging.getLogger("ombudsman.gateway.auth")


class UserSessions(UserBase):
    """Login with throttling and lockout, refresh-token rotation, logout, token checks."""

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
                state = fold(USER, user_id, await uow.load(user_id))
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
        return IssuedTokens(access, refresh, claims.exp - claims.iat, public_user(state))

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
                state = fold(USER, row["user_id"], await uow.load(row["user_id"]))
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
            state = fold(USER, user_id, await uow.load(user_id))
            meta = Metadata(actor=Actor(id=state.id, name=state.username, role=state.role))
            await self._emit(uow, state, user_id, domain.logout(state), meta)
            await conn.execute(text(f"DELETE FROM {SCHEMA}.revoked_tokens WHERE expires_at < now()"))
        self._forget(user_id)
        log.info("logout: %s", state.username)

