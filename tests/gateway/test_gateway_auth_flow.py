"""Users and tokens end to end through the real app, PostgreSQL and NATS."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import nats
from sqlalchemy import text

from ombudsman.contracts.subjects import EVENTS_STREAM
from tests.gateway.conftest import PASSWORD, Gateway
from tests.support import eventually


async def test_register_login_refresh_rotation_and_logout(gateway: Gateway) -> None:
    c = gateway.client
    user = await gateway.register("alice")
    assert user["username"] == "alice" and user["role"] == "user"
    assert "password" not in json.dumps(user)

    tokens = await gateway.login("alice")
    auth = {"Authorization": f"Bearer {tokens['access_token']}"}
    me = await c.get("/api/v1/auth/me", headers=auth)
    assert me.status_code == 200 and me.json()["id"] == user["id"]

    # Rotation: the refresh token gives a new pair once; the new one works.
    r1 = await c.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert r1.status_code == 200, r1.text
    rotated = r1.json()
    assert rotated["refresh_token"] != tokens["refresh_token"]
    # Reusing the rotated-away token is refused and revokes the whole family ...
    reuse = await c.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert reuse.status_code == 401 and reuse.json()["error"]["code"] == "unauthorized"
    # ... so the newest token of that family is dead too.
    after = await c.post("/api/v1/auth/refresh", json={"refresh_token": rotated["refresh_token"]})
    assert after.status_code == 401

    # A fresh login; logout revokes both its access token and its refresh token.
    tokens = await gateway.login("alice")
    auth = {"Authorization": f"Bearer {tokens['access_token']}"}
    out = await c.post("/api/v1/auth/logout", headers=auth, json={"refresh_token": tokens["refresh_token"]})
    assert out.status_code == 204
    assert (await c.get("/api/v1/auth/me", headers=auth)).status_code == 401
    assert (await c.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})).status_code == 401


async def test_auth_events_are_in_the_log_and_published(gateway: Gateway) -> None:
    await gateway.register("bob")
    bad = await gateway.client.post("/api/v1/auth/login", json={"username": "bob", "password": "wrong-password"})
    assert bad.status_code == 401
    tokens = await gateway.login("bob")
    auth = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert (await gateway.client.post("/api/v1/auth/logout", headers=auth)).status_code == 204

    nc = await nats.connect(gateway.settings.nats_url)
    try:
        js = nc.jetstream()
        seen: list[str] = []

        async def four_events() -> bool:
            return (await js.stream_info(EVENTS_STREAM)).state.messages >= 4

        await eventually(four_events, timeout=10, what="four user events in the stream")
        sub = await js.subscribe("omb.evt.user.>", ordered_consumer=True)
        for _ in range(4):
            msg = await sub.next_msg(timeout=5)
            seen.append(json.loads(msg.data)["event_type"])
        assert seen == ["UserRegistered", "LoginFailed", "UserLoggedIn", "UserLoggedOut"]
    finally:
        await nc.close()


async def test_lockout_after_five_failures(gateway: Gateway) -> None:
    await gateway.register("carol")
    c = gateway.client
    now = [datetime.now(UTC)]
    gateway.app.state.users.clock = lambda: now[0]
    for _ in range(5):
        r = await c.post("/api/v1/auth/login", json={"username": "carol", "password": "not-the-password"})
        assert r.status_code == 401
        now[0] += timedelta(minutes=2)  # past this address's backoff, so each failure counts
    # From the address that failed, even the right password is refused while the lockout flag is
    # up, with the answer every failed login gets (it does not say the account exists or is locked).
    r = await c.post("/api/v1/auth/login", json={"username": "carol", "password": PASSWORD})
    assert r.status_code == 401
    assert r.json() == {"error": {"code": "unauthorized", "message": "invalid username or password", "details": {}}}
    async with gateway.app.state.users.engine.connect() as conn:
        from sqlalchemy import text

        types = (await conn.execute(text(
            "SELECT event_type FROM gateway.events e JOIN gateway.users u ON u.id = e.stream_id "
            "WHERE u.username = 'carol' ORDER BY e.version"))).scalars().all()
    assert types == ["UserRegistered"] + ["LoginFailed"] * 5 + ["UserLockedOut"]


async def test_users_projection_rebuilds_from_events_alone(gateway: Gateway) -> None:
    from sqlalchemy import text

    from ombudsman.eventstore.projections import rebuild
    from ombudsman.gateway.projections import SCHEMA, UsersProjection

    users = gateway.app.state.users
    await gateway.register("hank")
    await gateway.register("ivy")
    _, admin_auth = await gateway.user("boss", role="admin")
    hank = (await gateway.login("hank"))["user"]
    await gateway.client.post("/api/v1/auth/login", json={"username": "ivy", "password": "bad-password"})
    r = await gateway.client.patch(f"/api/v1/users/{hank['id']}", headers=admin_auth, json={"role": "viewer"})
    assert r.status_code == 200 and r.json()["role"] == "viewer"
    viewers = (await gateway.client.get("/api/v1/users", headers=admin_auth, params={"role": "viewer"})).json()
    assert [u["username"] for u in viewers["items"]] == ["hank"] and viewers["total"] == 1
    found = (await gateway.client.get("/api/v1/users", headers=admin_auth, params={"q": "i_y"})).json()
    assert found["total"] == 0  # '_' is matched literally, not as a wildcard
    query = text(f"SELECT * FROM {SCHEMA}.users ORDER BY id")
    async with users.engine.connect() as conn:
        before = [dict(row) for row in (await conn.execute(query)).mappings()]
    applied = await rebuild(users.engine, SCHEMA, UsersProjection())
    async with users.engine.connect() as conn:
        after = [dict(row) for row in (await conn.execute(query)).mappings()]
    assert applied >= 7 and after == before
    assert {u["username"]: u["role"] for u in after} == {"hank": "viewer", "ivy": "user", "boss": "admin"}
    assert next(u for u in after if u["username"] == "ivy")["failed_attempts"] == 1


async def test_a_user_changes_their_own_password(gateway: Gateway) -> None:
    c = gateway.client
    await gateway.register("carol")
    tokens = await gateway.login("carol")
    auth = {"Authorization": f"Bearer {tokens['access_token']}"}
    wrong = await c.post("/api/v1/auth/password", headers=auth,
                         json={"current_password": "not-my-password", "new_password": "a-new-secret-9"})
    assert wrong.status_code == 422 and wrong.json()["error"]["details"]["field"] == "current_password"
    short = await c.post("/api/v1/auth/password", headers=auth,
                         json={"current_password": PASSWORD, "new_password": "short"})
    assert short.status_code == 422 and "new_password" in short.text
    assert (await c.post("/api/v1/auth/password", json={"current_password": PASSWORD,
                                                        "new_password": "a-new-secret-9"})).status_code == 401
    changed = await c.post("/api/v1/auth/password", headers=auth,
                           json={"current_password": PASSWORD, "new_password": "a-new-secret-9"})
    assert changed.status_code == 204, changed.text
    old = await c.post("/api/v1/auth/login", json={"username": "carol", "password": PASSWORD})
    assert old.status_code == 401
    new = await c.post("/api/v1/auth/login", json={"username": "carol", "password": "a-new-secret-9"})
    assert new.status_code == 200
    # the refresh tokens issued before the change are revoked
    assert (await c.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})).status_code == 401
    async with gateway.app.state.users.engine.connect() as conn:
        logged = (await conn.execute(text(
            "SELECT event_type, data::text FROM gateway.events WHERE event_type = 'UserPasswordChanged'"))).all()
    assert len(logged) == 1 and "a-new-secret-9" not in logged[0][1] and PASSWORD not in logged[0][1]
