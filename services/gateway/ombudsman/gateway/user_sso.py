"""Single sign-on users: accounts made and kept in line from verified OpenID Connect identities, the
code flow's pending sign-ins (state, nonce, PKCE verifier) and the one-time codes that hand a
finished browser sign-in over to the Studio.

An account is found by (issuer, subject) only, never by username or e-mail: a provider's
`preferred_username` is a hint for a new account's name and nothing more, so no one takes over a
local account by choosing its name at the provider. SSO accounts have no password (no credentials row).
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import timedelta

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from ombudsman.contracts.envelope import Actor, Metadata, new_id
from ombudsman.contracts.replies import Conflict, Unauthorized, Unavailable
from ombudsman.eventstore.aggregate import fold
from ombudsman.eventstore.decide import retry_conflicts
from ombudsman.gateway import domain
from ombudsman.gateway.domain import USER
from ombudsman.gateway.oidc import Identity
from ombudsman.gateway.projections import SCHEMA
from ombudsman.gateway.user_base import IssuedTokens
from ombudsman.gateway.user_sessions import UserSessions

log = logging.getLogger("ombudsman.gateway.auth")

PENDING_SIGN_IN = timedelta(minutes=10)
# sign-ins started and not finished within PENDING_SIGN_IN: past this, /start answers 503 (anyone may
# start one, so the table is bounded)
MAX_PENDING = 10_000
HANDOFF = timedelta(seconds=60)
# a taken username hint gets `-` and this many hex digits of sha256(issuer|subject), in this order
_SUFFIX_LENGTHS = (6, 12, 24)
_MAX_USERNAME = 64  # domain.USERNAME


def oidc_ddl(schema: str = SCHEMA) -> list[str]:
    """The single sign-on tables (idempotent; migration 0003_oidc)."""
    return [
        f"""CREATE TABLE IF NOT EXISTS {schema}.oidc_identities (
            issuer text NOT NULL,
            subject text NOT NULL,
            user_id text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (issuer, subject)
        )""",
        f"""CREATE TABLE IF NOT EXISTS {schema}.oidc_pending (
            state_hash text PRIMARY KEY,
            nonce text NOT NULL,
            code_verifier text NOT NULL,
            redirect_uri text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now()
        )""",
        f"""CREATE TABLE IF NOT EXISTS {schema}.oidc_handoffs (
            code_hash text PRIMARY KEY,
            user_id text NOT NULL,
            expires_at timestamptz NOT NULL
        )""",
    ]


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _constraint(exc: IntegrityError) -> str | None:
    """The name of the constraint (or unique index) a PostgreSQL integrity error names (asyncpg)."""
    cause = exc.orig.__cause__ if exc.orig is not None else None
    return getattr(cause, "constraint_name", None)


class UserSSO(UserSessions):
    """Sign-ins through the OpenID Connect provider."""

    async def begin_sign_in(self, state: str, nonce: str, code_verifier: str, redirect_uri: str) -> None:
        """Remember a code-flow sign-in until its callback (at most 10 minutes); the state is stored hashed."""
        async with self.engine.begin() as conn:
            await conn.execute(text(f"DELETE FROM {SCHEMA}.oidc_pending WHERE created_at < :old"),
                               {"old": self.clock() - PENDING_SIGN_IN})
            pending = (await conn.execute(text(f"SELECT count(*) FROM {SCHEMA}.oidc_pending"))).scalar_one()
            if pending >= MAX_PENDING:
                raise Unavailable("too many sign-ins in progress; try again in a few minutes")
            await conn.execute(
                text(f"""INSERT INTO {SCHEMA}.oidc_pending (state_hash, nonce, code_verifier, redirect_uri, created_at)
                         VALUES (:s, :n, :v, :r, :t)"""),
                {"s": _digest(state), "n": nonce, "v": code_verifier, "r": redirect_uri, "t": self.clock()},
            )

    async def take_sign_in(self, state: str) -> tuple[str, str, str]:
        """The (nonce, code verifier, redirect URI) of a pending sign-in, used up; Unauthorized when
        the state is unknown, already used or older than 10 minutes."""
        async with self.engine.begin() as conn:
            row = (await conn.execute(
                text(f"""DELETE FROM {SCHEMA}.oidc_pending WHERE state_hash = :s
                         RETURNING nonce, code_verifier, redirect_uri, created_at"""),
                {"s": _digest(state)},
            )).first()
        if row is None or row.created_at < self.clock() - PENDING_SIGN_IN:
            raise Unauthorized("unknown or expired sign-in: start again")
        return row.nonce, row.code_verifier, row.redirect_uri

    async def sync_sso_user(self, identity: Identity, role: domain.Role) -> str:
        """The user id of a verified identity: the account linked to (issuer, subject), made on the
        first sign-in (event UserRegistered, method sso), its role set from the provider's groups
        (UserRoleChanged when they changed)."""

        async def attempt() -> str:
            async with self._uow() as uow:
                conn = uow.conn
                key = {"i": identity.issuer, "s": identity.subject}
                # a first sign-in links a new user id; one racing it waits here and finds the link
                linked = (await conn.execute(
                    text(f"""INSERT INTO {SCHEMA}.oidc_identities (issuer, subject, user_id) VALUES (:i, :s, :u)
                             ON CONFLICT (issuer, subject) DO NOTHING RETURNING user_id"""),
                    {**key, "u": new_id()},
                )).scalar_one_or_none()
                if linked is not None:
                    user_id, username = linked, await self._free_username(conn, identity)
                else:
                    user_id = (await conn.execute(
                        text(f"SELECT user_id FROM {SCHEMA}.oidc_identities WHERE issuer = :i AND subject = :s"),
                        key)).scalar_one()
                    username = ""
                state = fold(USER, user_id, await uow.load(user_id))
                admins = (await conn.execute(
                    text(f"SELECT count(*) FROM {SCHEMA}.users WHERE role = 'admin'"))).scalar_one()
                events = domain.sync_sso_user(state, user_id, username or state.username, role,
                                              last_admin=admins <= 1, groups_known=identity.groups is not None)
                name = username or state.username
                meta = Metadata(actor=Actor(id=user_id, name=name, role=role))
                await self._emit(uow, state, user_id, events, meta)
            if events and state.exists:
                self._forget(user_id)
                log.info("sso: role of %s set to %s from the provider's groups", name, role)
            elif events:
                log.info("sso: user %s registered (%s)", name, role)
            return user_id

        stream_id = f"{identity.issuer}|{identity.subject}"
        for _ in _SUFFIX_LENGTHS:
            try:
                return await retry_conflicts(attempt, stream_id=stream_id)
            except IntegrityError as exc:
                # another first sign-in (or a registration) took the name between our look and our write;
                # it is committed now, so the next attempt sees it and takes the next candidate name
                if _constraint(exc) != "users_username":
                    raise
                log.info("sso: the username chosen for a new account was taken concurrently; choosing again")
        raise Conflict("a new account's username kept being taken by concurrent sign-ups: sign in again")

    async def _free_username(self, conn: AsyncConnection, identity: Identity) -> str:
        """The first free of the identity's username hint and the hint with a digest of (issuer, subject)
        (6, then 12, then 24 hex digits): deterministic for one identity, and two identities sharing a hint
        never get the same name. The longest candidate is returned when all are taken (the write then fails)."""
        hint = identity.preferred_username
        digest = _digest(f"{identity.issuer}|{identity.subject}")
        candidates = [hint, *(f"{hint[:_MAX_USERNAME - 1 - n]}-{digest[:n]}" for n in _SUFFIX_LENGTHS)]
        taken = {row.name for row in (await conn.execute(
            text(f"SELECT lower(username) AS name FROM {SCHEMA}.users WHERE lower(username) = ANY(:names)"),
            {"names": [c.lower() for c in candidates]})).all()}
        return next((c for c in candidates if c.lower() not in taken), candidates[-1])

    async def sso_login(self, user_id: str) -> IssuedTokens:
        """Tokens for a single-sign-on user (event UserLoggedIn, method sso), as a password login gives."""

        async def attempt() -> IssuedTokens:
            async with self._uow() as uow:
                state = fold(USER, user_id, await uow.load(user_id))
                meta = Metadata(actor=Actor(id=state.id, name=state.username, role=state.role))
                state = await self._emit(uow, state, user_id, domain.sso_login(state), meta)
                return await self._issue(uow.conn, state, family_id=new_id())

        issued = await retry_conflicts(attempt, stream_id=user_id)
        log.info("login (sso): %s", issued.user["username"])
        return issued

    async def new_handoff(self, user_id: str) -> str:
        """A one-time code (60 s) the Studio exchanges for the tokens of a finished browser sign-in."""
        code = secrets.token_urlsafe(32)
        async with self.engine.begin() as conn:
            await conn.execute(text(f"DELETE FROM {SCHEMA}.oidc_handoffs WHERE expires_at < :now"), {"now": self.clock()})
            await conn.execute(
                text(f"INSERT INTO {SCHEMA}.oidc_handoffs (code_hash, user_id, expires_at) VALUES (:c, :u, :e)"),
                {"c": _digest(code), "u": user_id, "e": self.clock() + HANDOFF},
            )
        return code

    async def redeem_handoff(self, code: str) -> IssuedTokens:
        """The tokens behind a one-time sign-in code, which is used up; Unauthorized when unknown,
        used or expired."""
        async with self.engine.begin() as conn:
            row = (await conn.execute(
                text(f"DELETE FROM {SCHEMA}.oidc_handoffs WHERE code_hash = :c RETURNING user_id, expires_at"),
                {"c": _digest(code)},
            )).first()
        if row is None or row.expires_at <= self.clock():
            raise Unauthorized("unknown or expired sign-in code: sign in again")
        return await self.sso_login(row.user_id)
