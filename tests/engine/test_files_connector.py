"""The `file://` connector: a file config's TSV files as one side of the table validators against a real
PostgreSQL table (exactly the planted differences found, with their keys), and the confinement of
file URLs to OMB_FILE_ROOTS (outside, `..`, symlinks: refused naming the setting)."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote

import pytest
import yaml

from ombudsman.contracts.pipeline import TableRef
from ombudsman.contracts.replies import Invalid
from ombudsman.engine.connectors import connect
from ombudsman.engine.connectors.sandbox import check_connection_url
from ombudsman.engine.validators import ValidationContext, get_validator, run_validator

COLUMNS = {"sale_id": "BIGINT", "sold_on": "DATE", "amount": "DECIMAL(12,2)", "note": "VARCHAR"}
MISSING_IN_TABLE = {7, 8}        # in the files, not in the table
EXTRA_IN_TABLE = {1001}          # in the table, not in the files
CHANGED = {150: "amount", 222: "note"}


def _write_files(folder: Path) -> list[tuple[int, str, str, str]]:
    """Three daily TSV files of 100 sales each; their rows."""
    rows = []
    for day in (1, 2, 3):
        with open(folder / f"day_{day:02d}.tsv", "w") as f:
            f.write("sale_id\tsold_on\tamount\tnote\n")
            for i in range(100):
                sale = (day - 1) * 100 + i + 1
                row = (sale, f"2026-01-{day:02d}", f"{sale}.25", f"note {sale}")
                rows.append(row)
                f.write("\t".join(map(str, row)) + "\n")
    return rows


def _config(folder: Path, pattern: str = "day_*.tsv") -> Path:
    path = folder / "sales.yaml"
    path.write_text(yaml.safe_dump({"files": [{"name": "sales", "pattern": pattern, "columns": COLUMNS,
                                               "key": ["sale_id"]}]}, sort_keys=False))
    return path


async def _load_table(database_url: str, rows: list[tuple[int, str, str, str]]) -> None:
    """The table: the files' rows with the planted differences."""
    kept = []
    for sale, day, amount, note in rows:
        if sale in MISSING_IN_TABLE:
            continue
        if CHANGED.get(sale) == "amount":
            amount = "99999.99"
        if CHANGED.get(sale) == "note":
            note = "changed in the table"
        kept.append((sale, day, amount, note))
    kept.append((1001, "2026-01-03", "1.00", "only in the table"))
    async with connect(database_url) as db:
        await db.execute("CREATE TABLE sales (sale_id BIGINT PRIMARY KEY, sold_on DATE, amount NUMERIC(12,2), note TEXT)")
        values = ", ".join(f"({s}, DATE '{d}', {a}, '{n}')" for s, d, a, n in kept)
        await db.execute(f"INSERT INTO sales VALUES {values}")


async def test_row_hash_and_counts_between_a_tsv_file_set_and_a_postgres_table(tmp_path: Path, database_url: str) -> None:
    rows = _write_files(tmp_path)
    await _load_table(database_url, rows)
    url = f"file://{_config(tmp_path)}?memory_limit=256MB&threads=1"
    check_connection_url(url, env={"OMB_FILE_ROOTS": str(tmp_path)})
    async with connect(url) as files, connect(database_url) as table:
        ctx = ValidationContext(source=files, target=table, source_table=TableRef(name="sales"), sample_limit=50)
        counts = await run_validator(get_validator("record_counts"), ctx, {})
        assert counts.status == "failed" and counts.source == {"row_count": 300} and counts.target == {"row_count": 299}

        result = await run_validator(get_validator("row_hash"), ctx, {"key": ["sale_id"]})
        assert result.status == "failed", result.message
        assert result.source == {"rows": 300, "only_in_source": 2}
        assert result.target == {"rows": 299, "only_in_target": 1}
        assert result.details["changed"] == 2
        by_kind: dict[str, set[int]] = {}
        for difference in result.sample:
            by_kind.setdefault(difference["kind"], set()).add(int(difference["key"]["sale_id"]))
        assert by_kind == {"only_in_source": MISSING_IN_TABLE, "only_in_target": EXTRA_IN_TABLE,
                           "changed": set(CHANGED)}
        assert set(result.affected_columns) == set(CHANGED.values())

        nulls = await run_validator(get_validator("nulls"), ctx, {})
        assert nulls.status == "passed", nulls.message
        columns = await run_validator(get_validator("schema_columns"), ctx, {})
        assert columns.status == "passed", columns.message
        sums = await run_validator(get_validator("metric_sums"), ctx, {"measures": ["amount"]})
        assert sums.status == "failed" and "amount" in sums.message

        # the files are read, never written: a COPY TO an allowed file is refused and the file is unchanged
        before = (tmp_path / "day_01.tsv").read_bytes()
        with pytest.raises(Exception, match="single SELECT"):
            await files.fetch(f"COPY (SELECT 1) TO '{tmp_path / 'day_01.tsv'}' (USE_TMP_FILE false)")
        with pytest.raises(Exception, match="read-only"):
            await files.execute("CREATE TABLE x (i INT)")
        assert (tmp_path / "day_01.tsv").read_bytes() == before
        # ...nor any other host file
        with pytest.raises(Exception, match="disabled by configuration"):
            await files.fetch("SELECT * FROM read_csv('/etc/hostname')")


async def test_bad_lines_fail_the_query_naming_the_line_or_are_skipped(tmp_path: Path) -> None:
    _write_files(tmp_path)
    day_02 = tmp_path / "day_02.tsv"
    day_02.write_text(day_02.read_text() + "oops\t2026-01-02\t1.00\tnot a number\n")  # line 102
    url = f"file://{_config(tmp_path)}"
    async with connect(url) as files:
        with pytest.raises(Exception, match="oops") as raised:
            await files.fetch_rows("SELECT count(*) FROM sales")
        assert "day_02.tsv" in str(raised.value)
    async with connect(url + "?bad_lines=skip") as files:
        assert await files.fetch_rows("SELECT count(*) FROM sales") == [(300,)]


async def test_file_urls_outside_the_roots_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    allowed, outside = tmp_path / "allowed", tmp_path / "outside"
    allowed.mkdir()
    outside.mkdir()
    _write_files(allowed)
    _write_files(outside)
    _config(outside)
    monkeypatch.setenv("OMB_FILE_ROOTS", str(allowed))
    env = {"OMB_FILE_ROOTS": str(allowed)}

    (allowed / "link.yaml").symlink_to(outside / "sales.yaml")
    inline = yaml.safe_dump({"files": [{"name": "sales", "pattern": "day_*.tsv", "columns": COLUMNS}]}, sort_keys=False)
    refused = [
        f"file://{outside / 'sales.yaml'}",                 # plainly outside
        f"file://{allowed}/../outside/sales.yaml",          # out through ..
        f"file://{allowed / 'link.yaml'}",                  # a symlink inside to a config outside
        f"file://{outside}?config={quote(inline)}",         # an inline config whose folder is outside
    ]
    for url in refused:
        with pytest.raises(Invalid, match="OMB_FILE_ROOTS") as raised:
            check_connection_url(url, field="connections.files", env=env)
        assert raised.value.details["field"] == "connections.files"
        with pytest.raises(Invalid, match="OMB_FILE_ROOTS"):
            await connect(url).open()

    # a config inside whose files are outside: through `..`, an absolute pattern, a symlinked file
    for name, pattern in (("dots", "../../outside/day_*.tsv"), ("absolute", str(outside / "day_*.tsv")),
                          ("linked", "linked/*.tsv")):
        folder = allowed / name
        folder.mkdir()
        if name == "linked":
            (folder / "linked").mkdir()
            (folder / "linked" / "day_01.tsv").symlink_to(outside / "day_01.tsv")
        config = _config(folder, pattern)
        check_connection_url(f"file://{config}", env=env)  # the config itself is inside
        with pytest.raises(Invalid, match="OMB_FILE_ROOTS") as raised:
            await connect(f"file://{config}").open()
        assert str(outside) not in os.environ["OMB_FILE_ROOTS"] and "outside" in raised.value.message

    # inline, its folder inside: allowed
    async with connect(f"file://{allowed}?config={quote(inline)}") as files:
        assert await files.fetch_rows("SELECT count(*) FROM main.sales") == [(300,)]


async def test_bad_file_urls_name_what_is_wrong(tmp_path: Path) -> None:
    _write_files(tmp_path)
    config = _config(tmp_path)
    for url, words in ((f"file://host{config}", "no host"), (f"file://{config}?threads=0", "threads"),
                       (f"file://{config}?memory_limit=lots", "memory_limit"), (f"file://{config}?x=1", "unknown"),
                       (f"file://{config}?bad_lines=maybe", "bad_lines")):
        with pytest.raises(Invalid, match=words):
            check_connection_url(url, platform=False, env={})
    (tmp_path / "sub").mkdir()
    missing = _config(tmp_path / "sub", "nothing_*.tsv")
    async with connect(f"file://{missing}") as files:  # a missing file fails every read of it, named
        with pytest.raises(Exception, match="no file matches 'nothing_"):
            await files.fetch_rows("SELECT count(*) FROM sales")
    (tmp_path / "broken.yaml").write_text("files: [{name: s, pattern: '*.tsv', columns: {a: NOTATYPE}}]")
    with pytest.raises(Invalid, match="NOTATYPE"):
        await connect(f"file://{tmp_path / 'broken.yaml'}").open()


async def test_file_checks_step_names_the_first_bad_line_and_refuses_a_database_side(tmp_path: Path, database_url: str) -> None:
    _write_files(tmp_path)
    day_03 = tmp_path / "day_03.tsv"
    day_03.write_text(day_03.read_text() + "300\t2026-01-03\t1.00\tcopy of 300\n" + "301\t2026-01-03\tlots\tbad amount\n")
    async with connect(f"file://{_config(tmp_path)}") as files, connect(database_url) as table:
        ctx = ValidationContext(source=files, target=files)
        result = await run_validator(get_validator("file_checks"), ctx, {"report": 5})
        assert result.status == "failed", result.message
        assert result.message.startswith("sales: conformance: 1 bad line(s); first: day_03.tsv line 103 column amount")
        assert result.sample == [{"file": str(day_03), "line": 103, "column": "amount", "value": "lots",
                                  "error": result.sample[0]["error"]}]
        checks = {c["check"]: c for c in result.details["checks"]}
        duplicates = checks["duplicates"]["details"]["keys"]
        assert duplicates == [{"key": {"sale_id": 300}, "copies": 2, "lines": [[str(day_03), 101], [str(day_03), 102]]}]
        assert result.source["rows"] == 301 and result.source["checks"]["sales.duplicates"] == "failed"

        only_counts = await run_validator(get_validator("file_checks"), ctx, {"checks": ["files_present", "row_counts"]})
        assert only_counts.status == "passed" and [c["check"] for c in only_counts.details["checks"]] == ["files_present", "row_counts"]

        unknown = await run_validator(get_validator("file_checks"), ctx, {"files": ["nope"]})
        assert unknown.status == "error" and "nope" in unknown.message
        database_side = ValidationContext(source=table, target=table)
        refused = await run_validator(get_validator("file_checks"), database_side, {})
        assert refused.status == "error" and "file connection" in refused.message


def _scanning_threads() -> list[str]:
    """Threads whose stack is inside a file_checks scan right now."""
    import sys
    import traceback

    return [str(ident) for ident, frame in sys._current_frames().items()
            if any(f.name == "_check_spec" for f in traceback.extract_stack(frame))]


async def test_a_timed_out_file_checks_step_interrupts_its_scan(tmp_path: Path) -> None:
    """A step's timeout interrupts the DuckDB scan (`interrupt()`): the step errors as timed out within a
    bound, and no thread is still scanning when its result is back (the whole scan takes seconds: 6M keys
    grouped). Parquet: DuckDB 2.0 defers the interrupt of a CSV scan with `store_rejects` to its end."""
    import time

    import duckdb

    big = tmp_path / "big.parquet"
    with duckdb.connect() as con:
        con.execute(f"COPY (SELECT i AS sale_id, DATE '2026-01-01' + (i % 28)::INT AS sold_on, i * 0.25 AS amount, "
                    f"'note ' || i AS note FROM range(6000000) t(i)) TO '{big}' (FORMAT parquet)")
    config = tmp_path / "big.yaml"
    config.write_text(yaml.safe_dump({"files": [{"name": "big", "format": "parquet", "pattern": "big.parquet",
                                                 "columns": COLUMNS, "key": ["sale_id"], "date_column": "sold_on"}]}))
    async with connect(f"file://{config}?threads=1&memory_limit=1GB") as files:
        ctx = ValidationContext(source=files, target=files)
        started = time.perf_counter()
        result = await run_validator(get_validator("file_checks"), ctx, {}, timeout_seconds=0.5)
        took = time.perf_counter() - started
        assert _scanning_threads() == []  # the scan ended before the result came back
    assert result.status == "error" and "timed out after 0.5 s" in result.message, result.message
    assert took < 3, took
