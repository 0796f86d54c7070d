"""PostgreSQL connections: libpq URIs turned into SQLAlchemy asyncpg engines."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

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


def create_engine(url: str, *, pool_size: int = 5, max_overflow: int = 5) -> AsyncEngine:
    """An async engine on `url` (libpq URI or SQLAlchemy URL)."""
    return create_async_engine(
        sqlalchemy_url(url),
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_pre_ping=True,
        pool_recycle=1800,
    )


def quote_ident(name: str) -> str:
    """A schema or table name checked to be a plain identifier (they are interpolated into DDL)."""
    if not name or not name.replace("_", "a").isalnum() or not name[0].isalpha() or not name.isascii():
        raise ValueError(f"{name!r} is not a valid schema/table name (letters, digits, _; starting with a letter)")
    return name.lower()
