"""The audit service over real NATS and PostgreSQL: ordered, chained, tamper-evident, replayable, alerting."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import asyncpg
import pytest

from ombudsman.audit.alerts import SIGNATURE_HEADER
from ombudsman.audit.app import alert_secret, create_service
from ombudsman.contracts import events as ev
from ombudsman.contracts.envelope import Actor, Metadata
from ombudsman.contracts.registry import envelope_for
from ombudsman.contracts.replies import Forbidden, NotFound
from ombudsman.contracts.subjects import command_subject, event_subject, query_subject
from ombudsman.eventstore.db import asyncpg_dsn
from ombudsman.eventstore.rpc import request
from ombudsman.eventstore.settings import Settings
from ombudsman.projects.app import create_service as create_projects
from tests.support import eventually

ADMIN = Metadata(actor=Actor(id="u-admin", name="admin", role="admin"))



async def deliveries_settled(settings: Settings, webhooks: int) -> bool:
    """`webhooks` deliveries queued and none pending: no receiver can get another post."""
    conn = await asyncpg.connect(asyncpg_dsn(settings.database_url))
    try:
        row = await conn.fetchrow("SELECT count(*) AS total, count(*) FILTER (WHERE status = 'pending') AS pending "
                                  "FROM audit.alert_deliveries WHERE channel = 'webhook'")
    finally:
        await conn.close()
    return row["total"] == webhooks and row["pending"] == 0


async def audit_q(nc, name, payload=None):
    return await request(nc, query_subject("audit", name), payload or {}, meta=ADMIN, timeout=30)


async def log_count(nc) -> int:
    return (await audit_q(nc, "logs", {"limit": 1}))["total"]


async def publish_run_events(nc, count: int, services=("executor", "metadata", "workload")) -> list[str]:
    """Publish `count` events as several services would, acked by JetStream; their ids in order."""
    js = nc.jetstream()
    ids = []
    for i in range(count):
        service = services[i % len(services)]
        event = ev.RunStarted(run_id=f"r{i}") if service == "executor" else ev.WorkloadUploaded(
            workload_id=f"w{i}", project_id="p", filename="f.json", queries=i)
        envelope = envelope_for(event, stream_id=f"s{i}", version=1, meta=Metadata(actor=Actor.service(service)))
        await js.publish(event_subject(envelope.stream_type, envelope.stream_id, envelope.event_type),
                         envelope.wire(), headers={"Nats-Msg-Id": envelope.event_id})
        ids.append(envelope.event_id)
    return ids


async def test_ten_thousand_events_land_in_order_and_tampering_is_found(settings, nc, database_url) -> None:
    audit = create_service(settings)
    await audit.start()
    try:
        ids = await publish_run_events(nc, 10_000)
        await eventually(lambda: _at_least(nc, 10_000), timeout=120)
        report = await audit_q(nc, "verify")
        assert report["ok"] and report["checked"] == 10_000 and report["gaps"] == []
        conn = await asyncpg.connect(asyncpg_dsn(database_url))
        try:
            logged = [r["event_id"] for r in await conn.fetch("SELECT event_id FROM audit.event_log ORDER BY position")]
            assert logged == ids
            with pytest.raises(asyncpg.RaiseError, match="append-only"):
                await conn.execute("UPDATE audit.event_log SET actor_name = 'mallory' WHERE position = 5")
            # a superuser can bypass the trigger: verification must still find the altered row
            await conn.execute("ALTER TABLE audit.event_log DISABLE TRIGGER event_log_append_only")
            await conn.execute(
                """UPDATE audit.event_log SET body = replace(body, '"r4200"', '"r9999"'),
                   envelope = replace(body, '"r4200"', '"r9999"')::jsonb WHERE position = 4201""")
            altered = await audit_q(nc, "verify")
            assert not altered["ok"] and altered["broken_at"] == 4201 and "altered" in altered["reason"]
            await conn.execute("DELETE FROM audit.event_log WHERE position >= 4201 AND position <= 4201")
            deleted = await audit_q(nc, "verify")
            assert not deleted["ok"] and deleted["broken_at"] == 4201 and "missing" in deleted["reason"]
            ranged = await audit_q(nc, "verify", {"from_position": 1, "to_position": 4200})
            assert ranged["ok"] and ranged["checked"] == 4200
        finally:
            await conn.close()
    finally:
        await audit.stop()


async def _at_least(nc, n: int) -> bool:
    return await log_count(nc) >= n


async def test_redelivery_changes_nothing(settings, nc, database_url) -> None:
    audit = create_service(settings)
    await audit.start()
    await publish_run_events(nc, 300)
    await eventually(lambda: _at_least(nc, 300))
    await audit.stop()
    # deliver every event again, from the first stream sequence
    audit = create_service(settings)
    audit.writer_start_from = 1
    await audit.start()
    try:
        await publish_run_events(nc, 5)
        await eventually(lambda: _at_least(nc, 305))
        await eventually(lambda: _writer_reached(audit, 305))
        assert await log_count(nc) == 305
        report = await audit_q(nc, "verify")
        assert report["ok"] and report["checked"] == 305
        assert audit.writer is not None and audit.writer.duplicates == 300
    finally:
        await audit.stop()


async def _writer_reached(audit, sequence: int) -> bool:
    return audit.writer is not None and audit.writer.last_sequence >= sequence


async def test_as_of_equals_what_the_projects_service_showed_then(settings, nc) -> None:
    projects, audit = create_projects(settings), create_service(settings)
    await projects.start()
    await audit.start()
    try:
        def cmd(name, payload):
            return request(nc, command_subject("projects", name), payload, meta=ADMIN)

        await cmd("create", {"id": "sales", "name": "Sales", "description": "v1"})
        await cmd("set_schema_mapping", {"project_id": "sales", "source_schema": "dbo", "target_schema": "PUBLIC"})
        snapshot = await request(nc, query_subject("projects", "get"), {"id": "sales"}, meta=ADMIN)
        await eventually(lambda: _at_least(nc, 2))
        instant = datetime.now(UTC)
        await eventually(lambda: datetime.now(UTC) > instant, interval=0.001, what="the clock to pass the instant")
        await cmd("update", {"id": "sales", "changes": {"name": "Sales (renamed)", "description": "v2"}})
        await cmd("delete", {"id": "sales"})
        await eventually(lambda: _at_least(nc, 4))
        then = await audit_q(nc, "as_of", {"stream_type": "project", "stream_id": "sales", "at": instant.isoformat()})
        state = then["state"]
        for key in ("name", "description", "version", "members", "schema_mappings", "deleted"):
            assert state[key] == snapshot[key], key
        now = await audit_q(nc, "as_of", {"stream_type": "project", "stream_id": "sales",
                                          "at": datetime.now(UTC).isoformat()})
        assert now["state"]["deleted"] is True and now["state"]["name"] == "Sales (renamed)"
        logs = await audit_q(nc, "logs", {"project_id": "sales", "actor": "admin"})
        assert [r["event_type"] for r in logs["items"]] == [
            "ProjectCreated", "SchemaMappingSet", "ProjectUpdated", "ProjectDeleted"]
    finally:
        await audit.stop()
        await projects.stop()


class Receiver:
    """A local webhook receiver: answers 500 until `accept` is set, records what it accepted."""

    def __init__(self, *, accept: bool = False, delay: float = 0.0) -> None:
        self.accept = accept
        self.delay = delay  # seconds before answering: a slow receiver widens any race between senders
        self.accepted: list[tuple[dict, str, str]] = []
        self.refused = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                time.sleep(receiver.delay)  # the behaviour under test: a slow receiver widens any race
                if receiver.accept:
                    receiver.accepted.append((json.loads(body), self.headers[SIGNATURE_HEADER], body.decode()))
                    self.send_response(204)
                else:
                    receiver.refused += 1
                    self.send_response(500)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


async def test_one_signed_alert_per_failed_run_even_across_a_restart(settings, nc) -> None:
    receiver = Receiver()
    audit = create_service(settings)
    await audit.start()
    try:
        await request(nc, command_subject("audit", "add_alert_rule"), {
            "id": "failed-runs", "name": "failed-runs", "event_types": ["RunCompleted"], "condition": {"failed_steps": {"gt": 0}},
            "channel": "webhook", "url": receiver.url}, meta=ADMIN)
        await request(nc, command_subject("audit", "add_alert_rule"), {
            "id": "inapp-failed", "name": "inapp-failed", "event_types": ["RunCompleted"], "condition": {"failed_steps": {"gt": 0}}}, meta=ADMIN)
        js = nc.jetstream()
        for run_id, failed in (("ok-run", 0), ("bad-run", 2)):
            envelope = envelope_for(
                ev.RunCompleted(run_id=run_id, status="failed" if failed else "completed", total_steps=3,
                                successful_steps=3 - failed, failed_steps=failed),
                stream_id=run_id, version=1, meta=Metadata(actor=Actor.service("executor")))
            await js.publish(event_subject("run", run_id, "RunCompleted"), envelope.wire())
        await eventually(lambda: _refused(receiver), timeout=30)
    finally:
        await audit.stop()
    receiver.accept = True
    audit = create_service(settings)
    await audit.start()
    try:
        await eventually(lambda: _accepted(receiver), timeout=30)
        await eventually(lambda: deliveries_settled(settings, 1), timeout=30)  # recorded delivered: never posted again
        assert len(receiver.accepted) == 1
        payload, signature, body = receiver.accepted[0]
        assert payload["event"]["data"]["run_id"] == "bad-run" and payload["rule_id"] == "failed-runs"
        expected = "sha256=" + hmac.new(alert_secret(settings).encode(), body.encode(), hashlib.sha256).hexdigest()
        assert signature == expected
        notes = await audit_q(nc, "notifications")
        assert [n["rule_id"] for n in notes["items"]] == ["inapp-failed"]
        fired = await eventually(lambda: _fired(nc), timeout=30)
        assert sorted(fired) == ["failed-runs", "inapp-failed"]
    finally:
        await audit.stop()


async def _refused(receiver: Receiver) -> bool:
    return receiver.refused >= 1


async def _accepted(receiver: Receiver) -> bool:
    return len(receiver.accepted) >= 1


async def _fired(nc) -> list[str]:
    logs = await audit_q(nc, "logs", {"action": "AlertFired"})
    return [r["envelope"]["data"]["rule_id"] for r in logs["items"]] if logs["total"] >= 2 else []


async def test_two_audit_replicas_post_each_alert_once(settings, nc) -> None:
    """Both replicas run a delivery loop over the same queue: each alert reaches the receiver once."""
    receiver = Receiver(accept=True, delay=0.05)
    replicas = [create_service(settings), create_service(settings)]
    for replica in replicas:
        await replica.start()
    try:
        await request(nc, command_subject("audit", "add_alert_rule"), {
            "id": "failed-runs", "name": "failed-runs", "event_types": ["RunCompleted"], "condition": {"failed_steps": {"gt": 0}},
            "channel": "webhook", "url": receiver.url}, meta=ADMIN)
        js = nc.jetstream()
        runs = [f"run-{i}" for i in range(30)]
        for run_id in runs:
            envelope = envelope_for(
                ev.RunCompleted(run_id=run_id, status="failed", total_steps=2, successful_steps=1, failed_steps=1),
                stream_id=run_id, version=1, meta=Metadata(actor=Actor.service("executor")))
            await js.publish(event_subject("run", run_id, "RunCompleted"), envelope.wire())

        async def all_arrived() -> bool:
            return len({p["event"]["data"]["run_id"] for p, _, _ in receiver.accepted}) == len(runs)

        await eventually(all_arrived, timeout=60)
        await eventually(lambda: deliveries_settled(settings, len(runs)), timeout=60)  # all delivered: no more posts
        delivered = sorted(p["event"]["data"]["run_id"] for p, _, _ in receiver.accepted)
        assert delivered == sorted(runs)
    finally:
        for replica in replicas:
            await replica.stop()



async def test_a_runs_events_count_for_the_project_its_queueing_named(settings, nc) -> None:
    """Steps and the end of a run carry no project id: they belong to the project `RunQueued` named."""
    audit = create_service(settings)
    await audit.start()
    try:
        # an in-app rule scoped to the project: the run's end (which names no project) fires it
        await request(nc, command_subject("audit", "add_alert_rule"), {
            "id": "proj-runs-ends", "name": "proj-runs-ends", "event_types": ["RunCompleted"], "project_id": "proj-runs"}, meta=ADMIN)
        js = nc.jetstream()
        executor = Metadata(actor=Actor.service("executor"))
        run_events = [
            ev.RunQueued(run_id="run-p", project_id="proj-runs", pipeline_id="pl", steps=["a"]),
            ev.RunStarted(run_id="run-p"),
            ev.StepCompleted(run_id="run-p", step="a", status="passed"),
            ev.RunCompleted(run_id="run-p", status="completed", total_steps=1, successful_steps=1, failed_steps=0),
        ]
        other = ev.RunStarted(run_id="run-elsewhere")  # a run whose queueing named no project
        for version, event in enumerate(run_events, start=1):
            envelope = envelope_for(event, stream_id="run-p", version=version, meta=executor)
            await js.publish(event_subject("run", "run-p", envelope.event_type), envelope.wire())
        envelope = envelope_for(other, stream_id="run-elsewhere", version=1, meta=executor)
        await js.publish(event_subject("run", "run-elsewhere", envelope.event_type), envelope.wire())

        async def logged() -> bool:
            return await log_count(nc) >= 5

        await eventually(logged, timeout=30)
        stats = await audit_q(nc, "stats", {"project_id": "proj-runs"})
        assert stats["total"] == 4
        assert stats["by_action"] == {"RunCompleted": 1, "RunQueued": 1, "RunStarted": 1, "StepCompleted": 1}
        logs = await audit_q(nc, "logs", {"project_id": "proj-runs"})
        assert {r["envelope"]["stream_id"] for r in logs["items"]} == {"run-p"}

        notes = await audit_q(nc, "notifications", {"project_ids": ["proj-runs"]})
        assert [(n["rule_id"], n["project_id"]) for n in notes["items"]] == [("proj-runs-ends", "proj-runs")]
        note_id = notes["items"][0]["id"]
        member = Metadata(actor=Actor(id="u-member", name="member", role="user"))
        with pytest.raises(NotFound):  # a notification of a project the caller is not in
            await request(nc, command_subject("audit", "dismiss_notification"),
                          {"id": note_id, "project_ids": ["elsewhere"]}, meta=member)
        with pytest.raises(Forbidden):  # unscoped: admins only
            await request(nc, command_subject("audit", "dismiss_notification"), {"id": note_id}, meta=member)
        await request(nc, command_subject("audit", "dismiss_notification"),
                      {"id": note_id, "project_ids": ["proj-runs"]}, meta=member)
        assert (await audit_q(nc, "notifications", {"project_ids": ["proj-runs"]}))["items"] == []
    finally:
        await audit.stop()
