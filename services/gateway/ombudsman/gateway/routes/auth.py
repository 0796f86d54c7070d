"""Register, log in, refresh, log out, who am I; user administration (admin only)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from pydantic import ConfigDict, Field

from ombudsman.contracts.replies import Forbidden, NotFound
from ombudsman.gateway.deps import Admin, CurrentUser, Limit, Offset
from ombudsman.gateway.domain import RegisterUser
from ombudsman.gateway.errors import COMMON_ERRORS, RateLimited
from ombudsman.gateway.schemas import (
    NO_NUL,
    PRINTABLE,
    Input,
    LoginIn,
    LogoutIn,
    RefreshIn,
    RoleIn,
    TokenPair,
    UserOut,
    UserPage,
)

router = APIRouter(tags=["auth"], responses=COMMON_ERRORS)


class SelfRegistration(Input):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=2, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.@-]{1,63}$")
    password: str = Field(min_length=8, max_length=128, pattern=NO_NUL, json_schema_extra={"format": "password"})


class NewUser(SelfRegistration):
    role: Literal["admin", "user", "viewer"] = "user"


def _pair(issued: Any) -> TokenPair:
    return TokenPair(access_token=issued.access_token, refresh_token=issued.refresh_token,
                     expires_in=issued.expires_in, user=UserOut(**issued.user))


@router.post("/auth/register", status_code=201, response_model=UserOut,
             summary="Create your own account (role user), when open registration is enabled")
async def register(body: SelfRegistration, request: Request) -> Any:
    state = request.app.state
    if not state.settings.open_registration:
        raise Forbidden("self-registration is disabled; ask an admin for an account")
    RegisterUser(username=body.username, password=body.password)
    return await state.users.register(body.username, body.password, "user")


@router.post("/auth/login", response_model=TokenPair, summary="Exchange username and password for tokens")
async def login(body: LoginIn, request: Request) -> Any:
    state = request.app.state
    ip = request.client.host if request.client else "unknown"
    allowed, retry_after = state.login_limiter.allow(ip, body.username)
    if not allowed:
        raise RateLimited("too many login attempts; slow down", {"retry_after": retry_after})
    return _pair(await state.users.login(body.username, body.password, ip=ip))


@router.post("/auth/refresh", response_model=TokenPair, summary="Rotate a refresh token into a new token pair")
async def refresh(body: RefreshIn, request: Request) -> Any:
    return _pair(await request.app.state.users.refresh(body.refresh_token))


@router.post("/auth/logout", status_code=204, summary="Revoke this access token and the refresh token family")
async def logout(user: CurrentUser, request: Request, body: LogoutIn | None = None) -> None:
    await request.app.state.users.logout(user.id, user.jti, user.exp, body.refresh_token if body else None)


@router.get("/auth/me", response_model=UserOut)
async def me(user: CurrentUser, request: Request) -> Any:
    return await request.app.state.users.get(user.id)


class PasswordChangeIn(Input):
    model_config = ConfigDict(extra="forbid")
    current_password: str = Field(min_length=1, max_length=128, pattern=NO_NUL, json_schema_extra={"format": "password"})
    new_password: str = Field(min_length=8, max_length=128, pattern=NO_NUL, json_schema_extra={"format": "password"})


@router.post("/auth/password", status_code=204,
             summary="Change your own password (the current one required); your refresh tokens are revoked")
async def change_password(body: PasswordChangeIn, user: CurrentUser, request: Request) -> None:
    await request.app.state.users.change_password(user.id, body.current_password, body.new_password)


@router.get("/users", response_model=UserPage, tags=["users"])
async def list_users(user: Admin, request: Request, offset: Offset = 0, limit: Limit = 50,
                     role: Literal["admin", "user", "viewer"] | None = None,
                     q: Annotated[str | None, Query(max_length=64, pattern=PRINTABLE)] = None) -> Any:
    items, total = await request.app.state.users.list_users(offset, limit, role, q)
    return {"items": items, "total": total, "offset": offset, "limit": limit}


@router.post("/users", status_code=201, response_model=UserOut, tags=["users"])
async def create_user(body: NewUser, user: Admin, request: Request) -> Any:
    return await request.app.state.users.register(body.username, body.password, body.role, actor=user.actor)


UID = Annotated[str, Path(min_length=1, max_length=100)]


@router.get("/users/{user_id}", response_model=UserOut, tags=["users"])
async def get_user(user_id: UID, user: CurrentUser, request: Request) -> Any:
    if user.id != user_id and not user.is_admin:


        raise NotFound(f"user {user_id!r} not found", {"user_id": user_id})
    return await request.app.state.users.get(user_id)


@router.post("/users/{user_id}/unlock", response_model=UserOut, tags=["users"],
             summary="Clear a user's lockout flag and login throttles (recorded as UserUnlocked)")
async def unlock_user(user_id: UID, user: Admin, request: Request) -> Any:
    return await request.app.state.users.unlock(user_id, user.actor)


@router.patch("/users/{user_id}", response_model=UserOut, tags=["users"], summary="Change a user's role")
async def change_role(user_id: UID, body: RoleIn, user: Admin, request: Request) -> Any:
    return await request.app.state.users.change_role(user_id, body.role, user.actor)
