"""The bus trusts no one it has not authenticated (issue 14, attacks 1 and 2), on the real embedded
stack that `ombudsman up` starts: nats-server with one user per service and the permissions of
contracts.access, every service and a worker as its own process, PostgreSQL with per-service roles.

Before: a client with no credentials read a connection's decrypted URL from
`omb.qry.projects.connection_secret`, published `UserRoleChanged` into the audit log, and made the
metadata service wipe a live project's catalog with a forged `ProjectDeleted`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout

from ombudsman.contracts.envelope import Actor, EventEnvelope, Metadata, new_id
from ombudsman.contracts.replies import Unauthorized
from ombudsman.contracts.subjects import EVENTS_STREAM, event_subject, query_subject
from ombudsman.eventstore import rpc
from ombudsman.eventstore.bustoken import TOKEN_HEADER, BusTokenSigner, generate_keypair
from ombudsman.eventstore.embedded import free_port
from ombudsman.eventstore.launcher import Stack, start_stack, stop_stack
from ombudsman.eventstore.runtime import connect_nats
from ombudsman.gateway.admin import create_user
from tests.support import eventually

SECRET_PASSWORD = "Sup3r-Secret-Pw-4711"
ADMIN_PASSWORD = "correct horse battery staple"
DEADLINE = 30.0


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    home = tmp_path_factory.mktemp("secure-stack")
    with pytest.MonkeyPatch.context() as patch:
        for name in ("OMB_NATS_URL", "OMB_DATABASE_URL", "OMB_SECRET_KEY", "OMB_JWT_SECRET", "OMB_NATS_USER",
                     "OMB_NATS_PASSWORD"):
            patch.delenv(name, raising=False)
        patch.setenv("OMB_HOME", str(home))
        started = start_stack(detach=True, workers=1, gateway_port=free_port())
        try:
            yield started
        finally:
            stop_stack(started)


@pytest.fixture(scope="module")
def admin(stack: Stack) -> httpx.Client:
    """An admin logged in through the gateway, with a project whose connection URL holds a password."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OMB_DATABASE_URL", stack.database_url)
        patch.setenv("OMB_NATS_URL", stack.nats_url)
        patch.setenv("OMB_HOME", str(stack.home))
        asyncio.run(create_user("root", ADMIN_PASSWORD, "admin"))
    client = httpx.Client(base_url=f"{stack.gateway_url}/api/v1", timeout=30)
    token = client.post("/auth/login", json={"username": "root", "password": ADMIN_PASSWORD}).json()["access_token"]
    client.headers["Authorization"] = f"Bearer {token}"
    made = client.post("/projects", json={"id": "vault", "name": "Vault"})
    assert made.status_code == 201, made.text
    added = client.post("/projects/vault/connections", json={
        "name": "source", "role": "source", "url": f"postgresql://reader:{SECRET_PASSWORD}@db.example.com:5432/sales"})
    assert added.status_code == 201, added.text
    return client


def _passwords(stack: Stack) -> dict[str, str]:
    return json.loads((Path(stack.home) / "nats" / "credentials.json").read_text())


async def _as(stack: Stack, principal: str) -> nats.NATS:
    """A client connected as one of the stack's bus users (as a compromised service would be)."""
    return await nats.connect(stack.nats_url, user=principal, password=_passwords(stack)[principal],
                              inbox_prefix=f"_INBOX_{principal}", allow_reconnect=False)


def _envelope(stream_type: str, stream_id: str, event_type: str, data: dict[str, Any]) -> EventEnvelope:
    return EventEnvelope(event_type=event_type, stream_type=stream_type, stream_id=stream_id, version=99,
                         actor=Actor(id="forger", name="root", role="admin"), correlation_id=new_id(), data=data)


async def _subjects_in_stream(stack: Stack) -> list[str]:
    nc = await connect_nats(stack.nats_url, name="probe", user="admin", password=_passwords(stack)["admin"],
                            reconnect=False, timeout=10)
    try:
        js = nc.jetstream()
        last = (await js.stream_info(EVENTS_STREAM)).state.last_seq
        found = []
        for seq in range(1, last + 1):
            try:
                found.append((await js.get_msg(EVENTS_STREAM, seq)).subject)
            except Exception:  # a deleted message has no subject to show
                continue
        return found
    finally:
        await nc.close()


def test_a_client_without_credentials_is_refused(stack: Stack) -> None:
    async def attempt(**credentials: str) -> str:
        try:
            nc = await nats.connect(stack.nats_url, allow_reconnect=False, connect_timeout=2, **credentials)
        except Exception as exc:  # the refusal is what this test looks at
            return str(exc)
        await nc.close()
        return "connected"

    assert "Authorization Violation" in asyncio.run(attempt())
    assert "Authorization Violation" in asyncio.run(attempt(user="projects", password="guess"))
    assert "Authorization Violation" in asyncio.run(attempt(user="admin", password=""))


def test_connection_secrets_reach_no_one_but_the_services_that_run_steps(stack: Stack, admin: httpx.Client) -> None:
    subject = query_subject("projects", "connection_secret")
    payload = json.dumps({"project_id": "vault", "name": "source"}).encode()

    async def ask(principal: str, headers: dict[str, str] | None) -> str:
        nc = await _as(stack, principal)
        try:
            reply = await nc.request(subject, payload, timeout=3, headers=headers)
            return reply.data.decode()
        except (NoRespondersError, NatsTimeout):
            return "no reply"  # the server dropped the request: this user may not publish there
        finally:
            await nc.close()

    claimed_admin = {rpc.META_HEADER: Metadata(actor=Actor(id="x", name="root", role="admin")).model_dump_json()}
    for principal in ("gateway", "workload", "audit", "projects"):
        for headers in (None, claimed_admin, {rpc.META_HEADER: Metadata(actor=Actor.service("executor")).model_dump_json()}):
            answer = asyncio.run(ask(principal, headers))
            assert SECRET_PASSWORD not in answer, (principal, headers)
            assert answer == "no reply", (principal, answer)
    # the one path that exists: a step worker (its own NATS user, no user token) gets the URL
    assert SECRET_PASSWORD in asyncio.run(ask("worker", None))
    # and the gateway's reply to a person shows the connection with its password masked
    listed = admin.get("/projects/vault/connections")
    assert listed.status_code == 200 and SECRET_PASSWORD not in listed.text and "db.example.com" in listed.text


def test_a_service_acts_for_a_person_only_with_the_gateway_signed_token(stack: Stack, admin: httpx.Client) -> None:
    # a request people make (not one services may send on their own behalf), from a bus user that may publish it
    projects = query_subject("projects", "list")
    claimed_admin = Metadata(actor=Actor(id="x", name="root", role="admin"))

    async def ask(headers: dict[str, str]) -> Any:
        nc = await _as(stack, "gateway")
        try:
            reply = await nc.request(projects, b'{}', timeout=5, headers=headers)
            return json.loads(reply.data)
        finally:
            await nc.close()

    no_token = asyncio.run(ask({rpc.META_HEADER: claimed_admin.model_dump_json()}))
    assert no_token["ok"] is False and no_token["error"]["code"] == Unauthorized.code
    assert "user token" in no_token["error"]["message"]
    foreign_key = BusTokenSigner(generate_keypair()[0]).token_for(claimed_admin.actor)
    forged = asyncio.run(ask({rpc.META_HEADER: claimed_admin.model_dump_json(), TOKEN_HEADER: foreign_key}))
    assert forged["ok"] is False and forged["error"]["code"] == Unauthorized.code
    assert forged["error"]["message"] == "invalid bus token"
    # through the gateway the same person reads them: the token it signs is accepted
    assert admin.get("/projects").json()["items"][0]["id"] == "vault"


def test_forged_events_are_neither_stored_nor_logged_and_a_mismatch_raises_an_alert(
        stack: Stack, admin: httpx.Client) -> None:
    forged_role = _envelope("user", "u-victim", "UserRoleChanged", {"user_id": "u-victim", "role": "admin"})
    forged_delete = _envelope("project", "vault", "ProjectDeleted", {"project_id": "vault"})
    # the owner of `project` publishes an envelope that claims to be a user event
    smuggled = _envelope("user", "u-victim", "UserRoleChanged", {"user_id": "u-victim", "role": "admin"})

    async def publish() -> dict[str, str]:
        outcomes = {}
        for principal, envelope, subject in (
            ("workload", forged_role, event_subject("user", "u-victim", "UserRoleChanged")),
            ("workload", forged_delete, event_subject("project", "vault", "ProjectDeleted")),
            ("projects", smuggled, event_subject("project", "vault", "ProjectCreated")),
        ):
            nc = await _as(stack, principal)
            try:
                ack = await nc.jetstream().publish(subject, envelope.wire(), timeout=3,
                                                   headers={"Nats-Msg-Id": envelope.event_id})
                outcomes[envelope.event_id] = f"stored at {ack.seq}"
            except (NatsTimeout, NoRespondersError, TimeoutError):
                outcomes[envelope.event_id] = "refused"
            finally:
                await nc.close()
        return outcomes

    outcomes = asyncio.run(publish())
    assert outcomes[forged_role.event_id] == "refused"
    assert outcomes[forged_delete.event_id] == "refused"
    assert outcomes[smuggled.event_id].startswith("stored at ")  # the subject is the projects service's own
    stored = asyncio.run(_subjects_in_stream(stack))
    assert event_subject("user", "u-victim", "UserRoleChanged") not in stored
    assert event_subject("project", "vault", "ProjectDeleted") not in stored

    # the audit writer refuses the smuggled envelope: an EventRefused in the log and a critical alert

    def refused_and_alerted() -> list[Any] | None:
        refused = admin.get("/audit/logs", params={"action": "EventRefused", "limit": 50}).json()["items"]
        alerts = [n for n in admin.get("/notifications").json()["items"] if n["severity"] == "critical"]
        return alerts if refused and alerts else None

    alerts = asyncio.run(eventually(refused_and_alerted, timeout=DEADLINE, interval=0.2,
                                    what="EventRefused in the audit log and a critical alert"))
    assert any("u-victim" in a["summary"] and "ProjectCreated" in a["summary"] for a in alerts), alerts
    whole_log = admin.get("/audit/export", params={"format": "jsonl"})
    assert whole_log.status_code == 200
    for envelope in (forged_role, forged_delete, smuggled):
        assert envelope.event_id not in whole_log.text
    assert "UserRoleChanged" not in {e["event_type"] for e in admin.get("/audit/logs", params={"limit": 500}).json()["items"]}
    verified = admin.get("/audit/verify").json()
    assert verified["ok"] is True and not verified.get("gaps"), verified
    # the project and its connection are untouched
    assert admin.get("/projects/vault").status_code == 200
    assert admin.get("/projects/vault/connections").json()["items"][0]["name"] == "source"


def test_no_service_reads_another_s_replies(stack: Stack) -> None:
    async def snoop(principal: str, inbox: str) -> list[str]:
        errors: list[str] = []
        refused = asyncio.Event()

        async def on_error(exc: Exception) -> None:
            errors.append(str(exc))
            refused.set()

        nc = await nats.connect(stack.nats_url, user=principal, password=_passwords(stack)[principal],
                                inbox_prefix=f"_INBOX_{principal}", error_cb=on_error, allow_reconnect=False)
        try:
            await nc.subscribe(inbox)
            await nc.flush()
            await asyncio.wait_for(refused.wait(), timeout=DEADLINE)
            return errors
        finally:
            await nc.close()

    for principal, inbox in (("gateway", "_INBOX_worker.>"), ("workload", "_INBOX_metadata.>"),
                             ("gateway", "_INBOX.>"), ("audit", "omb.cmd.projects.>")):
        errors = asyncio.run(snoop(principal, inbox))
        assert any("permissions violation for subscription" in e.lower() for e in errors), (principal, inbox, errors)
