"""The OAuth 2.0 device authorization grant (RFC 8628) against the gateway's OpenID Connect
provider, for `ombudsman login --sso`: ask the provider for a device code, show the person where to
approve it, poll the token endpoint until they do, and return the provider's ID token (which the
gateway then exchanges for Ombudsman tokens)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


class DeviceFlowError(Exception):
    """The device flow could not finish (provider unreachable, denied, expired, misconfigured)."""


@dataclass(frozen=True)
class DevicePrompt:
    """What the person must do: open `verification_uri` and enter `user_code`."""

    verification_uri: str
    user_code: str
    verification_uri_complete: str | None
    expires_in: int


def _post(http: httpx.Client, url: str, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
    try:
        response = http.post(url, data=form, headers={"Accept": "application/json"})
    except httpx.HTTPError as exc:
        raise DeviceFlowError(f"cannot reach the identity provider at {url}: {type(exc).__name__}") from None
    try:
        body = response.json()
    except ValueError:
        body = {}
    return response.status_code, body if isinstance(body, dict) else {}


def device_login(issuer: str, client_id: str, scopes: str, show: Callable[[DevicePrompt], None], *,
                 sleep: Callable[[float], None] = time.sleep, timeout: float = 30.0) -> str:
    """Run the device flow with the provider `issuer` as `client_id`; `show` tells the person what
    to do. Returns the ID token once they approved; DeviceFlowError when denied or expired."""
    with httpx.Client(timeout=timeout) as http:
        try:
            discovery = http.get(issuer.rstrip("/") + "/.well-known/openid-configuration").json()
        except (httpx.HTTPError, ValueError) as exc:
            raise DeviceFlowError(f"cannot read the identity provider's discovery document: {type(exc).__name__}") from None
        device_endpoint = discovery.get("device_authorization_endpoint")
        token_endpoint = discovery.get("token_endpoint")
        if not device_endpoint or not token_endpoint:
            raise DeviceFlowError("the identity provider does not offer the device flow (no device_authorization_endpoint)")
        status, grant = _post(http, device_endpoint, {"client_id": client_id, "scope": scopes})
        if status != 200 or "device_code" not in grant:
            raise DeviceFlowError(f"the identity provider refused the device sign-in: {grant.get('error', status)}")
        show(DevicePrompt(verification_uri=str(grant.get("verification_uri") or grant.get("verification_url", "")),
                          user_code=str(grant["user_code"]),
                          verification_uri_complete=grant.get("verification_uri_complete"),
                          expires_in=int(grant.get("expires_in", 600))))
        interval = float(grant.get("interval", 5))
        deadline = time.monotonic() + int(grant.get("expires_in", 600))
        while time.monotonic() < deadline:
            sleep(interval)
            status, answer = _post(http, token_endpoint, {"grant_type": DEVICE_GRANT,
                                                          "device_code": str(grant["device_code"]),
                                                          "client_id": client_id})
            if status == 200:
                if not answer.get("id_token"):
                    raise DeviceFlowError("the identity provider gave no ID token (is `openid` in the scopes?)")
                return str(answer["id_token"])
            error = answer.get("error")
            if error == "authorization_pending":
                continue
            if error == "slow_down":  # RFC 8628 §3.5: add 5 seconds to the interval
                interval += 5
                continue
            if error == "access_denied":
                raise DeviceFlowError("the sign-in was denied at the identity provider")
            if error == "expired_token":
                break
            raise DeviceFlowError(f"the identity provider refused the sign-in: {error or status}")
        raise DeviceFlowError("the device code expired before the sign-in was approved; run `ombudsman login --sso` again")
