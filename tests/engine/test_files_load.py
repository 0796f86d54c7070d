"""Loading extracts: each file once, in one transaction with its checkpoint, into real PostgreSQL and
DuckDB; a load killed half-way resumes and ends with exactly the files' rows."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import asyncpg
import duckdb
import pytest
import sqlglot

from ombudsman.contracts.replies import Invalid
from ombudsman.engine.connectors.postgres import asyncpg_dsn
from ombudsman.engine.files.config import parse_config
from ombudsman.engine.files.load import CHECKPOINTS, load_files
from ombudsman.engine.files.load_snowflake import CHECKPOINTS as SNOWFLAKE_CHECKPOINTS
from ombudsman.engine.files.load_snowflake import snowflake_statements
from ombudsman.engine.files.reload import reload_period
from tests.support import eventually

COLUMNS = {"sale_id": "BIGINT", "sold_on": "DATE", "amount": "DECIMAL(12,2)", "note": "VARCHAR"}


def _files(folder: Path, count: int, rows: int) -> int:
    sale = 0
    for n in range(count):
        with open(folder / f"part_{n:03d}.tsv", "w") as f:
            f.write("sale_id\tsold_on\tamount\tnote\n")
            for _ in range(rows):
                sale += 1
                f.write(f"{sale}\t2026-01-{n % 28 + 1:02d}\t{sale % 1000}.25\tnote with a \\ backslash {sale}\n")
    return sale


def _config(folder: Path, table: str = "sales"):
    return parse_config({"files": [{"name": "sales", "pattern": "part_*.tsv", "columns": COLUMNS, "table": table}]}, folder)


async def _pg(url: str) -> asyncpg.Connection:
    return await asyncpg.connect(asyncpg_dsn(url)[0])


async def test_duckdb_load_records_each_file_once(tmp_path: Path) -> None:
    total = _files(tmp_path, 5, 200)
    target = tmp_path / "target.duckdb"
    duckdb.connect(str(target)).execute("CREATE TABLE sales (sale_id BIGINT, sold_on DATE, amount DECIMAL(12,2), note VARCHAR)").close()
    url = f"duckdb:///{target}"
    loaded = await load_files(_config(tmp_path), url)
    assert [r.status for r in loaded] == ["loaded"] * 5 and sum(r.rows for r in loaded) == total
    with pytest.raises(Invalid) as raised:
        await load_files(_config(tmp_path), url)
    assert "--resume" in raised.value.message
    again = await load_files(_config(tmp_path), url, resume=True)
    assert [r.status for r in again] == ["skipped"] * 5
    with duckdb.connect(str(target)) as con:
        assert con.execute("SELECT count(*), count(DISTINCT sale_id) FROM sales").fetchone() == (total, total)
        assert con.execute("SELECT note FROM sales WHERE sale_id = 1").fetchone() == ("note with a \\ backslash 1",)
        assert con.execute(f"SELECT count(*) FROM {CHECKPOINTS}").fetchone() == (5,)


async def test_postgres_load_stops_at_a_bad_line_and_resumes_after_the_fix(tmp_path: Path, database_url: str) -> None:
    total = _files(tmp_path, 4, 100)
    bad = tmp_path / "part_002.tsv"
    good_text = bad.read_text()
    bad.write_text(good_text.replace("\t2026-01-03\t", "\t2026-13-03\t", 1))  # line 2 of the third file
    conn = await _pg(database_url)
    try:
        await conn.execute("CREATE TABLE sales (sale_id bigint PRIMARY KEY, sold_on date, amount numeric(12,2), note text)")
        first = await load_files(_config(tmp_path), database_url)
        assert [r.status for r in first] == ["loaded", "loaded", "failed"]
        assert "2026-13-03" in first[-1].message and "line 2" in first[-1].message
        assert await conn.fetchval("SELECT count(*) FROM sales") == 200  # the failed file rolled back whole
        bad.write_text(good_text)
        resumed = await load_files(_config(tmp_path), database_url, resume=True)
        assert [r.status for r in resumed] == ["skipped", "skipped", "loaded", "loaded"]
        assert await conn.fetchval("SELECT count(*) FROM sales") == total
        assert await conn.fetchval("SELECT note FROM sales WHERE sale_id = 7") == "note with a \\ backslash 7"
    finally:
        await conn.close()


async def test_a_load_killed_half_way_resumes_to_exactly_the_files_rows(tmp_path: Path, database_url: str) -> None:
    total = _files(tmp_path, 12, 40_000)
    (tmp_path / "files.yaml").write_text(
        "files:\n  - {name: sales, pattern: 'part_*.tsv', table: sales, columns: "
        "{sale_id: BIGINT, sold_on: DATE, amount: 'DECIMAL(12,2)', note: VARCHAR}}\n")
    conn = await _pg(database_url)
    command = [sys.executable, "-c", "from ombudsman.client.cli import main; main()", "files", "load",
               str(tmp_path / "files.yaml"), "--target", database_url]
    try:
        await conn.execute("CREATE TABLE sales (sale_id bigint PRIMARY KEY, sold_on date, amount numeric(12,2), note text)")
        await conn.execute(f"CREATE TABLE IF NOT EXISTS {CHECKPOINTS} (spec text, file text, bytes bigint, rows bigint, "
                           "loaded_at timestamptz DEFAULT now(), PRIMARY KEY (spec, file))")
        loader = await asyncio.create_subprocess_exec(*command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                                      env=os.environ)
        try:
            await eventually(lambda: conn.fetchval(f"SELECT count(*) >= 2 FROM {CHECKPOINTS}"), timeout=240,
                             what="two files loaded")
        finally:
            loader.send_signal(signal.SIGKILL)
            await asyncio.wait_for(loader.wait(), timeout=30)
        recorded = await conn.fetchval(f"SELECT count(*) FROM {CHECKPOINTS}")
        assert 2 <= recorded < 12, "killed half-way"
        assert await conn.fetchval("SELECT count(*) FROM sales") == recorded * 40_000  # nothing of the file in flight
        resumed = await asyncio.to_thread(subprocess.run, [*command, "--resume"], capture_output=True, text=True, timeout=600)
        assert resumed.returncode == 0, resumed.stdout + resumed.stderr
        assert await conn.fetchval("SELECT count(*) FROM sales") == total
        assert tuple(await conn.fetchrow(f"SELECT count(*), sum(rows) FROM {CHECKPOINTS}")) == (12, total)
    finally:
        await conn.close()


def test_snowflake_statements_stage_each_file_and_copy_them_once(tmp_path: Path) -> None:
    _files(tmp_path, 2, 1)
    config = parse_config({"files": [{"name": "sales", "pattern": "part_*.tsv", "columns": COLUMNS,
                                      "table": "PUBLIC.SALES"}]}, tmp_path)
    files = sorted(tmp_path.glob("part_*.tsv"))
    statements = snowflake_statements(config.files[0], files, on_error="skip_file")
    assert [s.split()[0] for s in statements] == ["PUT", "COPY", "PUT", "COPY"]
    for statement in statements:
        sqlglot.parse_one(statement, read="snowflake")
    staged = [s.split()[2] for s in statements[::2]]  # each file its own stage folder
    assert len(set(staged)) == 2 and all(p.startswith("@PUBLIC.%SALES/omb/") for p in staged), staged
    assert f"FROM {staged[1]}/part_001.tsv.gz " in statements[3] and "ON_ERROR = SKIP_FILE" in statements[3]
    assert "ESCAPE_UNENCLOSED_FIELD = NONE" in statements[1]  # a backslash in the data is data, as in PostgreSQL
    with pytest.raises(Invalid):
        snowflake_statements(config.files[0], files, on_error="IGNORE; DROP TABLE x")


def test_snowflake_load_puts_and_copies_each_file_once_and_resumes_after_a_bad_line(tmp_path: Path,
                                                                                      fakesnow_url: str) -> None:
    """Through the real Snowflake connector to fakesnow's server: PUT uploads over HTTP, COPY INTO reads
    the stage, each file in one transaction with its checkpoint row."""
    import snowflake.connector

    from ombudsman.engine.connectors.snowflake import snowflake_connect_args

    total = _files(tmp_path, 4, 50)
    bad = tmp_path / "part_002.tsv"
    good_text = bad.read_text()
    bad.write_text(good_text.replace("\t2026-01-03\t", "\t2026-13-03\t", 1))
    with snowflake.connector.connect(**snowflake_connect_args(fakesnow_url)) as conn:
        cur = conn.cursor()
        cur.execute("CREATE TABLE sales (sale_id BIGINT, sold_on DATE, amount DECIMAL(12,2), note VARCHAR)")

        def count(sql: str) -> tuple:
            cur.execute(sql)
            return tuple(cur.fetchone())

        with pytest.raises(Invalid) as bad_policy:
            asyncio.run(load_files(_config(tmp_path), fakesnow_url, on_error="CONTINUE; DROP TABLE sales"))
        assert bad_policy.value.details["fields"][0]["field"] == "on_error"
        first = asyncio.run(load_files(_config(tmp_path), fakesnow_url))
        assert [r.status for r in first] == ["loaded", "loaded", "failed"], first
        assert "2026-13-03" in first[-1].message and "line: 2" in first[-1].message.lower(), first[-1].message
        assert count("SELECT count(*) FROM sales") == (100,)  # the bad file rolled back whole
        with pytest.raises(Invalid) as not_resumed:
            asyncio.run(load_files(_config(tmp_path), fakesnow_url))
        assert "--resume" in not_resumed.value.message
        bad.write_text(good_text)
        resumed = asyncio.run(load_files(_config(tmp_path), fakesnow_url, resume=True))
        assert [r.status for r in resumed] == ["skipped", "skipped", "loaded", "loaded"], resumed
        assert count("SELECT count(*), count(DISTINCT sale_id) FROM sales") == (total, total)
        assert count("SELECT note FROM sales WHERE sale_id = 7") == ("note with a \\ backslash 7",)
        assert count(f"SELECT count(*), sum(rows) FROM {SNOWFLAKE_CHECKPOINTS}") == (4, total)

        # checkpoints lost (a table dropped by hand): Snowflake's load history still refuses every file
        cur.execute(f"DELETE FROM {SNOWFLAKE_CHECKPOINTS}")
        again = asyncio.run(load_files(_config(tmp_path), fakesnow_url))
        assert [r.status for r in again] == ["skipped"] * 4 and "load history" in again[0].message, again
        assert count("SELECT count(*) FROM sales") == (total,)


async def test_a_snowflake_load_killed_half_way_resumes_to_exactly_the_files_rows(tmp_path: Path, fakesnow_url: str) -> None:
    """`ombudsman files load` in a process of its own, into fakesnow's server (in this process) over HTTP
    through the real connector, SIGKILLed once two files are recorded and a third is staged: the table holds
    exactly the recorded files' rows (the file in flight was in a transaction that dies with its session:
    measured, the killed session held the third file's 20,000 rows uncommitted in most runs), and --resume
    ends with every file's rows once, one checkpoint per file."""
    import snowflake.connector
    from fakesnow.transforms.stage import LOCAL_BUCKET_PATH  # where the server keeps its stages' files

    from ombudsman.engine.connectors.snowflake import snowflake_connect_args
    from ombudsman.engine.files.load_snowflake import _create_checkpoints

    files, rows = 10, 20_000
    bucket = Path(LOCAL_BUCKET_PATH) / fakesnow_url.split("/")[3]  # snowflake://…@fakesnow/<DATABASE>/PUBLIC?…
    total = _files(tmp_path, files, rows)
    (tmp_path / "files.yaml").write_text(
        "files:\n  - {name: sales, pattern: 'part_*.tsv', table: sales, columns: "
        "{sale_id: BIGINT, sold_on: DATE, amount: 'DECIMAL(12,2)', note: VARCHAR}}\n")
    command = [sys.executable, "-c", "from ombudsman.client.cli import main; main()", "files", "load",
               str(tmp_path / "files.yaml"), "--target", fakesnow_url]
    with snowflake.connector.connect(**snowflake_connect_args(fakesnow_url)) as conn:
        cur = conn.cursor()
        cur.execute("CREATE TABLE sales (sale_id BIGINT, sold_on DATE, amount DECIMAL(12,2), note VARCHAR)")
        _create_checkpoints(cur)

        def count(sql: str) -> tuple:
            cur.execute(sql)
            return tuple(cur.fetchone())

        log = await asyncio.to_thread((tmp_path / "load.log").open, "wb")  # the loader's output, should it exit early
        with log:
            loader = await asyncio.create_subprocess_exec(*command, stdout=log, stderr=log, env=os.environ)
        try:
            # killed once two files are recorded and a third is on the stage (its COPY under way or next)
            await eventually(lambda: loader.returncode is not None or (
                count(f"SELECT count(*) FROM {SNOWFLAKE_CHECKPOINTS}")[0] >= 2
                and len(list(bucket.rglob("part_*"))) > count(f"SELECT count(*) FROM {SNOWFLAKE_CHECKPOINTS}")[0]),
                timeout=120, interval=0.02, what="two files loaded and a third staged")
        finally:
            if loader.returncode is None:
                loader.send_signal(signal.SIGKILL)
            await asyncio.wait_for(loader.wait(), timeout=30)
        assert loader.returncode == -signal.SIGKILL, (loader.returncode, (tmp_path / "load.log").read_text()[-2000:])
        recorded = count(f"SELECT count(*) FROM {SNOWFLAKE_CHECKPOINTS}")[0]
        assert 2 <= recorded < files, "killed half-way"
        assert count("SELECT count(*), count(DISTINCT sale_id) FROM sales") == (recorded * rows,) * 2  # nothing of the file in flight
        resumed = await asyncio.to_thread(subprocess.run, [*command, "--resume"], capture_output=True, text=True, timeout=300)
        assert resumed.returncode == 0, resumed.stdout + resumed.stderr
        assert count("SELECT count(*), count(DISTINCT sale_id) FROM sales") == (total, total)
        assert count(f"SELECT count(*), count(DISTINCT file), sum(rows) FROM {SNOWFLAKE_CHECKPOINTS}") == (files, files, total)


# COPY INTO's result row as Snowflake documents it ("COPY INTO <table>" output): fakesnow implements
# ON_ERROR = ABORT_STATEMENT only, so the CONTINUE / SKIP_FILE outcomes are checked on the rows themselves.
COPY_COLUMNS = ("file", "status", "rows_parsed", "rows_loaded", "error_limit", "errors_seen", "first_error",
                "first_error_line", "first_error_character", "first_error_column_name")
STAGED = "sales/omb/0f3c9a4b2e7d1c55/part_002.tsv.gz"
DATE_ERROR = "Date '2026-13-03' is not recognized"


def _copy_row(*values: Any) -> dict[str, Any]:
    return dict(zip(COPY_COLUMNS, values, strict=True))


def test_a_copy_result_decides_the_checkpoint_and_the_report_for_every_on_error_outcome() -> None:
    from ombudsman.engine.files.load_snowflake import copy_outcome

    loaded = copy_outcome(_copy_row(STAGED, "LOADED", 50, 50, 1, 0, None, None, None, None))
    assert (loaded.checkpoint, loaded.status, loaded.rows, loaded.bad_lines, loaded.message) == (True, "loaded", 50, 0, "")

    # ON_ERROR = CONTINUE: the good rows committed with the checkpoint (a resume never loads the file again),
    # reported so that nobody takes it for a clean load
    partial = copy_outcome(_copy_row(STAGED, "PARTIALLY_LOADED", 50, 47, 50, 3, DATE_ERROR, 2, 19, '"SALES"["SOLD_ON":2]'))
    assert (partial.checkpoint, partial.status, partial.rows, partial.bad_lines) == (True, "loaded", 47, 3)
    assert partial.message.startswith("PARTIALLY LOADED"), partial.message
    for named in ("3 bad line(s) skipped", "47 of 50 rows", "line 2", "character 19", "SOLD_ON", DATE_ERROR):
        assert named in partial.message, (named, partial.message)

    # ON_ERROR = SKIP_FILE: nothing of the file loaded, no checkpoint, the load stops at it naming the line
    skipped_file = copy_outcome(_copy_row(STAGED, "LOAD_FAILED", 50, 0, 1, 1, DATE_ERROR, 2, 19, '"SALES"["SOLD_ON":2]'))
    assert (skipped_file.checkpoint, skipped_file.status, skipped_file.rows) == (False, "failed", 0)
    assert "LOAD_FAILED" in skipped_file.message and "line 2" in skipped_file.message and DATE_ERROR in skipped_file.message

    # in Snowflake's load history already: no checkpoint (the caller looks for one: reconciled), never loaded again
    for history in (_copy_row(STAGED, "LOAD_SKIPPED", 0, 0, 1, 0, None, None, None, None),
                    {"status": "Copy executed with 0 files processed."}):
        seen = copy_outcome(history)
        assert (seen.checkpoint, seen.status, seen.rows) == (False, "skipped", 0) and "load history" in seen.message

    # upper-case column names (as a DictCursor may give them) mean the same
    upper = copy_outcome({k.upper(): v for k, v in _copy_row(STAGED, "LOADED", 50, 50, 1, 0, None, None, None, None).items()})
    assert (upper.checkpoint, upper.rows) == (True, 50)

    # no result row, or a status Snowflake does not document: failed with a clear message, never an exception
    for odd in (None, {}, _copy_row(STAGED, "LOAD_IN_PROGRESS", None, None, None, None, None, None, None, None)):
        failed = copy_outcome(odd)
        assert (failed.checkpoint, failed.status, failed.rows) == (False, "failed", 0)
        assert "COPY INTO" in failed.message and "nothing recorded" in failed.message, failed.message


def test_a_load_with_partially_loaded_files_ends_with_a_warning_naming_them() -> None:
    from ombudsman.engine.files.cli import partial_summary
    from ombudsman.engine.files.load import FileLoad

    clean = [FileLoad("sales", "/x/part_000.tsv", "loaded", 10, 50), FileLoad("sales", "/x/part_001.tsv", "skipped", 10, 50)]
    assert partial_summary(clean) is None
    partial = [*clean, FileLoad("sales", "/x/part_002.tsv", "loaded", 10, 47, message="PARTIALLY LOADED …", bad_lines=3)]
    warning = partial_summary(partial)
    assert warning and "1 file(s) partially loaded" in warning and "3 bad line(s)" in warning and "part_002.tsv" in warning
    assert "--resume" in warning


def test_a_load_step_outcome_names_its_partially_loaded_files_as_the_cli_does() -> None:
    from pathlib import Path as P

    from ombudsman.engine.files.load_step import LoadOutcome

    outcome = LoadOutcome()
    outcome.add("sales", P("/x/part_000.tsv"), "loaded", 10, 50)
    outcome.add("sales", P("/x/part_001.tsv"), "failed", 10, 0, bad_lines=2)  # not loaded: not a partial load
    assert outcome.partial() is None and "bad_lines" not in outcome.files[0]
    outcome.add("sales", P("/x/part_002.tsv"), "loaded", 10, 47, bad_lines=3)
    assert outcome.partial() == "1 file(s) partially loaded, 3 bad line(s) skipped (ON_ERROR = CONTINUE): part_002.tsv"


async def test_a_family_without_a_table_is_refused_naming_it(tmp_path: Path) -> None:
    _files(tmp_path, 1, 1)
    config = parse_config({"files": [{"name": "sales", "pattern": "part_*.tsv", "columns": COLUMNS}]}, tmp_path)
    with pytest.raises(Invalid) as raised:
        await load_files(config, f"duckdb:///{tmp_path / 't.duckdb'}")
    assert raised.value.details["fields"][0]["field"] == "files.0.table"


async def test_reloading_a_period_replaces_exactly_its_rows_all_or_nothing(tmp_path: Path, database_url: str) -> None:
    _files(tmp_path, 3, 100)  # part_000: 2026-01-01, part_001: 2026-01-02, part_002: 2026-01-03
    spec = {"name": "sales", "pattern": "part_*.tsv", "columns": COLUMNS, "table": "sales", "date_column": "sold_on"}
    config = parse_config({"files": [spec]}, tmp_path)
    conn = await _pg(database_url)
    try:
        await conn.execute("CREATE TABLE sales (sale_id bigint PRIMARY KEY, sold_on date, amount numeric(12,2), note text)")
        assert sum(r.rows for r in await load_files(config, database_url)) == 300
        day_2 = tmp_path / "part_001.tsv"
        # the extract of the 2nd is replaced: 80 corrected rows (ids 121..200 of its 101..200)
        fixed = ["sale_id\tsold_on\tamount\tnote"] + [f"{s}\t2026-01-02\t7.77\tcorrected {s}" for s in range(121, 201)]
        day_2.write_text("\n".join(fixed) + "\n")
        with pytest.raises(Invalid, match="changed since it was loaded"):
            await load_files(config, database_url, resume=True)

        reloaded = await reload_period(config, database_url, "2026-01-02")
        assert [(Path(r.file).name, r.status, r.rows) for r in reloaded] == [("part_001.tsv", "reloaded", 80)], reloaded
        assert "100 row(s) deleted" in reloaded[0].message
        by_day = dict(await conn.fetch("SELECT sold_on::text, count(*) FROM sales GROUP BY 1"))
        assert by_day == {"2026-01-01": 100, "2026-01-02": 80, "2026-01-03": 100}
        assert await conn.fetchval("SELECT count(*) FROM sales WHERE sold_on = '2026-01-02' AND note LIKE 'corrected%'") == 80
        checkpoints = await conn.fetch(f"SELECT file, bytes, rows FROM {CHECKPOINTS} ORDER BY file")
        assert [(Path(f).name, b, r) for f, b, r in checkpoints] == [
            ("part_000.tsv", (tmp_path / "part_000.tsv").stat().st_size, 100),
            ("part_001.tsv", day_2.stat().st_size, 80), ("part_002.tsv", (tmp_path / "part_002.tsv").stat().st_size, 100)]
        assert [r.status for r in await load_files(config, database_url, resume=True)] == ["skipped"] * 3

        # a bad line in the new extract: the whole period rolls back, the table and checkpoints as they were
        day_2.write_text("\n".join([*fixed, "999\t2026-01-02\tlots\tbad amount"]) + "\n")
        before = await conn.fetch("SELECT * FROM sales ORDER BY sale_id")
        failed = await reload_period(config, database_url, "2026-01-02")
        assert [r.status for r in failed] == ["failed"] and "lots" in failed[0].message and "rolled back" in failed[0].message
        assert await conn.fetch("SELECT * FROM sales ORDER BY sale_id") == before
        assert await conn.fetchval(f"SELECT rows FROM {CHECKPOINTS} WHERE file = $1", str(day_2)) == 80

        # a file of the period that also holds another day is refused before anything is deleted
        day_2.write_text("\n".join([*fixed, "998\t2026-01-03\t1.00\tanother day"]) + "\n")
        with pytest.raises(Invalid, match=r"part_001\.tsv also holds 1 row"):
            await reload_period(config, database_url, "2026-01-02")
        with pytest.raises(Invalid, match="not a day"):
            await reload_period(config, database_url, "2026-02-30")
        assert await conn.fetch("SELECT * FROM sales ORDER BY sale_id") == before
    finally:
        await conn.close()


async def test_load_steps_racing_for_the_same_files_load_each_file_once(tmp_path: Path, database_url: str) -> None:
    """Three file_load steps given the same files at once (a redelivered step while its first worker still
    runs): the checkpoint row committed with the rows is the fence, so each file is loaded by exactly one
    of them and recorded by the others as `reconciled` (or `skipped`); the table holds each row once."""
    from ombudsman.engine.files.load_step import load_shard

    total = _files(tmp_path, 8, 2000)
    conn = await _pg(database_url)
    try:
        await conn.execute("CREATE TABLE sales (sale_id BIGINT, sold_on DATE, amount NUMERIC(12,2), note TEXT)")
        config = _config(tmp_path)
        outcomes = await asyncio.gather(*[load_shard(config, config.files, database_url, sink=None, resume=True,
                                                     platform=False) for _ in range(3)])
        by_file: dict[str, list[str]] = {}
        for outcome in outcomes:
            assert outcome.failed is None and outcome.refused is None
            for f in outcome.files:
                by_file.setdefault(Path(f["file"]).name, []).append(f["status"])
        assert len(by_file) == 8
        for name, statuses in by_file.items():
            assert sorted(statuses).count("loaded") == 1 and len(statuses) == 3, (name, statuses)
            assert set(statuses) <= {"loaded", "reconciled", "skipped"}, (name, statuses)
        assert tuple(await conn.fetchrow("SELECT count(*), count(DISTINCT sale_id) FROM sales")) == (total, total)
        assert await conn.fetchval(f"SELECT count(*) FROM {CHECKPOINTS}") == 8
    finally:
        await conn.close()


async def test_load_steps_into_duckdb_stop_at_a_bad_line_resume_and_race_each_file_once(tmp_path: Path) -> None:
    """The file_load step's loader into DuckDB (the CLI's per-file code): a bad line fails its file (rolled
    back whole, the line named); without `resume` the files in the target are refused; with it they are
    `reconciled` (no events: the target's checkpoint rows are the fence); three steps racing for the
    remaining files load each exactly once (the table has no key: the checkpoint row is the only fence)."""
    from ombudsman.engine.files.load_step import load_shard

    total = _files(tmp_path, 6, 500)
    bad = tmp_path / "part_003.tsv"
    good_text = bad.read_text()
    bad.write_text(good_text.replace("\t2026-01-04\t", "\t2026-13-04\t", 1))  # line 2 of the fourth file
    target = tmp_path / "target.duckdb"
    with duckdb.connect(str(target)) as con:
        con.execute("CREATE TABLE sales (sale_id BIGINT, sold_on DATE, amount DECIMAL(12,2), note VARCHAR)")
    url, config = f"duckdb:///{target}", _config(tmp_path)

    with pytest.raises(Invalid) as policy:
        await load_shard(config, config.files, url, sink=None, resume=False, platform=False, on_error="CONTINUE")
    assert policy.value.details["fields"][0]["field"] == "on_error"
    first = await load_shard(config, config.files, url, sink=None, resume=False, platform=False)
    assert [f["status"] for f in first.files] == ["loaded"] * 3 + ["failed"]
    assert first.failed and first.failed["file"] == str(bad) and "Line: 2" in first.failed["message"], first.failed
    refused = await load_shard(config, config.files, url, sink=None, resume=False, platform=False)
    assert refused.refused and "already in the target" in refused.refused and "resume" in refused.refused
    bad.write_text(good_text)
    outcomes = await asyncio.gather(*[load_shard(config, config.files, url, sink=None, resume=True, platform=False)
                                      for _ in range(3)])
    by_file: dict[str, list[str]] = {}
    for outcome in outcomes:
        assert outcome.failed is None and outcome.refused is None, outcome
        for f in outcome.files:
            by_file.setdefault(Path(f["file"]).name, []).append(f["status"])
    assert sorted(by_file) == [f"part_{n:03d}.tsv" for n in range(6)]
    for name, statuses in by_file.items():
        assert len(statuses) == 3 and statuses.count("loaded") == (0 if name < "part_003" else 1), (name, statuses)
        assert set(statuses) <= {"loaded", "reconciled"}, (name, statuses)
    with duckdb.connect(str(target)) as con:
        assert con.execute("SELECT count(*), count(DISTINCT sale_id) FROM sales").fetchone() == (total, total)
        assert con.execute(f"SELECT count(*), sum(rows) FROM {CHECKPOINTS}").fetchone() == (6, total)
        assert con.execute("SELECT note FROM sales WHERE sale_id = 7").fetchone() == ("note with a \\ backslash 7",)


def test_load_steps_into_snowflake_stop_at_a_bad_line_and_resume(tmp_path: Path, fakesnow_url: str) -> None:
    """The file_load step's loader into Snowflake (fakesnow's server, the real connector): a bad line fails its
    file with the line named; the step's `on_error` reaches COPY INTO (fakesnow implements ABORT_STATEMENT
    only, and says so); resumed after the fix, the files in the target are reconciled, the others loaded,
    each file recorded once."""
    import snowflake.connector

    from ombudsman.engine.connectors.snowflake import snowflake_connect_args
    from ombudsman.engine.files.load_step import load_shard

    total = _files(tmp_path, 4, 50)
    bad = tmp_path / "part_002.tsv"
    good_text = bad.read_text()
    bad.write_text(good_text.replace("\t2026-01-03\t", "\t2026-13-03\t", 1))
    config = _config(tmp_path)
    with snowflake.connector.connect(**snowflake_connect_args(fakesnow_url)) as conn:
        cur = conn.cursor()
        cur.execute("CREATE TABLE sales (sale_id BIGINT, sold_on DATE, amount DECIMAL(12,2), note VARCHAR)")

        def count(sql: str) -> tuple:
            cur.execute(sql)
            return tuple(cur.fetchone())

        def load(**options: Any) -> Any:
            return asyncio.run(load_shard(config, config.files, fakesnow_url, sink=None, platform=False, **options))

        first = load(resume=False)
        assert [f["status"] for f in first.files] == ["loaded", "loaded", "failed"], first
        assert first.failed and "line: 2" in first.failed["message"].lower() and "2026-13-03" in first.failed["message"]
        assert count("SELECT count(*) FROM sales") == (100,)  # the bad file rolled back whole
        assert "resume" in (load(resume=False).refused or "")
        skip = load(resume=True, on_error="skip_file")
        assert [f["status"] for f in skip.files] == ["reconciled", "reconciled", "failed"], skip
        assert "ON_ERROR SKIP_FILE not implemented" in skip.files[2]["message"], skip.files[2]  # fakesnow's own words
        bad.write_text(good_text)
        resumed = load(resume=True)
        assert [f["status"] for f in resumed.files] == ["reconciled", "reconciled", "loaded", "loaded"], resumed
        assert [f["rows"] for f in resumed.files] == [50] * 4
        assert count("SELECT count(*), count(DISTINCT sale_id) FROM sales") == (total, total)
        assert count(f"SELECT count(*), sum(rows) FROM {SNOWFLAKE_CHECKPOINTS}") == (4, total)


async def test_loads_opening_one_target_at_once_share_its_checkpoint_table(tmp_path: Path, fakesnow_url: str) -> None:
    """Shards of one load start together, each creating the checkpoint table when missing: on fakesnow the
    creations conflict (a catalog write-write conflict), and the ones that lost wait for the winner's table."""
    from ombudsman.engine.files.targets import open_target

    for url in (fakesnow_url, f"duckdb:///{tmp_path / 'target.duckdb'}"):
        targets = await asyncio.gather(*[open_target(url) for _ in range(4)])
        try:
            assert [await t.recorded(_config(tmp_path).files[0]) for t in targets] == [{}] * 4
        finally:
            for target in targets:
                await target.close()


async def test_postgres_loads_opening_one_target_at_once_share_its_checkpoint_table(tmp_path: Path, database_url: str) -> None:
    """PostgreSQL's CREATE TABLE IF NOT EXISTS does not serialise creators: the losers meet the winner's
    table, index or row type (`type "omb_file_loads" already exists`, a flake of the racing-steps test).
    Twenty rounds of six loads opening a target that has no checkpoint table: every one opens."""
    from ombudsman.engine.files.targets import open_target

    conn = await _pg(database_url)
    try:
        for _ in range(20):
            await conn.execute(f"DROP TABLE IF EXISTS {CHECKPOINTS}")
            targets = await asyncio.gather(*[open_target(database_url) for _ in range(6)], return_exceptions=True)
            opened = [t for t in targets if not isinstance(t, BaseException)]
            try:
                assert opened == targets, [t for t in targets if isinstance(t, BaseException)]
                assert [await t.recorded(_config(tmp_path).files[0]) for t in opened] == [{}] * 6
            finally:
                for target in opened:
                    await target.close()
    finally:
        await conn.close()


async def test_a_file_load_step_into_duckdb_runs_beside_its_connector_and_refuses_snowflakes_on_error(tmp_path: Path) -> None:
    """`ombudsman run` of the pipeline `files load-pipeline` prints, into a DuckDB file: the step's own
    (sandboxed) connector on the target is open while the step loads, and both share the database; the
    parameter schema takes Snowflake's ON_ERROR (an unknown one refused naming the field), and a pipeline
    whose target is not Snowflake is refused naming `parameters.on_error`."""
    import yaml

    from ombudsman.contracts.pipeline import PipelineError, load_pipeline
    from ombudsman.engine.files.cli import load_pipeline as files_load_pipeline
    from ombudsman.engine.pipeline import run_pipeline, validate_pipeline
    from ombudsman.engine.validators.file_load import FileLoadStep

    total = _files(tmp_path, 3, 100)
    (tmp_path / "files.yaml").write_text(yaml.safe_dump({"files": [{"name": "sales", "pattern": "part_*.tsv",
                                                                   "columns": COLUMNS, "table": "sales"}]}, sort_keys=False))
    target = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(target)) as con:
        con.execute("CREATE TABLE sales (sale_id BIGINT, sold_on DATE, amount DECIMAL(12,2), note VARCHAR)")

    def pipeline(**options: Any) -> Any:
        data = files_load_pipeline("extracts", "warehouse", shards=1, **options)
        data["connections"] = {"extracts": f"file://{tmp_path / 'files.yaml'}", "warehouse": f"duckdb:///{target}"}
        return validate_pipeline(load_pipeline(yaml.safe_dump(data)))

    with pytest.raises(PipelineError, match=r"parameters\.on_error: CONTINUE is Snowflake's ON_ERROR; DuckDB stops"):
        pipeline(on_error="continue")  # refused before any run: the target's URL says DuckDB
    with pytest.raises(PipelineError, match=r"parameters\.on_error"):
        data = files_load_pipeline("extracts", "warehouse", shards=1)
        data["steps"][0]["parameters"]["on_error"] = "IGNORE"
        validate_pipeline(load_pipeline(yaml.safe_dump(data)))
    # a connection known by name only (a project's) has its kind when the step runs: refused then
    step = FileLoadStep.parse_params({"on_error": "continue"})
    assert step.on_error == "CONTINUE"  # type: ignore[attr-defined]
    assert FileLoadStep.connection_errors(step, {"source": None, "target": None}) == []
    assert FileLoadStep.connection_errors(step, {"source": "file", "target": "snowflake"}) == []
    assert FileLoadStep.connection_errors(step, {"source": "file", "target": "postgres"})[0].startswith("parameters.on_error")
    assert FileLoadStep.connection_errors(step, {"source": "postgres", "target": "snowflake"})[0].startswith("source_connection")
    loaded = (await run_pipeline(pipeline())).steps[0]
    assert loaded.status == "passed", loaded.message
    assert loaded.details["counts"]["loaded"] == 3 and loaded.target["rows_loaded"] == total
    with duckdb.connect(str(target)) as con:
        assert con.execute("SELECT count(*), count(DISTINCT sale_id) FROM sales").fetchone() == (total, total)


def test_a_duckdb_conflict_met_at_commit_waits_for_the_other_commit_to_be_visible(tmp_path: Path) -> None:
    """The conflict DuckDB reports at a COMMIT (`duplicate key "SPEC, PATH"`), while the attempt that
    indexed the key is still committing: the fence waits for that commit (its DuckDB file's commit lock)
    and finds its checkpoint row — `reconciled` — rather than reading at once and failing the file."""
    import concurrent.futures

    from ombudsman.engine.files.targets import DuckDBTarget

    target_file = tmp_path / "target.duckdb"
    duckdb.connect(str(target_file)).close()
    target = DuckDBTarget.open(f"duckdb:///{target_file}")
    path = tmp_path / "part_000.tsv"
    spec = _config(tmp_path).files[0]
    conflict = duckdb.TransactionException(
        f'TransactionContext Error: Failed to commit: PRIMARY KEY or UNIQUE constraint violation: duplicate key "sales, {path}"')
    other = target.con.cursor()  # the other attempt, mid-COMMIT: it holds the commit lock
    try:
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            with target.commits:
                fenced = pool.submit(target._fenced, target.con.cursor(), spec, path, conflict)
                with pytest.raises(concurrent.futures.TimeoutError):
                    fenced.result(timeout=0.5)  # not answered while the other commit is under way
                other.execute(f"INSERT INTO {CHECKPOINTS} (spec, file, bytes, rows) VALUES ('sales', ?, 10, 1234)", [str(path)])
            assert fenced.result(timeout=60) == 1234
    finally:
        other.close()
        asyncio.run(target.close())
