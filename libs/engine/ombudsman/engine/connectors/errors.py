"""Errors a connector raises: driver errors wrapped so callers need not know each driver."""

from __future__ import annotations

from ombudsman.contracts.replies import ErrorCode, Invalid, OmbudsmanError, Timeout, Unavailable

__all__ = ["ConnectionFailed", "Invalid", "QueryFailed", "QueryTimeout", "sql_excerpt"]


class ConnectionFailed(Unavailable):
    """The database could not be reached or refused the login."""


class QueryFailed(OmbudsmanError):
    """The database rejected or failed a statement (syntax, missing object, type error ...)."""

    code = ErrorCode.INVALID


class QueryTimeout(Timeout):
    """A statement ran longer than the connector's timeout and was cancelled."""


def sql_excerpt(sql: str, limit: int = 300) -> str:
    """The statement shortened for an error message."""
    flat = " ".join(sql.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."
