"""Single sign-on (OpenID Connect) through the real gateway against a real provider served in the test
(tests/gateway/oidc_provider.py: discovery, JWKS, code flow with PKCE, device flow, RS256 ID tokens).

The browser is played by hand with httpx: every redirect is followed explicitly, the state cookie is
carried as a browser would. The CLI's device flow runs the real `ombudsman` entry point.
Unknown groups: the person gets the least role, `viewer` (OMB_OIDC_DEFAULT_ROLE; `none` refuses them).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import text

from ombudsman.gateway.app import create_app
from tests.gateway.conftest import PASSWORD, ensure_events_stream, gateway_settings, serving
from tests.gateway.oidc_provider import OidcProvider
from tests.support import eventually

WEB_CLIENT, WEB_SECRET, CLI_CLIENT = "ombudsman-web", "web-client-secret-do-not-log", "ombudsman-cli"
ROLE_MAP = "omb-admins=admin,data-eng=user"
CLI = [sys.executable, "-c", "from ombudsman.client.cli import main; main()"]


@pytest.fixture
def provider() -> Iterator[OidcProvider]:
    served = OidcProvider({WEB_CLIENT: WEB_SECRET, CLI_CLIENT: None, "someone-else": None}).start()
    yield served
    served.stop()


def oidc_settings(provider: OidcProvider, **overrides: Any) -> dict[str, Any]:
    return {"oidc_issuer": provider.issuer, "oidc_client_id": WEB_CLIENT, "oidc_client_secret": WEB_SECRET,
            "oidc_cli_client_id": CLI_CLIENT, "oidc_role_map": ROLE_MAP, "oidc_post_login_redirect": "/studio/",
            **overrides}


class SsoGateway:
    """The real gateway app (lifespan on the test's NATS and PostgreSQL) behind an httpx client."""

    def __init__(self, app: Any, client: httpx.AsyncClient):
        self.app, self.client = app, client

    async def start(self) -> tuple[str, str]:
        """GET /auth/oidc/start: the provider URL it redirects to, and the state cookie it set."""
        r = await self.client.get("/api/v1/auth/oidc/start")
        assert r.status_code == 302, r.text
        cookie = r.cookies["omb_oidc_state"]
        self.client.cookies.clear()  # each test says which browser (cookie) the callback comes from
        return r.headers["location"], cookie

    async def callback(self, query: str, cookie: str | None) -> httpx.Response:
        headers = {"Cookie": f"omb_oidc_state={cookie}"} if cookie else {}
        return await self.client.get(f"/api/v1/auth/oidc/callback?{query}", headers=headers)

    async def at_provider(self) -> tuple[str, str]:
        """A browser sign-in up to the provider's redirect back: the callback's query and the state cookie."""
        authorize, cookie = await self.start()
        async with httpx.AsyncClient() as browser:
            at_provider = await browser.get(authorize)
        assert at_provider.status_code == 302, at_provider.text
        back = urlsplit(at_provider.headers["location"])
        assert back.path == "/api/v1/auth/oidc/callback"
        return back.query, cookie

    async def sign_in(self) -> httpx.Response:
        """A whole browser sign-in up to the gateway's answer to the provider's redirect."""
        return await self.callback(*await self.at_provider())

    async def tokens(self, callback: httpx.Response) -> dict[str, Any]:
        """The tokens for the one-time code the callback sent the browser on with."""
        assert callback.status_code == 302, callback.text
        landing = urlsplit(callback.headers["location"])
        assert landing.path == "/studio/"
        code = parse_qs(landing.query)["sso_code"][0]
        r = await self.client.post("/api/v1/auth/oidc/exchange", json={"code": code})
        assert r.status_code == 200, r.text
        return dict(r.json())

    async def events_of(self, user_id: str) -> list[tuple[str, dict[str, Any]]]:
        async with self.app.state.users.engine.connect() as conn:
            rows = (await conn.execute(text("SELECT event_type, data FROM gateway.events WHERE stream_id = :s "
                                            "ORDER BY version"), {"s": user_id})).all()
        return [(r.event_type, dict(r.data)) for r in rows]


@pytest.fixture
async def sso(database_url: str, nats_url: str, provider: OidcProvider, request: pytest.FixtureRequest) -> AsyncIterator[SsoGateway]:
    await ensure_events_stream(nats_url)
    overrides = getattr(request, "param", {})
    app = create_app(gateway_settings(database_url, nats_url, **oidc_settings(provider, **overrides)))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=("10.9.8.7", 5555))
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            yield SsoGateway(app, client)


async def test_code_flow_signs_in_maps_groups_and_records_the_login(
        sso: SsoGateway, provider: OidcProvider, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    providers = (await sso.client.get("/api/v1/auth/providers")).json()
    assert providers["oidc"]["issuer"] == provider.issuer and providers["oidc"]["client_id"] == CLI_CLIENT

    authorize, cookie = await sso.start()
    query = parse_qs(urlsplit(authorize).query)
    assert authorize.startswith(f"{provider.issuer}/authorize?")
    assert query["code_challenge_method"] == ["S256"] and query["client_id"] == [WEB_CLIENT]
    assert query["state"] == [cookie] and query["nonce"][0]

    tokens = await sso.tokens(await sso.sign_in())
    assert tokens["user"]["username"] == "alice" and tokens["user"]["role"] == "admin"
    me = await sso.client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert me.status_code == 200 and me.json()["id"] == tokens["user"]["id"]
    # the gateway authenticated to the token endpoint with its secret and sent the PKCE verifier
    exchange = provider.token_requests[-1]
    assert exchange["grant_type"] == "authorization_code" and len(exchange["code_verifier"]) >= 43
    # refresh works as for a password login
    refreshed = await sso.client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 200, refreshed.text

    # the groups changed at the provider: the next sign-in changes the role, same account
    provider.user = {**provider.user, "groups": ["data-eng"]}
    again = await sso.tokens(await sso.sign_in())
    assert again["user"]["id"] == tokens["user"]["id"] and again["user"]["role"] == "admin"  # the last admin stays
    await sso.app.state.users.register("root", PASSWORD, "admin")
    third = await sso.tokens(await sso.sign_in())
    assert third["user"]["id"] == tokens["user"]["id"] and third["user"]["role"] == "user"

    events = await sso.events_of(tokens["user"]["id"])
    assert [e for e, _ in events] == ["UserRegistered", "UserLoggedIn", "UserLoggedIn", "UserRoleChanged", "UserLoggedIn"]
    assert events[0][1]["method"] == "sso" and events[1][1]["method"] == "sso"
    # no token, code or secret in an event or a log line
    secrets_seen = [tokens["access_token"], tokens["refresh_token"], WEB_SECRET, exchange["code_verifier"],
                    exchange["code"]]
    for _, data in events:
        assert not any(s in str(data) for s in secrets_seen)
    # the gateway's own log lines (the test's httpx clients log the URLs they, as a browser, open)
    gateway_log = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("ombudsman"))
    assert "login (sso): alice" in gateway_log
    assert not any(s in gateway_log for s in secrets_seen)
    assert "eyJ" not in gateway_log  # no JWT at all (the provider's ID tokens included)


async def test_the_one_time_code_works_once(sso: SsoGateway) -> None:
    callback = await sso.sign_in()
    await sso.tokens(callback)
    code = parse_qs(urlsplit(callback.headers["location"]).query)["sso_code"][0]
    replay = await sso.client.post("/api/v1/auth/oidc/exchange", json={"code": code})
    assert replay.status_code == 401 and "sign in again" in replay.json()["error"]["message"]


async def test_a_provider_name_never_takes_over_a_local_account(sso: SsoGateway, provider: OidcProvider) -> None:
    local = await sso.app.state.users.register("alice", PASSWORD, "viewer")
    tokens = await sso.tokens(await sso.sign_in())
    assert tokens["user"]["id"] != local["id"]
    assert tokens["user"]["username"].startswith("alice-")
    # and an SSO account has no password to log in with
    r = await sso.client.post("/api/v1/auth/login", json={"username": tokens["user"]["username"], "password": PASSWORD})
    assert r.status_code == 401


async def test_two_first_sign_ins_racing_on_one_username_both_succeed(sso: SsoGateway, provider: OidcProvider) -> None:
    """Two people both called `alice` at the provider sign in here for the first time at once. The users
    table is held (SHARE: reads pass, writes wait) until both callbacks wait to write their account, so
    each looked for `alice` before either wrote it. The one that writes second gets `alice-` and 6 hex
    digits of sha256(issuer|subject), not an error: both sign-ins finish, as two accounts."""
    legs = []
    for sub in ("sub-alice-hr", "sub-alice-ops"):
        provider.user = {"sub": sub, "preferred_username": "alice", "groups": ["data-eng"]}
        legs.append(await sso.at_provider())
    users_waiting = text("SELECT count(*) FROM pg_locks WHERE relation = 'gateway.users'::regclass AND NOT granted")
    async with sso.app.state.users.engine.connect() as holder:
        await holder.execute(text("LOCK TABLE gateway.users IN SHARE MODE"))
        callbacks = [asyncio.create_task(sso.callback(query, cookie)) for query, cookie in legs]
        async with sso.app.state.users.engine.connect() as watcher:
            await eventually(lambda: _scalar(watcher, users_waiting, 2), what="both sign-ins waiting to write")
        await holder.rollback()
    answers = await asyncio.gather(*callbacks)
    signed_in = [await sso.tokens(answer) for answer in answers]
    users = {t["user"]["username"]: t["user"]["id"] for t in signed_in}
    assert len(set(users.values())) == 2
    second = next(name for name in users if name != "alice")
    suffixed = {f"alice-{hashlib.sha256(f'{provider.issuer}|{sub}'.encode()).hexdigest()[:6]}"
                for sub in ("sub-alice-hr", "sub-alice-ops")}
    assert "alice" in users and second in suffixed
    for user_id in users.values():
        assert [e for e, _ in await sso.events_of(user_id)] == ["UserRegistered", "UserLoggedIn"]
    # each sign-in again finds its own account, under the name it was given
    for sub in ("sub-alice-hr", "sub-alice-ops"):
        provider.user = {"sub": sub, "preferred_username": "alice", "groups": ["data-eng"]}
        again = await sso.tokens(await sso.sign_in())
        assert users[again["user"]["username"]] == again["user"]["id"]


async def _scalar(conn: Any, query: Any, wanted: int) -> bool:
    value = (await conn.execute(query)).scalar_one()
    await conn.rollback()
    return bool(value == wanted)


@pytest.mark.parametrize(("tamper", "message"), [
    ({"nonce": "not-the-nonce-of-this-sign-in"}, "nonce"),
    ({"aud": "someone-else"}, "another client"),
    ({"exp": int(time.time()) - 3600, "iat": int(time.time()) - 7200}, "expired"),
    ({"iss": "https://evil.example"}, "another provider"),
])
async def test_an_id_token_that_does_not_verify_is_refused(
        sso: SsoGateway, provider: OidcProvider, tamper: dict[str, Any], message: str) -> None:
    provider.tamper = tamper
    r = await sso.sign_in()
    assert r.status_code == 401, r.text
    assert message in r.json()["error"]["message"]
    async with sso.app.state.users.engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM gateway.users"))).scalar_one() == 0


async def test_a_token_signed_by_another_key_is_refused(sso: SsoGateway, provider: OidcProvider) -> None:
    provider.sign_with_other_key = True  # same kid, a key the JWKS does not hold
    r = await sso.sign_in()
    assert r.status_code == 401 and r.json()["error"]["message"] == "invalid ID token"


async def test_a_code_redeemed_with_another_sign_ins_verifier_is_refused(sso: SsoGateway) -> None:
    """A stolen authorization code injected into someone else's sign-in: the gateway sends that sign-in's
    PKCE verifier, which does not match the code's challenge, and the provider refuses."""
    victim_authorize, _ = await sso.start()
    _, attacker_cookie = await sso.start()
    async with httpx.AsyncClient() as browser:
        at_provider = await browser.get(victim_authorize)
    stolen_code = parse_qs(urlsplit(at_provider.headers["location"]).query)["code"][0]
    r = await sso.callback(f"code={stolen_code}&state={attacker_cookie}", attacker_cookie)
    assert r.status_code == 401 and r.json()["error"]["details"]["provider_error"] == "invalid_grant"


async def test_state_must_belong_to_this_browser_and_be_used_once(sso: SsoGateway) -> None:
    authorize, cookie = await sso.start()
    async with httpx.AsyncClient() as browser:
        back = urlsplit((await browser.get(authorize)).headers["location"]).query
    assert (await sso.callback(back, None)).status_code == 401  # no cookie: not this browser's sign-in
    assert (await sso.callback(back, "another-state")).status_code == 401
    assert (await sso.callback(back, cookie)).status_code == 302
    assert (await sso.callback(back, cookie)).status_code == 401  # the state is used up


async def test_unfinished_sign_ins_are_bounded(sso: SsoGateway, monkeypatch: pytest.MonkeyPatch) -> None:
    """Anyone may start a sign-in, so the pending ones are capped (503 past the cap, until they expire)."""
    from ombudsman.gateway import user_sso

    monkeypatch.setattr(user_sso, "MAX_PENDING", 2)
    await sso.start()
    await sso.start()
    r = await sso.client.get("/api/v1/auth/oidc/start")
    assert r.status_code == 503 and "too many sign-ins" in r.json()["error"]["message"]


async def test_unknown_groups_get_the_least_role(sso: SsoGateway, provider: OidcProvider) -> None:
    provider.user = {"sub": "sub-bob", "preferred_username": "bob", "groups": ["marketing"]}
    assert (await sso.tokens(await sso.sign_in()))["user"]["role"] == "viewer"


async def test_without_a_groups_claim_the_role_is_left_to_the_admins(sso: SsoGateway, provider: OidcProvider) -> None:
    """Providers that release no groups (Google): a new account gets the default role, and a role an
    admin gives it is kept at the next sign-in."""
    provider.user = {"sub": "sub-gina", "preferred_username": "gina"}
    gina = (await sso.tokens(await sso.sign_in()))["user"]
    assert gina["role"] == "viewer"
    await sso.app.state.users.register("root", PASSWORD, "admin")
    admin = (await sso.client.post("/api/v1/auth/login", json={"username": "root", "password": PASSWORD})).json()
    raised = await sso.client.patch(f"/api/v1/users/{gina['id']}", json={"role": "user"},
                                    headers={"Authorization": f"Bearer {admin['access_token']}"})
    assert raised.status_code == 200, raised.text
    assert (await sso.tokens(await sso.sign_in()))["user"]["role"] == "user"


@pytest.mark.parametrize("sso", [{"oidc_default_role": "none"}], indirect=True)
async def test_unknown_groups_are_refused_when_the_default_role_is_none(sso: SsoGateway, provider: OidcProvider) -> None:
    provider.user = {"sub": "sub-carl", "preferred_username": "carl", "groups": ["marketing"]}
    r = await sso.sign_in()
    assert r.status_code == 403 and "groups" in r.json()["error"]["message"]


async def test_sso_routes_answer_404_when_not_configured(gateway: Any) -> None:
    assert (await gateway.client.get("/api/v1/auth/providers")).json() == {"password": True, "oidc": None}
    r = await gateway.client.get("/api/v1/auth/oidc/start")
    assert r.status_code == 404 and "OMB_OIDC_ISSUER" in r.json()["error"]["message"]


async def test_id_token_exchange_checks_the_token(sso: SsoGateway, provider: OidcProvider) -> None:
    provider.tamper = {"aud": "someone-else"}
    r = await sso.client.post("/api/v1/auth/oidc/id-token", json={"id_token": provider.id_token(CLI_CLIENT, None)})
    assert r.status_code == 401
    provider.tamper = {}
    r = await sso.client.post("/api/v1/auth/oidc/id-token", json={"id_token": provider.id_token(CLI_CLIENT, None)})
    assert r.status_code == 200 and r.json()["user"]["role"] == "admin"
    bad = await sso.client.post("/api/v1/auth/oidc/id-token", json={"id_token": "not a token"})
    assert bad.status_code == 422 and bad.json()["error"]["details"]["fields"][0]["field"] == "id_token"


async def test_cli_login_sso_runs_the_device_flow(database_url: str, nats_url: str, provider: OidcProvider,
                                                  tmp_path: Path) -> None:
    await ensure_events_stream(nats_url)
    provider.user = {"sub": "sub-dana", "preferred_username": "dana", "groups": ["data-eng"]}
    app = create_app(gateway_settings(database_url, nats_url, **oidc_settings(provider)))
    async with serving(app) as port:
        env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "xdg"), "OMB_SERVER": f"http://127.0.0.1:{port}",
               "COLUMNS": "200"}

        async def ombudsman(*args: str) -> tuple[int, str, str]:
            proc = await asyncio.create_subprocess_exec(*CLI, *args, env=env, stdout=asyncio.subprocess.PIPE,
                                                        stderr=asyncio.subprocess.PIPE)
            out, err = await asyncio.wait_for(proc.communicate(), 60)
            return proc.returncode or 0, out.decode(), err.decode()

        code, out, err = await ombudsman("login", "--sso")
        assert code == 0, out + err
        assert f"{provider.issuer}/device" in out and "enter the code" in out
        assert "as dana (user)" in out
        # the provider was polled until it approved (authorization_pending first)
        device_polls = [r for r in provider.token_requests if r["grant_type"].endswith("device_code")]
        assert len(device_polls) == 2 and device_polls[0]["client_id"] == CLI_CLIENT
        code, out, err = await ombudsman("whoami")
        assert code == 0 and "dana (user)" in out, out + err
        code, out, err = await ombudsman("login", "--sso", "-u", "dana")
        assert code == 2 and "no username or password" in err


async def test_cli_login_sso_says_when_sso_is_off(database_url: str, nats_url: str, tmp_path: Path) -> None:
    await ensure_events_stream(nats_url)
    async with serving(create_app(gateway_settings(database_url, nats_url))) as port:
        env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "xdg"), "OMB_SERVER": f"http://127.0.0.1:{port}"}
        proc = await asyncio.create_subprocess_exec(*CLI, "login", "--sso", env=env, stdout=asyncio.subprocess.PIPE,
                                                    stderr=asyncio.subprocess.PIPE)
        _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 2 and "single sign-on is not configured" in err.decode()
