"""The User aggregate: state folded from its events, and decisions (command -> new events). Pure.

Passwords are checked outside (bcrypt in auth.py); the decisions only learn whether the check
passed. Password hashes never enter an event: they live in the gateway's credentials table.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from ombudsman.contracts import events as ev
from ombudsman.contracts.envelope import EventEnvelope
from ombudsman.contracts.registry import Event, decode
from ombudsman.contracts.replies import Conflict, Invalid, NotFound, Unauthorized

Role = Literal["admin", "user", "viewer"]
USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{1,63}$")
STREAM_TYPE = "user"


class UserState(BaseModel):
    """What a user is after its events; `version` 0 means the user never existed."""

    id: str = ""
    version: int = 0
    username: str = ""
    role: Role = "viewer"
    failed_attempts: int = 0
    locked_until: datetime | None = None
    last_login_at: datetime | None = None
    created_at: datetime | None = None

    @property
    def exists(self) -> bool:
        return self.version > 0

    def locked(self, now: datetime) -> bool:
        return self.locked_until is not None and now < self.locked_until


class RegisterUser(BaseModel):
    """Input of a registration; `password` is hashed by the caller and never stored here."""

    username: str = Field(min_length=2, max_length=64)
    password: str = Field(min_length=8, max_length=128, pattern=r"^[^\x00]+$", json_schema_extra={"format": "password"})
    role: Role = "user"

    @field_validator("username")
    @classmethod
    def _username(cls, value: str) -> str:
        if not USERNAME.match(value):
            raise ValueError("must be 2-64 letters, digits, '_', '.', '@' or '-', starting with a letter or digit")
        return value


class UserAggregate:
    """The User aggregate's fold (`ombudsman.eventstore.aggregate.Aggregate`)."""

    stream_type = STREAM_TYPE

    def initial(self, stream_id: str) -> UserState:
        return UserState()

    def apply(self, state: UserState, envelope: EventEnvelope) -> UserState:
        """One event applied to a user's state (a new state: a user's state is small, and the
        login decisions compare a state before and after)."""
        return _applied(state, envelope)


USER = UserAggregate()


def _applied(state: UserState, envelope: EventEnvelope) -> UserState:
    event = decode(envelope)
    s = state.model_copy()
    s.version = envelope.version
    match event:
        case ev.UserRegistered():
            s.id, s.username, s.role = event.user_id, event.username, event.role
            s.created_at = envelope.occurred_at
        case ev.UserLoggedIn():
            s.failed_attempts = 0
            s.locked_until = None
            s.last_login_at = envelope.occurred_at
        case ev.LoginFailed():
            s.failed_attempts = event.failed_attempts
        case ev.UserLockedOut():
            s.locked_until = datetime.fromisoformat(event.until)
            s.failed_attempts = 0
        case ev.UserUnlocked():
            s.locked_until = None
            s.failed_attempts = 0
        case ev.UserRoleChanged():
            s.role = event.role
        case _:
            pass
    return s


def register(state: UserState, user_id: str, username: str, role: Role) -> list[Event]:
    if state.exists:
        raise Conflict(f"user {username!r} already exists", {"field": "username"})
    return [ev.UserRegistered(user_id=user_id, username=username, role=role)]


def login(
    state: UserState, *, password_ok: bool, now: datetime, threshold: int, lockout: timedelta,
    source_failed_before: bool = False,
) -> list[Event]:
    """Events of one login attempt (ombudsman.gateway.throttle explains the design).

    The account's lockout is a flag that slows, not a lock: while it is up, an attempt from a
    source (client address) that has already failed on this account decides nothing (no events);
    any other source is judged on its password, so an attacker cannot lock the owner out. The
    attempt that brings the failures (from all sources) to `threshold` raises the flag until
    `now + lockout`. A correct password clears the counter and the flag."""
    if not state.exists:
        raise NotFound("no such user")
    if state.locked(now) and source_failed_before:
        return []
    if password_ok:
        return [ev.UserLoggedIn(user_id=state.id, username=state.username)]
    failures = state.failed_attempts + 1
    events: list[Event] = [ev.LoginFailed(user_id=state.id, username=state.username, failed_attempts=failures)]
    if failures >= threshold:
        until = (now + lockout).isoformat()
        events.append(ev.UserLockedOut(user_id=state.id, username=state.username, until=until))
    return events


def sync_sso_user(state: UserState, user_id: str, username: str, role: Role, *, last_admin: bool,
                  groups_known: bool = True) -> list[Event]:
    """Events that bring a single-sign-on user in line with the provider's groups: registered at the
    first sign-in; the role changed when the groups changed, except the last admin's demotion
    (an admin cannot be lost to a group rename at the provider). A token without a groups claim
    (`groups_known` false) leaves an existing account's role to the admins."""
    if not state.exists:
        return [ev.UserRegistered(user_id=user_id, username=username, role=role, method="sso")]
    if groups_known and role != state.role and not (state.role == "admin" and last_admin):
        return [ev.UserRoleChanged(user_id=state.id, role=role)]
    return []


def sso_login(state: UserState) -> list[Event]:
    """A login through the identity provider (its ID token verified by the caller)."""
    if not state.exists:
        raise Unauthorized("unknown user")
    return [ev.UserLoggedIn(user_id=state.id, username=state.username, method="sso")]


def unlock(state: UserState) -> list[Event]:
    """An admin's unlock: clears the failure counter and the lockout flag (recorded even when clear)."""
    if not state.exists:
        raise NotFound("user not found")
    return [ev.UserUnlocked(user_id=state.id, username=state.username)]


def change_role(state: UserState, role: Role) -> list[Event]:
    if not state.exists:
        raise NotFound("user not found")
    if role == state.role:
        return []
    return [ev.UserRoleChanged(user_id=state.id, role=role)]


def change_password(state: UserState, *, current_ok: bool) -> list[Event]:
    """A user's own password change: refused unless the current password was given correctly."""
    if not state.exists:
        raise Unauthorized("unknown user")
    if not current_ok:
        raise Invalid("current_password: not your current password", {"field": "current_password"})
    return [ev.UserPasswordChanged(user_id=state.id)]


def logout(state: UserState) -> list[Event]:
    if not state.exists:
        raise Unauthorized("unknown user")
    return [ev.UserLoggedOut(user_id=state.id)]


