"""Loads over REST, with real services (projects, executor, a worker process; NATS, PostgreSQL): a load
is `file_load` steps on the work queue (two shards of the files), a checkpoint per file is an event on
the run's stream (shown on its WebSocket), and a load interrupted by a bad file resumes in a later run
from those events: in the end each file is loaded exactly once, the table holds exactly the files' rows."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
import yaml

from ombudsman.engine.connectors import connect
from ombudsman.engine.files.cli import load_pipeline
from ombudsman.engine.files.load_step import in_shard
from tests.gateway.conftest import finished
from tests.gateway.test_gateway_e2e_run import _login, _save_connections

COLUMNS = {"sale_id": "BIGINT", "sold_on": "DATE", "amount": "DECIMAL(12,2)", "note": "VARCHAR"}
FILES, ROWS = 6, 400
BAD = 4  # sales_04.tsv holds a bad line (its line 201) until it is corrected
LINE_201 = re.compile(r"\bline:? 201\b", re.IGNORECASE)  # PostgreSQL: "line 201"; DuckDB, Snowflake: "Line: 201"


def _write(folder: Path, day: int, *, bad: bool) -> None:
    lines = ["sale_id\tsold_on\tamount\tnote"]
    for s in range((day - 1) * ROWS + 1, day * ROWS + 1):
        lines.append(f"{'x' if bad and s == (day - 1) * ROWS + 200 else s}\t2026-01-0{day}\t{s}.25\tnote {s}")
    (folder / f"sales_{day:02d}.tsv").write_text("\n".join(lines) + "\n")


def _extracts(folder: Path) -> Path:
    folder.mkdir()
    for day in range(1, FILES + 1):
        _write(folder, day, bad=day == BAD)
    config = {"files": [{"name": "sales", "pattern": "sales_*.tsv", "columns": COLUMNS, "table": "sales"}]}
    path = folder / "extracts.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def _pipeline(config: Path, warehouse_url: str, *, resume: bool) -> str:
    steps = [{"id": f"load_{i}", "validator": "file_load", "source_connection": "extracts",
              "target_connection": "warehouse", "parameters": {"shard": [i, 2], "resume": resume, "progress_seconds": 0.2}}
             for i in range(2)]
    return yaml.safe_dump({"name": "load sales", "steps": steps,
                           "connections": {"extracts": f"file://{config}", "warehouse": warehouse_url}})


async def _socket(port: int, run_id: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    """Every WebSocket message of a finished run (replayed, then the socket closes)."""
    messages = []
    async with websockets.connect(f"ws://127.0.0.1:{port}/ws/runs/{run_id}") as ws:
        await ws.send(json.dumps({"token": headers["Authorization"].split()[1]}))
        with contextlib.suppress(websockets.ConnectionClosedOK):
            while True:
                messages.append(json.loads(await asyncio.wait_for(ws.recv(), 10)))
    return messages


def _lower(row: dict[str, Any]) -> dict[str, Any]:
    return {k.lower(): v for k, v in row.items()}  # Snowflake names result columns in upper case


@pytest.fixture(params=["postgres", "duckdb", "snowflake"])
def load_target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of the database the files load into: the test's PostgreSQL, a DuckDB file, or fakesnow."""
    if request.param == "postgres":
        return str(request.getfixturevalue("warehouse_url"))
    if request.param == "duckdb":
        return f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
    return str(request.getfixturevalue("fakesnow_url"))


async def test_a_load_interrupted_by_a_bad_file_resumes_and_loads_each_file_once(
        stack: dict[str, Any], tmp_path: Path, load_target: str) -> None:
    warehouse_url = load_target
    config = _extracts(tmp_path / "extracts")
    base = config.resolve().parent
    files = sorted(base.glob("sales_*.tsv"))
    bad_shard = 0 if in_shard(files[BAD - 1], base, 0, 2) else 1
    # the bad file's shard stops at it: its files after it wait for the resumed run
    before = [f for f in files if in_shard(f, base, bad_shard, 2) and f.name < f"sales_{BAD:02d}"]
    other = [f for f in files if not in_shard(f, base, bad_shard, 2)]
    async with connect(warehouse_url) as db:
        await db.execute("CREATE TABLE sales (sale_id BIGINT, sold_on DATE, amount NUMERIC(12,2), note TEXT)")
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{stack['port']}", timeout=30) as c:
        alice = await _login(c, stack["app"], "alice")
        assert (await c.post("/api/v1/projects", headers=alice, json={"id": "dw", "name": "Warehouse"})).status_code == 201
        first = _pipeline(config, warehouse_url, resume=False)
        await _save_connections(c, alice, first)

        # Snowflake's ON_ERROR: a saved pipeline takes it for a Snowflake target (by the project's connection
        # names: fakesnow's URL holds a password), and is refused naming the field (422) for the others,
        # whose URL says they stop at the first bad line
        continuing = yaml.safe_load(first)
        for load_step in continuing["steps"]:
            load_step["parameters"]["on_error"] = "CONTINUE"
        if warehouse_url.startswith("snowflake"):
            continuing["connections"] = {"extracts": "extracts", "warehouse": "warehouse"}
        saved = await c.post("/api/v1/projects/dw/pipelines", headers=alice,
                             json={"name": "continuing", "yaml": yaml.safe_dump(continuing)})
        if warehouse_url.startswith("snowflake"):
            assert saved.status_code == 201, saved.text
        else:
            assert saved.status_code == 422 and "parameters.on_error: CONTINUE is Snowflake's" in saved.text, saved.text

        async def load(spec: str) -> tuple[str, dict[str, Any]]:
            r = await c.post("/api/v1/runs", headers=alice, json={"project_id": "dw", "pipeline_yaml": spec})
            assert r.status_code == 202, r.text
            run_id = r.json()["run_id"]
            return run_id, await finished(c, f"/api/v1/runs/{run_id}", alice, timeout=180)

        async def step(run_id: str, name: str) -> dict[str, Any]:
            r = await c.get(f"/api/v1/runs/{run_id}/steps/{name}", headers=alice)
            assert r.status_code == 200, r.text
            return dict(r.json()["result"])

        async def table_rows() -> tuple[int, int]:
            async with connect(warehouse_url) as db:
                row = _lower((await db.fetch("SELECT count(*) AS n, count(DISTINCT sale_id) AS d FROM sales")).to_pylist()[0])
            return int(row["n"]), int(row["d"])

        # 1. interrupted: the bad file fails its shard (rolled back whole), the other shard loads all its files
        run1, run = await load(first)
        assert run["status"] == "failed"
        failed = await step(run1, f"load_{bad_shard}")
        assert failed["status"] == "failed", failed["message"]
        assert f"sales_{BAD:02d}.tsv not loaded" in failed["message"] and LINE_201.search(failed["message"]), failed["message"]
        assert failed["details"]["counts"]["loaded"] == len(before)
        passed = await step(run1, f"load_{1 - bad_shard}")
        assert passed["status"] == "passed" and passed["details"]["counts"]["loaded"] == len(other), passed
        loaded_first = len(before) + len(other)
        assert await table_rows() == (loaded_first * ROWS, loaded_first * ROWS)

        # each checkpoint is an event of the run, on its WebSocket; the failed one names the line, not the value
        messages = await _socket(stack["port"], run1, alice)
        completed = sorted(Path(m["file"]).name for m in messages if m["type"] == "file.completed")
        assert completed == sorted(f.name for f in [*before, *other])
        bad = [m for m in messages if m["type"] == "file.failed"]
        assert len(bad) == 1 and bad[0]["file"].endswith(f"sales_{BAD:02d}.tsv") and LINE_201.search(bad[0]["message"]), bad
        assert '"x"' not in bad[0]["message"], bad[0]["message"]
        assert {m["step"] for m in messages if m["type"] == "file.started"} == {"load_0", "load_1"}

        # 2. the same load again without resume: refused, nothing loaded twice
        run2, run = await load(first)
        assert run["status"] == "failed"
        refused = [await step(run2, f"load_{i}") for i in range(2)]
        assert any("already loaded" in s["message"] and "resume" in s["message"] for s in refused), refused
        assert await table_rows() == (loaded_first * ROWS, loaded_first * ROWS)

        # 3. the file corrected, resumed: the files loaded before are skipped (from the events), the rest loaded;
        # the pipeline as `ombudsman files load-pipeline --files extracts --target warehouse --resume` prints it
        _write(config.parent, BAD, bad=False)
        resumed = yaml.safe_dump(load_pipeline("extracts", "warehouse", shards=2, resume=True))
        run3, run = await load(resumed)
        assert run["status"] == "completed", run
        results = [await step(run3, f"load_{i}") for i in range(2)]
        assert sum(r["details"]["counts"]["skipped"] for r in results) == loaded_first
        assert sum(r["details"]["counts"]["loaded"] for r in results) == FILES - loaded_first
        assert await table_rows() == (FILES * ROWS, FILES * ROWS)

        # each file completed exactly once across the runs, and recorded once on the target
        completions = [Path(m["file"]).name for r in (run1, run2, run3) for m in await _socket(stack["port"], r, alice)
                       if m["type"] == "file.completed"]
        assert sorted(completions) == sorted(f.name for f in files)
        async with connect(warehouse_url) as db:
            recorded = [_lower(r) for r in (await db.fetch("SELECT file, rows FROM omb_file_loads ORDER BY file")).to_pylist()]
        assert [(Path(r["file"]).name, r["rows"]) for r in recorded] == [(f.name, ROWS) for f in files]
