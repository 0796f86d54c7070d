"""The reply model of commands and queries, and the errors that map onto it.

Every validation failure, from any service or the gateway, is an `Invalid` whose details carry
`fields: [{field, message}]` (the gateway adds `in`: body, query or path); `invalid()` builds it from
a pydantic `ValidationError` and `validated()` parses a payload with it. Rejected values are never
echoed: they may be passwords.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any, TypeVar

from pydantic import BaseModel, Field, ValidationError

M = TypeVar("M", bound=BaseModel)
SUMMARISED_FIELDS = 5  # problems named in an error's message; details.fields has them all


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
    """Bad input. Details always name the wrong fields as `fields: [{field, message}]`: one raised
    with a single `field` gets `fields` too (the message is that field's)."""

    code = ErrorCode.INVALID

    def __init__(self, message: str, details: dict[str, Any] | None = None, code: ErrorCode | None = None):
        details = dict(details or {})
        if "fields" not in details and isinstance(details.get("field"), str):
            details["fields"] = [{"field": details["field"], "message": message}]
        super().__init__(message, details, code)


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


def field_errors(errors: Iterable[Mapping[str, Any]], *, located: bool = False) -> list[dict[str, str]]:
    """`[{field, message}]` of pydantic error dicts (`loc`, `msg`). `located`: the first part of each
    `loc` says where the field is (FastAPI's body/query/path), given as `in` instead."""
    fields = []
    for error in errors:
        loc = [str(part) for part in error.get("loc", ())]
        where = loc.pop(0) if located and loc else None
        entry = {"field": ".".join(loc) or where or "body", "message": str(error.get("msg", ""))}
        fields.append(entry if where is None else {**entry, "in": where})
    return fields


def invalid(exc: ValidationError, prefix: str = "") -> Invalid:
    """The `Invalid` of a pydantic `ValidationError`: a message naming the first wrong fields
    (after `prefix`) and `details.fields` naming every one."""
    fields = field_errors(exc.errors())
    named = "; ".join(f"{f['field']}: {f['message']}" for f in fields[:SUMMARISED_FIELDS])
    more = f" (and {len(fields) - SUMMARISED_FIELDS} more)" if len(fields) > SUMMARISED_FIELDS else ""
    return Invalid(prefix + named + more, {"fields": fields})


def invalid_fields(message: str, fields: Mapping[str, str], **details: Any) -> Invalid:
    """An `Invalid` raised by hand, in the same shape: `fields` maps each wrong field to why."""
    return Invalid(message, {"fields": [{"field": f, "message": m} for f, m in fields.items()], **details})


def validated(model: type[M], payload: Any) -> M:
    """`payload` (None: empty) validated as `model`; `Invalid` naming every wrong field."""
    try:
        return model.model_validate(payload or {})
    except ValidationError as exc:
        raise invalid(exc) from None
