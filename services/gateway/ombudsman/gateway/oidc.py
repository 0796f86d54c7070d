"""OpenID Connect relying party: discovery, the authorization code flow with PKCE (S256), and ID
token verification (signature from the provider's JWKS, iss, aud, exp, nonce).

The JOSE work is PyJWT's (`PyJWKSet`, `jwt.decode`); this module only fetches the provider's
documents over httpx and decides what a verified token means (who, which role). Tokens and the
client secret never reach a log line.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt

from ombudsman.contracts.replies import Forbidden, Unauthorized, Unavailable
from ombudsman.gateway.domain import USERNAME, Role
from ombudsman.gateway.settings import GatewaySettings

log = logging.getLogger("ombudsman.gateway.oidc")

# Asymmetric algorithms only: an HMAC-signed ID token would be keyed with the client secret, and
# accepting HS* next to RS* is the classic algorithm-confusion hole.
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]
ROLE_RANK: dict[str, int] = {"viewer": 0, "user": 1, "admin": 2}
DISCOVERY_TTL = 3600.0
JWKS_REFRESH_MIN_SECONDS = 30.0  # an unknown `kid` refetches the JWKS at most this often
CLOCK_SKEW_SECONDS = 60


@dataclass(frozen=True)
class ProviderMetadata:
    """What the provider's discovery document says (OpenID Connect Discovery 1.0)."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    device_authorization_endpoint: str | None
    token_auth_methods: tuple[str, ...]


@dataclass(frozen=True)
class Identity:
    """A person as a verified ID token names them: the provider (`issuer`) and its `subject`."""

    issuer: str
    subject: str
    preferred_username: str
    groups: tuple[str, ...] | None  # None: the token has no groups claim (e.g. Google)


def pkce_pair() -> tuple[str, str]:
    """A PKCE code verifier (64 URL-safe characters) and its S256 challenge (RFC 7636 §4.2)."""
    verifier = secrets.token_urlsafe(48)
    return verifier, s256(verifier)


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def role_for(groups: tuple[str, ...] | None, role_map: dict[str, str], default: str) -> Role:
    """The highest role any of `groups` maps to; `default` when none is mapped (Forbidden when
    the default is "none")."""
    mapped = [role_map[g] for g in groups or () if g in role_map]
    if mapped:
        return max(mapped, key=lambda r: ROLE_RANK[r])  # type: ignore[return-value]
    if default == "none":
        raise Forbidden("none of your identity provider groups is given a role here; ask an admin")
    return default  # type: ignore[return-value]


def username_hint(claims: dict[str, Any]) -> str:
    """A username for a new account: the provider's `preferred_username` (or e-mail) when it is a
    valid username, else `sso-` and a digest of the subject. Only a hint: identity is (iss, sub)."""
    for key in ("preferred_username", "email"):
        value = claims.get(key)
        if isinstance(value, str) and USERNAME.match(value):
            return value
    digest = hashlib.sha256(f"{claims.get('iss')}|{claims.get('sub')}".encode()).hexdigest()[:12]
    return f"sso-{digest}"


class OidcClient:
    """The gateway as an OIDC relying party of one provider (`OMB_OIDC_ISSUER`)."""

    def __init__(self, settings: GatewaySettings, http: httpx.AsyncClient | None = None):
        self.settings = settings
        self._http = http
        self._metadata: tuple[float, ProviderMetadata] | None = None
        self._jwks: jwt.PyJWKSet | None = None
        self._jwks_fetched_at = 0.0

    @property
    def audiences(self) -> list[str]:
        """The client ids whose ID tokens are accepted: the web client's and the CLI's."""
        return [a for a in (self.settings.oidc_client_id, self.settings.oidc_cli_client_id) if a]

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=10.0, follow_redirects=False)
        return self._http

    async def close(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def _get_json(self, url: str) -> dict[str, Any]:
        try:
            response = await self._client().get(url, headers={"Accept": "application/json"})
            response.raise_for_status()
            data = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("identity provider unreachable: %s %s", url, type(exc).__name__)
            raise Unavailable("the identity provider did not answer; try again later") from None
        if not isinstance(data, dict):
            raise Unavailable("the identity provider answered something that is not a JSON object")
        return data

    async def metadata(self) -> ProviderMetadata:
        """The provider's discovery document (kept an hour); its `issuer` must be the configured one."""
        cached = self._metadata
        if cached is not None and time.monotonic() - cached[0] < DISCOVERY_TTL:
            return cached[1]
        issuer = self.settings.oidc_issuer
        doc = await self._get_json(issuer.rstrip("/") + "/.well-known/openid-configuration")
        if doc.get("issuer") != issuer:  # OpenID Connect Discovery §4.3
            raise Unavailable("the identity provider's discovery document names another issuer",
                              {"expected": issuer})
        try:
            meta = ProviderMetadata(
                issuer=issuer,
                authorization_endpoint=str(doc["authorization_endpoint"]),
                token_endpoint=str(doc["token_endpoint"]),
                jwks_uri=str(doc["jwks_uri"]),
                device_authorization_endpoint=doc.get("device_authorization_endpoint"),
                token_auth_methods=tuple(doc.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]),
            )
        except KeyError as missing:
            raise Unavailable(f"the identity provider's discovery document has no {missing.args[0]}") from None
        self._metadata = (time.monotonic(), meta)
        return meta

    async def authorization_url(self, redirect_uri: str, state: str, nonce: str, code_challenge: str) -> str:
        """Where to send the browser: the authorization endpoint with the code flow's parameters."""
        meta = await self.metadata()
        query = urlencode({
            "response_type": "code", "client_id": self.settings.oidc_client_id, "redirect_uri": redirect_uri,
            "scope": self.settings.oidc_scopes, "state": state, "nonce": nonce,
            "code_challenge": code_challenge, "code_challenge_method": "S256",
        })
        separator = "&" if "?" in meta.authorization_endpoint else "?"
        return f"{meta.authorization_endpoint}{separator}{query}"

    async def exchange_code(self, code: str, redirect_uri: str, code_verifier: str) -> str:
        """The ID token the token endpoint gives for an authorization code (with the PKCE verifier)."""
        meta = await self.metadata()
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
                "code_verifier": code_verifier, "client_id": self.settings.oidc_client_id}
        auth: httpx.BasicAuth | None = None
        secret = self.settings.oidc_client_secret
        if secret:
            if "client_secret_basic" in meta.token_auth_methods:
                auth = httpx.BasicAuth(self.settings.oidc_client_id, secret)
            else:
                form["client_secret"] = secret
        try:
            response = await self._client().post(meta.token_endpoint, data=form, auth=auth,
                                                  headers={"Accept": "application/json"})
        except httpx.HTTPError as exc:
            log.warning("identity provider token endpoint unreachable: %s", type(exc).__name__)
            raise Unavailable("the identity provider did not answer; try again later") from None
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code != 200 or not isinstance(body, dict) or not body.get("id_token"):
            error = body.get("error") if isinstance(body, dict) else None
            log.info("authorization code refused by the identity provider: %s", error or response.status_code)
            raise Unauthorized("the identity provider refused the sign-in", {"provider_error": str(error or "")})
        return str(body["id_token"])

    async def _signing_key(self, token: str) -> Any:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthorized("invalid ID token") from None
        if header.get("alg") not in ALGORITHMS:
            raise Unauthorized("invalid ID token: unsupported signature algorithm")
        kid = header.get("kid")
        for attempt in range(2):
            keys = await self._key_set(refresh=attempt == 1)
            found = [k for k in keys.keys if kid is None or k.key_id == kid] if keys else []
            if found:
                return found[0].key
        raise Unauthorized("invalid ID token: not signed by a key of the identity provider")

    async def _key_set(self, refresh: bool) -> jwt.PyJWKSet | None:
        stale = refresh and time.monotonic() - self._jwks_fetched_at >= JWKS_REFRESH_MIN_SECONDS
        if self._jwks is None or stale:
            meta = await self.metadata()
            document = await self._get_json(meta.jwks_uri)
            try:
                self._jwks = jwt.PyJWKSet.from_dict(document)
            except jwt.PyJWTError:
                log.warning("identity provider JWKS holds no usable key")
                return None
            self._jwks_fetched_at = time.monotonic()
        return self._jwks

    async def verify_id_token(self, token: str, nonce: str | None) -> tuple[Identity, dict[str, Any]]:
        """The person an ID token names, once its signature (a JWKS key), `iss`, `aud`, `exp`, `iat`
        and, when `nonce` is given, its `nonce` are verified; Unauthorized otherwise."""
        key = await self._signing_key(token)
        try:
            claims = jwt.decode(
                token, key, algorithms=ALGORITHMS, audience=self.audiences, issuer=self.settings.oidc_issuer,
                leeway=CLOCK_SKEW_SECONDS, options={"require": ["iss", "sub", "aud", "exp", "iat"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("ID token expired") from None
        except jwt.InvalidAudienceError:
            raise Unauthorized("invalid ID token: issued for another client") from None
        except jwt.InvalidIssuerError:
            raise Unauthorized("invalid ID token: issued by another provider") from None
        except jwt.PyJWTError:
            raise Unauthorized("invalid ID token") from None
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        azp = claims.get("azp")
        if len(audiences) > 1 and azp not in self.audiences:  # OpenID Connect Core §3.1.3.7
            raise Unauthorized("invalid ID token: authorized party is another client")
        if nonce is not None and not hmac.compare_digest(str(claims.get("nonce", "")), nonce):
            raise Unauthorized("invalid ID token: nonce does not match this sign-in")
        groups_claim = claims.get(self.settings.oidc_groups_claim)
        groups: tuple[str, ...] | None
        if groups_claim is None:
            groups = None
        elif isinstance(groups_claim, str):
            groups = (groups_claim,)
        elif isinstance(groups_claim, list):
            groups = tuple(str(g) for g in groups_claim)
        else:
            raise Unauthorized(f"invalid ID token: claim {self.settings.oidc_groups_claim!r} is not a list of groups")
        identity = Identity(issuer=str(claims["iss"]), subject=str(claims["sub"]),
                            preferred_username=username_hint(claims), groups=groups)
        return identity, claims
