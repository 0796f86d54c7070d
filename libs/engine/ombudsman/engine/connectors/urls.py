"""Parsing SQLAlchemy-style connection URLs into their parts, with clear errors for bad ones."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote, urlsplit

from ombudsman.contracts.replies import Invalid

# scheme (before any "+driver") -> connector kind
SCHEME_KINDS: dict[str, str] = {
    "postgresql": "postgres",
    "postgres": "postgres",
    "duckdb": "duckdb",
    "snowflake": "snowflake",
    "mssql": "sqlserver",
    "sqlserver": "sqlserver",
    "odbc": "odbc",
    "file": "file",  # a file config read through DuckDB (connectors.files)
}


@dataclass(frozen=True)
class ConnectionUrl:
    """The parts of a connection URL, decoded (user, password and path segments unquoted)."""

    raw: str
    scheme: str  # the part before "+", lower case
    driver: str | None  # the part after "+", e.g. "asyncpg", "pyodbc"
    kind: str  # postgres | duckdb | snowflake | sqlserver | odbc | file
    username: str | None
    password: str | None
    host: str | None
    port: int | None
    path: str  # without the leading "/"
    query: dict[str, str] = field(default_factory=dict)

    @property
    def path_segments(self) -> list[str]:
        return [unquote(p) for p in self.path.split("/") if p]


def parse_url(url: str) -> ConnectionUrl:
    """Split a connection URL; raise `Invalid` naming what is wrong when it cannot be one."""
    if not isinstance(url, str) or not url.strip():
        raise Invalid("connection URL is empty", {"field": "url"})
    if "://" not in url:
        raise Invalid(
            "connection URL has no scheme: expected e.g. postgresql://, duckdb:///, snowflake://, "
            "mssql+pyodbc://",
            {"field": "url", "url": mask_url(url)},
        )
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as error:
        raise Invalid(
            f"connection URL is malformed: {error}", {"field": "url", "url": mask_url(url)}
        ) from None
    scheme, _, driver = parts.scheme.lower().partition("+")
    kind = SCHEME_KINDS.get(scheme)
    if kind is None:
        known = ", ".join(sorted(SCHEME_KINDS))
        raise Invalid(
            f"unsupported database scheme {parts.scheme!r} (known: {known})",
            {"field": "url", "scheme": parts.scheme},
        )
    query: dict[str, str] = {}
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        query[key] = value
    return ConnectionUrl(
        raw=url,
        scheme=scheme,
        driver=driver or None,
        kind=kind,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
        host=_host(parts.netloc) if parts.hostname else None,
        port=port,
        path=parts.path[1:] if parts.path.startswith("/") else parts.path,
        query=query,
    )


def _host(netloc: str) -> str:
    """The host part of a netloc with its case kept (DSN names, accounts), brackets of IPv6 removed."""
    host = netloc.rpartition("@")[2]
    if host.startswith("["):
        return host[1 : host.index("]")]
    return unquote(host.partition(":")[0])


def mask_url(url: str) -> str:
    """The URL with its password (if any) replaced by `***`, safe for logs and errors."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable url>"
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    return parts._replace(netloc=f"{user}:***@{host}").geturl()
