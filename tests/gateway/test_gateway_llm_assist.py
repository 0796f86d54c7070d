"""The language model's help through the gateway, with every real service (projects, metadata,
executor and a step worker process; real NATS, PostgreSQL, DuckDB) and the fake model server
speaking the OpenAI API over real HTTP (tests/metadata/fake_llm.py):

- a custom_query check drafted from a sentence is returned, not saved; saved in a pipeline by a
  person it runs, and passes;
- a failed row_hash step is explained: the gateway takes the step's result from the executor and
  only names and counts reach the model, never the sample's names and e-mail addresses;
- column descriptions drafted by the model, approved through the SDK, show in the catalog;
- `ombudsman results explain RUN STEP` prints the explanation (exit 2 with the model off);
- with the model off, each use answers 409 naming that no model is configured.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest
import yaml

from ombudsman.client.sdk import ApiError, OmbudsmanClient
from ombudsman.metadata import app as metadata_app
from tests.gateway.conftest import PASSWORD, finished, service_settings
from tests.metadata.fake_llm import API_KEY, FakeModel

CLI = [sys.executable, "-c", "from ombudsman.client.cli import main; main()"]
CUSTOMERS = [(1, "Ana Pereira", "ana.pereira@example.com"), (2, "Bruno Costa", "bruno.costa@example.com"),
             (3, "Carla Dias", "carla.dias@example.com"), (4, "Diogo Reis", "diogo.reis@example.com")]
PERSONAL = ("Ana Pereira", "Ana Perera", "ana.pereira@example.com", "Diogo Reis", "diogo.reis@example.com")


def _warehouse(tmp_path: Path) -> tuple[str, str]:
    """Source and target DuckDB files: the target lost customer 4 and misspelt customer 1's name."""
    source, target = tmp_path / "source.duckdb", tmp_path / "target.duckdb"
    for path, rows in ((source, CUSTOMERS), (target, [(1, "Ana Perera", CUSTOMERS[0][2]), *CUSTOMERS[1:3]])):
        with duckdb.connect(str(path)) as db:
            db.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, full_name VARCHAR, email VARCHAR)")
            db.executemany("INSERT INTO customers VALUES (?, ?, ?)", rows)
            db.execute("CREATE TABLE orders AS SELECT i AS id, i % 4 + 1 AS customer_id FROM range(50) t(i)")
    return f"duckdb:///{source}?read_only=true", f"duckdb:///{target}?read_only=true"


@pytest.fixture
async def with_metadata(stack: dict[str, Any], database_url: str, nats_url: str) -> AsyncIterator[dict[str, Any]]:
    """The `stack` (projects, executor, a worker, the gateway) plus the real metadata service."""
    service = metadata_app.create_service(service_settings(database_url, nats_url))
    await service.start()
    try:
        yield stack
    finally:
        await service.stop()


async def cli(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(*CLI, *args, env=env, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    return proc.returncode or 0, out.decode(), err.decode()


def model_on(monkeypatch: pytest.MonkeyPatch, fake: FakeModel) -> None:
    monkeypatch.setenv("OMB_LLM_PROVIDER", "openai")
    monkeypatch.setenv("OMB_LLM_BASE_URL", fake.url + "/v1")
    monkeypatch.setenv("OMB_LLM_API_KEY", API_KEY)
    monkeypatch.setenv("OMB_LLM_MODEL", "fake-model-3")


async def test_drafted_check_runs_a_failed_step_is_explained_and_descriptions_are_approved(
        with_metadata: dict[str, Any], fake_model: FakeModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source, target = _warehouse(tmp_path)
    app, port = with_metadata["app"], with_metadata["port"]
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}/api/v1", timeout=60) as c:
        await app.state.users.register("alice", PASSWORD, "user")
        token = (await c.post("/auth/login", json={"username": "alice", "password": PASSWORD})).json()["access_token"]
        alice = {"Authorization": f"Bearer {token}"}
        assert (await c.post("/projects", headers=alice, json={"id": "dw", "name": "Warehouse"})).status_code == 201
        for name, url in (("source", source), ("target", target)):
            r = await c.post("/projects/dw/connections", headers=alice, json={"name": name, "url": url})
            assert r.status_code == 201, r.text
        r = await c.post("/projects/dw/extract-metadata", headers=alice)
        assert r.status_code == 200, r.text
        for table in ("main.customers", "main.orders"):
            r = await c.post("/projects/dw/mappings/approve", headers=alice,
                             json={"source_table": table, "target_table": table})
            assert r.status_code == 200, r.text

        # the model off: each use says so (409), nothing is sent anywhere
        off = await c.post("/projects/dw/checks/draft", headers=alice, json={"sentence": "compare order counts"})
        assert off.status_code == 409 and "no language model is configured" in off.json()["error"]["message"]
        off = await c.post("/projects/dw/catalog/descriptions/suggest", headers=alice, json={"table": "main.orders"})
        assert off.status_code == 409 and "OMB_LLM_PROVIDER" in off.json()["error"]["message"]

        model_on(monkeypatch, fake_model)
        r = await c.post("/projects/dw/checks/draft", headers=alice,
                         json={"sentence": "Compare order counts", "tables": ["main.orders"]})
        assert r.status_code == 200, r.text
        drafted = r.json()
        assert drafted["suggested_by"] == "model" and drafted["saved"] is False
        assert drafted["dialects"] == {"source": "duckdb", "target": "duckdb"}
        assert (await c.get("/projects/dw/pipelines", headers=alice)).json()["total"] == 0  # a draft is not saved
        refused = await c.post("/projects/dw/checks/draft", headers=alice, json={"sentence": "x"})
        assert refused.status_code == 422  # too short a sentence: the body's own validation

        # a person saves the draft with a pipeline: that is the approval; it runs with the rest
        steps = [drafted["step"], {"id": "customer_rows", "validator": "row_hash", "table": "main.customers",
                                   "parameters": {"key": ["id"]}}]
        spec = yaml.safe_dump({"name": "checks", "connections": {"source": source, "target": target}, "steps": steps})
        saved = await c.post("/projects/dw/pipelines", headers=alice, json={"name": "checks", "yaml": spec})
        assert saved.status_code == 201, saved.text
        pipeline_id = saved.json()["pipeline_id"]
        kept = (await c.get(f"/projects/dw/pipelines/{pipeline_id}", headers=alice)).json()
        assert "drafted by model fake-model-3" in kept["yaml"]
        r = await c.post(f"/projects/dw/pipelines/{pipeline_id}/execute", headers=alice)
        assert r.status_code == 202, r.text
        run_id = r.json()["run_id"]
        run = await finished(c, f"/runs/{run_id}", alice, timeout=120)
        by_step = {s["step"]: s for s in (await c.get(f"/runs/{run_id}/steps", headers=alice)).json()}
        assert by_step[drafted["step"]["id"]]["status"] == "passed", by_step
        assert by_step["customer_rows"]["status"] == "failed" and run["status"] == "failed"
        whole = (await c.get(f"/runs/{run_id}/steps/customer_rows", headers=alice)).json()
        assert "Ana Pere" in str(whole["result"]["sample"])  # the values exist in the result…

        asked_before = len(fake_model.requests)
        r = await c.post(f"/runs/{run_id}/steps/customer_rows/explain", headers=alice)
        assert r.status_code == 200, r.text
        explained = r.json()
        assert explained["suggested_by"] == "model" and explained["model"] == "fake-model-3"
        assert explained["explanation"].startswith("Step customer_rows (row_hash) failed")
        (asked,) = fake_model.requests[asked_before:]
        sent = str(asked["body"])
        assert "customer_rows" in sent and "row_hash" in sent
        for value in PERSONAL:  # …and never reach the model
            assert value not in sent, value
        assert explained["asked_with"]["source"] == {"rows": 4, "only_in_source": 1}  # counts did
        assert explained["asked_with"]["details"]["changed_columns"] == {"full_name": 1}
        assert "/tmp" not in sent and "rows only in source" in explained["asked_with"]["message"]
        passed = await c.post(f"/runs/{run_id}/steps/{drafted['step']['id']}/explain", headers=alice)
        assert passed.status_code == 409 and "passed" in passed.json()["error"]["message"]
        assert (await c.post(f"/runs/{run_id}/steps/nope/explain", headers=alice)).status_code == 404

        # column descriptions through the SDK: drafted, one approved, shown in the catalog
        def describe() -> dict[str, Any]:
            with OmbudsmanClient(f"http://127.0.0.1:{port}", token, timeout=120) as client:
                drafts = client.suggest_descriptions("dw", "main.customers")
                client.approve_description("dw", "main.customers", "email")
                client.reject_description("dw", "main.customers", "full_name")
                with pytest.raises(ApiError) as unknown:
                    client.approve_description("dw", "main.customers", "nope", description="x")
                assert unknown.value.status == 404
                return {"drafts": drafts, "listed": client.descriptions("dw", table="main.customers"),
                        "catalog": client.catalog("dw")}

        done = await asyncio.to_thread(describe)
        assert done["drafts"]["suggested_by"] == "model" and set(done["drafts"]["drafts"]) == {"id", "full_name", "email"}
        (customers,) = [t for t in done["catalog"]["tables"] if t["name"] == "customers"]
        columns = {c["name"]: c for c in customers["columns"]}
        assert columns["email"]["description"] == "email of main.customers (varchar)."
        assert columns["email"]["description_by"]["suggested_by"] == "model"
        assert "description" not in columns["full_name"] and "description_draft" not in columns["full_name"]
        assert "description_draft" in columns["id"]  # still waiting for a person

        # the CLI: `ombudsman results explain RUN STEP`; exit 2 once the model is off
        env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "xdg"), "OMB_SERVER": f"http://127.0.0.1:{port}",
               "OMB_HOME": str(tmp_path / "home"), "COLUMNS": "200"}
        code, _, err = await cli(env, "login", "-u", "alice", "-p", PASSWORD)
        assert code == 0, err
        code, out, err = await cli(env, "results", "explain", run_id, "customer_rows")
        assert code == 0 and "suggested by model fake-model-3" in out and "customer_rows (row_hash) failed" in out, err

        monkeypatch.delenv("OMB_LLM_PROVIDER")
        off = await c.post(f"/runs/{run_id}/steps/customer_rows/explain", headers=alice)
        assert off.status_code == 409 and "no language model is configured" in off.json()["error"]["message"]
        code, out, err = await cli(env, "results", "explain", run_id, "customer_rows")
        assert code == 2 and "no language model is configured" in err, (out, err)
