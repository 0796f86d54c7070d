"""Login throttling through the real gateway, PostgreSQL and NATS: an attacker slows only
themselves, every refusal looks the same, backoff grows, admins and time unlock."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from ombudsman.gateway.app import create_app
from tests.gateway.conftest import PASSWORD, ensure_events_stream, gateway_settings

LOGIN = "/api/v1/auth/login"
INVALID = {"error": {"code": "unauthorized", "message": "invalid username or password", "details": {}}}


@dataclass
class Throttled:
    app: Any
    client_from: Callable[[str], httpx.AsyncClient]
    now: list[datetime]

    def advance(self, **delta: float) -> None:
        self.now[0] += timedelta(**delta)

    async def login(self, ip: str, username: str, password: str) -> httpx.Response:
        return await self.client_from(ip).post(LOGIN, json={"username": username, "password": password})

    async def hammer(self, ip: str, username: str, times: int) -> None:
        """`times` wrong passwords, each after the longest backoff, so each one counts."""
        for _ in range(times):
            r = await self.login(ip, username, "guess-guess")
            assert (r.status_code, r.json()) == (401, INVALID)
            self.advance(seconds=61)


@pytest.fixture
async def throttled(database_url: str, nats_url: str) -> AsyncIterator[Throttled]:
    await ensure_events_stream(nats_url)
    settings = gateway_settings(database_url, nats_url, login_rate_per_minute=1000, lockout_threshold=5,
                                lockout_minutes=15, throttle_free_attempts=3, throttle_base_seconds=2.0,
                                throttle_max_seconds=60.0, ip_free_attempts=40, throttle_window_minutes=60)
    app = create_app(settings)
    now = [datetime(2026, 3, 1, 9, 0, tzinfo=UTC)]
    async with app.router.lifespan_context(app), contextlib.AsyncExitStack() as stack:
        app.state.users.clock = lambda: now[0]
        clients: dict[str, httpx.AsyncClient] = {}

        def client_from(ip: str) -> httpx.AsyncClient:
            if ip not in clients:
                transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=(ip, 4000))
                clients[ip] = httpx.AsyncClient(transport=transport, base_url="http://gw")
                stack.push_async_callback(clients[ip].aclose)
            return clients[ip]

        yield Throttled(app, client_from, now)


async def _throttle_rows(app: Any) -> dict[str, Any]:
    async with app.state.users.engine.connect() as conn:
        rows = (await conn.execute(text("SELECT key, failures, blocked_until FROM gateway.login_throttle"))).all()
    return {r.key: r for r in rows}


async def test_attacker_on_one_address_does_not_stop_the_owner_on_another(throttled: Throttled) -> None:
    await throttled.app.state.users.register("olivia", PASSWORD, "user")
    await throttled.hammer("198.51.100.7", "olivia", 10)
    # The attacker's address is refused even with the right password ...
    r = await throttled.login("198.51.100.7", "olivia", PASSWORD)
    assert (r.status_code, r.json()) == (401, INVALID)
    # ... the owner, from their own address, logs in.
    r = await throttled.login("203.0.113.20", "olivia", PASSWORD)
    assert r.status_code == 200, r.text
    assert r.json()["user"]["username"] == "olivia"


async def test_unknown_wrong_and_locked_answers_are_byte_identical(throttled: Throttled) -> None:
    await throttled.app.state.users.register("lena", PASSWORD, "user")
    await throttled.app.state.users.register("wendy", PASSWORD, "user")
    attacker = "198.51.100.8"
    await throttled.hammer(attacker, "lena", 6)  # lena's lockout flag goes up; this address is throttled on her
    answers = [
        await throttled.login(attacker, "lena", PASSWORD),  # flagged + throttled, right password
        await throttled.login(attacker, "nobody-here", "whatever1"),  # unknown user
        await throttled.login(attacker, "wendy", "wrong-pass"),  # known user, wrong password
    ]
    await throttled.hammer(attacker, "ghost", 6)  # an unknown user attacked as hard answers the same
    answers.append(await throttled.login(attacker, "ghost", PASSWORD))
    first = answers[0]
    assert first.status_code == 401 and first.json() == INVALID
    for r in answers[1:]:
        assert r.status_code == first.status_code
        assert r.content == first.content
        assert r.headers.get("www-authenticate") == first.headers.get("www-authenticate")
        assert "retry-after" not in r.headers


async def test_backoff_doubles_and_waiting_it_out_works(throttled: Throttled) -> None:
    throttled.app.state.users.settings.lockout_threshold = 100  # this test looks at the backoff alone
    await throttled.app.state.users.register("bruno", PASSWORD, "user")
    ip, key = "198.51.100.9", "acct:bruno|198.51.100.9"
    waits: list[float] = []
    for _ in range(3):  # the free attempts: no wait
        await throttled.login(ip, "bruno", "nope-nope")
        assert (await _throttle_rows(throttled.app))[key].blocked_until is None
    for _ in range(4):
        await throttled.login(ip, "bruno", "nope-nope")
        row = (await _throttle_rows(throttled.app))[key]
        waits.append((row.blocked_until - throttled.now[0]).total_seconds())
        # While waiting, the right password is refused like any failure ...
        r = await throttled.login(ip, "bruno", PASSWORD)
        assert (r.status_code, r.json()) == (401, INVALID)
        throttled.advance(seconds=waits[-1] + 0.5)
    assert waits == [2.0, 4.0, 8.0, 16.0]
    # ... and after the wait the right password works again from the same address.
    r = await throttled.login(ip, "bruno", PASSWORD)
    assert r.status_code == 200, r.text
    assert key not in await _throttle_rows(throttled.app)


async def test_time_ends_the_lockout_flag(throttled: Throttled) -> None:
    await throttled.app.state.users.register("tess", PASSWORD, "user")
    ip = "198.51.100.10"
    await throttled.hammer(ip, "tess", 5)  # the flag is up for 15 minutes from the fifth failure
    throttled.advance(minutes=13)
    assert (await throttled.login(ip, "tess", PASSWORD)).status_code == 401  # flag still up: this address failed
    throttled.advance(minutes=2)
    r = await throttled.login(ip, "tess", PASSWORD)
    assert r.status_code == 200, r.text
    assert r.json()["user"]["locked_until"] is None


async def test_admin_unlock_is_recorded_and_clears_throttles(throttled: Throttled) -> None:
    users = throttled.app.state.users
    target = await users.register("uma", PASSWORD, "user")
    await users.register("root", PASSWORD, "admin")
    await users.register("joe", PASSWORD, "user")
    admin_ip, ip = "192.0.2.1", "198.51.100.11"
    admin_tokens = (await throttled.login(admin_ip, "root", PASSWORD)).json()
    joe_tokens = (await throttled.login(admin_ip, "joe", PASSWORD)).json()
    await throttled.hammer(ip, "uma", 5)
    listed = await throttled.client_from(admin_ip).get(
        f"/api/v1/users/{target['id']}", headers={"Authorization": f"Bearer {admin_tokens['access_token']}"})
    assert listed.json()["locked_until"] is not None  # the flag is visible to admins

    url = f"/api/v1/users/{target['id']}/unlock"
    denied = await throttled.client_from(admin_ip).post(url, headers={"Authorization": f"Bearer {joe_tokens['access_token']}"})
    assert denied.status_code == 403
    r = await throttled.client_from(admin_ip).post(url, headers={"Authorization": f"Bearer {admin_tokens['access_token']}"})
    assert r.status_code == 200, r.text
    assert r.json()["locked_until"] is None
    assert not any(k.startswith("acct:uma|") for k in await _throttle_rows(throttled.app))
    # The same address may log in at once.
    assert (await throttled.login(ip, "uma", PASSWORD)).status_code == 200
    async with users.engine.connect() as conn:
        row = (await conn.execute(text(
            "SELECT metadata FROM gateway.events WHERE stream_id = :id AND event_type = 'UserUnlocked'"),
            {"id": target["id"]})).one()
    assert row.metadata["actor"]["name"] == "root"
    missing = await throttled.client_from(admin_ip).post(
        "/api/v1/users/nobody/unlock", headers={"Authorization": f"Bearer {admin_tokens['access_token']}"})
    assert missing.status_code == 404


async def test_a_spraying_address_gets_429_whatever_the_usernames(database_url: str, nats_url: str) -> None:
    await ensure_events_stream(nats_url)
    app = create_app(gateway_settings(database_url, nats_url, login_rate_per_minute=1000, ip_free_attempts=3,
                                      throttle_base_seconds=5.0))
    async with app.router.lifespan_context(app):
        await app.state.users.register("sam", PASSWORD, "user")
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=("198.51.100.12", 1))
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as c:
            for name in ("sam", "nobody1", "nobody2", "nobody3"):  # 3 free, the 4th starts the backoff
                assert (await c.post(LOGIN, json={"username": name, "password": "wrong-pass"})).status_code == 401
            for name in ("sam", "nobody4"):  # the answer is about the address, not the account
                r = await c.post(LOGIN, json={"username": name, "password": "wrong-pass"})
                assert r.status_code == 429 and r.json()["error"]["code"] == "rate_limited"
                assert int(r.headers["retry-after"]) > 0
        other = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=("203.0.113.30", 1))
        async with httpx.AsyncClient(transport=other, base_url="http://gw") as c:
            assert (await c.post(LOGIN, json={"username": "sam", "password": PASSWORD})).status_code == 200
