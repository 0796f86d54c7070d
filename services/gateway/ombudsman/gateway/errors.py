"""One error shape for every failure: `{"error": {"code", "message", "details"}}`."""

from __future__ import annotations

import logging
from typing import Any

import asyncpg
import sqlalchemy.exc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from ombudsman.contracts.replies import ErrorCode, OmbudsmanError, field_errors

log = logging.getLogger("ombudsman.gateway")

_CODE_BY_STATUS = {
    400: ErrorCode.INVALID,
    401: ErrorCode.UNAUTHORIZED,
    403: ErrorCode.FORBIDDEN,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.INVALID,
    409: ErrorCode.CONFLICT,
    413: ErrorCode.INVALID,
    415: ErrorCode.INVALID,
    422: ErrorCode.INVALID,
    429: ErrorCode.RATE_LIMITED,
    503: ErrorCode.UNAVAILABLE,
    504: ErrorCode.TIMEOUT,
}


class RateLimited(OmbudsmanError):
    """429; `details.retry_after` (seconds) becomes the Retry-After header."""

    code = ErrorCode.RATE_LIMITED


class ErrorBody(BaseModel):
    code: str = Field(description="not_found, conflict, invalid, forbidden, unauthorized, rate_limited, unavailable, timeout, internal")
    message: str
    details: dict[str, Any] = Field(default_factory=dict)


class ErrorResponse(BaseModel):
    """Every error the gateway returns."""

    error: ErrorBody


def error_response(status: int, code: str, message: str, details: dict[str, Any] | None = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    body = {"error": {"code": code, "message": message, "details": details or {}}}
    return JSONResponse(body, status_code=status, headers=headers)


def _validation_details(exc: RequestValidationError) -> dict[str, Any]:
    # the services' shape, plus where each field is; never the rejected input: it may be a password
    return {"fields": field_errors(exc.errors(), located=True)}


# Documented on every route so the OpenAPI spec names each status a client can get.
COMMON_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {
        "model": ErrorResponse,
        "description": description,
        # Explicit, so routes answering text or files still document JSON errors.
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}},
    }
    for status, description in {
        401: "Missing, expired or invalid token",
        403: "Role does not allow this",
        404: "Not found (or not visible to you)",
        409: "Conflict",
        422: "Invalid input",
        429: "Too many requests",
        503: "A service did not answer",
        504: "A service timed out",
    }.items()
}


def install(app: FastAPI) -> None:
    """Register the handlers that turn every exception into the error shape."""

    @app.exception_handler(OmbudsmanError)
    async def _ombudsman(request: Request, exc: OmbudsmanError) -> JSONResponse:
        status = exc.http_status
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        if status >= 500 and exc.code == ErrorCode.INTERNAL:
            log.error("internal error from a service on %s %s: %s", request.method, request.url.path, exc.message)
            return error_response(500, "internal", "internal error")
        retry = exc.details.get("retry_after") if status == 429 else None
        if retry:
            headers = {"Retry-After": str(retry)}
        return error_response(status, str(exc.code), exc.message, exc.details, headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(422, "invalid", "request is not valid", _validation_details(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:  # an unparsable body is invalid input like any other: 422
            return error_response(422, "invalid", "request body is not valid JSON", {"fields": [{"field": "body", "in": "body", "message": "not valid JSON"}]})
        code = _CODE_BY_STATUS.get(exc.status_code, ErrorCode.INVALID if exc.status_code < 500 else ErrorCode.INTERNAL)
        message = exc.detail if isinstance(exc.detail, str) else "request failed"
        if exc.status_code == 404 and message == "Not Found":
            message = f"no route {request.url.path}"
        return error_response(exc.status_code, str(code), message, None, getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception) -> JSONResponse:
        return unhandled_response(exc, request.method, request.url.path)


def unhandled_response(exc: BaseException, method: str, path: str) -> JSONResponse:
    """The answer to an exception no handler took: 503 (retry) when the database is unavailable, else a
    500 that says nothing of the cause (logged with its traceback)."""
    if database_unavailable(exc):
        log.warning("database unavailable on %s %s: %s: %s", method, path, type(exc).__name__, exc)
        return error_response(503, str(ErrorCode.UNAVAILABLE), "the gateway's database did not answer; retry",
                              None, {"Retry-After": "1"})
    log.error("unhandled %s on %s %s", type(exc).__name__, method, path, exc_info=exc)
    return error_response(500, "internal", "internal error")


# a PostgreSQL that cannot take the request now (starting, shutting down, out of connections, unreachable)
_UNAVAILABLE = (ConnectionError, TimeoutError, sqlalchemy.exc.TimeoutError, asyncpg.PostgresConnectionError, asyncpg.CannotConnectNowError,
                asyncpg.TooManyConnectionsError, asyncpg.AdminShutdownError, asyncpg.ConnectionDoesNotExistError)


def database_unavailable(exc: BaseException) -> bool:
    """Whether `exc` (or what it wraps) says the database is unreachable or busy, not that the request or
    the code is wrong: such a failure is a 503 the client may retry, not a 500 (a wait that ran out,
    TimeoutError, counts too)."""
    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None:
            return False
        if isinstance(seen, _UNAVAILABLE):
            return True
        if isinstance(seen, sqlalchemy.exc.DBAPIError) and (seen.connection_invalidated or seen.statement is None):
            return True  # its connection died under it, or no connection could be opened (no statement ran)
        seen = getattr(seen, "orig", None) or seen.__cause__
    return False
