"""The duplicates' locate pass over a large plain file reads it in byte ranges at once (files/ranges.py),
each numbered from the physical line it starts on: the lines found are those of the one-pass read."""

from __future__ import annotations

import itertools
import threading
import time
from pathlib import Path

import duckdb
import pytest

from ombudsman.engine.files import checks, ranges
from ombudsman.engine.files.checks import validate_files
from ombudsman.engine.files.config import parse_config
from ombudsman.engine.files.scan import ScanSettings, child_cursors, interrupt, scanner

COLUMNS = {"sale_id": "BIGINT", "sold_on": "DATE", "amount": "DECIMAL(12,2)", "note": "VARCHAR"}


def _write(path: Path, ending: str) -> dict[int, list[int]]:
    """5,000 sales, each fifth one copied further down, a bad line among them; the lines of every copy."""
    lines = ["sale_id\tsold_on\tamount\tnote"] + [f"{i}\t2026-01-01\t{i}.25\tnote {i}" for i in range(1, 5001)]
    lines += [f"{i}\t2026-01-02\t1.00\tcopy of {i}" for i in range(5, 5001, 5)]
    lines.insert(2600, "oops\t2026-01-01\t1.00\tnot a BIGINT")  # line 2601: every line after it one further
    path.write_text(ending.join(lines) + ending, newline="")
    return {i: [n for n, t in enumerate(lines, start=1) if t.split("\t")[0] == str(i)] for i in range(5, 5001, 5)}


@pytest.mark.parametrize("ending", ["\n", "\r\n"])
def test_a_file_read_in_ranges_names_the_same_lines_as_one_pass(tmp_path: Path, ending: str,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    expected = _write(tmp_path / "day_01.tsv", ending)
    config = parse_config({"files": [{"name": "sales", "pattern": "day_*.tsv", "columns": COLUMNS, "key": ["sale_id"]}]},
                          tmp_path)
    monkeypatch.setattr(ranges, "MIN_BYTES", 0)  # the test's file is small
    used: list[int] = []
    real = checks._locate_in_ranges

    def spy(*args, **kwargs):
        used.append(args[4])
        return real(*args, **kwargs)

    monkeypatch.setattr(checks, "_locate_in_ranges", spy)

    def located(threads: int) -> dict[int, list[int]]:
        results = {r.check: r for r in validate_files(config, settings=ScanSettings(threads=threads))}
        assert results["conformance"].details["lines"][0]["line"] == 2601
        return {e["key"]["sale_id"]: [n for _, n in e["lines"]] for e in results["duplicates"].details["keys"]}

    one_pass, in_ranges = located(1), located(4)
    assert used == [4]  # four ranges read at once, and only with more than one thread
    assert in_ranges == one_pass and len(in_ranges) == checks.REPORTED
    assert all(in_ranges[k] == expected[k] for k in in_ranges), in_ranges


def test_line_ranges_start_lines_and_cover_the_file(tmp_path: Path) -> None:
    path = tmp_path / "f.tsv"
    data = b"".join(b"x" * (i % 37) + (b"\r\n" if i % 3 else b"\n") for i in range(3000))
    path.write_bytes(data)
    for parts in (1, 2, 3, 7, 50):
        cuts = ranges.line_ranges(str(path), parts)
        assert cuts[0][0] == 0 and cuts[-1][1] == len(data) and len(cuts) <= parts
        assert all(a[1] == b[0] and data[b[0] - 1:b[0]] == b"\n" for a, b in itertools.pairwise(cuts))
        assert sum(ranges.count_lines(str(path), a, b) for a, b in cuts) == data.count(b"\n")


def test_interrupting_a_scanner_interrupts_its_child_cursors() -> None:
    # a timed-out file_checks step interrupts its scanner: the ranges' queries must stop with it
    with scanner(ScanSettings(threads=2)) as con, child_cursors(con, 1) as [cursor]:
        outcome: list[BaseException | None] = []

        def run() -> None:
            try:
                cursor.execute("SELECT sum(hash(range)) FROM range(1000000000000)").fetchall()
                outcome.append(None)
            except duckdb.Error as error:
                outcome.append(error)

        worker = threading.Thread(target=run)
        worker.start()
        deadline = time.monotonic() + 60
        while worker.is_alive() and time.monotonic() < deadline:  # the query may not have begun yet: again
            interrupt(con)
            worker.join(timeout=0.05)
        assert not worker.is_alive(), "the child cursor's query was not interrupted"
        assert isinstance(outcome[0], duckdb.InterruptException), outcome
