"""A `file_load` step whose worker is killed (-9) in the middle of a load: JetStream redelivers the step to
another worker, which plans from the run's FileLoad* events — the files completed before the kill are
skipped, the one in flight (rolled back by PostgreSQL with the killed connection; by DuckDB when the next
worker opens the file and replays its log) is loaded again — and the table ends with exactly the files'
rows, each file completed once in the events and on the target. Run into PostgreSQL and into a DuckDB
file (Snowflake's step is tested through the gateway, against fakesnow)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml

from ombudsman.contracts.replies import Invalid, NotFound
from ombudsman.engine.connectors import connect
from ombudsman.eventstore.projections import rebuild
from ombudsman.executor.file_loads import FileLoads
from tests.executor.conftest import Bus, Workers
from tests.support import eventually

COLUMNS = {"sale_id": "BIGINT", "sold_on": "DATE", "amount": "DECIMAL(12,2)", "note": "VARCHAR"}
FILES = 6
ROWS = {"postgres": 150_000, "duckdb": 1_500_000}  # per file: a few tenths of a second of loading each


def _extracts(folder: Path, rows: int) -> Path:
    for n in range(FILES):  # written by DuckDB (fast), read back as plain TSV
        duckdb.sql(f"""COPY (SELECT {n * rows} + i AS sale_id, DATE '2026-01-01' + {n} AS sold_on,
                              CAST(({n * rows} + i) % 1000 AS VARCHAR) || '.25' AS amount, 'note ' || ({n * rows} + i) AS note
                           FROM range(1, {rows} + 1) t(i))
                       TO '{folder / f"part_{n:02d}.tsv"}' (FORMAT csv, DELIMITER '\t', HEADER, QUOTE '')""")
    config = folder / "extracts.yaml"
    config.write_text(yaml.safe_dump({"files": [{"name": "sales", "pattern": "part_*.tsv", "columns": COLUMNS,
                                                 "table": "sales"}]}, sort_keys=False))
    return config


@pytest.fixture(params=["postgres", "duckdb"])
def load_target(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    """(kind, URL) of the database the files load into: the test's PostgreSQL, or a DuckDB file."""
    if request.param == "postgres":
        return "postgres", str(request.getfixturevalue("warehouse_url"))
    return "duckdb", f"duckdb:///{tmp_path / 'warehouse.duckdb'}"


async def _fetch(url: str, sql: str) -> list[dict[str, Any]]:
    """Rows of `sql` on the target, the connection closed at once (a DuckDB file takes one process at a time)."""
    async with connect(url) as db:
        return list((await db.fetch(sql)).to_pylist())


async def test_a_load_whose_worker_is_killed_resumes_on_another_and_loads_each_file_once(
        bus: Bus, workers: Workers, tmp_path: Path, load_target: tuple[str, str]) -> None:
    kind, target_url = load_target
    rows_per_file = ROWS[kind]
    config = _extracts(tmp_path, rows_per_file)
    async with connect(target_url) as db:
        await db.execute("CREATE TABLE sales (sale_id BIGINT, sold_on DATE, amount NUMERIC(12,2), note TEXT)")
    spec = yaml.safe_dump({"name": "load", "connections": {"extracts": f"file://{config}", "warehouse": target_url},
                           "steps": [{"id": "load", "validator": "file_load", "source_connection": "extracts",
                                      "target_connection": "warehouse", "parameters": {"progress_seconds": 0.2}}]})
    workers.start("w1")
    run_id = (await bus.command("queue_run", {"pipeline_yaml": spec}))["run_id"]

    async def two_done_one_in_flight() -> bool:
        rows = await bus.stored("SELECT status, count(*) AS n FROM executor.file_loads WHERE run_id = $1 "
                                "GROUP BY status", run_id)
        counts = {r["status"]: r["n"] for r in rows}
        return counts.get("completed", 0) >= 2 and counts.get("current", 0) == 1

    await eventually(two_done_one_in_flight, timeout=120, interval=0.05, what="two files loaded, a third loading")
    workers.kill("w1")
    at_kill = {r["status"]: r["n"] for r in await bus.stored(
        "SELECT status, count(*) AS n FROM executor.file_loads WHERE run_id = $1 GROUP BY status", run_id)}
    completed_before, in_flight = at_kill.get("completed", 0), at_kill.get("current", 0)
    assert completed_before < FILES
    workers.start("w2")
    run = await bus.wait_run(run_id, timeout=180)
    assert run["status"] == "completed", run
    result = (await bus.query("step", {"run_id": run_id, "step": "load"}))["result"]
    counts = result["details"]["counts"]
    assert counts["skipped"] == completed_before, counts  # planned from the events of the first attempt
    assert counts["loaded"] + counts["reconciled"] == FILES - completed_before and counts["failed"] == 0, counts

    total = FILES * rows_per_file
    assert await _fetch(target_url, "SELECT count(*) AS n, count(DISTINCT sale_id) AS d FROM sales") == [{"n": total, "d": total}]
    recorded = await _fetch(target_url, "SELECT file, rows FROM omb_file_loads ORDER BY file")
    assert [(Path(r["file"]).name, r["rows"]) for r in recorded] == [(f"part_{n:02d}.tsv", rows_per_file) for n in range(FILES)]
    completions = await bus.stored("SELECT data->>'file' AS file FROM executor.events "
                                   "WHERE stream_id = $1 AND event_type = 'FileLoadCompleted'", run_id)
    assert sorted(Path(c["file"]).name for c in completions) == [f"part_{n:02d}.tsv" for n in range(FILES)]
    starts = await bus.stored("SELECT count(*) AS n FROM executor.events WHERE stream_id = $1 "
                              "AND event_type = 'FileLoadStarted'", run_id)
    # the file in flight at the kill was started again, unless its rows had committed (then reconciled)
    assert starts[0]["n"] == FILES + in_flight - counts["reconciled"], (starts, in_flight, counts)

    # the read model is rebuilt from the events alone, row for row (`ombudsman replay executor file_loads`)
    kept = await bus.stored("SELECT * FROM executor.file_loads ORDER BY spec, file")
    assert [r["status"] for r in kept] == ["completed"] * FILES
    assert await rebuild(bus.service.ctx.engine, "executor", FileLoads()) > 0
    assert await bus.stored("SELECT * FROM executor.file_loads ORDER BY spec, file") == kept


async def test_bad_checkpoints_are_refused_naming_the_field(bus: Bus) -> None:
    """A checkpoint for a step that is not a load, an unknown step or status, or an unknown run: a clear
    `invalid` / `not_found` naming it, and nothing is recorded."""
    spec = yaml.safe_dump({"name": "x", "connections": {"source": "duckdb:///:memory:", "target": "duckdb:///:memory:"},
                           "steps": [{"id": "a", "validator": "record_counts", "table": "t"}]})
    run_id = (await bus.command("queue_run", {"pipeline_yaml": spec}))["run_id"]  # no worker: it stays queued
    point = {"run_id": run_id, "step": "a", "status": "started", "spec": "sales", "file": "/x/a.tsv", "bytes": 1}
    for payload, words in [(point, "not a file_load step"), ({**point, "step": "zzz"}, "no step"),
                           ({**point, "status": "bogus"}, "status"), ({**point, "bytes": -1}, "bytes")]:
        with pytest.raises(Invalid) as raised:
            await bus.command("record_file_checkpoint", payload)
        assert words in raised.value.message or words in str(raised.value.details), (payload, raised.value.message)
    with pytest.raises(NotFound):
        await bus.query("file_loads", {"run_id": "nope", "step": "a"})
    assert await bus.stored("SELECT 1 FROM executor.events WHERE stream_id = $1 AND event_type LIKE 'FileLoad%'",
                            run_id) == []


def test_a_failed_files_message_loses_its_values_whatever_the_database() -> None:
    """FileLoadFailed carries the line, never the data: PostgreSQL and DuckDB quote values in double quotes,
    Snowflake in single ones."""
    from ombudsman.executor.file_loads import without_values

    for message, value in [
            ('invalid input syntax for type bigint: "x" COPY sales, line 201, column sale_id: "x"', '"x"'),
            ('CSV Error on Line: 201 Error when converting column "sale_id". Could not convert string "x" to \'BIGINT\'', '"x"'),
            ("Numeric value 'x' is not recognized File 'sales_04.tsv.gz', line 201, character 1", "'x'")]:
        kept = without_values(message)
        assert value not in kept and re.search(r"line:? 201", kept, re.IGNORECASE), kept
    assert without_values("Snowflake's load history holds it") == "Snowflake's load history holds it"
