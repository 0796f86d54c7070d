"""Tokens, roles, membership, error shape, headers, rate limits, and secrets kept out of replies and logs."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from ombudsman.gateway.app import create_app
from tests.gateway.conftest import JWT_SECRET, PASSWORD, Gateway, ensure_events_stream, gateway_settings

ME = "/api/v1/auth/me"


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def assert_error(r: httpx.Response, status: int, code: str) -> dict[str, object]:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}, body
    assert body["error"]["code"] == code
    assert "Traceback" not in r.text
    return body["error"]


async def test_missing_expired_tampered_and_foreign_tokens_are_401(gateway: Gateway) -> None:
    c = gateway.client
    user, auth = await gateway.user("dave")
    assert (await c.get(ME, headers=auth)).status_code == 200
    assert_error(await c.get(ME), 401, "unauthorized")
    assert_error(await c.get(ME, headers={"Authorization": "Basic abc"}), 401, "unauthorized")

    claims = {"sub": user["id"], "username": "dave", "role": "admin", "jti": "j1"}
    past = datetime.now(UTC) - timedelta(hours=1)
    expired = jwt.encode({**claims, "iat": past, "exp": past + timedelta(minutes=30)}, JWT_SECRET, algorithm="HS256")
    err = assert_error(await c.get(ME, headers={"Authorization": f"Bearer {expired}"}), 401, "unauthorized")
    assert "expired" in str(err["message"])

    now = datetime.now(UTC)
    live = {**claims, "iat": now, "exp": now + timedelta(minutes=30)}
    # Tampered: the payload says admin, the signature was made over something else.
    good = auth["Authorization"].split()[1]
    head, _, sig = good.split(".")
    forged_payload = _b64({**live, "iat": int(now.timestamp()), "exp": int((now + timedelta(minutes=30)).timestamp())})
    assert_error(await c.get(ME, headers={"Authorization": f"Bearer {head}.{forged_payload}.{sig}"}), 401, "unauthorized")
    # alg none, no signature.
    none_token = _b64({"alg": "none", "typ": "JWT"}) + "." + forged_payload + "."
    assert_error(await c.get(ME, headers={"Authorization": f"Bearer {none_token}"}), 401, "unauthorized")
    # Another HS256 secret.
    other = jwt.encode(live, "another-secret-" + "y" * 40, algorithm="HS256")
    assert_error(await c.get(ME, headers={"Authorization": f"Bearer {other}"}), 401, "unauthorized")
    # Another algorithm (RS256) where HS256 is configured.
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    rs = jwt.encode(live, pem, algorithm="RS256")
    assert_error(await c.get(ME, headers={"Authorization": f"Bearer {rs}"}), 401, "unauthorized")
    # A valid signature for a user that does not exist.
    ghost = jwt.encode({**live, "sub": "nobody"}, JWT_SECRET, algorithm="HS256")
    assert_error(await c.get(ME, headers={"Authorization": f"Bearer {ghost}"}), 401, "unauthorized")


async def test_viewer_reads_but_cannot_write(gateway: Gateway, projects_service: Any) -> None:
    _owner, owner_auth = await gateway.user("olga")
    viewer, viewer_auth = await gateway.user("victor", role="viewer")
    c = gateway.client
    assert (await c.post("/api/v1/projects", headers=owner_auth, json={"id": "sales", "name": "Sales"})).status_code == 201
    added = await c.post("/api/v1/projects/sales/members", headers=owner_auth, json={"user_id": viewer["id"]})
    assert added.status_code == 200 and viewer["id"] in added.json()["members"]

    assert (await c.get("/api/v1/projects/sales", headers=viewer_auth)).status_code == 200
    assert_error(await c.post("/api/v1/projects", headers=viewer_auth, json={"id": "x1", "name": "X"}), 403, "forbidden")
    assert_error(await c.patch("/api/v1/projects/sales", headers=viewer_auth, json={"name": "Y"}), 403, "forbidden")
    assert_error(await c.delete("/api/v1/projects/sales", headers=viewer_auth), 403, "forbidden")
    assert (await c.get("/api/v1/projects/sales", headers=owner_auth)).json()["name"] == "Sales"
    assert_error(await c.post("/api/v1/projects/sales/members", headers=viewer_auth, json={"user_id": "x"}), 403, "forbidden")
    # Admin-only user management.
    assert_error(await c.get("/api/v1/users", headers=owner_auth), 403, "forbidden")


async def test_user_cannot_see_another_users_project(gateway: Gateway, projects_service: Any) -> None:
    c = gateway.client
    a, a_auth = await gateway.user("anna")
    _b, b_auth = await gateway.user("bert")
    _, admin_auth = await gateway.user("root", role="admin")
    r = await c.post("/api/v1/projects", headers=a_auth, json={"id": "secret-proj", "name": "A's"})
    assert r.status_code == 201 and r.json()["members"] == [a["id"]]
    # The creator acted as herself on the bus: the projects service made her the member.

    for method, path in [("GET", "/api/v1/projects/secret-proj"), ("GET", "/api/v1/projects/secret-proj/connections"),
                         ("PATCH", "/api/v1/projects/secret-proj"), ("DELETE", "/api/v1/projects/secret-proj")]:
        body = {"name": "mine now"} if method == "PATCH" else None
        r = await c.request(method, path, headers=b_auth, json=body)
        assert_error(r, 404, "not_found")
    # A project that does not exist looks exactly the same.
    missing = await c.get("/api/v1/projects/no-such", headers=b_auth)
    hidden = await c.get("/api/v1/projects/secret-proj", headers=b_auth)
    assert missing.json()["error"]["message"].replace("no-such", "X") == hidden.json()["error"]["message"].replace("secret-proj", "X")

    listed_b = (await c.get("/api/v1/projects", headers=b_auth)).json()
    assert listed_b["total"] == 0 and listed_b["items"] == []
    listed_a = (await c.get("/api/v1/projects", headers=a_auth)).json()
    assert [p["id"] for p in listed_a["items"]] == ["secret-proj"]
    assert (await c.get("/api/v1/projects/secret-proj", headers=admin_auth)).status_code == 200
    assert (await c.get("/api/v1/projects/secret-proj", headers=a_auth)).json()["name"] == "A's"


async def test_validation_unknown_route_and_absent_service_errors(gateway: Gateway) -> None:
    c = gateway.client
    _, auth = await gateway.user("erin")
    err = assert_error(await c.post("/api/v1/projects", headers=auth, json={"id": "Bad Id!", "name": ""}), 422, "invalid")
    fields = {f["field"] for f in err["details"]["fields"]}  # type: ignore[index]
    assert {"id", "name"} <= fields
    assert all(f["in"] == "body" and f["message"] for f in err["details"]["fields"])  # type: ignore[index]
    assert_error(await c.post("/api/v1/projects", headers=auth, content=b"{not json", ), 422, "invalid")
    assert_error(await c.get("/api/v1/projects", headers=auth, params={"limit": 0}), 422, "invalid")
    # NUL never reaches a service (PostgreSQL cannot store it): refused in bodies and in URLs.
    err = assert_error(await c.post("/api/v1/projects", headers=auth, json={"id": "ok-id", "name": "a\u0000b"}), 422, "invalid")
    assert "NUL" in json.dumps(err)
    assert_error(await c.get("/api/v1/projects", headers=auth, params={"q": "a\x00b"}), 422, "invalid")
    assert_error(await c.post("/api/v1/auth/login", json={"username": "x\u0000", "password": "y"}), 422, "invalid")
    assert_error(await c.get("/api/v1/nothing-here", headers=auth), 404, "not_found")
    assert_error(await c.put("/api/v1/health"), 405, "invalid")
    # No projects service is running in this test: the gateway says so instead of hanging or 500.
    err = assert_error(await c.get("/api/v1/projects", headers=auth), 503, "unavailable")
    assert err["details"]["service"] == "projects"  # type: ignore[index]
    health = (await c.get("/api/v1/health")).json()
    assert health["status"] == "degraded" and health["services"]["projects"]["status"] == "unavailable"


async def test_passwords_and_connection_secrets_never_in_replies_or_logs(
    gateway: Gateway, projects_service: Any, all_logs: pytest.LogCaptureFixture
) -> None:
    c = gateway.client
    secret_pw = "Sup3r-Secret-Passw0rd"
    db_secret = "db-pa55-word-XYZ"
    replies = []
    replies.append(await c.post("/api/v1/auth/register", json={"username": "frank", "password": secret_pw}))
    replies.append(await c.post("/api/v1/auth/login", json={"username": "frank", "password": secret_pw + "x"}))
    replies.append(await c.post("/api/v1/auth/login", json={"username": "nobody", "password": secret_pw}))
    replies.append(await c.post("/api/v1/auth/register", json={"username": "frank", "password": "short"}))
    login = await c.post("/api/v1/auth/login", json={"username": "frank", "password": secret_pw})
    replies.append(login)
    auth = {"Authorization": f"Bearer {login.json()['access_token']}"}
    replies.append(await c.post("/api/v1/projects", headers=auth, json={"id": "p1", "name": "P"}))
    replies.append(await c.post("/api/v1/projects/p1/connections", headers=auth,
                                json={"name": "src", "role": "source", "url": f"postgresql://u:{db_secret}@h/db"}))
    replies.append(await c.get("/api/v1/projects/p1/connections", headers=auth))
    replies.append(await c.post("/api/v1/projects/p1/connections", headers=auth,
                                json={"name": "bad name!", "url": f"postgresql://u:{db_secret}@h/db"}))
    assert replies[-1].status_code == 422
    for r in replies:
        assert secret_pw not in r.text and db_secret not in r.text, r.text
        assert "password_hash" not in r.text and "$2b$" not in r.text
    logged = "\n".join(rec.getMessage() + str(rec.args) for rec in all_logs.records)
    assert all_logs.records, "the gateway logs auth events"
    assert secret_pw not in logged and db_secret not in logged and "$2b$" not in logged


async def test_security_headers_cors_and_login_rate_limit(database_url: str, nats_url: str) -> None:
    await ensure_events_stream(nats_url)
    settings = gateway_settings(database_url, nats_url, login_rate_per_minute=3, cors_origins=["https://ui.example"])
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=("10.9.9.9", 1))
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as c:
            await app.state.users.register("gina", PASSWORD, "user")
            r = await c.get("/api/v1/health")
            assert r.headers["x-content-type-options"] == "nosniff"
            assert r.headers["x-frame-options"] == "DENY"
            assert "default-src 'none'" in r.headers["content-security-policy"]
            pre = await c.options("/api/v1/projects", headers={"Origin": "https://ui.example",
                                                                "Access-Control-Request-Method": "GET"})
            assert pre.headers["access-control-allow-origin"] == "https://ui.example"
            evil = await c.options("/api/v1/projects", headers={"Origin": "https://evil.example",
                                                                 "Access-Control-Request-Method": "GET"})
            assert "access-control-allow-origin" not in evil.headers
            for _ in range(3):
                assert (await c.post("/api/v1/auth/login", json={"username": "gina", "password": "wrong-one"})).status_code == 401
            limited = await c.post("/api/v1/auth/login", json={"username": "gina", "password": PASSWORD})
            assert_error(limited, 429, "rate_limited")
            assert int(limited.headers["retry-after"]) > 0
            # Another username from the same address is counted separately.
            assert (await c.post("/api/v1/auth/login", json={"username": "other", "password": "x"})).status_code == 401
