"""Reply models the gateway itself defines (users, tokens, health) and the base of its bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, model_validator
from starlette.responses import Response

from ombudsman.contracts.commands.paging import Page as Page  # every list reply's shape, for the routes


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_has_nul(v) for v in value)
    return False


class Input(BaseModel):
    """Base of every request body: unknown fields and NUL characters are refused (PostgreSQL cannot
    store NUL in text, so it would otherwise fail deep inside a service)."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        if _has_nul(data):
            raise ValueError("text must not contain NUL characters")
        return data


class JSONBody(Response):
    """A service's answer sent as it came: encoded once by orjson, without FastAPI's
    `jsonable_encoder` walk and response-model validation (a route returning a Response skips both).
    For answers that are JSON already (decoded from the bus), so every value is a JSON type."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def page_body(result: Any, offset: int, limit: int) -> JSONBody:
    """`Page.of(result, offset, limit)` as a response, without building the model."""
    if isinstance(result, dict) and isinstance(result.get("items"), list) and isinstance(result.get("total"), int):
        return JSONBody({"items": result["items"], "total": result["total"], "offset": offset, "limit": limit})
    return JSONBody(Page.of(result, offset, limit).model_dump(mode="json"))


class UserOut(BaseModel):
    id: str
    username: str
    role: Literal["admin", "user", "viewer"]
    created_at: datetime | None = None
    last_login_at: datetime | None = None
    locked_until: datetime | None = None


class UserPage(BaseModel):
    items: list[UserOut]
    total: int
    offset: int
    limit: int


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Seconds until the access token expires")
    user: UserOut


# Text that reaches PostgreSQL or bcrypt: no control characters (PostgreSQL refuses NUL in text).
PRINTABLE = r"^[^\x00-\x1f\x7f]+$"
NO_NUL = r"^[^\x00]+$"


class LoginIn(Input):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=64, pattern=PRINTABLE)
    password: str = Field(min_length=1, max_length=128, pattern=NO_NUL, json_schema_extra={"format": "password"})


class RefreshIn(Input):
    model_config = ConfigDict(extra="forbid")
    refresh_token: str = Field(min_length=1, max_length=200)


class LogoutIn(Input):
    model_config = ConfigDict(extra="forbid")
    refresh_token: str | None = Field(default=None, max_length=200)


class RoleIn(Input):
    model_config = ConfigDict(extra="forbid")
    role: Literal["admin", "user", "viewer"]


class ServiceHealth(BaseModel):
    status: str
    error: str | None = None


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    gateway: str = "ok"
    services: dict[str, ServiceHealth]
