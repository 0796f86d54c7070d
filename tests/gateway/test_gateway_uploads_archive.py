"""Workload uploads larger than NATS' max_payload (through the folder shared with the real workload
service), and the audit archive routes against the real audit service."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from ombudsman.client.sdk import ApiError, OmbudsmanClient
from ombudsman.contracts import events as ev
from ombudsman.contracts.envelope import Actor, Metadata
from ombudsman.contracts.registry import envelope_for
from ombudsman.contracts.subjects import event_subject, query_subject
from ombudsman.eventstore.rpc import request
from tests.gateway.conftest import Served
from tests.support import eventually
from tests.workload.workload_gen import to_csv, workload

NATS_MAX_PAYLOAD = 1024 * 1024


def _export(rows: int) -> tuple[str, int]:
    """A Query Store CSV export of `rows` rows and its total executions."""
    records = list(workload(rows))
    return to_csv(iter(records)), sum(r["count_executions"] for r in records)


async def _client(served: Served) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=f"http://127.0.0.1:{served.port}/api/v1", timeout=300)


async def test_a_3_mib_query_store_file_goes_through_the_shared_folder(served: Served, tmp_path: Path) -> None:
    user_id, token = await served.token("uma")
    _, outsider = await served.token("otto")
    await served.create_project("wl", user_id)
    content, executions = _export(11_000)
    assert len(content.encode()) > 2.5 * NATS_MAX_PAYLOAD  # ~3 MiB: far beyond what one NATS message may carry
    auth = {"Authorization": f"Bearer {token}"}
    async with await _client(served) as c:
        r = await c.post("/projects/wl/workloads/file", headers=auth, data={"format": "csv"},
                         files={"file": ("querystore.csv", content.encode(), "text/csv")})
        assert r.status_code == 201, r.text
        uploaded = r.json()
        assert uploaded["queries"] == 11_000 and uploaded["filename"] == "querystore.csv"
        assert list(served.upload_dir.iterdir()) == []  # the staged file is gone once the service answered

        r = await c.post(f"/workloads/{uploaded['workload_id']}/analyze", headers=auth)
        assert r.status_code == 200, r.text
        totals = r.json()["totals"]
        assert totals["queries"] == 11_000 and totals["executions"] == executions
        assert totals["distinct_queries"] == uploaded["distinct_queries"] > 0

        # JSON text: small stays inline, large (over 512 KiB) is staged in the folder; both are read whole
        small, _ = _export(50)
        large, _ = _export(5_500)
        assert len(small.encode()) < 512 * 1024 < NATS_MAX_PAYLOAD < len(large.encode())
        for text, rows in ((small, 50), (large, 5_500)):
            r = await c.post("/projects/wl/workloads", headers=auth,
                             json={"filename": "qs.csv", "format": "csv", "content": text})
            assert r.status_code == 201, r.text
            assert r.json()["queries"] == rows
        listed = (await c.get("/projects/wl/workloads", headers=auth)).json()
        assert sorted(w["queries"] for w in listed["items"]) == [50, 5_500, 11_000]
        assert list(served.upload_dir.iterdir()) == []

        # a non-member's upload is refused before anything is written
        r = await c.post("/projects/wl/workloads/file", headers={"Authorization": f"Bearer {outsider}"},
                         data={"format": "csv"}, files={"file": ("qs.csv", small.encode(), "text/csv")})
        assert r.status_code == 404

        # the size limit is configurable: over it, 422 naming the file field, and nothing left behind
        settings = served.app.state.settings
        served.app.state.settings = settings.model_copy(update={"workload_upload_max_bytes": 100_000})
        try:
            r = await c.post("/projects/wl/workloads/file", headers=auth, data={"format": "csv"},
                             files={"file": ("querystore.csv", content.encode(), "text/csv")})
        finally:
            served.app.state.settings = settings
        assert r.status_code == 422 and r.json()["error"]["details"]["field"] == "file", r.text
        r = await c.post("/projects/wl/workloads/file", headers=auth, data={"format": "csv"},
                         files={"file": ("empty.csv", b"", "text/csv")})
        assert r.status_code == 422 and "empty" in r.json()["error"]["message"]
        assert list(served.upload_dir.iterdir()) == []

    # the SDK streams a file from disk the same way
    path = tmp_path / "querystore.csv"
    path.write_text(content)
    sdk = OmbudsmanClient(f"http://127.0.0.1:{served.port}", token)
    try:
        result = await asyncio.to_thread(sdk.upload_workload_file, "wl", path, "csv")
    finally:
        sdk.close()
    assert result["queries"] == 11_000


OLD_EVENTS = 40


async def _publish_old_events(served: Served) -> None:
    """OLD_EVENTS run events that occurred 60 days ago, logged by the real audit service before anything
    else (so they are its first positions, the oldest contiguous run an archive may take)."""
    js = served.nc.jetstream()
    old = datetime.now(UTC) - timedelta(days=60)
    for i in range(OLD_EVENTS):
        envelope = envelope_for(ev.RunStarted(run_id=f"old{i}"), stream_id=f"old{i}", version=1,
                                meta=Metadata(actor=Actor.service("executor")))
        envelope = envelope.model_copy(update={"occurred_at": old + timedelta(seconds=i)})
        await js.publish(event_subject("run", f"old{i}", "RunStarted"), envelope.wire(),
                         headers={"Nats-Msg-Id": envelope.event_id})
    admin = Metadata(actor=Actor(id="u-admin", name="admin", role="admin"))

    async def logged() -> bool:
        return (await request(served.nc, query_subject("audit", "logs"), {"limit": 1}, meta=admin))["total"] >= OLD_EVENTS

    await eventually(logged, timeout=60, what="the old events in the audit log")


async def test_audit_archive_routes_admin_only_retention_enforced_and_verified_across_a_segment(
    served: Served, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # both read by the (in-process) audit service per call
    monkeypatch.setenv("OMB_AUDIT_RETENTION_DAYS", "30")
    monkeypatch.setenv("OMB_AUDIT_ARCHIVE_DIR", str(tmp_path / "archive"))
    await _publish_old_events(served)
    _, admin = await served.token("ada", role="admin")
    _, viewer = await served.token("vic", role="viewer")
    _, user = await served.token("ulf", role="user")
    inside = (datetime.now(UTC) - timedelta(days=2)).isoformat()
    beyond = (datetime.now(UTC) - timedelta(days=40)).isoformat()
    async with await _client(served) as c:
        as_admin = {"Authorization": f"Bearer {admin}"}
        r = await c.post("/audit/archive", headers=as_admin, json={"before": inside})
        assert r.status_code == 422, r.text
        error = r.json()["error"]
        assert error["code"] == "invalid" and "retention period of 30 days" in error["message"]
        assert error["details"]["field"] == "before"
        r = await c.post("/audit/archive", headers=as_admin, json={"before": "not a date"})
        assert r.status_code == 422 and r.json()["error"]["code"] == "invalid"
        for token in (viewer, user):
            for before in (inside, beyond):
                r = await c.post("/audit/archive", headers={"Authorization": f"Bearer {token}"}, json={"before": before})
                assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden", r.text
            r = await c.get("/audit/archive-segments", headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 403

        r = await c.get("/audit/archive-segments", headers=as_admin)
        assert r.status_code == 200, r.text
        segments = r.json()
        assert segments["items"] == [] and segments["retention_days"] == 30 and segments["public_key"]

        # the old events (and only they) move to a signed segment
        r = await c.post("/audit/archive", headers=as_admin, json={"before": beyond})
        assert r.status_code == 200, r.text
        archived = r.json()
        assert archived["archived"] == OLD_EVENTS
        manifest = archived["manifest"]
        assert (manifest["first_position"], manifest["last_position"], manifest["row_count"]) == (1, OLD_EVENTS, OLD_EVENTS)
        assert archived["path"] == str(tmp_path / "archive" / manifest["file"])
        r = await c.post("/audit/archive", headers=as_admin, json={"before": beyond})
        assert r.status_code == 200 and r.json()["archived"] == 0, r.text  # nothing older is left

        r = await c.get("/audit/archive-segments", headers=as_admin)
        [segment] = r.json()["items"]
        assert (segment["segment"], segment["row_count"]) == (1, OLD_EVENTS)
        assert (segment["first_position"], segment["last_position"]) == (1, OLD_EVENTS)

        # the live log keeps what came after: the three users' events, then the archiving itself (logged
        # last, once the audit service has consumed it)
        live_events = [(OLD_EVENTS + 1 + i, t) for i, t in enumerate(["UserRegistered", "UserLoggedIn"] * 3)]
        live_events.append((OLD_EVENTS + 7, "AuditArchived"))

        async def archiving_logged() -> list[tuple[int, str]] | None:
            r = await c.get("/audit/logs", headers=as_admin, params={"limit": 50})
            items = [(i["position"], i["event_type"]) for i in r.json()["items"]]
            return items if "AuditArchived" in {t for _, t in items} else None

        logged = await eventually(archiving_logged, timeout=60, what="AuditArchived in the live log")
        assert logged == live_events

        # the chain verifies across the segment and on into the live log
        r = await c.get("/audit/verify", headers=as_admin, params={"include_archives": "true"})
        assert r.status_code == 200, r.text
        verified = r.json()
        assert verified["ok"] is True and verified["archived_through"] == OLD_EVENTS, verified
        assert (verified["checked"], verified["first_position"], verified["last_position"]) == (
            OLD_EVENTS + 7, 1, OLD_EVENTS + 7)
        r = await c.get("/audit/verify", headers=as_admin)  # the live log alone: on from the segment's head
        live = r.json()
        assert live["ok"] is True, live
        assert (live["checked"], live["first_position"], live["last_position"]) == (7, OLD_EVENTS + 1, OLD_EVENTS + 7)

    sdk = OmbudsmanClient(f"http://127.0.0.1:{served.port}", admin)
    try:
        with pytest.raises(ApiError) as refused:
            await asyncio.to_thread(sdk.audit_archive, datetime.now(UTC) - timedelta(days=1))
        assert refused.value.status == 422
        listed: Any = await asyncio.to_thread(sdk.audit_archive_segments)
        verified = await asyncio.to_thread(sdk.audit_verify, None, None, True)
    finally:
        sdk.close()
    assert [s["row_count"] for s in listed["items"]] == [OLD_EVENTS]
    assert (verified["ok"], verified["checked"], verified["first_position"]) == (True, OLD_EVENTS + 7, 1)


async def test_an_audit_export_larger_than_a_message_downloads_whole_and_verifies(served: Served,
                                                                                  tmp_path: Path) -> None:
    """5,000 events make a JSON Lines export of several MiB: the audit service hands it over through
    the JetStream object store, the gateway streams it, and the file verifies offline."""
    from ombudsman.contracts.chain import verify_export

    _, token = await served.token("auditor", role="admin")
    for i in range(5000):
        await served.publish(f"run-{i:05d}", ev.RunQueued(run_id=f"run-{i:05d}", project_id="p-large",
                                                          steps=[f"step-{j}" for j in range(5)]))
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{served.port}", timeout=120) as c:

        async def all_logged() -> int | None:
            total = (await c.get("/api/v1/audit/logs", headers=headers, params={"limit": 1})).json()["total"]
            return total if total >= 5000 else None

        logged = await eventually(all_logged, timeout=120, what="5000 events in the audit log")
        exported = await c.get("/api/v1/audit/export", headers=headers, params={"format": "jsonl"})
    assert exported.status_code == 200, exported.text[:300]
    assert len(exported.content) > 2 * 1024 * 1024
    lines = exported.text.splitlines()
    assert logged >= 5000 and len(lines) >= logged  # every logged row, none lost on the way
    report = verify_export(lines)
    assert report.ok and report.checked == len(lines) and report.first_position == 1
