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
from tests.gateway.conftest import Served
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


async def test_audit_archive_routes_admin_only_and_retention_enforced(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OMB_AUDIT_RETENTION_DAYS", "30")  # read by the (in-process) audit service per call
    _, admin = await served.token("ada", role="admin")
    _, viewer = await served.token("vic", role="viewer")
    _, user = await served.token("ulf", role="user")
    inside = (datetime.now(UTC) - timedelta(days=2)).isoformat()
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
            r = await c.post("/audit/archive", headers={"Authorization": f"Bearer {token}"}, json={"before": inside})
            assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden", r.text
            r = await c.get("/audit/archive-segments", headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 403

        r = await c.get("/audit/archive-segments", headers=as_admin)
        assert r.status_code == 200, r.text
        segments = r.json()
        assert segments["items"] == [] and segments["retention_days"] == 30 and segments["public_key"]
        r = await c.get("/audit/verify", headers=as_admin, params={"include_archives": "true"})
        assert r.status_code == 200 and r.json()["ok"] is True, r.text

    sdk = OmbudsmanClient(f"http://127.0.0.1:{served.port}", admin)
    try:
        with pytest.raises(ApiError) as refused:
            await asyncio.to_thread(sdk.audit_archive, datetime.now(UTC) - timedelta(days=1))
        assert refused.value.status == 422
        listed: Any = await asyncio.to_thread(sdk.audit_archive_segments)
        verified: Any = await asyncio.to_thread(sdk.audit_verify, None, None, True)
    finally:
        sdk.close()
    assert listed["items"] == [] and verified["ok"] is True
