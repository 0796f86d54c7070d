"""The scanner's private spill folder (files/scan.open_scanner) is removed when the scan or load that
opened it ends, passed or failed: nothing is left in the temporary folder."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import pytest

from ombudsman.engine.files import checks, scan
from ombudsman.engine.files.checks import validate_files
from ombudsman.engine.files.config import parse_config
from ombudsman.engine.files.load import load_files
from ombudsman.engine.files.scan import ScanSettings
from ombudsman.engine.files.suggest import suggest_spec

COLUMNS = {"sale_id": "BIGINT", "sold_on": "DATE", "amount": "DECIMAL(12,2)", "note": "VARCHAR"}


@pytest.fixture
def temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """tempfile's base pointed at an empty test folder; the spill folders made there, listed."""
    base = tmp_path / "tmp"
    base.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(base))
    made: list[str] = []
    real = tempfile.mkdtemp

    def mkdtemp(*args, **kwargs) -> str:
        made.append(real(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(scan.tempfile, "mkdtemp", mkdtemp)
    return made


def _left(tmp_path: Path) -> list[str]:
    return sorted(p.name for p in (tmp_path / "tmp").iterdir())


def _write(folder: Path, lines: int, *, bad_at: int | None = None) -> None:
    with open(folder / "part_001.tsv", "w") as f:
        f.write("sale_id\tsold_on\tamount\tnote\n")
        for n in range(1, lines + 1):
            f.write(f"{'oops' if n == bad_at else n}\t2026-01-01\t{n}.25\tnote {n}\n")
        f.write("1\t2026-01-01\t1.00\ta copy of sale 1\n")


def _config(folder: Path):
    return parse_config({"files": [{"name": "sales", "pattern": "part_*.tsv", "columns": COLUMNS,
                                    "key": ["sale_id"], "table": "sales"}]}, folder)


def _target(tmp_path: Path) -> str:
    path = tmp_path / "target.duckdb"
    duckdb.connect(str(path)).execute("CREATE TABLE sales (sale_id BIGINT, sold_on DATE, amount DECIMAL(12,2), note VARCHAR)").close()
    return f"duckdb:///{path}"


async def test_a_duckdb_load_leaves_no_spill_folder(tmp_path: Path, temp: list[str]) -> None:
    _write(tmp_path, 1000)
    [loaded] = await load_files(_config(tmp_path), _target(tmp_path))
    assert loaded.status == "loaded" and loaded.rows == 1001
    assert temp and _left(tmp_path) == []  # a scanner was opened there, and removed


async def test_a_failed_duckdb_load_leaves_no_spill_folder(tmp_path: Path, temp: list[str]) -> None:
    _write(tmp_path, 1000, bad_at=500)
    [failed] = await load_files(_config(tmp_path), _target(tmp_path))
    assert failed.status == "failed"
    assert temp and _left(tmp_path) == []


def test_a_validation_with_findings_leaves_no_spill_folder(tmp_path: Path, temp: list[str]) -> None:
    _write(tmp_path, 20_000, bad_at=7)  # both passes: the scan, and the locate pass over the raw lines
    results = {r.check: r for r in validate_files(_config(tmp_path), settings=ScanSettings(memory_limit="64MB", threads=1))}
    assert results["duplicates"].details["keys"][0]["lines"] == [(str(tmp_path / "part_001.tsv"), 2),
                                                                  (str(tmp_path / "part_001.tsv"), 20_002)]
    assert results["conformance"].details["lines"][0]["line"] == 8
    assert temp and _left(tmp_path) == []


def test_a_validation_that_fails_leaves_no_spill_folder(tmp_path: Path, temp: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    _write(tmp_path, 10)

    def broken(*args, **kwargs):
        raise RuntimeError("the scan broke")

    monkeypatch.setattr(checks, "validate_spec", broken)
    with pytest.raises(RuntimeError):
        validate_files(_config(tmp_path))
    assert temp and _left(tmp_path) == []


def test_suggest_leaves_no_spill_folder(tmp_path: Path, temp: list[str]) -> None:
    _write(tmp_path, 10)
    assert suggest_spec(tmp_path / "part_001.tsv")["columns"]["sale_id"] == "BIGINT"
    assert temp and _left(tmp_path) == []


def test_a_scanner_draws_no_progress_bar() -> None:
    # under `python -c` (interactive to DuckDB) its bar went to stdout once a query passed 2 s, before
    # the JSON report of the file bench's 2 GB validation, which then could not be parsed
    probe = ("from ombudsman.engine.files.scan import scanner\n"
             "with scanner() as con:\n"
             "    print(con.execute(\"SELECT current_setting('enable_progress_bar')\").fetchone()[0])\n"
             "    con.execute('SET enable_progress_bar = true')\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.stdout == "False\n" and "configuration has been locked" in done.stderr, (done.stdout, done.stderr)


def test_the_spill_folder_of_a_killed_scan_is_swept_by_the_next_scanner(tmp_path: Path, temp: list[str]) -> None:
    # a worker killed mid-scan never reaches close_scanner: its folder (DuckDB's spill files, up to the
    # scan's size) stayed in the temporary folder for good
    holder = ("import sys\nfrom ombudsman.engine.files.scan import open_scanner, _SPILLS\n"
              "con = open_scanner()\nprint(next(iter(_SPILLS.values()))[0], flush=True)\nsys.stdin.read()\n")
    env = {**os.environ, "TMPDIR": str(tmp_path / "tmp")}
    live = subprocess.Popen([sys.executable, "-c", holder], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    killed = subprocess.Popen([sys.executable, "-c", holder], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    try:
        live_folder, killed_folder = Path(live.stdout.readline().strip()), Path(killed.stdout.readline().strip())
        assert live_folder.parent == killed_folder.parent == tmp_path / "tmp"
        killed.kill()
        killed.wait(timeout=30)
        opening = tmp_path / "tmp" / "omb-files-being-opened"  # made, not locked yet: left for its grace
        opening.mkdir()
        abandoned = tmp_path / "tmp" / "omb-files-from-an-old-version"  # no lock, an hour old
        abandoned.mkdir()
        os.utime(abandoned, (time.time() - 3600, time.time() - 3600))

        with scan.scanner():
            assert sorted(_left(tmp_path)) == sorted([live_folder.name, opening.name, Path(temp[-1]).name])
        assert sorted(_left(tmp_path)) == sorted([live_folder.name, opening.name])  # the live scan's is kept
    finally:
        for process in (live, killed):
            process.kill()
            process.wait(timeout=30)
    assert scan.sweep_spills(str(tmp_path / "tmp")) == [str(live_folder)]  # its process gone: swept
