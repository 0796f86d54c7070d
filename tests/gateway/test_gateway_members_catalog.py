"""What the Studio's members, notifications and catalog pages call, through the gateway to the real
projects, metadata and audit services: a project's members (listed with names, added by username,
removed — and then they no longer see it), a member subscribing themselves to their own project's
notifications (never to another's), and a catalog's changes between two DDL uploads and its YAML."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
import yaml

from ombudsman.client.sdk import ApiError, OmbudsmanClient
from ombudsman.contracts import events as ev
from ombudsman.contracts.envelope import new_id
from tests.gateway.conftest import Served
from tests.gateway.test_gateway_cli_sdk import cli_env, ombudsman  # noqa: F401 - cli_env is a fixture
from tests.support import eventually


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_members_listed_added_by_name_and_removed(served: Served) -> None:
    owner_id, owner_token = await served.token("olga")
    member_id, member_token = await served.token("mateo", role="viewer")
    owner, member = _bearer(owner_token), _bearer(member_token)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{served.port}/api/v1", timeout=60) as c:
        assert (await c.post("/projects", headers=owner, json={"id": "crew", "name": "Crew"})).status_code == 201
        assert (await c.get("/projects/crew", headers=member)).status_code == 404  # not yet a member

        added = await c.post("/projects/crew/members", headers=owner, json={"username": "mateo"})
        assert added.status_code == 200, added.text
        assert set(added.json()["members"]) == {owner_id, member_id}
        listed = await c.get("/projects/crew/members", headers=member)  # a member reads the list
        assert listed.status_code == 200, listed.text
        assert sorted((m["username"], m["role"], m["user_id"]) for m in listed.json()["items"]) == [
            ("mateo", "viewer", member_id), ("olga", "user", owner_id)]

        # bad input: a name nobody has, both or neither of user_id and username
        unknown = await c.post("/projects/crew/members", headers=owner, json={"username": "nobody"})
        assert unknown.status_code == 422 and unknown.json()["error"]["details"]["fields"][0]["field"] == "username"
        both = await c.post("/projects/crew/members", headers=owner, json={"username": "mateo", "user_id": member_id})
        assert both.status_code == 422, both.text
        assert (await c.delete(f"/projects/crew/members/{member_id}", headers=member)).status_code == 403  # a viewer

        removed = await c.delete(f"/projects/crew/members/{member_id}", headers=owner)
        assert removed.status_code == 204, removed.text
        assert (await c.get("/projects/crew", headers=member)).status_code == 404  # access ended at once
        assert [m["username"] for m in (await c.get("/projects/crew/members", headers=owner)).json()["items"]] == ["olga"]
        again = await c.delete(f"/projects/crew/members/{member_id}", headers=owner)
        assert again.status_code == 404 and "not a member" in again.json()["error"]["message"]


async def test_a_member_subscribes_to_their_own_projects_notifications_only(served: Served) -> None:
    owner_id, _ = await served.token("petra")
    member_id, member_token = await served.token("quinn")
    await served.create_project("mine", owner_id, members=(member_id,))
    await served.create_project("theirs", owner_id)
    member = _bearer(member_token)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{served.port}/api/v1", timeout=60) as c:
        rule = {"name": "my runs", "event_types": ["RunCompleted"], "project_id": "mine"}
        sdk = OmbudsmanClient(f"http://127.0.0.1:{served.port}", member_token)  # the SDK's call, as a script's
        try:
            subscribed = await asyncio.to_thread(sdk.subscribe, **rule)
            with pytest.raises(ApiError) as no_types:  # refused before it is sent, in the gateway's shape
                await asyncio.to_thread(sdk.subscribe, "none", [], "mine")
        finally:
            sdk.close()
        assert subscribed["event_types"] == ["RunCompleted"] and subscribed["id"], subscribed
        assert no_types.value.status == 422 and no_types.value.details["fields"][0]["field"] == "event_types"
        elsewhere = await c.post("/notifications/subscribe", headers=member, json={**rule, "project_id": "theirs"})
        assert elsewhere.status_code == 404, elsewhere.text  # another project's: as if it did not exist
        everywhere = await c.post("/notifications/subscribe", headers=member, json={"event_types": ["RunCompleted"]})
        assert everywhere.status_code == 422, everywhere.text
        hook = await c.post("/notifications/subscribe", headers=member,
                            json={**rule, "channel": "webhook", "target": "https://example.invalid/hook"})
        assert hook.status_code == 422, hook.text

        # the rule fires for a run of the member's project, and the member reads the notification
        run_id = f"run-{new_id()}"
        await served.publish(run_id, ev.RunQueued(run_id=run_id, project_id="mine", pipeline_id="p", steps=["a"]),
                             ev.RunCompleted(run_id=run_id, status="completed", total_steps=1, successful_steps=1,
                                             failed_steps=0))

        async def notified() -> list[dict[str, Any]] | None:
            r = await c.get("/notifications", headers=member)
            assert r.status_code == 200, r.text
            items = [n for n in r.json()["items"] if n.get("project_id") == "mine"]
            return items or None

        items = await eventually(notified, timeout=60)
        assert [n["rule_id"] for n in items] == [subscribed["id"]], items


DDL_V1 = "CREATE TABLE sales.orders (id integer PRIMARY KEY, amount numeric(10,2), note varchar(20));"
DDL_V2 = ("CREATE TABLE sales.orders (id integer PRIMARY KEY, amount numeric(12,2), note varchar(20) NOT NULL,"
          " placed date);\nCREATE TABLE sales.customers (id integer PRIMARY KEY, name text);")


async def test_catalog_changes_between_two_uploads_and_its_yaml(served: Served) -> None:
    owner_id, token = await served.token("rosa")
    await served.create_project("cat", owner_id, owner_name="rosa")
    headers = _bearer(token)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{served.port}/api/v1", timeout=120) as c:
        none_yet = await c.get("/projects/cat/catalog/changes", headers=headers, params={"side": "source"})
        assert none_yet.status_code == 404, none_yet.text
        for ddl in (DDL_V1, DDL_V2):
            r = await c.post("/projects/cat/ddl", headers=headers, json={"side": "source", "dialect": "postgres", "ddl": ddl})
            assert r.status_code == 200, r.text
        changes = await c.get("/projects/cat/catalog/changes", headers=headers, params={"side": "source"})
        assert changes.status_code == 200, changes.text
        diff = changes.json()
        assert diff["tables_added"] == ["sales.customers"] and diff["tables_removed"] == []
        assert diff["columns_added"] == {"sales.orders": ["placed"]}
        assert [(x["column"]) for x in diff["columns_retyped"]["sales.orders"]] == ["amount"]
        assert [(x["column"], x["after"]) for x in diff["nullability_changed"]["sales.orders"]] == [("note", "not null")]

        exported = await c.get("/projects/cat/catalog/export", headers=headers, params={"side": "source"})
        assert exported.status_code == 200, exported.text
        assert exported.headers["content-type"].startswith("application/yaml")
        assert 'filename="cat-source-catalog.yaml"' in exported.headers["content-disposition"]
        document = yaml.safe_load(exported.text)
        tables = {f"{t['schema_name']}.{t['name']}": t for t in document["tables"]}
        assert set(tables) == {"sales.orders", "sales.customers"}
        assert [col["name"] for col in tables["sales.orders"]["columns"]] == ["id", "amount", "note", "placed"]
        assert tables["sales.orders"]["primary_key"] == ["id"]
        bad = await c.get("/projects/cat/catalog/export", headers=headers, params={"side": "middle"})
        assert bad.status_code == 422 and bad.json()["error"]["details"]["fields"][0]["field"] == "side"


async def test_members_from_the_cli(served: Served, cli_env: dict[str, str]) -> None:  # noqa: F811
    owner_id, _ = await served.token("sven")
    member_id, _ = await served.token("tara")
    await served.create_project("cli-crew", owner_id, owner_name="sven")
    code, _, err = await ombudsman(cli_env, "login", "-u", "sven", "-p", "password-123")
    assert code == 0, err
    code, out, err = await ombudsman(cli_env, "projects", "add-member", "cli-crew", member_id)
    assert code == 0, err
    code, out, err = await ombudsman(cli_env, "projects", "members", "cli-crew", "--format", "json")
    assert code == 0, err
    assert sorted(m["username"] for m in json.loads(out)["items"]) == ["sven", "tara"]
    code, out, err = await ombudsman(cli_env, "projects", "remove-member", "cli-crew", member_id)
    assert code == 0 and "Removed" in out, err
    code, out, err = await ombudsman(cli_env, "projects", "members", "cli-crew")
    assert code == 0 and "tara" not in out and "sven" in out, (out, err)
    code, _, err = await ombudsman(cli_env, "projects", "remove-member", "cli-crew", member_id)
    assert code != 0 and "not a member" in err
