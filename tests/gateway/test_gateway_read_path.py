"""The read path's caches stay exactly as strict as asking every time (issue 25).

Token checks and project memberships are answered from memory; a change invalidates them at once
on the gateway that made it and, through its event, on every other gateway replica. Two real
gateway apps share one PostgreSQL and one NATS here: the second never hears of the change except
through the event, and its cache would otherwise keep the stale answer for a minute
(livecache.LIVE_SECONDS), so a prompt refusal can only come from the event.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from ombudsman.contracts.envelope import Actor, Metadata
from ombudsman.contracts.subjects import command_subject
from ombudsman.eventstore.rpc import request
from ombudsman.gateway import livecache
from tests.gateway.conftest import Gateway, gateway_app
from tests.support import eventually

# Well under livecache.LIVE_SECONDS: only the event can make the other replica change its answer in time.
EVENT_DEADLINE = 10.0


@pytest.fixture
async def replica(database_url: str, nats_url: str) -> AsyncIterator[Gateway]:
    """A second gateway app on the same database and bus (another replica behind a load balancer)."""
    async with gateway_app(database_url, nats_url, "10.1.2.4", "http://replica") as started:
        yield started


def test_the_cache_outlives_the_deadline() -> None:
    # the premise of every test below: without the event, the stale answer would still be served
    assert livecache.LIVE_SECONDS > 4 * EVENT_DEADLINE


async def _settled(replica: Gateway, user_id: str) -> int:
    """Wait until the replica has seen the user's registration and login events (so no late event
    of those clears its cache during the test); the user's invalidation count."""
    cache = replica.app.state.users.auth_cache
    await eventually(lambda: cache.generation(user_id) >= 2, timeout=EVENT_DEADLINE, interval=0.02,
                     what="the replica to see UserRegistered and UserLoggedIn")
    return int(cache.generation(user_id))


async def _status(gw: Gateway, method: str, path: str, headers: dict[str, str], **kwargs: Any) -> int:
    return (await gw.client.request(method, path, headers=headers, **kwargs)).status_code


async def test_a_revoked_token_is_refused_at_once_here_and_on_every_replica(
        gateway: Gateway, replica: Gateway, projects_service: Any) -> None:
    rita, auth = await gateway.user("rita")
    await _settled(replica, rita["id"])
    # both replicas have the token's answer cached
    assert await _status(gateway, "GET", "/api/v1/projects", auth) == 200
    assert await _status(replica, "GET", "/api/v1/projects", auth) == 200
    assert await _status(gateway, "POST", "/api/v1/auth/logout", auth) == 204
    # the replica that revoked it: refused on the very next request
    assert await _status(gateway, "GET", "/api/v1/projects", auth) == 401

    async def refused() -> bool:
        return await _status(replica, "GET", "/api/v1/projects", auth) == 401

    await eventually(refused, timeout=EVENT_DEADLINE, interval=0.02, what="the other replica to refuse the revoked token")
    # and it stays refused (the refusal is not a transient miss)
    assert await _status(replica, "GET", "/api/v1/projects", auth) == 401


async def test_a_role_change_applies_at_once_here_and_on_every_replica(
        gateway: Gateway, replica: Gateway, projects_service: Any) -> None:
    _, admin = await gateway.user("ada", role="admin")
    hank, auth = await gateway.user("hank")
    seen = await _settled(replica, hank["id"])
    assert await _status(replica, "POST", "/api/v1/projects", auth, json={"id": "hank-1", "name": "One"}) == 201
    assert await _status(gateway, "POST", "/api/v1/projects", auth, json={"id": "hank-2", "name": "Two"}) == 201
    changed = await gateway.client.patch(f"/api/v1/users/{hank['id']}", headers=admin, json={"role": "viewer"})
    assert changed.status_code == 200 and changed.json()["role"] == "viewer"
    # the same token, now a viewer's: no write here at once
    assert await _status(gateway, "POST", "/api/v1/projects", auth, json={"id": "hank-3", "name": "Three"}) == 403
    # the replica still holds hank's answer as a user; UserRoleChanged is what makes it forget
    cache = replica.app.state.users.auth_cache
    await eventually(lambda: cache.generation(hank["id"]) > seen, timeout=EVENT_DEADLINE, interval=0.02,
                     what="the replica to see UserRoleChanged")
    assert await _status(replica, "POST", "/api/v1/projects", auth, json={"id": "hank-4", "name": "Four"}) == 403
    ids = {p["id"] for p in (await replica.client.get("/api/v1/projects", headers=auth)).json()["items"]}
    assert ids == {"hank-1", "hank-2"}  # no write after the change on either replica


async def test_membership_changes_reach_the_cached_answer_by_event(
        gateway: Gateway, replica: Gateway, projects_service: Any) -> None:
    owner, owner_auth = await gateway.user("olga")
    guest, guest_auth = await gateway.user("gus")
    assert await _status(gateway, "POST", "/api/v1/projects", owner_auth, json={"id": "shared", "name": "S"}) == 201
    bus = replica.app.state.bus
    # the replica has seen the project's creation event (its first invalidation) ...
    await eventually(lambda: bus.members.generation("shared") >= 1, timeout=EVENT_DEADLINE, interval=0.02,
                     what="the replica to see ProjectCreated")
    # ... then learns the members once (the guest is not one) and keeps the answer
    assert await _status(replica, "GET", "/api/v1/projects/shared", guest_auth) == 404
    assert bus.members.get("shared") == (True, frozenset({owner["id"]}))
    seen = bus.members.generation("shared")
    # the owner adds the guest through the projects service directly: only the event tells the replica
    meta = Metadata(actor=Actor(id=owner["id"], name="olga", role="user"))
    await request(replica.app.state.nc, command_subject("projects", "add_member"),
                  {"id": "shared", "user_id": guest["id"]}, meta=meta)
    await eventually(lambda: bus.members.generation("shared") > seen, timeout=EVENT_DEADLINE, interval=0.02,
                     what="the replica to forget the old members on ProjectMemberAdded")
    assert await _status(replica, "GET", "/api/v1/projects/shared", guest_auth) == 200
    assert bus.members.get("shared") == (True, frozenset({owner["id"], guest["id"]}))


async def test_list_total_is_the_filter_count_on_every_page(gateway: Gateway, projects_service: Any) -> None:
    """projects.list folds its count into the page query (a window count): `total` must still be the
    number of matching projects whatever the page, including an empty page past the end."""
    _, auth = await gateway.user("pam")
    _, other = await gateway.user("oscar")
    for i in range(7):
        assert await _status(gateway, "POST", "/api/v1/projects", auth, json={"id": f"pam-{i}", "name": f"Alpha {i}"}) == 201
    for i in range(3):
        assert await _status(gateway, "POST", "/api/v1/projects", other, json={"id": f"osc-{i}", "name": "Beta"}) == 201

    async def page(headers: dict[str, str], **params: Any) -> dict[str, Any]:
        r = await gateway.client.get("/api/v1/projects", headers=headers, params=params)
        assert r.status_code == 200, r.text
        return dict(r.json())

    first = await page(auth, limit=3)
    assert (first["total"], len(first["items"]), first["offset"], first["limit"]) == (7, 3, 0, 3)
    last = await page(auth, limit=3, offset=6)
    assert (last["total"], [p["id"] for p in last["items"]]) == (7, ["pam-6"])
    past = await page(auth, limit=3, offset=50)
    assert (past["total"], past["items"], past["offset"]) == (7, [], 50)
    filtered = await page(auth, q="Alpha 1")
    assert (filtered["total"], [p["id"] for p in filtered["items"]]) == (1, ["pam-1"])
    none = await page(auth, q="no such project")
    assert (none["total"], none["items"]) == (0, [])
    assert (await page(other))["total"] == 3  # members only: the other user's projects are not counted
    every = [p["id"] for off in range(0, 7, 2) for p in (await page(auth, limit=2, offset=off))["items"]]
    assert every == [f"pam-{i}" for i in range(7)]  # the pages tile the list: nothing lost or repeated


def test_an_answer_fetched_across_an_invalidation_is_not_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [100.0]
    monkeypatch.setattr(livecache.time, "monotonic", lambda: clock[0])
    connected = [True]
    cache = livecache.LiveCache(lambda: connected[0])
    before = cache.generation("u1")
    cache.forget("u1")  # the event arrives while the answer is being fetched
    cache.put(("u1", "jti"), "u1", "stale", before)
    assert cache.get(("u1", "jti")) == (False, None)
    cache.put(("u1", "jti"), "u1", "fresh", cache.generation("u1"))
    cache.put(("u2", "jti"), "u2", "other", cache.generation("u2"))
    assert cache.get(("u1", "jti")) == (True, "fresh")
    cache.forget("u1")  # forgets only the group it names
    assert cache.get(("u1", "jti")) == (False, None) and cache.get(("u2", "jti")) == (True, "other")
    # cut off from NATS (events may be missed): answers older than OFFLINE_SECONDS are asked again
    clock[0] += livecache.OFFLINE_SECONDS + 0.1
    assert cache.get(("u2", "jti")) == (True, "other")
    connected[0] = False
    assert cache.get(("u2", "jti")) == (False, None)
    connected[0] = True
    clock[0] += livecache.LIVE_SECONDS
    assert cache.get(("u2", "jti")) == (False, None)


async def _listed(gw: Gateway, headers: dict[str, str]) -> list[tuple[str, str]]:
    r = await gw.client.get("/api/v1/projects", headers=headers)
    assert r.status_code == 200, r.text
    return [(p["id"], p["name"]) for p in r.json()["items"]]


async def test_the_project_list_page_follows_project_events_on_every_replica(
        gateway: Gateway, replica: Gateway, projects_service: Any) -> None:
    """GET /projects is answered from a page kept in memory (bus.project_lists): a member added or
    removed and a rename show on the replica that made the change at once, and on the other as
    soon as the event arrives, though the kept page would otherwise be served for a minute."""
    owner, owner_auth = await gateway.user("lola")
    guest, guest_auth = await gateway.user("gil")
    assert await _status(gateway, "POST", "/api/v1/projects", owner_auth, json={"id": "lst", "name": "Listed"}) == 201
    bus = replica.app.state.bus
    # both replicas have seen the creation's event (so no late one forgets the pages kept below)
    for gw in (replica, gateway):
        members = gw.app.state.bus.members
        await eventually(lambda members=members: members.generation("lst") >= 1, timeout=EVENT_DEADLINE,
                         interval=0.02, what="ProjectCreated to reach both replicas")
    assert await _listed(replica, owner_auth) == [("lst", "Listed")]
    assert await _listed(replica, guest_auth) == []
    # both pages are now kept by the replica, for a minute while its event listener is live: it
    # answers them without asking the projects service
    assert bus.project_lists.connected() and gateway.app.state.bus.project_lists.connected()
    assert bus.project_lists.get((("limit", 50), ("member", guest["id"]), ("offset", 0)))[0]
    assert bus.project_lists.get((("limit", 50), ("member", owner["id"]), ("offset", 0)))[0]
    # the guest is added at the projects service directly: only the event tells either replica
    meta = Metadata(actor=Actor(id=owner["id"], name="lola", role="user"))
    await request(replica.app.state.nc, command_subject("projects", "add_member"),
                  {"id": "lst", "user_id": guest["id"]}, meta=meta)
    for gw in (replica, gateway):
        async def guest_sees_it(gw: Gateway = gw) -> bool:
            return await _listed(gw, guest_auth) == [("lst", "Listed")]

        await eventually(guest_sees_it, timeout=EVENT_DEADLINE, interval=0.02, what="the guest to see the project")
    # a rename through one replica: listed renamed there on the very next request, then on the other
    renamed = await gateway.client.patch("/api/v1/projects/lst", headers=owner_auth, json={"name": "Renamed"})
    assert renamed.status_code == 200, renamed.text
    assert await _listed(gateway, guest_auth) == [("lst", "Renamed")]

    async def replica_renamed() -> bool:
        return await _listed(replica, guest_auth) == [("lst", "Renamed")]

    await eventually(replica_renamed, timeout=EVENT_DEADLINE, interval=0.02, what="the replica to list the new name")
    # the guest removed through the replica: gone from its list at once, then from the other's
    assert await _status(replica, "DELETE", f"/api/v1/projects/lst/members/{guest['id']}", owner_auth) == 204
    assert await _listed(replica, guest_auth) == []

    async def gone_elsewhere() -> bool:
        return await _listed(gateway, guest_auth) == []

    await eventually(gone_elsewhere, timeout=EVENT_DEADLINE, interval=0.02, what="the other replica to drop the project")
    assert await _listed(gateway, owner_auth) == [("lst", "Renamed")]  # the owner's page is still right


def test_a_whole_cache_forgets_every_page_on_any_event() -> None:
    pages = livecache.WholeCache()
    before = pages.generation()
    pages.put(("member", "u1"), "ignored", b"page-1", before)
    pages.put(("member", "u2"), "ignored", b"page-2", before)
    assert pages.get(("member", "u1")) == (True, b"page-1")
    pages.forget("some-project")  # an event of any project
    assert pages.get(("member", "u1")) == (False, None) and pages.get(("member", "u2")) == (False, None)
    pages.put(("member", "u1"), "ignored", b"stale", before)  # fetched before the event: not kept
    assert pages.get(("member", "u1")) == (False, None)
    small = livecache.WholeCache(max_entries=2)
    for i in range(3):
        small.put(i, "ignored", i, small.generation())
    assert small.get(2) == (True, 2) and small.get(0) == (False, None)  # bounded: full means start again


async def test_a_page_over_the_size_bound_is_answered_but_not_kept(
        gateway: Gateway, projects_service: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from ombudsman.gateway.routes import projects as project_routes

    user, auth = await gateway.user("bea")
    assert await _status(gateway, "POST", "/api/v1/projects", auth, json={"id": "big", "name": "Big"}) == 201
    bus = gateway.app.state.bus
    # the creation's event has come back (it would forget the page kept below)
    await eventually(lambda: bus.members.generation("big") >= 1, timeout=EVENT_DEADLINE, interval=0.02,
                     what="the gateway to see ProjectCreated")
    monkeypatch.setattr(project_routes, "PROJECT_LIST_PAGE_BYTES", 10)
    assert await _listed(gateway, auth) == [("big", "Big")]
    assert bus.project_lists.get((("limit", 50), ("member", user["id"]), ("offset", 0))) == (False, None)
    monkeypatch.setattr(project_routes, "PROJECT_LIST_PAGE_BYTES", 1 << 20)
    assert await _listed(gateway, auth) == [("big", "Big")]
    assert bus.project_lists.get((("limit", 50), ("member", user["id"]), ("offset", 0)))[0]
