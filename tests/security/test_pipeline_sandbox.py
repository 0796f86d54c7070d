"""Issue 14: pipelines are sandboxed. Through the real gateway, projects service, executor service and
a worker process (real NATS, real PostgreSQL, DuckDB files): a plain user cannot read a host file
with a custom query, cannot run connection URLs written in the pipeline, and cannot point a project
connection at the platform's own PostgreSQL; a DuckDB connection the engine opens cannot read host
files even if the SQL guard were bypassed."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import duckdb
import httpx
import pytest
import yaml

from ombudsman.engine.connectors import QueryFailed, connect
from ombudsman.eventstore.settings import Settings
from ombudsman.executor import app as executor_app
from ombudsman.executor.settings import ExecutorSettings
from ombudsman.gateway.app import create_app
from ombudsman.projects import app as projects_app
from tests.gateway.conftest import PASSWORD, finished, gateway_settings, serving, worker_process


@pytest.fixture
def secret_file(tmp_path: Path) -> tuple[Path, str]:
    """A file standing for `.ombudsman/jwt.key`: outside the allowed DuckDB folder."""
    secret = "jwt-" + secrets.token_hex(16)
    path = tmp_path / "home" / "jwt.key"
    path.parent.mkdir()
    path.write_text(secret)
    return path, secret


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    for name, rows in (("source", 10), ("target", 10)):
        with duckdb.connect(str(folder / f"{name}.duckdb")) as db:
            db.execute(f"CREATE TABLE orders AS SELECT i AS id, i * 2 AS amount FROM range({rows}) t(i)")
    return folder


@pytest.fixture
async def stack(database_url: str, nats_url: str, data_dir: Path,
                monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[dict[str, Any]]:
    # what the launcher gives every service process
    platform_env = {"OMB_NATS_URL": nats_url, "OMB_DATABASE_URL": database_url, "OMB_FILE_ROOTS": str(data_dir)}
    for key, value in platform_env.items():
        monkeypatch.setenv(key, value)
    projects = projects_app.create_service(Settings(database_url=database_url, nats_url=nats_url, secret_key="k" * 32))
    await projects.start()
    settings = ExecutorSettings(nats_url=nats_url, database_url=database_url, executor_tick_seconds=0.2)
    app = create_app(gateway_settings(database_url, nats_url, request_timeout=20))
    async with (executor_app.running(settings),
                worker_process(nats_url, database_url, "w-sandbox", OMB_FILE_ROOTS=str(data_dir)),
                serving(app) as port,
                httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client):
        yield {"app": app, "client": client}
    await projects.stop()


async def _login(stack: dict[str, Any], username: str, role: str = "user") -> dict[str, str]:
    await stack["app"].state.users.register(username, PASSWORD, role)
    r = await stack["client"].post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


async def _project_with_connections(c: httpx.AsyncClient, headers: dict[str, str], data_dir: Path) -> None:
    assert (await c.post("/api/v1/projects", headers=headers, json={"id": "dw", "name": "Warehouse"})).status_code == 201
    for name in ("source", "target"):
        r = await c.post("/api/v1/projects/dw/connections", headers=headers,
                         json={"name": name, "role": name, "url": f"duckdb:///{data_dir / name}.duckdb?read_only=true"})
        assert r.status_code == 201, r.text


def _pipeline(step: dict[str, Any], connections: dict[str, str] | None = None) -> str:
    return yaml.safe_dump({"name": "p", "connections": connections or {"source": "source", "target": "target"},
                           "steps": [step]})


async def _finished(c: httpx.AsyncClient, headers: dict[str, str], run_id: str) -> dict[str, Any]:
    return await finished(c, f"/api/v1/runs/{run_id}", headers)


async def test_a_user_cannot_read_host_files_with_a_custom_query(
    stack: dict[str, Any], data_dir: Path, secret_file: tuple[Path, str]
) -> None:
    c = stack["client"]
    alice = await _login(stack, "alice")
    await _project_with_connections(c, alice, data_dir)
    path, secret = secret_file
    attacks = [
        f"SELECT * FROM read_text('{path}')",
        f"SELECT content FROM main.orders, read_text('{path}')",
        f"SELECT * FROM '{path}'",
        "SELECT getenv('HOME')",
        f"SELECT * FROM main.orders WHERE id IN (SELECT length(content) FROM read_blob('{path}'))",
    ]
    for sql in attacks:
        spec = _pipeline({"id": "steal", "validator": "custom_query", "parameters": {"source_sql": sql}})
        r = await c.post("/api/v1/runs", headers=alice, json={"project_id": "dw", "pipeline_yaml": spec})
        assert r.status_code == 422, (sql, r.text)
        assert "steal" in r.text and "parameters.source_sql" in r.text, r.text
        assert secret not in r.text
        # saving it as a project pipeline is refused the same way
        saved = await c.post("/api/v1/projects/dw/pipelines", headers=alice, json={"name": "steal", "yaml": spec})
        assert saved.status_code == 422 and secret not in saved.text, saved.text
    # a filter is user SQL too
    spec = _pipeline({"id": "counts", "validator": "record_counts", "table": "main.orders",
                      "filters": {"source": f"id IN (SELECT 1 FROM read_text('{path}'))"}})
    r = await c.post("/api/v1/runs", headers=alice, json={"project_id": "dw", "pipeline_yaml": spec})
    assert r.status_code == 422 and "filters.source" in r.text, r.text

    # nothing was queued, and a legitimate custom query over tables still runs on the sandboxed DuckDB
    assert (await c.get("/api/v1/runs", headers=alice, params={"project_id": "dw"})).json()["items"] == []
    spec = _pipeline({"id": "totals", "validator": "custom_query",
                      "parameters": {"source_sql": "WITH o AS (SELECT id, amount FROM main.orders) "
                                                   "SELECT count(*) AS n, sum(amount) AS total FROM o"}})
    r = await c.post("/api/v1/runs", headers=alice, json={"project_id": "dw", "pipeline_yaml": spec})
    assert r.status_code == 202, r.text
    run = await _finished(c, alice, r.json()["run_id"])
    step = (await c.get(f"/api/v1/runs/{run['run_id']}/steps/totals", headers=alice)).json()
    assert step["result"]["status"] == "passed", step
    assert secret not in str(step)


async def test_a_user_cannot_run_connection_urls_written_in_the_pipeline(
    stack: dict[str, Any], data_dir: Path
) -> None:
    c = stack["client"]
    alice = await _login(stack, "alice")
    await _project_with_connections(c, alice, data_dir)
    inline = f"duckdb:///{data_dir / 'source'}.duckdb"
    spec = _pipeline({"id": "counts", "validator": "record_counts", "table": "main.orders"},
                     {"source": "source", "target": "elsewhere"} | {"elsewhere": inline})
    spec = spec.replace("target: elsewhere", "target: target")  # keep both defaults; 'elsewhere' is extra
    spec_doc = yaml.safe_load(spec)
    spec_doc["steps"][0]["target_connection"] = "elsewhere"
    r = await c.post("/api/v1/runs", headers=alice, json={"project_id": "dw", "pipeline_yaml": yaml.safe_dump(spec_doc)})
    assert r.status_code == 422, r.text
    error = r.json()
    assert "connections.elsewhere" in r.text, error
    # without a project every connection is written in the pipeline
    r = await c.post("/api/v1/runs", headers=alice,
                     json={"pipeline_yaml": _pipeline({"id": "c", "validator": "record_counts", "table": "main.orders"},
                                                      {"source": inline, "target": inline})})
    assert r.status_code in (403, 422), r.text  # a user may not run without a project, or not inline URLs
    # an admin may (OMB_ALLOW_INLINE_CONNECTIONS defaults to true), inside OMB_FILE_ROOTS
    root = await _login(stack, "root", "admin")
    r = await c.post("/api/v1/runs", headers=root,
                     json={"pipeline_yaml": _pipeline({"id": "c", "validator": "record_counts", "table": "main.orders"},
                                                      {"source": inline, "target": inline})})
    assert r.status_code == 202, r.text
    run = await _finished(c, root, r.json()["run_id"])
    assert run["status"] == "completed", run
    # ... but not a DuckDB file outside the allowed folders
    outside = f"duckdb:///{data_dir.parent / 'home' / 'x.duckdb'}"
    r = await c.post("/api/v1/runs", headers=root,
                     json={"pipeline_yaml": _pipeline({"id": "c", "validator": "record_counts", "table": "main.orders"},
                                                      {"source": outside, "target": inline})})
    assert r.status_code == 422 and "OMB_FILE_ROOTS" in r.text, r.text


async def test_a_project_connection_to_the_platform_database_is_refused(
    stack: dict[str, Any], database_url: str, nats_url: str
) -> None:
    c = stack["client"]
    alice = await _login(stack, "alice")
    assert (await c.post("/api/v1/projects", headers=alice, json={"id": "dw", "name": "Warehouse"})).status_code == 201
    socket_dir = dict(parse_qsl(urlsplit(database_url).query))["host"]
    for url in (
        database_url,  # the platform's database itself
        f"postgresql://postgres@/postgres?host={socket_dir}",  # another database of the same server
        f"postgresql://postgres@{socket_dir.replace('/', '%2F')}:5432/postgres",  # the socket as libpq's host
        f"postgresql://u@localhost:{urlsplit(nats_url).port}/x",  # the bus
    ):
        r = await c.post("/api/v1/projects/dw/connections", headers=alice, json={"name": "pwn", "role": "source", "url": url})
        assert r.status_code == 422, (url, r.text)
        assert r.json().get("error", r.json()).get("details", {}).get("field") == "url" or '"url"' in r.text, r.text
    assert (await c.get("/api/v1/projects/dw/connections", headers=alice)).json().get("items", []) == []


async def test_an_engine_duckdb_connection_cannot_read_host_files(data_dir: Path, secret_file: tuple[Path, str]) -> None:
    """Even with the SQL guard bypassed (the connector called directly), DuckDB refuses file access."""
    path, secret = secret_file
    async with connect(f"duckdb:///{data_dir / 'source'}.duckdb?read_only=true") as db:
        assert (await db.fetch_rows("SELECT count(*) FROM main.orders")) == [(10,)]  # the file itself opens
        for sql in (f"SELECT * FROM read_text('{path}')", f"SELECT * FROM '{path}'",
                    "SET enable_external_access = true", f"ATTACH '{path}.db' AS other"):
            with pytest.raises(QueryFailed) as refused:
                await db.fetch(sql)
            assert secret not in str(refused.value)
