"""The reply model of commands and queries, and the errors that map onto it."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field


class ErrorCode(StrEnum):
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    INVALID = "invalid"
    FORBIDDEN = "forbidden"
    UNAUTHORIZED = "unauthorized"
    RATE_LIMITED = "rate_limited"
    UNAVAILABLE = "unavailable"
    TIMEOUT = "timeout"
    INTERNAL = "internal"


HTTP_STATUS: dict[ErrorCode, int] = {
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.CONFLICT: 409,
    ErrorCode.INVALID: 422,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.UNAVAILABLE: 503,
    ErrorCode.TIMEOUT: 504,
    ErrorCode.INTERNAL: 500,
}


class ErrorInfo(BaseModel):
    code: ErrorCode
    message: str
    details: dict[str, Any] = Field(default_factory=dict)


class Reply(BaseModel):
    """`{ok: true, result}` or `{ok: false, error: {code, message, details}}`."""

    ok: bool
    result: Any = None
    error: ErrorInfo | None = None

    @classmethod
    def success(cls, result: Any = None) -> Reply:
        return cls(ok=True, result=result)

    @classmethod
    def failure(cls, error: OmbudsmanError) -> Reply:
        return cls(ok=False, error=error.info())


class OmbudsmanError(Exception):
    """An error with a code that crosses the bus and becomes an HTTP status at the gateway."""

    code: ErrorCode = ErrorCode.INTERNAL

    def __init__(self, message: str, details: dict[str, Any] | None = None, code: ErrorCode | None = None):
        super().__init__(message)
        self.message = message
        self.details = details or {}
        if code is not None:
            self.code = code

    def info(self) -> ErrorInfo:
        return ErrorInfo(code=self.code, message=self.message, details=self.details)

    @property
    def http_status(self) -> int:
        return HTTP_STATUS[self.code]

    @classmethod
    def from_info(cls, info: ErrorInfo) -> OmbudsmanError:
        kind = _BY_CODE.get(info.code, OmbudsmanError)
        return kind(info.message, info.details, code=info.code)


class NotFound(OmbudsmanError):
    code = ErrorCode.NOT_FOUND


class Conflict(OmbudsmanError):
    code = ErrorCode.CONFLICT


class Invalid(OmbudsmanError):
    code = ErrorCode.INVALID


class Forbidden(OmbudsmanError):
    code = ErrorCode.FORBIDDEN


class Unauthorized(OmbudsmanError):
    code = ErrorCode.UNAUTHORIZED


class Unavailable(OmbudsmanError):
    code = ErrorCode.UNAVAILABLE


class Timeout(OmbudsmanError):
    code = ErrorCode.TIMEOUT


_BY_CODE: dict[ErrorCode, type[OmbudsmanError]] = {
    ErrorCode.NOT_FOUND: NotFound,
    ErrorCode.CONFLICT: Conflict,
    ErrorCode.INVALID: Invalid,
    ErrorCode.FORBIDDEN: Forbidden,
    ErrorCode.UNAUTHORIZED: Unauthorized,
    ErrorCode.UNAVAILABLE: Unavailable,
    ErrorCode.TIMEOUT: Timeout,
}
