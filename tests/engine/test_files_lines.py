"""Line numbers of file findings are the physical lines a person opens in an editor (as `awk`/`nl`
count them: from 1, the header line 1) whatever the line endings: LF, CRLF (bcp and Windows exports),
or mixed (refused, naming the first line whose ending differs); a carriage return alone inside a line
(refused, naming its line) unless a CSV quotes it."""

from __future__ import annotations

import gzip
import random
import re
from pathlib import Path

import duckdb
import pytest

from ombudsman.engine.files.checks import validate_files
from ombudsman.engine.files.config import parse_config
from ombudsman.engine.files.load import load_files
from ombudsman.engine.files.scan import first_bad_ending, physical_lines, raw_lines

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


@pytest.mark.parametrize("name", ["day_01.tsv", "day_01.tsv.gz"])
@pytest.mark.parametrize("ending", ["\n", "\r\n"])
def test_a_lone_carriage_return_in_a_field_fails_naming_its_line(tmp_path: Path, name: str, ending: str) -> None:
    # DuckDB's strict reader refuses the whole file ("state machine reached an invalid state")
    lines = _lines()
    lines[4] = "4\t2026-01-01\t4.25\tnote\rwith a CR"  # line 5
    _write(tmp_path / name, (ending.join(lines) + ending).encode())
    results = _by_check(validate_files(_config(tmp_path)))

    conformance = results["conformance"]
    assert conformance.status == "failed", conformance
    [bad] = conformance.details["lines"]
    assert (bad["line"], bad["errors"]) == (5, ["LONE CR"])
    assert f"{name} line 5 holds a carriage return (CR) not followed by LF" in conformance.summary
    assert set(results) == {"files_present", "conformance"}  # the file is not read: no count is made up


async def test_a_duckdb_load_refusing_a_lone_carriage_return_names_its_line(tmp_path: Path) -> None:
    lines = [line for line in _lines() if not line.startswith(("oops", "3\t2026-01-01\t1.00"))]
    lines[2] = "2\t2026-01-01\t2.25\tnote\rwith a CR"  # line 3
    (tmp_path / "day_01.tsv").write_text("\n".join(lines) + "\n")
    target = tmp_path / "target.duckdb"
    duckdb.connect(str(target)).execute(
        "CREATE TABLE sales (sale_id BIGINT, sold_on DATE, amount DECIMAL(12,2), note VARCHAR)").close()
    config = parse_config({"files": [{"name": "sales", "pattern": "day_*.tsv", "columns": COLUMNS, "table": "sales"}]},
                          tmp_path)
    [result] = await load_files(config, f"duckdb:///{target}")

    assert result.status == "failed" and result.rows == 0
    assert "line 3 holds a carriage return (CR) not followed by LF" in result.message, result.message


def test_a_quoted_carriage_return_is_data_and_the_mixed_ending_after_it_is_named(tmp_path: Path) -> None:
    # a CSV may quote a CR (DuckDB reads it as the field's text); the LF ending line 4 is what it refuses
    (tmp_path / "day_01.csv").write_bytes(b'id,note\r\n1,"a\rb"\r\n2,"two\r\nlines"\r\n3,c\n4,d\r\n')
    config = parse_config({"files": [{"name": "notes", "pattern": "day_*.csv", "format": "csv",
                                      "columns": {"id": "BIGINT", "note": "VARCHAR"}, "key": ["id"]}]}, tmp_path)
    conformance = _by_check(validate_files(config))["conformance"]

    assert conformance.status == "failed" and conformance.details["lines"][0]["errors"] == ["MIXED LINE ENDINGS"]
    assert "line 5 ends LF, line 1 ends CRLF" in conformance.summary


@pytest.mark.parametrize("name", ["day_01.csv", "day_01.csv.gz"])
@pytest.mark.parametrize("ending", ["\n", "\r\n"])
def test_a_csv_quoting_a_lone_carriage_return_names_the_physical_lines_after_it(tmp_path: Path, name: str,
                                                                                ending: str) -> None:
    # DuckDB reads the quoted CR as text, but its raw line reader splits the line there: the copy of 1
    # on line 4 was left out as the bad line 5 (each line after the CR numbered one too high)
    lines = ['"id","note"', '1,"a\rb"', "2,c", '"1","copy of 1"', "bad,x", '3,"two\rcarriage\rreturns"', "3,d"]
    _write(tmp_path / name, ending.join(lines).encode() + ending.encode())
    config = parse_config({"files": [{"name": "notes", "pattern": "day_*.csv*", "format": "csv",
                                      "columns": {"id": "BIGINT", "note": "VARCHAR"}, "key": ["id"]}]}, tmp_path)
    results = _by_check(validate_files(config))

    assert results["row_counts"].details["rows"] == 5
    assert [(e["line"], e["text"]) for e in results["conformance"].details["lines"]] == [(5, "bad,x")]
    located = {e["key"]["id"]: [n for _, n in e["lines"]] for e in results["duplicates"].details["keys"]}
    assert located == {1: [2, 4], 3: [6, 7]}


def _first_bad_ending_plainly(data: bytes, quote: bytes) -> tuple[int, str] | None:
    """The same finding by the plain rule, the whole file at once: (line, code)."""
    line, first, quotes, seen = 1, None, 0, 0
    for match in re.finditer(rb"\r\n|\r|\n", data):
        quotes += data.count(quote, seen, match.start()) if quote else 0
        seen = match.start()
        ending = match.group()
        if quote and quotes % 2:
            line += ending != b"\r"
            continue
        if ending == b"\r":
            return line, "LONE CR"
        if first is None:
            first = ending
        elif ending != first:
            return line, "MIXED LINE ENDINGS"
        line += 1
    return None


@pytest.mark.parametrize("seed", range(40))
def test_first_bad_ending_finds_the_plain_rules_line_whatever_the_block_boundaries(tmp_path: Path, seed: int) -> None:
    # blocks of 1 to 9 bytes put every CRLF, CR and quote across a block boundary somewhere
    rng = random.Random(seed)
    quote = rng.choice([b"", b'"'])
    pieces = [b"ab", b"c", b'"', b"x,y", b""]
    usual, odd = rng.choice([b"\n", b"\r\n"]), rng.choice([0.0, 0.02, 0.1])  # how often a line ends otherwise
    data = b"".join(rng.choice(pieces) + (rng.choice([b"\n", b"\r\n", b"\r"]) if rng.random() < odd else usual)
                    for _ in range(60))
    path = tmp_path / "f.csv"
    path.write_bytes(data)
    expected = _first_bad_ending_plainly(data, quote)
    for chunk in range(1, 10):
        found = first_bad_ending(path, "auto", quote.decode(), chunk=chunk)
        assert ((found[0], found[2]) if found else None) == expected, (chunk, data)


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


@pytest.mark.parametrize("seed", range(10))
def test_physical_lines_of_many_positions_match_the_plain_count(tmp_path: Path, seed: int) -> None:
    # many positions per read (a CSV with 200,000 bad lines took 229 s: each counted from its read's start)
    rng = random.Random(seed)
    data = b"".join(rng.choice([b"a", b"bc", b"\n", b"\r\n", b'"x\ny"']) for _ in range(400))
    path = tmp_path / "lines.csv"
    path.write_bytes(data)
    positions = rng.sample(range(1, len(data) + 1), 60)
    expected = {p: 1 + data.count(b"\n", 0, p - 1) for p in positions}
    for chunk in (1, 2, 7, 64, 1 << 20):
        assert physical_lines(path, "none", positions, chunk=chunk) == expected, chunk


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
