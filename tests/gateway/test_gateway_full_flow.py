"""Issue 8's end-to-end flow through the gateway, with the whole stack real: NATS JetStream,
PostgreSQL, the projects, metadata, workload, audit and executor services, an executor worker
process, and the gateway on uvicorn. The source warehouse is in PostgreSQL; its migrated copy, with
the sample's injected defects, is in fakesnow (Snowflake).

register -> login -> create project -> connections -> automate -> run one generated pipeline ->
a WebSocket client joining after half the steps still gets every event, in order, once ->
JUnit and JSON exports agree with the run's failed steps -> the audit log shows the project's events
with the acting user, and the hash chain verifies."""

from __future__ import annotations

import asyncio
import contextlib
import json
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
import yaml

from ombudsman.audit import app as audit_app
from ombudsman.engine.connectors import connect
from ombudsman.engine.pipeline.sample import source_data, target_data
from ombudsman.executor import app as executor_app
from ombudsman.executor.settings import ExecutorSettings
from ombudsman.gateway.app import create_app
from ombudsman.metadata import app as metadata_app
from ombudsman.projects import app as projects_app
from ombudsman.workload import app as workload_app
from tests.engine.validators.loading import load_warehouse
from tests.gateway.conftest import (
    PASSWORD,
    ensure_events_stream,
    gateway_settings,
    service_settings,
    serving,
    wait_automate,
    worker_process,
    workload_settings,
)
from tests.support import eventually

STEP_DONE = ("step.completed", "step.failed")


@pytest.fixture
async def full_stack(database_url: str, nats_url: str, tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    """Every service for real, one executor worker process, and the gateway on a free port (with open
    registration, OMB_OPEN_REGISTRATION=true: see conftest.gateway_settings)."""
    await ensure_events_stream(nats_url)
    upload_dir = tmp_path / "uploads"
    services = [projects_app.create_service(service_settings(database_url, nats_url)),
                metadata_app.create_service(service_settings(database_url, nats_url)),
                workload_app.create_service(workload_settings(database_url, nats_url, upload_dir)),
                audit_app.create_service(service_settings(database_url, nats_url))]
    for service in services:
        await service.start()
    # One step at a time, so a client can join while the run is half done.
    executor_settings = ExecutorSettings(nats_url=nats_url, database_url=database_url, executor_tick_seconds=0.2,
                                         executor_run_parallel=1)
    try:
        async with (executor_app.running(executor_settings),
                    worker_process(nats_url, database_url, "w1", OMB_WORKER_CONCURRENCY="1")):
            app = create_app(gateway_settings(database_url, nats_url, request_timeout=30, workload_upload_dir=upload_dir))
            async with serving(app) as port:
                yield {"app": app, "port": port, "upload_dir": upload_dir}
    finally:
        for service in services:
            await service.stop()


async def _load_warehouses(source_url: str, target_url: str) -> None:
    """The sample warehouse in PostgreSQL (schema sales) and its defective copy in fakesnow (SALES)."""
    source = source_data()
    async with connect(source_url) as db:
        await db.execute("CREATE SCHEMA sales")
    async with connect(target_url) as db:
        await db.execute("CREATE SCHEMA IF NOT EXISTS SALES")
    await load_warehouse(source_url, source, "sales")
    await load_warehouse(target_url, target_data(source), "SALES", constraints=False)


async def _receive_until_closed(ws: Any, into: list[dict[str, Any]]) -> None:
    with contextlib.suppress(websockets.ConnectionClosedOK):
        while True:
            into.append(json.loads(await asyncio.wait_for(ws.recv(), 60)))


async def test_register_to_audit_through_the_gateway_all_real(
    full_stack: dict[str, Any], warehouse_url: str, fakesnow_url: str
) -> None:
    await _load_warehouses(warehouse_url, fakesnow_url)
    port = full_stack["port"]
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}/api/v1", timeout=120) as c:
        # register -> login
        r = await c.post("/auth/register", json={"username": "olivia", "password": PASSWORD})
        assert r.status_code == 201, r.text
        olivia_id = r.json()["id"]
        r = await c.post("/auth/login", json={"username": "olivia", "password": PASSWORD})
        assert r.status_code == 200, r.text
        token = r.json()["access_token"]
        olivia = {"Authorization": f"Bearer {token}"}

        # project and its two connections
        r = await c.post("/projects", headers=olivia, json={"id": "dw", "name": "Sales warehouse",
                                                            "source_schemas": ["sales"], "target_schemas": ["SALES"]})
        assert r.status_code == 201, r.text
        for name, url in (("source", warehouse_url), ("target", fakesnow_url)):
            r = await c.post("/projects/dw/connections", headers=olivia, json={"name": name, "role": name, "url": url})
            assert r.status_code == 201, r.text

        # automate: catalogs, mappings, relationships, classification, pipelines (one per table)
        r = await c.post("/projects/dw/automate", headers=olivia,
                         json={"source_schemas": ["sales"], "target_schemas": ["SALES"], "auto_approve_threshold": 0.8})
        assert r.status_code == 202, r.text
        automated = await wait_automate(c, olivia, "dw", r.json()["job_id"])
        assert automated["auto_approved"] == 4 and len(automated["pipeline_ids"]) == 5, automated  # + validate-coverage
        sizes = {}
        for pipeline_id in automated["pipeline_ids"]:
            r = await c.get(f"/projects/dw/pipelines/{pipeline_id}", headers=olivia)
            assert r.status_code == 200, r.text
            sizes[pipeline_id] = len(yaml.safe_load(r.json()["yaml"])["steps"])
        pipeline_id = max(sizes, key=lambda p: sizes[p])
        total = sizes[pipeline_id]
        assert total >= 4, sizes

        # run it; one client watches from the start, another joins once half the steps are done
        r = await c.post("/runs", headers=olivia, json={"project_id": "dw", "pipeline_id": pipeline_id})
        assert r.status_code == 202, r.text
        run_id = r.json()["run_id"]
        url = f"ws://127.0.0.1:{port}/ws/runs/{run_id}?token={token}"
        early: list[dict[str, Any]] = []
        late: list[dict[str, Any]] = []
        async with websockets.connect(url) as observer:
            while sum(m["type"] in STEP_DONE for m in early) < total / 2:
                early.append(json.loads(await asyncio.wait_for(observer.recv(), 60)))
            joined_at = datetime.now(UTC)
            async with websockets.connect(url) as joiner:
                await asyncio.gather(_receive_until_closed(observer, early), _receive_until_closed(joiner, late))

        steps_reply = (await c.get(f"/runs/{run_id}/steps", headers=olivia)).json()
        steps = steps_reply["items"] if isinstance(steps_reply, dict) else steps_reply
        run = (await c.get(f"/runs/{run_id}", headers=olivia)).json()
        assert len(steps) == total and run["status"] in ("completed", "failed")

        # the late joiner came in mid-run (some of what it got happened after it joined), and saw exactly
        # what the observer saw: the same events, in the same order, once each
        assert any(datetime.fromisoformat(m["occurred_at"]) > joined_at for m in late)
        assert any(datetime.fromisoformat(m["occurred_at"]) < joined_at for m in late if m["type"] in STEP_DONE)
        assert [m["event_id"] for m in late] == [m["event_id"] for m in early]
        assert len({m["event_id"] for m in late}) == len(late)
        sequences = [m["sequence"] for m in late]
        assert sequences == sorted(sequences)
        versions = [m["version"] for m in late]
        assert versions == sorted(versions) and len(set(versions)) == len(versions)
        kinds = [m["type"] for m in late if m["type"] != "pipeline.queued"]
        assert kinds[0] == "pipeline.started" and kinds[-1] == ("pipeline.failed" if run["status"] == "failed"
                                                                 else "pipeline.completed")
        done = [m["step"] for m in late if m["type"] in STEP_DONE]
        assert sorted(done) == sorted(s["step"] for s in steps)  # every step, once
        for m in late:  # each step starts before it ends
            if m["type"] in STEP_DONE and m.get("status") != "skipped":
                started = [i for i, o in enumerate(late) if o["type"] == "step.started" and o["step"] == m["step"]]
                assert started and started[0] < late.index(m)
        failed_steps = [s["step"] for s in steps if s["status"] == "failed"]
        error_steps = [s["step"] for s in steps if s["status"] == "error"]
        assert failed_steps, "the defective target fails some steps"
        assert sorted(m["step"] for m in late if m["type"] == "step.failed") == sorted(failed_steps + error_steps)

        # exports: JUnit and JSON count the same failures as the run
        r = await c.get(f"/runs/{run_id}/export", headers=olivia, params={"format": "junit"})
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/xml"), r.text
        root = ET.fromstring(r.content)
        suite = root if root.tag == "testsuite" else root.find("testsuite")
        assert suite is not None
        assert int(suite.get("failures", "-1")) == len(failed_steps)
        assert int(suite.get("errors", "-1")) == len(error_steps)
        assert int(suite.get("tests", "-1")) == total
        failed_cases = sorted(case.get("name", "") for case in suite.iter("testcase") if case.find("failure") is not None)
        assert len(failed_cases) == len(failed_steps) and all(any(s in n for s in failed_steps) for n in failed_cases)
        r = await c.get(f"/runs/{run_id}/export", headers=olivia, params={"format": "json"})
        assert r.status_code == 200, r.text
        exported = r.json()
        exported_steps = exported["steps"]
        assert sorted(s["step"] for s in exported_steps if s["status"] == "failed") == sorted(failed_steps)

        # the audit log: the project's events, each with the acting user; the chain verifies
        wanted = {"ProjectCreated", "ConnectionAdded", "RunQueued"}

        async def audited() -> list[dict[str, Any]] | None:
            r = await c.get("/audit/logs", headers=olivia, params={"project_id": "dw", "limit": 500})
            assert r.status_code == 200, r.text
            items = r.json()["items"]
            return items if wanted <= {e["event_type"] for e in items} else None

        logged = await eventually(audited, timeout=60, interval=0.2, what=f"{sorted(wanted)} in the audit log")
        by_type = {e["event_type"]: e for e in logged}
        assert wanted <= set(by_type), sorted(by_type)
        for event_type in wanted:
            actor = by_type[event_type]["actor"]
            assert (actor["id"], actor["name"]) == (olivia_id, "olivia"), by_type[event_type]
        assert sum(e["event_type"] == "ConnectionAdded" for e in logged) == 2

        await full_stack["app"].state.users.register("root", PASSWORD, "admin")  # as `ombudsman admin create`
        r = await c.post("/auth/login", json={"username": "root", "password": PASSWORD})
        admin = {"Authorization": f"Bearer {r.json()['access_token']}"}
        assert (await c.get("/audit/verify", headers=olivia)).status_code == 403
        r = await c.get("/audit/verify", headers=admin)
        assert r.status_code == 200, r.text
        verified = r.json()
        assert verified["ok"] is True and verified["checked"] >= len(logged), verified

        # /audit/stats counts one project's events when given project_id (a member may ask), and the
        # whole log's only for an admin
        r = await c.get("/audit/stats", headers=olivia, params={"project_id": "dw"})
        assert r.status_code == 200, r.text
        project_stats = r.json()
        whole = (await c.get("/audit/stats", headers=admin)).json()
        assert wanted <= set(project_stats["by_action"]), project_stats
        assert "UserRegistered" in whole["by_action"] and "UserRegistered" not in project_stats["by_action"]
        assert project_stats["total"] < whole["total"]
        assert project_stats["by_action"]["ConnectionAdded"] == 2
        refused = await c.get("/audit/stats", headers=olivia)
        assert refused.status_code == 422 and "project_id" in refused.text
        assert (await c.get("/audit/stats", headers=olivia, params={"project_id": "no-such"})).status_code in (403, 404)
