"""What people do with results, against a real stack (the gateway, the projects and executor
services, a worker process; real NATS, PostgreSQL, DuckDB): `ombudsman results compare` as a CI gate
through the CLI entry point, and the SDK's DataFrames (steps, every difference, trends)."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import duckdb
import httpx
import yaml

from ombudsman.client.sdk import OmbudsmanClient
from tests.gateway.conftest import PASSWORD, finished

CLI = [sys.executable, "-c", "from ombudsman.client.cli import main; main()"]


def warehouse(tmp_path: Path) -> dict[str, str]:
    """orders equal on both sides; lines lose 3 rows in the target."""
    source, target = tmp_path / "source.duckdb", tmp_path / "target.duckdb"
    for path, lost in ((source, 0), (target, 3)):
        with duckdb.connect(str(path)) as db:
            db.execute("CREATE TABLE orders AS SELECT i AS id, i * 2 AS amount FROM range(100) t(i)")
            db.execute(f"CREATE TABLE lines AS SELECT i AS id FROM range({100 - lost}) t(i)")
    return {"source": f"duckdb:///{source}?read_only=true", "target": f"duckdb:///{target}?read_only=true"}


async def cli(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(*CLI, *args, env=env, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode(), err.decode()


async def run_to_end(c: httpx.AsyncClient, headers: dict[str, str], spec: dict[str, Any]) -> str:
    r = await c.post("/api/v1/runs", headers=headers, json={"project_id": "dw", "pipeline_yaml": yaml.safe_dump(spec)})
    assert r.status_code == 202, r.text
    run_id = r.json()["run_id"]
    await finished(c, f"/api/v1/runs/{run_id}", headers)
    return str(run_id)


async def test_compare_is_a_ci_gate(stack: dict[str, Any], tmp_path: Path) -> None:
    port = stack["port"]
    await stack["app"].state.users.register("alice", PASSWORD, "user")
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "xdg"), "OMB_SERVER": f"http://127.0.0.1:{port}",
           "OMB_HOME": str(tmp_path / "home"), "COLUMNS": "200"}
    code, _, err = await cli(env, "login", "-u", "alice", "-p", PASSWORD)
    assert code == 0, err
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as c:
        r = await c.post("/api/v1/auth/login", json={"username": "alice", "password": PASSWORD})
        alice = {"Authorization": f"Bearer {r.json()['access_token']}"}
        assert (await c.post("/api/v1/projects", headers=alice, json={"id": "dw", "name": "DW"})).status_code == 201
        urls = warehouse(tmp_path)
        for name, url in urls.items():
            r = await c.post("/api/v1/projects/dw/connections", headers=alice, json={"name": name, "url": url})
            assert r.status_code == 201, r.text

        def spec(name: str, *steps: tuple[str, str]) -> dict[str, Any]:
            return {"name": name, "connections": {"source": urls["source"], "target": urls["target"]},
                    "steps": [{"id": s, "validator": "record_counts", "table": f"main.{t}"} for s, t in steps]}

        baseline = await run_to_end(c, alice, spec("counts", ("orders_count", "orders"), ("lines_count", "lines")))
        again = await run_to_end(c, alice, spec("counts", ("orders_count", "orders"), ("lines_count", "lines")))
        grown = await run_to_end(c, alice, spec("counts", ("orders_count", "orders"), ("lines_count", "lines"),
                                                ("lines_again", "lines")))
        shrunk = await run_to_end(c, alice, spec("counts", ("lines_count", "lines")))
        other = await run_to_end(c, alice, spec("other", ("orders_count", "orders"), ("lines_count", "lines")))

    code, out, err = await cli(env, "results", "compare", again, "--baseline", baseline)
    assert code == 0, out + err
    assert "0 worse, 0 better, 2 unchanged; 0 removed, 0 added" in out

    # a step that fails and did not exist in the baseline is a regression, not an improvement
    code, out, err = await cli(env, "results", "compare", grown, "--baseline", baseline, "--json")
    assert code == 1, out + err
    assert '"worse"' in out and "lines_again" in out
    code, out, err = await cli(env, "results", "compare", grown, "--baseline", baseline)
    assert code == 1 and "1 worse, 0 better, 2 unchanged; 0 removed, 1 added" in out, out + err

    # a step missing from the run is reported as removed; it fails the gate only with --strict
    code, out, err = await cli(env, "results", "compare", shrunk, "--baseline", baseline)
    assert code == 0 and "0 worse, 0 better, 1 unchanged; 1 removed, 0 added" in out and "orders_count" in out, out + err
    code, out, err = await cli(env, "results", "compare", shrunk, "--baseline", baseline, "--strict")
    assert code == 1, out + err

    # runs of different pipelines are refused (exit 2, saying why) unless --force
    code, out, err = await cli(env, "results", "compare", other, "--baseline", baseline)
    assert code == 2, out + err
    assert "different pipelines" in err and "'other'" in err and "'counts'" in err
    code, out, err = await cli(env, "results", "compare", other, "--baseline", baseline, "--force")
    assert code == 0 and "Forced: pipeline other against counts" in out, out + err


async def test_sdk_gives_steps_differences_and_trends_as_dataframes(stack: dict[str, Any], tmp_path: Path) -> None:
    """351 changed rows: more than any sample keeps, read back whole in pages of 100."""
    source, target = tmp_path / "source.duckdb", tmp_path / "target.duckdb"
    for path, changed in ((source, 0), (target, 351)):
        with duckdb.connect(str(path)) as db:
            db.execute("CREATE TABLE orders AS SELECT i AS id, i * 2 AS amount, 'n' || i AS note FROM range(1000) t(i)")
            db.execute(f"UPDATE orders SET amount = amount + 1 WHERE id < {changed}")
            db.execute(f"DELETE FROM orders WHERE id >= {1000 - (2 if changed else 0)}")  # 2 rows lost
    await stack["app"].state.users.register("dora", PASSWORD, "user")
    base = f"http://127.0.0.1:{stack['port']}"
    spec = {"name": "rows", "connections": {"source": f"duckdb:///{source}?read_only=true",
                                            "target": f"duckdb:///{target}?read_only=true"},
            "steps": [{"id": "orders_count", "validator": "record_counts", "table": "main.orders"},
                      {"id": "orders_rows", "validator": "row_hash", "table": "main.orders",
                       "parameters": {"key": ["id"]}}]}
    async with httpx.AsyncClient(base_url=base, timeout=30) as c:
        r = await c.post("/api/v1/auth/login", json={"username": "dora", "password": PASSWORD})
        dora = {"Authorization": f"Bearer {r.json()['access_token']}"}
        assert (await c.post("/api/v1/projects", headers=dora, json={"id": "dw", "name": "DW"})).status_code == 201
        for name in ("source", "target"):
            r = await c.post("/api/v1/projects/dw/connections", headers=dora,
                             json={"name": name, "url": spec["connections"][name]})
            assert r.status_code == 201, r.text
        run_id = await run_to_end(c, dora, spec)

    def use_sdk() -> None:
        with OmbudsmanClient(base) as client:
            client.login("dora", PASSWORD)
            steps = client.steps(run_id)
            assert isinstance(steps, list)
            frame = steps.to_dataframe()
            assert list(frame["step"]) == ["orders_count", "orders_rows"]
            assert list(frame["status"]) == ["failed", "failed"]
            assert "result.message" in frame.columns

            differences = client.differences(run_id, "orders_rows", page_size=100)
            diffs = differences.to_dataframe()
            assert differences.total == 353 and len(diffs) == 353  # 351 changed + 2 only in source
            assert list(diffs.columns) == ["kind", "key", "column", "source_value", "target_value",
                                           "source_count", "target_count"]
            assert diffs["kind"].value_counts().to_dict() == {"changed": 351, "only_in_source": 2}
            changed = diffs[diffs["kind"] == "changed"]
            assert set(changed["column"]) == {"amount"}
            first = changed.sort_values("key").iloc[0]
            assert (first["source_value"], first["target_value"]) != (None, None)
            assert len(client.run(run_id)["steps"][1]["result"]["sample"]) < 353  # the sample is bounded
            # filtered on the server: by kind and by column, counted and paged through the whole list
            only_source = client.differences(run_id, "orders_rows", page_size=100, kind="only_in_source")
            assert set(only_source.to_dataframe()["kind"]) == {"only_in_source"} and only_source.total == 2
            amounts = client.differences(run_id, "orders_rows", page_size=100, kind="changed", column="amount")
            assert len(amounts.to_dataframe()) == 351 and amounts.total == 351
            none = client.differences(run_id, "orders_rows", column="no_such_column")
            assert none.to_dataframe().empty and none.total == 0

            assert client.differences(run_id, "orders_count").to_dataframe().empty
            daily = client.trends("dw", days=7).to_dataframe()
            assert len(daily) == 1 and int(daily["runs"].iloc[0]) == 1 and int(daily["failed"].iloc[0]) == 1
            assert str(daily["day"].dtype).startswith("datetime64")

    await asyncio.to_thread(use_sdk)
