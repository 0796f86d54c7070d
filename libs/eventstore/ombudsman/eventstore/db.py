"""PostgreSQL connections: libpq URIs turned into SQLAlchemy asyncpg engines."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from sqlalchemy import event, exc
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

_LIBPQ_ONLY = {"connect_timeout", "application_name", "options", "target_session_attrs", "sslrootcert",
               "sslcert", "sslkey", "gssencmode"}


def sqlalchemy_url(url: str) -> str:
    """A libpq URI (`postgresql://user:pw@/db?host=/socket/dir`) as a `postgresql+asyncpg://` URL.

    asyncpg takes `host=/dir` (unix socket) as is; `sslmode` becomes asyncpg's `ssl`; libpq-only
    parameters asyncpg would refuse are dropped.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.split("+", 1)[0]
    if scheme not in ("postgresql", "postgres"):
        raise ValueError(f"not a PostgreSQL URL: scheme {parts.scheme!r} (expected postgresql://)")
    query = []
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key == "sslmode":
            query.append(("ssl", value))
        elif key not in _LIBPQ_ONLY:
            query.append((key, value))
    return urlunsplit(("postgresql+asyncpg", parts.netloc, parts.path, urlencode(query), parts.fragment))


def asyncpg_dsn(url: str) -> str:
    """A URL asyncpg.connect() takes directly (plain `postgresql://`)."""
    parts = urlsplit(sqlalchemy_url(url))
    return urlunsplit(("postgresql", parts.netloc, parts.path, parts.query, parts.fragment))


# A pooled connection idle longer than this is pinged before use (see _ping_if_idle).
PING_AFTER_IDLE_SECONDS = 5.0


def create_engine(url: str, *, pool_size: int = 5, max_overflow: int = 5) -> AsyncEngine:
    """An async engine on `url` (libpq URI or SQLAlchemy URL).

    asyncpg prepares each statement once per connection and reuses it (SQLAlchemy's
    `prepared_statement_cache_size`, 100 by default), so a repeated read is bind + execute only.
    """
    engine = create_async_engine(
        sqlalchemy_url(url),
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_recycle=1800,
    )
    event.listen(engine.sync_engine.pool, "checkin", _note_checkin)
    event.listen(engine.sync_engine.pool, "checkout", _ping_if_idle)
    return engine


def _note_checkin(dbapi_connection: Any, record: Any) -> None:
    record.info["checked_in"] = time.monotonic()


def _ping_if_idle(dbapi_connection: Any, record: Any, proxy: Any) -> None:
    """Ping a connection that sat idle in the pool, not one just returned by the previous request.

    SQLAlchemy's `pool_pre_ping` pings on every checkout, and its asyncpg ping is BEGIN, `;`,
    ROLLBACK: three PostgreSQL round trips before every read. A connection in steady use is known
    good; one idle for `PING_AFTER_IDLE_SECONDS` (a restarted server, a dropped socket) is checked,
    and a dead one is replaced by the pool (DisconnectionError makes it retry with a new one).
    """
    idle_since = record.info.get("checked_in")
    if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_SECONDS:
        return
    try:
        dbapi_connection.ping()
    except Exception as error:
        raise exc.DisconnectionError(f"pooled connection failed its ping: {type(error).__name__}") from error


@asynccontextmanager
async def read_connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A pooled connection in autocommit for reads: each statement runs on its own, without the
    BEGIN … ROLLBACK SQLAlchemy otherwise wraps around every connection (two of a read's PostgreSQL
    round trips). Use it for a single statement, or several that need no common snapshot."""
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        yield conn


def quote_ident(name: str) -> str:
    """A schema or table name checked to be a plain identifier (they are interpolated into DDL)."""
    if not name or not name.replace("_", "a").isalnum() or not name[0].isalpha() or not name.isascii():
        raise ValueError(f"{name!r} is not a valid schema/table name (letters, digits, _; starting with a letter)")
    return name.lower()
