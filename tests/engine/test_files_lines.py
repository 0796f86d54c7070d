"""Line numbers of file findings are the physical lines a person opens in an editor (as `awk`/`nl`
count them: from 1, the header line 1) whatever the line endings: LF, CRLF (bcp and Windows exports),
or mixed (refused, naming the first line whose ending differs)."""

from __future__ import annotations

import gzip
from pathlib import Path

import duckdb
import pytest

from ombudsman.engine.files.checks import validate_files
from ombudsman.engine.files.config import parse_config
from ombudsman.engine.files.scan import physical_lines, raw_lines

COLUMNS = {"sale_id": "BIGINT", "sold_on": "DATE", "amount": "DECIMAL(12,2)", "note": "VARCHAR"}
HEADER = "sale_id\tsold_on\tamount\tnote"


def _config(folder: Path, pattern: str = "day_*.tsv*") -> object:
    return parse_config({"files": [{"name": "sales", "pattern": pattern, "columns": COLUMNS, "key": ["sale_id"]}]}, folder)


def _lines() -> list[str]:
    """Header (line 1), sales 1..10, a copy of sale 3 on line 7 and a bad line on line 10."""
    lines = [HEADER] + [f"{i}\t2026-01-01\t{i}.25\tnote {i}" for i in range(1, 11)]
    lines.insert(6, "3\t2026-01-01\t1.00\tcopy of sale 3")  # line 7 (sale 3 on line 4)
    lines.insert(9, "oops\t2026-01-01\t1.00\tnot a BIGINT")  # line 10
    return lines


def _write(path: Path, data: bytes) -> None:
    if path.suffix == ".gz":
        with gzip.open(path, "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)


def _by_check(results) -> dict:
    return {r.check: r for r in results}


@pytest.mark.parametrize("name", ["day_01.tsv", "day_01.tsv.gz"])
def test_a_crlf_file_names_the_physical_lines_of_its_duplicates_and_bad_lines(tmp_path: Path, name: str) -> None:
    _write(tmp_path / name, ("\r\n".join(_lines()) + "\r\n").encode())
    results = _by_check(validate_files(_config(tmp_path)))

    assert results["row_counts"].details["rows"] == 11  # 12 data lines, one bad
    [entry] = results["duplicates"].details["keys"]
    assert entry["key"] == {"sale_id": 3} and [n for _, n in entry["lines"]] == [4, 7]
    [bad] = results["conformance"].details["lines"]
    assert (bad["line"], bad["columns"], bad["values"]) == (10, ["sale_id"], ["oops"])
    assert bad["text"] == "oops\t2026-01-01\t1.00\tnot a BIGINT"  # no line break carried over from line 9


@pytest.mark.parametrize("name", ["day_01.tsv", "day_01.tsv.gz"])
@pytest.mark.parametrize(("first", "then", "line"), [("\r\n", "\n", 6), ("\n", "\r\n", 6)])
def test_mixed_line_endings_fail_naming_the_first_line_that_ends_otherwise(tmp_path: Path, name: str, first: str,
                                                                            then: str, line: int) -> None:
    lines = _lines()
    data = "".join(text + (first if n < line else then) for n, text in enumerate(lines, start=1))
    _write(tmp_path / name, data.encode())
    results = _by_check(validate_files(_config(tmp_path)))

    conformance = results["conformance"]
    assert conformance.status == "failed" and conformance.details["lines"][0]["line"] == line
    usual, other = ("CRLF", "LF") if first == "\r\n" else ("LF", "CRLF")
    assert f"line {line} ends {other}, line 1 ends {usual}" in conformance.summary
    assert set(results) == {"files_present", "conformance"}  # the file is not read: no count is made up


def test_raw_lines_number_lf_and_crlf_lines_as_awk_does(tmp_path: Path) -> None:
    # the locate pass's reader: a first line ending LF must not make each later CRLF two lines
    endings = ["\n", "\n", "\r\n", "\n", "\r\n", "\r\n", "\n", "\r\n"]
    texts = ["a", "b", "", "c", "", "", "d", "e"]
    path = tmp_path / "mixed.tsv"
    path.write_bytes("".join(t + e for t, e in zip(texts, endings, strict=True)).encode())
    spec = _config(tmp_path, "mixed.tsv").files[0]  # type: ignore[attr-defined]
    rows = duckdb.connect().execute(f"SELECT line_number, line FROM {raw_lines(spec)} ORDER BY line_number",
                                    {"file": str(path)}).fetchall()
    assert rows == [(n, t or None) for n, t in enumerate(texts, start=1)]


@pytest.mark.parametrize("name", ["day_01.csv", "day_01.csv.gz"])
@pytest.mark.parametrize("ending", ["\n", "\r\n"])
def test_a_csv_whose_quoted_fields_hold_line_breaks_names_physical_lines(tmp_path: Path, name: str, ending: str) -> None:
    # DuckDB numbers the records (bad,"x" is its record 4, bad2 its record 8); an editor shows lines 5 and 10
    lines = ['"id","note"', '"1","two', 'lines"', '"2","plain"', 'bad,"x"', "", '"1","copy of 1"',
             '"3","a', 'b ""quoted"""', "bad2,y", '"4","z"']
    _write(tmp_path / name, ending.join(lines).encode() + ending.encode())
    config = parse_config({"files": [{"name": "notes", "pattern": "day_*.csv*", "format": "csv",
                                      "columns": {"id": "BIGINT", "note": "VARCHAR"}, "key": ["id"]}]}, tmp_path)
    results = _by_check(validate_files(config))

    assert results["row_counts"].details["rows"] == 5
    assert [(e["line"], e["text"]) for e in results["conformance"].details["lines"]] == [(5, 'bad,"x"'), (10, "bad2,y")]
    [entry] = results["duplicates"].details["keys"]  # quoted keys ("1") are located too
    assert entry["key"] == {"id": 1} and [n for _, n in entry["lines"]] == [2, 7]


def test_physical_lines_of_byte_positions_across_reads(tmp_path: Path) -> None:
    path = tmp_path / "lines.txt"
    path.write_bytes(b"ab\ncd\r\n\nef\n")  # lines start at bytes 1, 4, 8, 9
    assert physical_lines(path, "none", [1, 4, 8, 9], chunk=2) == {1: 1, 4: 2, 8: 3, 9: 4}


SPLIT = 8_000_000  # DuckDB's parallel CSV reader starts a thread's share of a file every 8,000,000 bytes


def _split_on_a_line_break(path: Path, tail: list[str]) -> int:
    """A TSV (~8 MB) whose byte SPLIT (from 0) is the LF ending a line, then `tail`; its line count."""
    lines = [HEADER] + [f"{i}\t2026-01-01\t1.00\tnote {i:012d}" for i in range(1, 190_000)]
    before = sum(len(line) + 1 for line in lines) + len("190000\t2026-01-01\t1.00\t")
    lines.append("190000\t2026-01-01\t1.00\t" + "p" * (SPLIT - before))  # its LF is byte SPLIT
    data = ("\n".join(lines + tail) + "\n").encode()
    assert data[SPLIT:SPLIT + 1] == b"\n"
    path.write_bytes(data)
    return len(lines) + len(tail)


@pytest.mark.parametrize("tail", [
    ["3\t2026-01-01\t1.00\tcopy of sale 3"],  # one line after the split: it was silently lost
    ["3\t2026-01-01\t1.00\tcopy of sale 3", "oops\t2026-01-01\t1.00\tnot a BIGINT", "190001\t2026-01-01\t1.00\tlast"],
])  # several lines after it: the locate pass failed ("does not support a full read on this file")
def test_a_split_of_the_parallel_reader_falling_on_a_line_break_loses_no_line(tmp_path: Path, tail: list[str]) -> None:
    # raw_lines (new_line '\r\n') read in parallel lost the line after such a split: 2 GB files all had one
    path = tmp_path / "day_01.tsv"
    total = _split_on_a_line_break(path, tail)
    spec = _config(tmp_path).files[0]  # type: ignore[attr-defined]
    assert duckdb.connect().execute(f"SELECT count(*), max(line_number) FROM {raw_lines(spec)}",
                                    {"file": str(path)}).fetchone() == (total, total)

    results = _by_check(validate_files(_config(tmp_path)))
    [entry] = results["duplicates"].details["keys"]
    assert entry["key"] == {"sale_id": 3} and [n for _, n in entry["lines"]] == [4, 190_002]
    assert [b["line"] for b in results["conformance"].details.get("lines", [])] == ([190_003] if len(tail) > 1 else [])
