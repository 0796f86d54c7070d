"""Single sign-on with an OpenID Connect provider: which sign-ins exist, the browser's code flow
(start → provider → callback → one-time code → tokens) and the CLI's ID-token exchange (device flow)."""

from __future__ import annotations

import hmac
import secrets
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, ConfigDict, Field

from ombudsman.contracts.replies import NotFound, Unauthorized
from ombudsman.gateway.errors import COMMON_ERRORS
from ombudsman.gateway.oidc import OidcClient, pkce_pair, role_for
from ombudsman.gateway.routes.auth import _pair
from ombudsman.gateway.schemas import Input, TokenPair
from ombudsman.gateway.settings import GatewaySettings

router = APIRouter(tags=["auth"], responses=COMMON_ERRORS)

STATE_COOKIE = "omb_oidc_state"
COOKIE_PATH = "/api/v1/auth/oidc"


class OidcProvider(BaseModel):
    issuer: str
    client_id: str = Field(description="The client id the CLI's device flow uses")
    scopes: str
    start_url: str = Field(description="Open this in the browser to sign in with the provider")


class AuthProviders(BaseModel):
    password: bool = True
    oidc: OidcProvider | None = Field(None, description="Present when single sign-on is configured")


class HandoffIn(Input):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(min_length=16, max_length=128, pattern=r"^[A-Za-z0-9_-]+$",
                      description="The one-time `sso_code` the callback sent the browser with")


class IdTokenIn(Input):
    model_config = ConfigDict(extra="forbid")
    id_token: str = Field(min_length=16, max_length=16384, pattern=r"^[A-Za-z0-9_.-]+$",
                          description="An ID token the identity provider issued to the CLI (device flow)")


def _oidc(request: Request) -> OidcClient:
    settings: GatewaySettings = request.app.state.settings
    if not settings.oidc_enabled:
        raise NotFound("single sign-on is not configured on this gateway (OMB_OIDC_ISSUER, OMB_OIDC_CLIENT_ID)")
    return request.app.state.oidc  # type: ignore[no-any-return]


@router.get("/auth/providers", response_model=AuthProviders, summary="The ways to sign in to this gateway (public)")
async def providers(request: Request) -> Any:
    settings: GatewaySettings = request.app.state.settings
    if not settings.oidc_enabled:
        return AuthProviders()
    return AuthProviders(oidc=OidcProvider(
        issuer=settings.oidc_issuer, client_id=settings.oidc_cli_client_id or settings.oidc_client_id,
        scopes=settings.oidc_scopes, start_url=f"{COOKIE_PATH}/start"))


@router.get("/auth/oidc/start", status_code=302, response_class=RedirectResponse,
            summary="Begin a browser sign-in: redirect to the identity provider (code flow with PKCE S256)")
async def oidc_start(request: Request) -> RedirectResponse:
    oidc = _oidc(request)
    settings: GatewaySettings = request.app.state.settings
    redirect_uri = settings.oidc_redirect_uri or str(request.url_for("oidc_callback"))
    state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    verifier, challenge = pkce_pair()
    location = await oidc.authorization_url(redirect_uri, state, nonce, challenge)
    await request.app.state.users.begin_sign_in(state, nonce, verifier, redirect_uri)
    response = RedirectResponse(location, status_code=302)
    # binds the sign-in to this browser: a callback carrying someone else's state is refused (login CSRF)
    response.set_cookie(STATE_COOKIE, state, max_age=600, path=COOKIE_PATH, httponly=True, samesite="lax",
                        secure=request.url.scheme == "https")
    return response


@router.get("/auth/oidc/callback", name="oidc_callback", status_code=302, response_class=RedirectResponse,
            summary="The identity provider's redirect: verify, sign the user in, send the browser on with a one-time code")
async def oidc_callback(
    request: Request,
    state: str = Query("", max_length=512),
    code: str = Query("", max_length=4096),
    error: str = Query("", max_length=256),
) -> RedirectResponse:
    oidc = _oidc(request)
    users = request.app.state.users
    settings: GatewaySettings = request.app.state.settings
    if error:
        raise Unauthorized("the identity provider refused the sign-in", {"provider_error": error})
    cookie = request.cookies.get(STATE_COOKIE, "")
    if not state or not code:
        raise Unauthorized("the identity provider's answer has no state or code")
    if not cookie or not hmac.compare_digest(cookie, state):
        raise Unauthorized("this sign-in was not started by this browser: start again")
    nonce, verifier, redirect_uri = await users.take_sign_in(state)
    id_token = await oidc.exchange_code(code, redirect_uri, verifier)
    identity, _ = await oidc.verify_id_token(id_token, nonce=nonce)
    role = role_for(identity.groups, settings.oidc_role_map, settings.oidc_default_role)
    user_id = await users.sync_sso_user(identity, role)
    handoff = await users.new_handoff(user_id)
    target = settings.oidc_post_login_redirect
    separator = "&" if "?" in target else "?"
    response = RedirectResponse(f"{target}{separator}{urlencode({'sso_code': handoff})}", status_code=302)
    response.delete_cookie(STATE_COOKIE, path=COOKIE_PATH)
    return response


@router.post("/auth/oidc/exchange", response_model=TokenPair,
             summary="Exchange the one-time code of a finished browser sign-in for tokens")
async def oidc_exchange(body: HandoffIn, request: Request) -> Any:
    _oidc(request)
    return _pair(await request.app.state.users.redeem_handoff(body.code))


@router.post("/auth/oidc/id-token", response_model=TokenPair,
             summary="Exchange an ID token of the identity provider (the CLI's device flow) for tokens")
async def oidc_id_token(body: IdTokenIn, request: Request) -> Any:
    oidc = _oidc(request)
    settings: GatewaySettings = request.app.state.settings
    identity, _ = await oidc.verify_id_token(body.id_token, nonce=None)
    role = role_for(identity.groups, settings.oidc_role_map, settings.oidc_default_role)
    users = request.app.state.users
    return _pair(await users.sso_login(await users.sync_sso_user(identity, role)))
