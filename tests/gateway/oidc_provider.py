"""A small standards-compliant OpenID Connect provider for the tests: a real HTTP server (a thread)
with discovery, a JWKS endpoint serving an RSA public key, the authorization endpoint (code flow,
PKCE S256 required), the token endpoint (authorization_code with the PKCE verifier checked, and the
RFC 8628 device_code grant) and the device authorization endpoint. ID tokens are real RS256 JWTs.

The person who "signs in" at the provider is `provider.user` (the browser part of a real provider:
a login form) when the authorization endpoint is visited: the code carries that person. Knobs for the negative tests: `tamper` overrides claims of the next ID tokens,
`sign_with_other_key` signs them with a key the JWKS does not hold (under the same `kid`).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from tests.support import HttpServerThread


def _s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


class OidcProvider:
    """The provider's state: clients, the signed-in person, codes and device grants."""

    KID = "test-key-1"

    def __init__(self, clients: dict[str, str | None], device_polls_before_approval: int = 1):
        self.clients = clients  # client id -> its secret (None: a public client)
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.user: dict[str, Any] = {"sub": "sub-alice", "preferred_username": "alice", "groups": ["omb-admins"]}
        self.tamper: dict[str, Any] = {}
        self.sign_with_other_key = False
        self.device_polls_before_approval = device_polls_before_approval
        self.codes: dict[str, dict[str, Any]] = {}
        self.devices: dict[str, dict[str, Any]] = {}
        self.token_requests: list[dict[str, str]] = []
        self._server: HttpServerThread | None = None
        self.issuer = ""

    def start(self) -> OidcProvider:
        provider = self

        class Handler(_Handler):
            owner = provider

        self._server = HttpServerThread(Handler)
        self.issuer = self._server.url
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "jwks_uri": f"{self.issuer}/jwks",
            "device_authorization_endpoint": f"{self.issuer}/device_authorization",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
            "grant_types_supported": ["authorization_code", "urn:ietf:params:oauth:grant-type:device_code"],
        }

    def jwks(self) -> dict[str, Any]:
        jwk = RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        return {"keys": [{**jwk, "kid": self.KID, "alg": "RS256", "use": "sig"}]}

    def id_token(self, client_id: str, nonce: str | None, user: dict[str, Any] | None = None) -> str:
        """An RS256 ID token for `user` (default `self.user`), `tamper` applied."""
        now = int(time.time())
        claims: dict[str, Any] = {"iss": self.issuer, "aud": client_id, "iat": now, "exp": now + 300,
                                  **(user or self.user)}
        if nonce is not None:
            claims["nonce"] = nonce
        claims.update(self.tamper)
        key = self.other_key if self.sign_with_other_key else self.key
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": self.KID})

    def approve_device(self, user_code: str) -> None:
        for grant in self.devices.values():
            if grant["user_code"] == user_code:
                grant["approved"] = True


class _Handler(BaseHTTPRequestHandler):
    owner: OidcProvider

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _json(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, error: str, status: int = 400) -> None:
        self._json(status, {"error": error})

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path == "/.well-known/openid-configuration":
            self._json(200, self.owner.discovery())
        elif url.path == "/jwks":
            self._json(200, self.owner.jwks())
        elif url.path == "/authorize":
            self._authorize({k: v[0] for k, v in parse_qs(url.query).items()})
        else:
            self._error("not_found", 404)

    def _authorize(self, q: dict[str, str]) -> None:
        if q.get("client_id") not in self.owner.clients or q.get("response_type") != "code":
            return self._error("unauthorized_client")
        if q.get("code_challenge_method") != "S256" or not q.get("code_challenge"):
            return self._error("invalid_request")  # this provider requires PKCE S256
        if "openid" not in q.get("scope", "").split():
            return self._error("invalid_scope")
        code = secrets.token_urlsafe(24)
        self.owner.codes[code] = {"client_id": q["client_id"], "redirect_uri": q.get("redirect_uri", ""),
                                  "nonce": q.get("nonce"), "challenge": q["code_challenge"],
                                  "user": dict(self.owner.user)}
        self.send_response(302)
        self.send_header("Location", f"{q.get('redirect_uri')}?{urlencode({'code': code, 'state': q.get('state', '')})}")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _form(self) -> dict[str, str]:
        length = int(self.headers.get("Content-Length") or 0)
        return {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}

    def _client_ok(self, form: dict[str, str]) -> str | None:
        """The authenticated client id (client_secret_basic, client_secret_post or a public client)."""
        client_id, secret = form.get("client_id"), form.get("client_secret")
        basic = self.headers.get("Authorization", "")
        if basic.startswith("Basic "):
            client_id, _, secret = base64.b64decode(basic[6:]).decode().partition(":")
        if client_id not in self.owner.clients:
            return None
        expected = self.owner.clients[client_id]
        return client_id if expected is None or secret == expected else None

    def do_POST(self) -> None:
        form = self._form()
        path = urlsplit(self.path).path
        client_id = self._client_ok(form)
        if client_id is None:
            return self._error("invalid_client", 401)
        if path == "/device_authorization":
            device_code, user_code = secrets.token_urlsafe(24), secrets.token_hex(4).upper()
            self.owner.devices[device_code] = {"user_code": user_code, "client_id": client_id, "polls": 0,
                                               "approved": False}
            return self._json(200, {"device_code": device_code, "user_code": user_code,
                                    "verification_uri": f"{self.owner.issuer}/device",
                                    "verification_uri_complete": f"{self.owner.issuer}/device?user_code={user_code}",
                                    "expires_in": 600, "interval": 1})
        if path != "/token":
            return self._error("not_found", 404)
        self.owner.token_requests.append(form)
        grant = form.get("grant_type")
        if grant == "authorization_code":
            issued = self.owner.codes.pop(form.get("code", ""), None)
            if issued is None or issued["client_id"] != client_id or issued["redirect_uri"] != form.get("redirect_uri"):
                return self._error("invalid_grant")
            if _s256(form.get("code_verifier", "")) != issued["challenge"]:
                return self._error("invalid_grant")  # PKCE: the verifier does not match the challenge
            return self._json(200, {"access_token": secrets.token_urlsafe(16), "token_type": "Bearer",
                                    "expires_in": 300, "id_token": self.owner.id_token(client_id, issued["nonce"], issued["user"])})
        if grant == "urn:ietf:params:oauth:grant-type:device_code":
            device = self.owner.devices.get(form.get("device_code", ""))
            if device is None or device["client_id"] != client_id:
                return self._error("invalid_grant")
            device["polls"] += 1
            if device["polls"] > self.owner.device_polls_before_approval:
                device["approved"] = True  # the person approved in their browser meanwhile
            if not device["approved"]:
                return self._error("authorization_pending")
            del self.owner.devices[form["device_code"]]
            return self._json(200, {"access_token": secrets.token_urlsafe(16), "token_type": "Bearer",
                                    "expires_in": 300, "id_token": self.owner.id_token(client_id, None)})
        return self._error("unsupported_grant_type")
