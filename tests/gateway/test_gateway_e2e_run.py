"""Through the gateway with real services: the projects service, the executor service and a worker
process (real NATS, PostgreSQL, DuckDB). A user creates a project, queues a run, watches it over
the WebSocket after it finished (late joiner: the whole history), reads it, exports it; another user
sees none of it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest
import websockets
import yaml

from ombudsman.client.sdk import ApiError, OmbudsmanClient
from tests.gateway.conftest import PASSWORD, finished


def _warehouse(tmp_path: Path) -> tuple[str, str]:
    source, target = tmp_path / "source.duckdb", tmp_path / "target.duckdb"
    for path, lost in ((source, 0), (target, 3)):
        with duckdb.connect(str(path)) as db:
            db.execute("CREATE TABLE orders AS SELECT i AS id, i * 2 AS amount FROM range(100) t(i)")
            db.execute(f"CREATE TABLE lines AS SELECT i AS id FROM range({100 - lost}) t(i)")
    return f"duckdb:///{source}?read_only=true", f"duckdb:///{target}?read_only=true"


async def _login(c: httpx.AsyncClient, app: Any, username: str) -> dict[str, str]:
    await app.state.users.register(username, PASSWORD, "user")
    r = await c.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


async def _save_connections(c: httpx.AsyncClient, headers: dict[str, str], spec: str) -> None:
    """Save the connections a pipeline names as connections of project dw (once): a person's run
    opens only the project's saved connections, never URLs written in the pipeline (issue 14)."""
    for name, url in (yaml.safe_load(spec).get("connections") or {}).items():
        r = await c.post("/api/v1/projects/dw/connections", headers=headers, json={"name": name, "url": url})
        assert r.status_code in (201, 409), r.text


async def _run_to_end(c: httpx.AsyncClient, headers: dict[str, str], spec: str) -> tuple[str, dict[str, Any]]:
    """Queue a run of project dw through the gateway and read it until it has finished (60 s at most)."""
    await _save_connections(c, headers, spec)
    r = await c.post("/api/v1/runs", headers=headers, json={"project_id": "dw", "pipeline_yaml": spec})
    assert r.status_code == 202, r.text
    run_id = r.json()["run_id"]
    return run_id, await finished(c, f"/api/v1/runs/{run_id}", headers)


async def test_run_through_the_gateway_with_real_services(stack: dict[str, Any], tmp_path: Path) -> None:
    source, target = _warehouse(tmp_path)
    port = stack["port"]
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as c:
        alice = await _login(c, stack["app"], "alice")
        mallory = await _login(c, stack["app"], "mallory")
        r = await c.post("/api/v1/projects", headers=alice, json={"id": "dw", "name": "Warehouse"})
        assert r.status_code == 201, r.text
        r = await c.post("/api/v1/projects/dw/connections", headers=alice,
                         json={"name": "src", "role": "source", "url": "postgresql://etl:s3cr3t-pw@db.example/dw"})
        assert r.status_code == 201 and "s3cr3t-pw" not in r.text, r.text
        assert "s3cr3t-pw" not in (await c.get("/api/v1/projects/dw", headers=alice)).text

        steps = [{"id": "orders_count", "validator": "record_counts", "table": "main.orders"},
                 {"id": "lines_count", "validator": "record_counts", "table": "main.lines", "depends_on": ["orders_count"]}]
        spec = yaml.safe_dump({"name": "counts", "connections": {"source": source, "target": target}, "steps": steps})
        run_id, run = await _run_to_end(c, alice, spec)
        assert run["status"] == "failed" and run["project_id"] == "dw"

        # Joining after the end: the socket replays the whole run, in order, then closes.
        url = f"ws://127.0.0.1:{port}/ws/runs/{run_id}"
        async with websockets.connect(url) as ws:
            await ws.send(json.dumps({"token": alice["Authorization"].split()[1]}))
            messages = []
            with contextlib.suppress(websockets.ConnectionClosedOK):
                while True:
                    messages.append(json.loads(await asyncio.wait_for(ws.recv(), 10)))
        kinds = [(m["type"], m.get("step")) for m in messages if m["type"] != "pipeline.queued"]
        assert kinds[0] == ("pipeline.started", None) and kinds[-1] == ("pipeline.failed", None)
        done = [(k, s) for k, s in kinds if k in ("step.completed", "step.failed")]
        assert done == [("step.completed", "orders_count"), ("step.failed", "lines_count")]
        assert [m["version"] for m in messages] == sorted(m["version"] for m in messages)

        exported = await c.get(f"/api/v1/runs/{run_id}/export", headers=alice, params={"format": "json"})
        assert exported.status_code == 200 and exported.headers["content-type"].startswith("application/json")
        assert "attachment" in exported.headers["content-disposition"]
        assert "lines_count" in exported.text
        one = await c.get(f"/api/v1/runs/{run_id}/steps/lines_count", headers=alice)
        assert one.status_code == 200 and one.json()["result"]["target"] == {"row_count": 97}, one.text
        assert (await c.get(f"/api/v1/runs/{run_id}/steps/nope", headers=alice)).status_code == 404
        assert (await c.get(f"/api/v1/runs/{run_id}/steps/lines_count", headers=mallory)).status_code == 404

        # Mallory is not a member: the project, the run and its socket do not exist for her.
        assert (await c.get("/api/v1/projects/dw", headers=mallory)).status_code == 404
        assert (await c.get(f"/api/v1/runs/{run_id}", headers=mallory)).status_code == 404
        assert (await c.get(f"/api/v1/runs/{run_id}/export", headers=mallory)).status_code == 404
        assert (await c.get("/api/v1/runs", headers=mallory, params={"project_id": "dw"})).status_code == 404
        async with websockets.connect(f"{url}?token={mallory['Authorization'].split()[1]}") as ws:
            assert json.loads(await asyncio.wait_for(ws.recv(), 5))["error"]["code"] == "not_found"
        runs = (await c.get("/api/v1/runs", headers=alice, params={"project_id": "dw"})).json()
        assert [r["run_id"] for r in runs["items"]] == [run_id]


async def test_saved_pipeline_mermaid_and_batches_through_the_gateway(stack: dict[str, Any], tmp_path: Path) -> None:
    source, target = _warehouse(tmp_path)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{stack['port']}", timeout=30) as c:
        alice = await _login(c, stack["app"], "alice")
        mallory = await _login(c, stack["app"], "mallory")
        assert (await c.post("/api/v1/projects", headers=alice, json={"id": "dw", "name": "Warehouse"})).status_code == 201
        steps = [{"id": "orders_count", "validator": "record_counts", "table": "main.orders"},
                 {"id": "orders_again", "validator": "record_counts", "table": "main.orders",
                  "depends_on": ["orders_count"]}]
        spec = yaml.safe_dump({"name": "orders", "connections": {"source": source, "target": target}, "steps": steps})
        bad = await c.post("/api/v1/projects/dw/pipelines", headers=alice,
                           json={"name": "broken", "yaml": "name: x\nsteps: [{id: a, validator: v, depends_on: [zz]}]"})
        assert bad.status_code == 422 and "zz" in bad.text
        await _save_connections(c, alice, spec)
        saved = await c.post("/api/v1/projects/dw/pipelines", headers=alice, json={"name": "orders", "yaml": spec})
        assert saved.status_code == 201, saved.text
        pipeline_id = saved.json()["pipeline_id"]
        diagram = await c.get(f"/api/v1/projects/dw/pipelines/{pipeline_id}/mermaid", headers=alice)
        assert diagram.status_code == 200 and diagram.text.startswith("flowchart TD")
        assert "s0 --> s1" in diagram.text

        r = await c.post("/api/v1/batches", headers=alice,
                         json={"name": "nightly", "pipelines": [{"project_id": "dw", "pipeline_id": pipeline_id}] * 2})
        assert r.status_code == 201, r.text
        batch_id = r.json()["batch_id"]
        forbidden = await c.post("/api/v1/batches", headers=mallory,
                                 json={"name": "x", "pipelines": [{"project_id": "dw", "pipeline_id": pipeline_id}]})
        assert forbidden.status_code == 404
        assert (await c.post(f"/api/v1/batches/{batch_id}/execute", headers=alice)).status_code == 202
        batch = await finished(c, f"/api/v1/batches/{batch_id}", alice)
        assert batch["status"] == "completed" and batch["progress"]["completed"] == 2
        listed = await c.get("/api/v1/batches", headers=alice)
        assert listed.status_code == 200, listed.text
        assert [b["batch_id"] for b in listed.json()["items"]] == [batch_id]
        assert (await c.get("/api/v1/batches", headers=mallory)).json()["items"] == []
        assert (await c.get(f"/api/v1/batches/{batch_id}", headers=mallory)).status_code == 404
        history = (await c.get(f"/api/v1/projects/dw/pipelines/{pipeline_id}/history", headers=alice)).json()
        assert len(history) == 2 and {h["status"] for h in history} == {"completed"}


async def test_connection_pools_of_the_workers_through_the_gateway(stack: dict[str, Any], warehouse_url: str) -> None:
    """A project's PostgreSQL connections stay open on the worker between steps; the pool route
    shows them to members (no URL), 404 for others and unknown names; /workers is for admins."""
    import asyncpg

    conn = await asyncpg.connect(warehouse_url)
    try:
        await conn.execute("CREATE TABLE public.orders AS SELECT g AS id FROM generate_series(1, 40) g")
    finally:
        await conn.close()
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{stack['port']}", timeout=30) as c:
        alice = await _login(c, stack["app"], "alice")
        mallory = await _login(c, stack["app"], "mallory")
        assert (await c.post("/api/v1/projects", headers=alice, json={"id": "dw", "name": "Warehouse"})).status_code == 201
        for side in ("source", "target"):
            r = await c.post("/api/v1/projects/dw/connections", headers=alice,
                             json={"name": side, "role": side, "url": warehouse_url})
            assert r.status_code == 201, r.text
        empty = await c.get("/api/v1/projects/dw/connections/source/pool", headers=alice)
        assert empty.status_code == 200 and empty.json()["pools"] == [] and empty.json()["totals"]["open"] == 0

        steps = [{"id": f"orders_{i}", "validator": "record_counts", "table": "public.orders"} for i in range(3)]
        spec = yaml.safe_dump({"name": "pg", "connections": {"source": "postgresql://placeholder/x",
                                                             "target": "postgresql://placeholder/x"}, "steps": steps})
        _, run = await _run_to_end(c, alice, spec)
        assert run["status"] == "completed" and run["successful_steps"] == 3, run

        pool = await c.get("/api/v1/projects/dw/connections/target/pool", headers=alice)
        assert pool.status_code == 200, pool.text
        body = pool.json()
        assert body["connection"] == "target" and body["workers_answering"] == 1
        assert [(p["worker"], p["steps_served"], p["in_use"]) for p in body["pools"]] == [("w1", 3, 0)]
        assert body["totals"]["workers"] == 1 and body["totals"]["open"] >= 1
        assert "postgresql" not in pool.text and warehouse_url not in pool.text

        assert (await c.get("/api/v1/projects/dw/connections/nope/pool", headers=alice)).status_code == 404
        assert (await c.get("/api/v1/projects/dw/connections/source/pool", headers=mallory)).status_code == 404
        assert (await c.get("/api/v1/workers", headers=alice)).status_code == 403
        await stack["app"].state.users.register("root", PASSWORD, "admin")
        r = await c.post("/api/v1/auth/login", json={"username": "root", "password": PASSWORD})
        admin = {"Authorization": f"Bearer {r.json()['access_token']}"}
        listed = (await c.get("/api/v1/workers", headers=admin)).json()
        assert listed["total"] == 1 and listed["workers"][0]["worker"] == "w1" and listed["steps_done"] == 3
        assert {(k["project_id"], k["connection"]) for k in listed["workers"][0]["connections"]} == {
            ("dw", "source"), ("dw", "target")}


async def test_compare_discrepancy_decisions_and_schedules_through_the_gateway(stack: dict[str, Any],
                                                                               tmp_path: Path) -> None:
    """The executor's result actions through the gateway: a failed run's discrepancy accepted (with
    who and why), the next run compared with it, and a saved pipeline scheduled and unscheduled."""
    source, target = _warehouse(tmp_path)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{stack['port']}", timeout=30) as c:
        alice = await _login(c, stack["app"], "alice")
        mallory = await _login(c, stack["app"], "mallory")
        assert (await c.post("/api/v1/projects", headers=alice, json={"id": "dw", "name": "Warehouse"})).status_code == 201
        steps = [{"id": "orders_count", "validator": "record_counts", "table": "main.orders"},
                 {"id": "lines_count", "validator": "record_counts", "table": "main.lines"}]
        spec = yaml.safe_dump({"name": "counts", "connections": {"source": source, "target": target}, "steps": steps})
        first_id, first = await _run_to_end(c, alice, spec)
        assert first["status"] == "failed"

        found = (await c.get("/api/v1/projects/dw/discrepancies", headers=alice, params={"run_id": first_id})).json()
        assert [(d["step"], d["status"]) for d in found] == [("lines_count", "open")]
        discrepancy = found[0]["discrepancy_id"]
        url = f"/api/v1/projects/dw/discrepancies/{discrepancy}"
        assert (await c.post(f"{url}/accept", headers=mallory, json={"note": "x"})).status_code == 404
        assert (await c.post("/api/v1/projects/dw/discrepancies/nope/accept", headers=alice)).status_code == 404
        assert (await c.post(f"{url}/accept", headers=alice, json={"note": 123})).status_code == 422
        accepted = await c.post(f"{url}/accept", headers=alice, json={"note": "3 test rows purged on purpose"})
        assert accepted.status_code == 200 and accepted.json()["status"] == "accepted", accepted.text
        stored = (await c.get("/api/v1/projects/dw/discrepancies", headers=alice, params={"run_id": first_id})).json()[0]
        assert (stored["status"], stored["note"]) == ("accepted", "3 test rows purged on purpose")
        assert stored["decided_by"] and stored["decided_at"]
        assert (await c.post(f"{url}/resolve", headers=alice)).status_code == 409  # decided already

        # the accepted difference no longer fails the next run: the comparison says what got better
        second_id, second = await _run_to_end(c, alice, spec)
        assert second["status"] == "completed", second
        compared = await c.get(f"/api/v1/runs/{second_id}/compare", headers=alice, params={"baseline": first_id})
        assert compared.status_code == 200, compared.text
        body = compared.json()
        assert [b["step"] for b in body["better"]] == ["lines_count"] and body["worse"] == []
        assert body["score_delta"] > 0
        assert (await c.get(f"/api/v1/runs/{second_id}/compare", headers=mallory,
                            params={"baseline": first_id})).status_code == 404
        assert (await c.get(f"/api/v1/runs/{second_id}/compare", headers=alice)).status_code == 422

        saved = await c.post("/api/v1/projects/dw/pipelines", headers=alice, json={"name": "counts", "yaml": spec})
        pipeline_id = saved.json()["pipeline_id"]
        r = await c.post("/api/v1/projects/dw/schedules", headers=alice,
                         json={"pipeline_id": pipeline_id, "cron": "0 2 * * *"})
        assert r.status_code == 201, r.text
        schedule_id = r.json()["schedule_id"]
        bad = await c.post("/api/v1/projects/dw/schedules", headers=alice,
                           json={"pipeline_id": pipeline_id, "cron": "every night at two"})
        assert bad.status_code == 422 and "cron" in bad.text
        missing = await c.post("/api/v1/projects/dw/schedules", headers=alice,
                               json={"pipeline_id": "no-such-pipeline", "cron": "0 2 * * *"})
        assert missing.status_code == 404
        listed = (await c.get("/api/v1/projects/dw/schedules", headers=alice)).json()
        assert [(s["schedule_id"], s["cron"], s["pipeline_id"]) for s in listed] == [(schedule_id, "0 2 * * *",
                                                                                     pipeline_id)]
        upcoming = [datetime.fromisoformat(t) for t in listed[0]["next_runs"]]  # the next-run preview
        assert len(upcoming) == 3 and all((t.hour, t.minute) == (2, 0) for t in upcoming)
        assert upcoming == sorted(upcoming) and upcoming[0] > datetime.now(UTC)
        assert (await c.get("/api/v1/projects/dw/schedules", headers=mallory)).status_code == 404
        assert (await c.delete(f"/api/v1/projects/dw/schedules/{schedule_id}", headers=mallory)).status_code == 404
        assert (await c.delete(f"/api/v1/projects/dw/schedules/{schedule_id}", headers=alice)).status_code == 204
        assert (await c.get("/api/v1/projects/dw/schedules", headers=alice)).json() == []
        assert (await c.delete(f"/api/v1/projects/dw/schedules/{schedule_id}", headers=alice)).status_code == 404

        batch = await c.post("/api/v1/batches", headers=alice,
                             json={"name": "nightly", "pipelines": [{"project_id": "dw", "pipeline_id": pipeline_id}]})
        batch_id = batch.json()["batch_id"]
        r = await c.post(f"/api/v1/batches/{batch_id}/schedules", headers=alice, json={"cron": "30 1 * * 1-5"})
        assert r.status_code == 201, r.text
        assert [s["batch_id"] for s in (await c.get(f"/api/v1/batches/{batch_id}/schedules", headers=alice)).json()] == [
            batch_id]
        assert (await c.post(f"/api/v1/batches/{batch_id}/schedules", headers=mallory,
                             json={"cron": "30 1 * * *"})).status_code == 404


async def test_cli_compare_discrepancies_and_schedules(stack: dict[str, Any], tmp_path: Path) -> None:
    """The same actions from the `ombudsman` command line, against the real executor."""
    from tests.gateway.test_gateway_cli_sdk import ombudsman

    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "xdg"), "OMB_SERVER": f"http://127.0.0.1:{stack['port']}",
           "COLUMNS": "200"}
    await stack["app"].state.users.register("carol", PASSWORD, "user")
    assert (await ombudsman(env, "login", "-u", "carol", "-p", PASSWORD))[0] == 0
    assert (await ombudsman(env, "projects", "create", "dw", "--name", "DW"))[0] == 0
    source, target = _warehouse(tmp_path)
    spec = yaml.safe_dump({"name": "counts", "connections": {"source": source, "target": target},
                           "steps": [{"id": "lines_count", "validator": "record_counts", "table": "main.lines"}]})
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{stack['port']}", timeout=30) as c:
        token = json.loads((tmp_path / "xdg" / "ombudsman" / "token.json").read_text())["access_token"]
        carol = {"Authorization": f"Bearer {token}"}
        first_id, _ = await _run_to_end(c, carol, spec)

        code, out, err = await ombudsman(env, "discrepancies", "list", "dw", "--run", first_id, "--json")
        assert code == 0, err
        found = json.loads(out)
        assert [d["step"] for d in found] == ["lines_count"]
        code, out, err = await ombudsman(env, "discrepancies", "accept", "dw", found[0]["discrepancy_id"],
                                         "--note", "purged test rows")
        assert code == 0 and "accepted" in out, err
        second_id, _ = await _run_to_end(c, carol, spec)
        code, out, err = await ombudsman(env, "results", "compare", second_id, "--baseline", first_id)
        assert code == 0 and "0 worse, 1 better" in out, out + err
        code, out, err = await ombudsman(env, "results", "compare", first_id, "--baseline", second_id)
        assert code == 1 and "1 worse" in out  # worse than its baseline: exit 1, for CI gates

        saved = await c.post("/api/v1/projects/dw/pipelines", headers=carol, json={"name": "counts", "yaml": spec})
        pipeline_id = saved.json()["pipeline_id"]
    code, out, err = await ombudsman(env, "schedule", "add", "dw", pipeline_id, "--cron", "0 2 * * *")
    assert code == 0, err
    schedule_id = out.split("schedule ")[-1].strip().rstrip(".")
    code, out, err = await ombudsman(env, "schedule", "list", "dw", "--json")
    assert code == 0 and [s["schedule_id"] for s in json.loads(out)] == [schedule_id]
    code, _, err = await ombudsman(env, "schedule", "add", "dw", pipeline_id, "--cron", "nightly")
    assert code == 2 and "cron" in err

    # the report as the executor exports it, downloaded by the CLI; a saved pipeline run through the SDK
    report = tmp_path / "report.json"
    code, out, err = await ombudsman(env, "results", "export", second_id, "--format", "json", "-o", str(report))
    assert code == 0, err
    exported = json.loads(report.read_bytes())
    assert exported["run_id"] == second_id and [s["step"] for s in exported["steps"]] == ["lines_count"]
    with OmbudsmanClient(f"http://127.0.0.1:{stack['port']}", token) as client:
        queued = await asyncio.to_thread(client.execute_pipeline, "dw", pipeline_id)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{stack['port']}", timeout=30) as c:
            run = await finished(c, f"/api/v1/runs/{queued['run_id']}", carol)
        assert run["status"] == "completed" and run["pipeline_id"] == pipeline_id
        junit = await asyncio.to_thread(client.export_run, queued["run_id"], "junit")
        assert junit.content_type.startswith("application/xml") and b'failures="0"' in junit.content
        with pytest.raises(ApiError) as missing:
            await asyncio.to_thread(client.execute_pipeline, "dw", "no-such-pipeline")
        assert missing.value.status == 404
    assert (await ombudsman(env, "schedule", "remove", "dw", schedule_id))[0] == 0
    code, out, _ = await ombudsman(env, "schedule", "list", "dw", "--json")
    assert json.loads(out) == []
