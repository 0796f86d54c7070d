"""Schema `gateway`: its tables, created idempotently under an advisory lock so replicas can start together."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from ombudsman.gateway.eventlog import event_log_ddl
from ombudsman.gateway.projections import SCHEMA, ddl

_LOCK_KEY = 0x6F6D6267  # "ombg"


def sqlalchemy_url(url: str) -> str:
    """A libpq URL (`postgresql://user@/db?host=/tmp`) as SQLAlchemy's asyncpg URL."""
    parts = urlsplit(url)
    scheme = parts.scheme
    if scheme in ("postgresql", "postgres"):
        scheme = "postgresql+asyncpg"
    return urlunsplit((scheme, parts.netloc, parts.path, parts.query, parts.fragment))


async def migrate(engine: AsyncEngine) -> None:
    """Create or upgrade schema `gateway`."""
    async with engine.begin() as conn:
        await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
        for statement in [*ddl(SCHEMA), *event_log_ddl(SCHEMA)]:
            await conn.execute(text(statement))
