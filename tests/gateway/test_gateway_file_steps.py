"""File steps through the gateway with real services (projects, executor, a worker process; NATS,
PostgreSQL): a pipeline whose connections are a file config (`file://`) and a warehouse table runs its
file checks and its table validators on the worker like any step. Clean files pass; a file not matching
its config fails naming its first bad lines (file, line, column, value); a missing file fails; row
counts and row_hash between the files and the table find exactly the planted differences."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import yaml

from ombudsman.engine.connectors import connect
from tests.gateway.conftest import finished
from tests.gateway.test_gateway_e2e_run import _login, _save_connections

COLUMNS = {"sale_id": "BIGINT", "sold_on": "DATE", "amount": "DECIMAL(12,2)", "note": "VARCHAR"}


def _extracts(folder: Path) -> Path:
    """Three clean daily files of sales, one family with two bad lines, one whose files are missing."""
    folder.mkdir()
    for day in (1, 2, 3):
        lines = ["sale_id\tsold_on\tamount\tnote"]
        lines += [f"{s}\t2026-01-0{day}\t{s}.25\tnote {s}" for s in range((day - 1) * 100 + 1, day * 100 + 1)]
        (folder / f"sales_{day:02d}.tsv").write_text("\n".join(lines) + "\n")
    (folder / "broken_01.tsv").write_text("sale_id\tsold_on\tamount\tnote\n1\t2026-01-01\t1.00\tok\n"
                                          "two\t2026-01-01\t2.00\tbad id\n3\t2026-01-32\t3.00\tbad day\n")
    period = {"start": "2026-01-01", "end": "2026-01-03"}
    config = {"files": [
        {"name": "sales", "pattern": "sales_*.tsv", "columns": COLUMNS, "date_column": "sold_on", "period": period,
         "key": ["sale_id"]},
        {"name": "broken", "pattern": "broken_*.tsv", "columns": COLUMNS},
        {"name": "returns", "pattern": "returns_*.tsv", "columns": COLUMNS},
    ]}
    path = folder / "extracts.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


async def _warehouse_table(url: str) -> None:
    """The files' 300 sales loaded, but for sales 7 and 8 (lost), sale 150 (amount changed) and an extra sale 1001."""
    async with connect(url) as db:
        await db.execute("CREATE TABLE sales (sale_id BIGINT PRIMARY KEY, sold_on DATE, amount NUMERIC(12,2), note TEXT)")
        await db.execute("INSERT INTO sales SELECT s, DATE '2026-01-01' + ((s - 1) / 100)::int, "
                         "CASE WHEN s = 150 THEN 1.00 ELSE s + 0.25 END, 'note ' || s "
                         "FROM generate_series(1, 300) s WHERE s NOT IN (7, 8)")
        await db.execute("INSERT INTO sales VALUES (1001, DATE '2026-01-03', 1.00, 'extra')")


async def test_file_steps_run_on_the_work_queue_through_the_gateway(stack: dict[str, Any], tmp_path: Path,
                                                                     warehouse_url: str) -> None:
    config = _extracts(tmp_path / "extracts")
    await _warehouse_table(warehouse_url)
    file_step = {"validator": "file_checks", "source_connection": "extracts", "target_connection": "extracts"}
    steps = [
        {"id": "sales_files", **file_step, "parameters": {"files": ["sales"]}},
        {"id": "broken_files", **file_step, "parameters": {"files": ["broken"]}},
        {"id": "missing_files", **file_step, "parameters": {"files": ["returns"]}},
        {"id": "sales_counts", "validator": "record_counts", "table": "sales",
         "source_connection": "extracts", "target_connection": "warehouse"},
        {"id": "sales_rows", "validator": "row_hash", "table": "sales", "parameters": {"key": ["sale_id"]},
         "source_connection": "extracts", "target_connection": "warehouse"},
    ]
    spec = yaml.safe_dump({"name": "extracts", "steps": steps,
                           "connections": {"extracts": f"file://{config}", "warehouse": warehouse_url}})
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{stack['port']}", timeout=30) as c:
        alice = await _login(c, stack["app"], "alice")
        assert (await c.post("/api/v1/projects", headers=alice, json={"id": "dw", "name": "Warehouse"})).status_code == 201
        outside = await c.post("/api/v1/projects/dw/connections", headers=alice,
                               json={"name": "etc", "url": "file:///etc/ombudsman/extracts.yaml"})
        assert outside.status_code == 422 and "OMB_FILE_ROOTS" in outside.text, outside.text
        assert outside.json()["error"]["details"]["fields"][0]["field"] == "url"
        await _save_connections(c, alice, spec)
        r = await c.post("/api/v1/runs", headers=alice, json={"project_id": "dw", "pipeline_yaml": spec})
        assert r.status_code == 202, r.text
        run_id = r.json()["run_id"]
        run = await finished(c, f"/api/v1/runs/{run_id}", alice, timeout=120)
        assert run["status"] == "failed"

        async def step(name: str) -> dict[str, Any]:
            r = await c.get(f"/api/v1/runs/{run_id}/steps/{name}", headers=alice)
            assert r.status_code == 200, r.text
            return dict(r.json()["result"])

        clean = await step("sales_files")
        assert clean["status"] == "passed", clean["message"]
        assert clean["source"]["rows"] == 300
        assert {c["check"]: c["status"] for c in clean["details"]["checks"]} == {
            "files_present": "passed", "row_counts": "passed", "conformance": "passed",
            "date_completeness": "passed", "duplicates": "passed"}

        broken = await step("broken_files")
        assert broken["status"] == "failed"
        assert "broken_01.tsv line 3 column sale_id" in broken["message"], broken["message"]
        assert [(s["line"], s["column"], s["value"]) for s in broken["sample"]] == [(3, "sale_id", "two"), (4, "sold_on", "2026-01-32")]
        assert all(s["file"].endswith("broken_01.tsv") for s in broken["sample"])
        conformance = next(c for c in broken["details"]["checks"] if c["check"] == "conformance")
        assert conformance["details"]["bad_lines"] == 2

        missing = await step("missing_files")
        assert missing["status"] == "failed" and "no file matches 'returns_*.tsv'" in missing["message"], missing

        counts = await step("sales_counts")
        assert counts["status"] == "failed" and counts["source"] == {"row_count": 300} and counts["target"] == {"row_count": 299}
        rows = await step("sales_rows")
        assert rows["status"] == "failed"
        assert rows["source"]["only_in_source"] == 2 and rows["target"]["only_in_target"] == 1 and rows["details"]["changed"] == 1
        assert {(d["kind"], int(d["key"]["sale_id"])) for d in rows["sample"]} == {
            ("only_in_source", 7), ("only_in_source", 8), ("only_in_target", 1001), ("changed", 150)}

        exported = await c.get(f"/api/v1/runs/{run_id}/export", headers=alice, params={"format": "json"})
        assert exported.status_code == 200 and "broken_01.tsv" in exported.text and "no file matches" in exported.text
