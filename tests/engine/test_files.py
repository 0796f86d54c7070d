"""File extracts checked against their config (engine/files): every finding named with its file and
line, bad configs refused naming the field, a missing file a failure, paths confined on the platform."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from ombudsman.client import cli as client_cli
from ombudsman.contracts.replies import Invalid
from ombudsman.engine.files import checks
from ombudsman.engine.files.checks import validate_files
from ombudsman.engine.files.config import parse_config

HEADER = "sale_id\tsold_on\tamount\tnote\n"


def _spec(**overrides) -> dict:
    spec = {"name": "sales", "pattern": "day_*.tsv",
            "columns": {"sale_id": "BIGINT", "sold_on": "DATE", "amount": "DECIMAL(12,2)", "note": "VARCHAR"},
            "date_column": "sold_on", "period": {"start": "2026-01-01", "end": "2026-01-10"}, "key": ["sale_id"]}
    return {**spec, **overrides}


def _write_days(folder: Path, *, skip: int | None = None, big_day: int | None = None) -> None:
    sale = 0
    for day in range(1, 11):
        if day == skip:
            continue
        with open(folder / f"day_{day:02d}.tsv", "w") as f:
            f.write(HEADER)
            for _ in range(1000 if day == big_day else 100):
                sale += 1
                f.write(f"{sale}\t2026-01-{day:02d}\t{sale}.25\tnote {sale}\n")


def _by_check(results) -> dict:
    return {r.check: r for r in results}


def test_clean_files_pass_every_check(tmp_path: Path) -> None:
    _write_days(tmp_path)
    results = _by_check(validate_files(parse_config({"files": [_spec(anomaly={"window": 3})]}, tmp_path)))
    assert {c: r.status for c, r in results.items()} == {
        "files_present": "passed", "row_counts": "passed", "conformance": "passed",
        "date_completeness": "passed", "duplicates": "passed", "anomalies": "passed"}
    assert results["row_counts"].details["rows"] == 1000
    assert [f["rows"] for f in results["row_counts"].details["files"]] == [100] * 10
    assert results["row_counts"].details["nulls"] == {"sale_id": 0, "sold_on": 0, "amount": 0, "note": 0}


def test_bad_lines_missing_day_duplicates_and_anomaly_are_found_with_their_lines(tmp_path: Path) -> None:
    _write_days(tmp_path, skip=6, big_day=9)
    with open(tmp_path / "day_03.tsv", "a") as f:          # day_03: header line 1, rows on lines 2..101
        f.write("17\t2026-01-03\t1.00\tcopy of sale 17\n")  # line 102: sale 17 is on day_01.tsv line 18
        f.write("oops\t2026-01-03\t1.00\tbad id\n")          # line 103: not a BIGINT
        f.write("500\t2026-01-03\n")                         # line 104: two columns missing
        f.write("501\t2026-13-40\t1.00\tbad date\n")         # line 105: not a DATE
    results = _by_check(validate_files(parse_config({"files": [_spec(anomaly={"window": 3, "threshold": 3})]}, tmp_path)))

    conformance = results["conformance"]
    assert conformance.status == "failed" and conformance.details["bad_lines"] == 3
    named = [(Path(e["file"]).name, e["line"], e["columns"], e["errors"]) for e in conformance.details["lines"]]
    assert named == [("day_03.tsv", 103, ["sale_id"], ["CAST"]), ("day_03.tsv", 104, ["amount", "note"], ["MISSING COLUMNS"]),
                     ("day_03.tsv", 105, ["sold_on"], ["CAST"])]
    assert "oops" in next(e["text"] for e in conformance.details["lines"] if e["line"] == 103)

    completeness = results["date_completeness"]
    assert completeness.status == "failed" and completeness.details["missing"] == ["2026-01-06"]

    duplicates = results["duplicates"]
    assert duplicates.status == "failed" and duplicates.details["duplicate_keys"] == 1
    [entry] = duplicates.details["keys"]
    assert entry["key"] == {"sale_id": 17} and entry["copies"] == 2
    assert [(Path(f).name, n) for f, n in entry["lines"]] == [("day_01.tsv", 18), ("day_03.tsv", 102)]

    anomalies = results["anomalies"]
    assert anomalies.status == "failed" and [a["period"] for a in anomalies.details["anomalies"]] == ["2026-01-09"]
    # the good rows are counted, the bad ones are not
    assert results["row_counts"].details["rows"] == 9 * 100 + 900 + 1


def test_business_days_and_holidays_are_not_expected(tmp_path: Path) -> None:
    # 2026-01-03/04 and 10/11 are a Saturday and Sunday; the 7th is declared a holiday
    for day in (1, 2, 5, 6, 8, 9, 12):
        (tmp_path / f"day_{day:02d}.tsv").write_text(HEADER + f"{day}\t2026-01-{day:02d}\t1.00\tx\n")
    period = {"start": "2026-01-01", "end": "2026-01-13", "business_days": True, "holidays": ["2026-01-07"]}
    result = _by_check(validate_files(parse_config({"files": [_spec(period=period)]}, tmp_path)))["date_completeness"]
    assert result.status == "failed" and result.details["missing"] == ["2026-01-13"]


def test_monthly_grain_and_rows_outside_the_period(tmp_path: Path) -> None:
    (tmp_path / "day_01.tsv").write_text(HEADER + "1\t2026-01-15\t1.00\tx\n2\t2026-03-02\t1.00\tx\n3\t2025-12-31\t1.00\tx\n")
    period = {"start": "2026-01-01", "end": "2026-03-31", "grain": "month"}
    result = _by_check(validate_files(parse_config({"files": [_spec(period=period)]}, tmp_path)))["date_completeness"]
    assert result.details["missing"] == ["2026-02-01"] and result.details["outside"] == ["2025-12-01"]


def test_a_missing_file_is_a_failure_not_a_skip(tmp_path: Path) -> None:
    [result] = validate_files(parse_config({"files": [_spec(pattern="nothing_*.tsv")]}, tmp_path))
    assert (result.check, result.status) == ("files_present", "failed") and "nothing_*.tsv" in result.summary


def test_a_file_with_another_delimiter_fails_naming_its_first_lines(tmp_path: Path) -> None:
    (tmp_path / "day_01.tsv").write_text("sale_id,sold_on,amount,note\n1,2026-01-01,1.00,x\n2,2026-01-01,2.00,y\n")
    results = _by_check(validate_files(parse_config({"files": [_spec(period=None, date_column=None)]}, tmp_path)))
    assert results["conformance"].status == "failed"
    assert [e["line"] for e in results["conformance"].details["lines"]] == [2, 3]
    assert results["row_counts"].status == "failed"  # no good row at all


def test_compressed_quoted_csv(tmp_path: Path) -> None:
    with gzip.open(tmp_path / "day_01.csv.gz", "wt") as f:
        f.write('sale_id,sold_on,amount,note\n1,2026-01-01,1.50,"a, quoted note"\n2,2026-01-01,2.50,"say ""hi"""\n')
    spec = _spec(pattern="*.csv.gz", format="csv", period={"start": "2026-01-01", "end": "2026-01-01"})
    results = _by_check(validate_files(parse_config({"files": [spec]}, tmp_path)))
    assert all(r.status == "passed" for r in results.values()), {c: r.summary for c, r in results.items()}
    assert results["row_counts"].details["rows"] == 2


def test_parquet_duplicates_name_their_row_numbers(tmp_path: Path) -> None:
    duckdb.sql(f"COPY (SELECT CASE WHEN i = 41 THEN 7 ELSE i END AS sale_id, DATE '2026-01-01' AS sold_on, "
               f"1.5::DECIMAL(12,2) AS amount, 'n' AS note FROM range(100) t(i)) TO '{tmp_path / 'day_01.parquet'}' (FORMAT parquet)")
    spec = _spec(pattern="*.parquet", format="parquet", period={"start": "2026-01-01", "end": "2026-01-01"})
    results = _by_check(validate_files(parse_config({"files": [spec]}, tmp_path)))
    [entry] = results["duplicates"].details["keys"]
    assert entry["key"] == {"sale_id": 7} and [n for _, n in entry["lines"]] == [8, 42]  # rows, counted from 1


def test_duplicates_in_gzip_files_are_located_reading_only_the_files_that_can_hold_them(tmp_path: Path, monkeypatch) -> None:
    # ten gzip files, day d holding sales (d-1)*100+1 .. d*100 on lines 2..101
    _write_days(tmp_path)
    extra = {2: ["150\t2026-01-02\t1.00\tsale 150 again, same file\n"],          # line 102; the first on line 51
             7: ["305\t2026-01-07\t1.00\tsale 305 again (day_04 line 6)\n",      # line 102
                 "305\tnot a date\t1.00\ta bad line holding key 305\n"],         # line 103: rejected, not a copy
             9: ["\t2026-01-09\t1.00\tno id\n"], 10: ["\t2026-01-10\t1.00\tno id\n"]}  # line 102 each: NULL keys
    for day in range(1, 11):
        plain = tmp_path / f"day_{day:02d}.tsv"
        with gzip.open(tmp_path / f"day_{day:02d}.tsv.gz", "wt") as f:
            f.write(plain.read_text() + "".join(extra.get(day, [])))
        plain.unlink()
    read: list[str] = []
    real_query = checks.query

    def spying(con, sql, **params):
        if "line_number" in sql:
            read.append(Path(params["file"]).name)
        return real_query(con, sql, **params)

    monkeypatch.setattr(checks, "query", spying)
    results = _by_check(validate_files(parse_config({"files": [_spec(pattern="day_*.tsv.gz")]}, tmp_path)))

    duplicates = results["duplicates"]
    assert (duplicates.details["duplicate_keys"], duplicates.details["duplicate_rows"]) == (3, 6)
    located = [(e["key"]["sale_id"], e["copies"], [(Path(f).name, n) for f, n in e["lines"]]) for e in duplicates.details["keys"]]
    assert located == [(150, 2, [("day_02.tsv.gz", 51), ("day_02.tsv.gz", 102)]),
                       (305, 2, [("day_04.tsv.gz", 6), ("day_07.tsv.gz", 102)]),
                       (None, 2, [("day_09.tsv.gz", 102), ("day_10.tsv.gz", 102)])]
    assert read == ["day_02.tsv.gz", "day_04.tsv.gz", "day_07.tsv.gz", "day_09.tsv.gz", "day_10.tsv.gz"]
    assert [(Path(e["file"]).name, e["line"]) for e in results["conformance"].details["lines"]] == [("day_07.tsv.gz", 103)]
    assert results["row_counts"].details["rows"] == 1000 + 4 and results["row_counts"].details["nulls"]["sale_id"] == 2


@pytest.mark.parametrize(("change", "field"), [
    ({"columns": {"sale_id": "BIGINT; DROP TABLE x"}}, "files.0.columns"),
    ({"key": ["missing"]}, "files.0"),
    ({"date_column": None}, "files.0"),
    ({"format": "xlsx"}, "files.0.format"),
    ({"period": {"start": "2026-02-01", "end": "2026-01-01"}}, "files.0.period"),
])
def test_a_bad_config_is_refused_naming_the_field(tmp_path: Path, change: dict, field: str) -> None:
    with pytest.raises(Invalid) as raised:
        parse_config({"files": [_spec(**change)]}, tmp_path)
    assert raised.value.details["fields"][0]["field"] == field


def test_files_outside_the_allowed_folders_are_refused_on_the_platform(tmp_path: Path) -> None:
    _write_days(tmp_path)
    config = parse_config({"files": [_spec()]}, tmp_path)
    with pytest.raises(Invalid) as raised:
        validate_files(config, platform=True, env={"OMB_FILE_ROOTS": str(tmp_path / "elsewhere")})
    assert "OMB_FILE_ROOTS" in raised.value.message
    assert validate_files(config, platform=True, env={"OMB_FILE_ROOTS": str(tmp_path)})[0].status == "passed"


def test_cli_validate_exit_codes_and_suggest(tmp_path: Path) -> None:
    _write_days(tmp_path, skip=4)
    client_cli._mount()  # as `ombudsman` does: every piece's commands on the one app
    cli = client_cli.app
    runner = CliRunner()
    suggested = runner.invoke(cli, ["files", "suggest", str(tmp_path / "day_01.tsv")])
    assert suggested.exit_code == 0, suggested.output
    config = tmp_path / "files.yaml"
    config.write_text(suggested.output.replace("pattern: day_01.tsv", "pattern: day_*.tsv"))
    passed = runner.invoke(cli, ["files", "validate", str(config), "--format", "json"])
    assert passed.exit_code == 0, passed.output
    assert {r["check"] for r in json.loads(passed.output)} == {"files_present", "row_counts", "conformance"}

    config.write_text(json.dumps({"files": [_spec()]}))  # JSON is YAML
    failed = runner.invoke(cli, ["files", "validate", str(config)])
    assert failed.exit_code == 1 and "2026-01-04" in failed.output

    config.write_text(json.dumps({"files": [_spec(columns={"sale_id": "NOT A TYPE"})]}))
    bad = runner.invoke(cli, ["files", "validate", str(config)])
    assert bad.exit_code == 2 and "columns" in bad.output and "Traceback" not in bad.output


def test_a_hundred_duplicated_composite_keys_are_each_located_at_both_lines(tmp_path: Path) -> None:
    # the locate pass matches each line's key against the wanted keys by a hash join (an OR per key on
    # every line took 40 s for 100 keys on 3M lines); a NULL part of a key matches, as GROUP BY grouped it
    lines = ["region\tsale_id\tnote"] + [f"{'' if i == 7 else 'r' + str(i % 3)}\t{i}\tnote {i}" for i in range(1, 301)]
    copies = [f"{'' if i == 7 else 'r' + str(i % 3)}\t{i}\tcopy {i}" for i in range(1, 301, 2)]  # lines 302..451
    third = ["\t7\ta third copy of 7"]  # line 452: (NULL, 7) has the most copies, so it is reported first
    (tmp_path / "day_01.tsv").write_text("\n".join(lines + copies + third) + "\n")
    config = parse_config({"files": [{"name": "sales", "pattern": "day_*.tsv", "key": ["region", "sale_id"],
                                      "columns": {"region": "VARCHAR", "sale_id": "BIGINT", "note": "VARCHAR"}}]}, tmp_path)
    duplicates = _by_check(validate_files(config))["duplicates"]

    assert duplicates.details["duplicate_keys"] == 150 and len(duplicates.details["keys"]) == checks.REPORTED
    for entry in duplicates.details["keys"]:
        i = entry["key"]["sale_id"]
        assert entry["key"]["region"] == (None if i == 7 else f"r{i % 3}")
        assert [n for _, n in entry["lines"]] == [i + 1, 302 + (i - 1) // 2] + ([452] if i == 7 else []), entry
    assert duplicates.details["keys"][0]["key"] == {"region": None, "sale_id": 7}
