"""Retention of the audit log over real NATS and PostgreSQL: signed segments, guarded removal, verify across."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from ombudsman.audit.app import create_service
from ombudsman.contracts import events as ev
from ombudsman.contracts.chain import SegmentManifest
from ombudsman.contracts.envelope import Actor, Metadata
from ombudsman.contracts.registry import envelope_for
from ombudsman.contracts.replies import Forbidden, Invalid
from ombudsman.contracts.subjects import command_subject, event_subject, query_subject
from ombudsman.eventstore.db import asyncpg_dsn
from ombudsman.eventstore.rpc import request
from ombudsman.eventstore.settings import Settings
from tests.support import eventually

ADMIN = Metadata(actor=Actor(id="u-admin", name="admin", role="admin"))
VIEWER = Metadata(actor=Actor(id="u-view", name="viewer", role="viewer"))
NOW = datetime.now(UTC)


@pytest.fixture
def archive_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "archive"
    monkeypatch.setenv("OMB_AUDIT_ARCHIVE_DIR", str(folder))
    monkeypatch.setenv("OMB_AUDIT_RETENTION_DAYS", "30")
    return folder


@pytest.fixture
def settings(nats_url: str, database_url: str, tmp_path: Path) -> Settings:
    return Settings(database_url=database_url, nats_url=nats_url, secret_key="s" * 32, home=tmp_path / "home")



async def audit_q(nc, name, payload=None, meta=ADMIN):
    return await request(nc, query_subject("audit", name), payload or {}, meta=meta, timeout=30)


async def audit_cmd(nc, name, payload, meta=ADMIN):
    return await request(nc, command_subject("audit", name), payload, meta=meta, timeout=30)


async def publish(nc, count: int, occurred_at: datetime, prefix: str) -> None:
    """`count` run events that happened at `occurred_at` (old ones: beyond the retention period)."""
    js = nc.jetstream()
    for i in range(count):
        envelope = envelope_for(ev.RunStarted(run_id=f"{prefix}{i}"), stream_id=f"{prefix}{i}", version=1,
                                meta=Metadata(actor=Actor.service("executor")))
        envelope = envelope.model_copy(update={"occurred_at": occurred_at + timedelta(seconds=i)})
        await js.publish(event_subject("run", envelope.stream_id, "RunStarted"), envelope.wire(),
                         headers={"Nats-Msg-Id": envelope.event_id})


async def logged_through(nc, position: int) -> bool:
    """Has the log reached `position` (counting archived rows)?"""
    page = await audit_q(nc, "logs", {"offset": 0, "limit": 1000})
    return bool(page["items"]) and page["items"][-1]["position"] >= position


async def test_archive_refuses_inside_the_retention_period(settings, nc, archive_folder, monkeypatch) -> None:
    audit = create_service(settings)
    await audit.start()
    try:
        await publish(nc, 20, NOW - timedelta(days=400), "old")
        await eventually(lambda: logged_through(nc, 20))
        with pytest.raises(Invalid, match="inside the retention period of 30 days"):
            await audit_cmd(nc, "archive", {"before": (NOW - timedelta(days=10)).isoformat()})
        with pytest.raises(Forbidden):
            await audit_cmd(nc, "archive", {"before": (NOW - timedelta(days=100)).isoformat()}, meta=VIEWER)
        with pytest.raises(Invalid, match="before"):
            await audit_cmd(nc, "archive", {"before": "last tuesday"})
        monkeypatch.delenv("OMB_AUDIT_RETENTION_DAYS")
        with pytest.raises(Invalid, match="unlimited"):
            await audit_cmd(nc, "archive", {"before": (NOW - timedelta(days=399)).isoformat()})
        assert (await audit_q(nc, "logs", {"limit": 1}))["total"] == 20
        assert not archive_folder.exists() or not any(archive_folder.iterdir())
        assert (await audit_q(nc, "archive_segments"))["items"] == []
    finally:
        await audit.stop()


async def test_archived_rows_leave_a_signed_segment_and_verify_spans_it(
    settings, nc, archive_folder, database_url
) -> None:
    audit = create_service(settings)
    await audit.start()
    try:
        # 200 old rows, 20 recent ones, then 30 old ones again: only the old prefix 1..200 may go
        await publish(nc, 200, NOW - timedelta(days=400), "a")
        await publish(nc, 20, NOW - timedelta(days=1), "b")
        await publish(nc, 30, NOW - timedelta(days=300), "c")
        await eventually(lambda: logged_through(nc, 250))
        before = await audit_q(nc, "verify")
        assert before["ok"] and before["checked"] == 250

        result = await audit_cmd(nc, "archive", {"before": (NOW - timedelta(days=100)).isoformat()})
        assert result["archived"] == 200
        manifest = SegmentManifest.model_validate(result["manifest"])
        assert (manifest.first_position, manifest.last_position, manifest.row_count) == (1, 200, 200)
        segment = archive_folder / manifest.file
        lines = gzip.decompress(segment.read_bytes()).decode().splitlines()
        assert [json.loads(line)["position"] for line in lines] == list(range(1, 201))
        assert (archive_folder / "segment-000001.manifest.json").exists()

        live = await audit_q(nc, "logs", {"limit": 1000})
        assert live["items"][0]["position"] == 201 and live["items"][0]["prev_hash"] == manifest.head_hash
        assert {r["envelope"]["data"]["run_id"][0] for r in live["items"] if r["event_type"] == "RunStarted"} == {
            "b", "c"}
        await eventually(lambda: _has_event(nc, "AuditArchived"))

        report = await audit_q(nc, "verify")
        assert report["ok"] and report["archived_through"] == 200 and report["checked"] == 51
        full = await audit_q(nc, "verify", {"include_archives": True})
        assert full["ok"] and full["checked"] == 251 and full["first_position"] == 1

        # nothing more is archivable: the oldest live row is recent
        again = await audit_cmd(nc, "archive", {"before": (NOW - timedelta(days=100)).isoformat()})
        assert again["archived"] == 0

        # the writer keeps chaining after the archive
        await publish(nc, 5, NOW, "d")
        await eventually(lambda: logged_through(nc, 256))
        assert (await audit_q(nc, "verify", {"include_archives": True}))["ok"]

        conn = await asyncpg.connect(asyncpg_dsn(database_url))
        try:
            # the guard: no plain DELETE, no DELETE outside a segment even with the setting, no UPDATE
            with pytest.raises(asyncpg.RaiseError, match="append-only"):
                await conn.execute("DELETE FROM audit.event_log WHERE position = 230")
            async with conn.transaction():
                await conn.execute("SELECT set_config('omb.audit_archiving', 'on', true)")
                with pytest.raises(asyncpg.RaiseError, match="append-only"):
                    await conn.execute("DELETE FROM audit.event_log WHERE position = 230")
            with pytest.raises(asyncpg.RaiseError, match="append-only"):
                await conn.execute("DELETE FROM audit.archive_segments")
            # a forged segment that does not end at the log's real hash is refused
            with pytest.raises(asyncpg.RaiseError, match="head hash"):
                await conn.execute(
                    """INSERT INTO audit.archive_segments (segment, file, first_position, last_position,
                       first_stream_seq, last_stream_seq, row_count, prev_hash, head_hash, archived_before, sha256,
                       public_key, manifest) VALUES (2, 'x', 201, 230, 201, 230, 30, $1, $2, now(), '', '', '{}')""",
                    manifest.head_hash, "f" * 64)
        finally:
            await conn.close()

        # tampering with the segment: one altered row is found at its position
        altered = [line.replace('"a41"', '"a99"') if json.loads(line)["position"] == 42 else line for line in lines]
        segment.write_bytes(gzip.compress(("\n".join(altered) + "\n").encode()))
        found = await audit_q(nc, "verify", {"include_archives": True})
        assert not found["ok"] and found["broken_at"] == 42 and "altered" in found["reason"]
        # the live log alone still verifies from the recorded head
        assert (await audit_q(nc, "verify"))["ok"]
        # a removed segment file is found too
        segment.unlink()
        missing = await audit_q(nc, "verify", {"include_archives": True})
        assert not missing["ok"] and missing["broken_at"] == 1 and "missing" in missing["reason"]
    finally:
        await audit.stop()


async def _has_event(nc, event_type: str) -> bool:
    return (await audit_q(nc, "logs", {"action": event_type}))["total"] >= 1


async def test_archiving_the_whole_log_keeps_the_chain_going(settings, nc, archive_folder) -> None:
    audit = create_service(settings)
    await audit.start()
    try:
        await publish(nc, 40, NOW - timedelta(days=90), "x")
        await eventually(lambda: logged_through(nc, 40))
        result = await audit_cmd(nc, "archive", {"before": (NOW - timedelta(days=31)).isoformat()})
        assert result["archived"] == 40
        # the log was empty after archiving: the AuditArchived event continues from the segment's head
        await eventually(lambda: _has_event(nc, "AuditArchived"))
        await audit.stop()
        audit = create_service(settings)  # a restart resumes from the archived head, not from sequence 1
        await audit.start()
        await publish(nc, 3, NOW, "y")
        await eventually(lambda: logged_through(nc, 44))
        live = (await audit_q(nc, "logs"))["items"]
        assert [r["position"] for r in live] == [41, 42, 43, 44]
        assert live[0]["prev_hash"] == result["manifest"]["head_hash"]
        report = await audit_q(nc, "verify", {"include_archives": True})
        assert report["ok"] and report["checked"] == 44 and report["gaps"] == []
        segments = await audit_q(nc, "archive_segments")
        assert [s["segment"] for s in segments["items"]] == [1] and len(segments["public_key"]) == 64
    finally:
        await audit.stop()
