"""Who is who among the gateway's users, for the pages that name people: a project's members by
id with their username and role, and a username's id (members are added by name)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from ombudsman.contracts.replies import invalid_fields
from ombudsman.gateway.projections import SCHEMA


async def profiles(engine: AsyncEngine, user_ids: list[str]) -> list[dict[str, Any]]:
    """`{user_id, username, role}` of each id, in the given order; an id without a user (deleted, or a
    member added by id from elsewhere) keeps its place with `username` and `role` None."""
    if not user_ids:
        return []
    async with engine.connect() as conn:
        rows = (await conn.execute(text(f"SELECT id, username, role FROM {SCHEMA}.users WHERE id = ANY(:ids)"),
                                   {"ids": list(user_ids)})).mappings().all()
    known = {row["id"]: row for row in rows}
    return [{"user_id": uid, "username": known[uid]["username"] if uid in known else None,
             "role": known[uid]["role"] if uid in known else None} for uid in user_ids]


async def user_id_of(engine: AsyncEngine, username: str) -> str:
    """The id of the user called `username` (exact name), or a 422 naming the field."""
    async with engine.connect() as conn:
        found = (await conn.execute(text(f"SELECT id FROM {SCHEMA}.users WHERE username = :u"),
                                    {"u": username})).scalar_one_or_none()
    if found is None:
        raise invalid_fields(f"no user named {username!r}", {"username": "no such user"})
    return str(found)
