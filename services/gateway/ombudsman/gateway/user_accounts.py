"""The gateway's user accounts: register, list, unlock, change password and role (the User aggregate)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from ombudsman.contracts.envelope import Actor, Metadata, new_id
from ombudsman.contracts.replies import Conflict, NotFound
from ombudsman.eventstore.aggregate import fold
from ombudsman.gateway import domain
from ombudsman.gateway.auth import (
    hash_password,
    verify_password,
)
from ombudsman.gateway.domain import USER
from ombudsman.gateway.projections import SCHEMA
from ombudsman.gateway.user_base import (
    UserBase,
    public_user_row,
)

log = logging.getLogger("ombudsman.gateway.auth")


class UserAccounts(UserBase):
    """Registration, role changes, unlocking and password changes."""

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
        return [public_user_row(r) for r in rows], int(total)

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

    async def unlock(self, user_id: str, actor: Actor) -> dict[str, Any]:
        """An admin clears the user's lockout flag and every per-address throttle (event UserUnlocked)."""
        async with self._uow() as uow:
            state = fold(USER, user_id, await uow.load(user_id))
            if not state.exists:
                raise NotFound(f"user {user_id!r} not found", {"user_id": user_id})
            await self._emit(uow, state, user_id, domain.unlock(state), Metadata(actor=actor))
            await self.throttle.clear_account(uow.conn, state.username)
        log.info("user %s unlocked by %s", state.username, actor.name)
        return await self.get(user_id)

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
            state = fold(USER, user_id, await uow.load(user_id))
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
            state = fold(USER, user_id, await uow.load(user_id))
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


