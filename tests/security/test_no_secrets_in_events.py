"""No secret and no personal value is ever written into an event (issue 14), with the real stack:
the projects and executor services, a worker process and the gateway, over real NATS and PostgreSQL.

A project connection URL carries a password, an admin runs an inline pipeline whose URL carries
another one, and the compared table has an `email` column whose values differ between source and
target. Every message of the JetStream stream OMB_EVENTS is then read: neither password nor any
e-mail value appears, while the step detail read through the gateway still shows the differences
(the executor's private store keeps the full samples). Saving a pipeline with an inline password
is refused with 422 naming the field."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import httpx
import nats
import pytest
import yaml

from ombudsman.contracts import subjects
from ombudsman.eventstore.settings import Settings
from ombudsman.executor import app as executor_app
from ombudsman.executor.settings import ExecutorSettings
from ombudsman.gateway.app import create_app
from ombudsman.projects import app as projects_app
from tests.gateway.conftest import PASSWORD, finished, gateway_settings, serving, worker_process
from tests.support import eventually

SOURCE_EMAILS = {1: "ann.lee@example.com", 2: "bob.roe@example.com", 3: "cy.diaz@example.org", 4: "dee.fox@example.net",
                 5: "eve.gray@example.com"}
TARGET_EMAILS = {1: "ann.lee@example.com", 2: "bob.roe@migrated.example", 3: "cy.diaz@migrated.example",
                 4: "dee.fox@example.net"}  # 2 and 3 changed, 5 lost
ALL_EMAILS = set(SOURCE_EMAILS.values()) | set(TARGET_EMAILS.values())
DEADLINE = 60.0


def _url_as(database_url: str, user: str, password: str) -> str:
    parts = urlsplit(database_url)
    host = parts.netloc.rpartition("@")[2]
    return f"postgresql://{user}:{password}@{host}{parts.path}" + (f"?{parts.query}" if parts.query else "")


@pytest.fixture
async def tables(warehouse_url: str) -> AsyncIterator[dict[str, str]]:
    """src.customers and tgt.customers, and two login roles with passwords that may read them."""
    suffix = uuid.uuid4().hex[:8]
    roles = {f"probe_project_{suffix}": f"Pw-project-{suffix}", f"probe_inline_{suffix}": f"Pw-inline-{suffix}"}
    conn = await asyncpg.connect(warehouse_url)
    try:
        for schema, emails in (("src", SOURCE_EMAILS), ("tgt", TARGET_EMAILS)):
            await conn.execute(f"CREATE SCHEMA {schema}")
            await conn.execute(f"CREATE TABLE {schema}.customers (id integer PRIMARY KEY, email text, amount integer)")
            await conn.executemany(f"INSERT INTO {schema}.customers VALUES ($1, $2, $3)",
                                   [(i, e, i * 10) for i, e in emails.items()])
        for role, password in roles.items():
            await conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
            await conn.execute(f"GRANT USAGE ON SCHEMA src, tgt TO {role}")
            await conn.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA src, tgt TO {role}")
    finally:
        await conn.close()
    (project_role, project_pw), (inline_role, inline_pw) = roles.items()
    yield {"project_url": _url_as(warehouse_url, project_role, project_pw), "project_password": project_pw,
           "inline_url": _url_as(warehouse_url, inline_role, inline_pw), "inline_password": inline_pw}
    conn = await asyncpg.connect(warehouse_url)
    try:
        for role in roles:
            with contextlib.suppress(Exception):
                await conn.execute(f"DROP OWNED BY {role}")
                await conn.execute(f"DROP ROLE {role}")
    finally:
        await conn.close()


@pytest.fixture
async def stack(database_url: str, nats_url: str) -> AsyncIterator[dict[str, Any]]:
    projects = projects_app.create_service(Settings(database_url=database_url, nats_url=nats_url, secret_key="k" * 32))
    await projects.start()
    executor_settings = ExecutorSettings(nats_url=nats_url, database_url=database_url, executor_tick_seconds=0.2)
    app = create_app(gateway_settings(database_url, nats_url, request_timeout=20))
    async with (executor_app.running(executor_settings), worker_process(nats_url, database_url, "w-sec"),
                serving(app) as port):
        yield {"app": app, "port": port}
    await projects.stop()


async def _login(c: httpx.AsyncClient, app: Any, username: str, role: str) -> dict[str, str]:
    await app.state.users.register(username, PASSWORD, role)
    r = await c.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


async def _finished(c: httpx.AsyncClient, headers: dict[str, str], run_id: str) -> dict[str, Any]:
    return await finished(c, f"/api/v1/runs/{run_id}", headers, timeout=DEADLINE)


def _pipeline(source: str, target: str) -> str:
    step = {"id": "customers", "validator": "row_hash", "tables": {"source": "src.customers", "target": "tgt.customers"},
            "parameters": {"key": ["id"]}}
    return yaml.safe_dump({"name": "crm customers", "connections": {"source": source, "target": target},
                           "steps": [step]})


async def _all_events(nats_url: str, run_ids: list[str]) -> list[bytes]:
    """Every message of OMB_EVENTS (headers and data), once each run's RunCompleted is published."""
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        for run_id in run_ids:

            async def completed(run_id: str = run_id) -> bool:
                try:
                    await js.get_last_msg(subjects.EVENTS_STREAM, subjects.event_subject("run", run_id, "RunCompleted"))
                except Exception:
                    return False
                return True

            await eventually(completed, timeout=DEADLINE, what=f"RunCompleted of {run_id} published")
        last = (await js.stream_info(subjects.EVENTS_STREAM)).state.last_seq
        out = []
        for seq in range(1, last + 1):
            with contextlib.suppress(Exception):  # a deleted sequence
                msg = await js.get_msg(subjects.EVENTS_STREAM, seq)
                out.append(msg.subject.encode() + repr(msg.headers).encode() + (msg.data or b""))
        return out
    finally:
        await nc.close()


async def test_no_password_and_no_email_in_any_event(stack: dict[str, Any], tables: dict[str, str],
                                                     nats_url: str) -> None:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{stack['port']}", timeout=30) as c:
        alice = await _login(c, stack["app"], "alice", "user")
        admin = await _login(c, stack["app"], "root", "admin")
        assert (await c.post("/api/v1/projects", headers=alice, json={"id": "crm", "name": "CRM"})).status_code == 201
        for name in ("source", "target"):
            r = await c.post("/api/v1/projects/crm/connections", headers=alice,
                             json={"name": name, "role": name, "url": tables["project_url"]})
            assert r.status_code == 201 and tables["project_password"] not in r.text, r.text

        # a saved pipeline names its secrets, it never holds one
        refused = await c.post("/api/v1/projects/crm/pipelines", headers=alice,
                               json={"name": "inline", "yaml": _pipeline(tables["project_url"], "${TARGET_URL}")})
        assert refused.status_code == 422, refused.text
        assert "connections.source.url: inline password" in refused.text
        assert tables["project_password"] not in refused.text
        saved = await c.post("/api/v1/projects/crm/pipelines", headers=alice,
                             json={"name": "customers", "yaml": _pipeline("${SOURCE_URL}", "${TARGET_URL}")})
        assert saved.status_code == 201, saved.text

        # a run of the saved pipeline: the worker gets the URLs of the project's connections
        r = await c.post("/api/v1/runs", headers=alice, json={"project_id": "crm", "pipeline_id": saved.json()["pipeline_id"]})
        assert r.status_code == 202, r.text
        project_run = r.json()["run_id"]
        # an admin's inline pipeline with a password in its URLs: the worker gets them from the private store
        r = await c.post("/api/v1/runs", headers=admin,
                         json={"pipeline_yaml": _pipeline(tables["inline_url"], tables["inline_url"])})
        assert r.status_code == 202, r.text
        inline_run = r.json()["run_id"]

        for run_id, headers in ((project_run, alice), (inline_run, admin)):
            run = await _finished(c, headers, run_id)
            assert run["status"] == "failed", run
            step = await c.get(f"/api/v1/runs/{run_id}/steps/customers", headers=headers)
            assert step.status_code == 200, step.text
            result = step.json()["result"]
            assert result["status"] == "failed", result
            # the read path shows the full differences (from the executor's private store)
            changed = {d["key"]["id"]: d["columns"]["email"] for d in result["sample"] if d["kind"] == "changed"}
            assert changed == {"2": {"source": SOURCE_EMAILS[2], "target": TARGET_EMAILS[2]},
                               "3": {"source": SOURCE_EMAILS[3], "target": TARGET_EMAILS[3]}}, result["sample"]
            lost = [d for d in result["sample"] if d["kind"] == "only_in_source"]
            assert [d["row"]["email"] for d in lost] == [SOURCE_EMAILS[5]]

    events = await _all_events(nats_url, [project_run, inline_run])
    everything = b"\n".join(events)
    assert b"StepCompleted" in everything and b"DiscrepancyRecorded" in everything and b"RunQueued" in everything
    for secret in (tables["project_password"], tables["inline_password"]):
        assert secret.encode() not in everything, f"a password is in an event: {secret}"
    for email in sorted(ALL_EMAILS):
        assert email.encode() not in everything, f"an e-mail value is in an event: {email}"
    # the events still say what differs: the masked e-mail column of rows 2 and 3
    completed = [e for e in events if b".StepCompleted" in e.split(b"{", 1)[0]]
    assert len(completed) == 2 and all(b'"email": {"source": "***", "target": "***"}' in e or
                                       b'"email":{"source":"***","target":"***"}' in e for e in completed), completed
