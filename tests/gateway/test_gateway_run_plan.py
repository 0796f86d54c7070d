"""`POST /api/v1/runs?dry_run=true`: the price of a run, made by a step worker (the executor does not
reach the databases), with no run queued or recorded; bad input is a 4xx naming the field. Real
projects and executor services, a worker process, DuckDB files."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import nats
import yaml

from ombudsman.client.sdk import OmbudsmanClient
from ombudsman.contracts.envelope import Actor, Metadata
from ombudsman.contracts.subjects import worker_stats_subject
from ombudsman.eventstore.rpc import gather
from tests.gateway.test_gateway_e2e_run import _login, _save_connections, _warehouse
from tests.support import eventually


async def _worker_ready(nats_url: str) -> None:
    """The stack's worker process answers on the bus (it starts in a process of its own)."""
    nc = await nats.connect(nats_url)
    try:
        async def answers() -> bool:
            return bool(await gather(nc, worker_stats_subject(), {}, meta=Metadata(actor=Actor.system()), wait=0.5))

        await eventually(answers, timeout=60, what="the step worker to answer")
    finally:
        await nc.close()


async def test_dry_run_prices_each_step_and_records_no_run(stack: dict[str, Any], tmp_path: Path, nats_url: str) -> None:
    source, target = _warehouse(tmp_path)
    await _worker_ready(nats_url)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{stack['port']}", timeout=60) as c:
        alice = await _login(c, stack["app"], "alice")
        assert (await c.post("/api/v1/projects", headers=alice, json={"id": "dw", "name": "Warehouse"})).status_code == 201
        steps = [{"id": "orders_count", "validator": "record_counts", "table": "main.orders"},
                 {"id": "lines_columns", "validator": "schema_columns", "table": "main.lines"}]
        spec = yaml.safe_dump({"name": "counts", "connections": {"source": source, "target": target}, "steps": steps})
        await _save_connections(c, alice, spec)

        r = await c.post("/api/v1/runs", params={"dry_run": "true"}, headers=alice, json={"project_id": "dw", "pipeline_yaml": spec})
        assert r.status_code == 200, r.text
        plan = r.json()
        by_step = {s["step"]: s for s in plan["steps"]}
        counts = by_step["orders_count"]
        assert counts["source"]["rows"] == 100 and counts["target"]["rows"] == 100
        assert counts["source"]["bytes"] > 0 and counts["source"]["seconds"] > 0 and counts["source"]["scans"] == 1
        assert "duckdb_tables" in counts["source"]["statistics"] and counts["seconds"] > 0
        assert by_step["lines_columns"]["source"]["scans"] == 0  # catalog only
        assert plan["name"] == "counts" and plan["seconds"] >= counts["seconds"]

        with OmbudsmanClient(f"http://127.0.0.1:{stack['port']}", alice["Authorization"].split()[1]) as client:
            sdk = await asyncio.to_thread(client.plan_run, project_id="dw", pipeline_yaml=spec)
        assert {s["step"]: s["source"]["rows"] for s in sdk["steps"]} == {"orders_count": 100, "lines_columns": 100}

        runs = (await c.get("/api/v1/runs", params={"project_id": "dw"}, headers=alice)).json()
        assert runs["items"] == []  # nothing was queued

        bad = await c.post("/api/v1/runs", params={"dry_run": "perhaps"}, headers=alice,
                           json={"project_id": "dw", "pipeline_yaml": spec})
        assert bad.status_code == 422 and bad.json()["error"]["details"]["fields"][0]["field"] == "dry_run", bad.text
        missing = await c.post("/api/v1/runs", params={"dry_run": "true"}, headers=alice,
                               json={"project_id": "dw", "pipeline_yaml": spec.replace("main.orders", "main.nope")})
        assert missing.status_code == 200  # an unknown table is priced as unknown, never a 500
        nope = {s["step"]: s for s in missing.json()["steps"]}["orders_count"]["source"]
        assert nope["rows"] is None and nope["note"]
