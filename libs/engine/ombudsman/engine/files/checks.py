"""The checks of a file spec, each pushed down into DuckDB over the streamed files:

- `files_present`: the pattern matches at least one file (a missing file is a failure, not a skip);
- `row_counts`: rows per file and per period (day or month of the date column);
- `conformance`: lines that do not match the columns and types, with line number, column and text;
- `date_completeness`: every expected day (or month) of the period is present, nothing outside it;
- `duplicates`: keys found more than once, with the files and line numbers of every copy;
- `anomalies`: days whose count is more than `threshold` standard deviations from the `window` days before.

One scan gives counts, periods, rejected lines and the duplicate keys (two aggregates fed by
one streamed read); a second, only when duplicates were found, walks the raw lines of the files
that can hold them (with several files, by each file's key range) to name their line numbers.
read_csv has no row ordinal (`file_row_number` is Parquet's only) and its reject tables number only
the rejected lines, so the first scan cannot name a good row's line.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from ombudsman.contracts.replies import Invalid
from ombudsman.engine.files.config import FileConfig, FileSpec
from ombudsman.engine.files.ranges import count_lines, line_ranges, range_url, splittable
from ombudsman.engine.files.remote import register_filesystems
from ombudsman.engine.files.scan import (
    ScanSettings,
    child_cursors,
    csv_records,
    file_size,
    first_bad_ending,
    holds_lone_cr,
    physical_lines,
    query,
    quote_ident,
    raw_lines,
    reader,
    resolve_files,
    scanner,
    sql_string,
)

REPORTED = 100  # findings listed per check (the totals always count all of them)
MAX_VALUE = 200  # characters of a bad value reported


@dataclass
class FileCheck:
    """The outcome of one check of one file spec."""

    spec: str
    check: str
    status: str  # passed | failed
    summary: str
    details: dict[str, Any] = field(default_factory=dict)


def _period_expr(spec: FileSpec) -> str:
    """The period of a row: its date column truncated to the grain (a DATE by day is itself)."""
    if not spec.date_column:
        return "NULL::DATE"
    column = quote_ident(spec.date_column)
    grain = spec.period.grain if spec.period else "day"
    if grain == "day" and spec.columns[spec.date_column] == "DATE":
        return column
    return f"CAST(date_trunc('{grain}', {column}) AS DATE)"


def validate_spec(con: duckdb.DuckDBPyConnection, spec: FileSpec, base: Path, *,
                  platform: bool = False, env: Mapping[str, str] | None = None) -> list[FileCheck]:
    """Every check of one file spec."""
    files = resolve_files(spec, base, platform=platform, env=env)
    if not files:
        return [FileCheck(spec.name, "files_present", "failed", f"no file matches {spec.pattern!r}",
                          {"pattern": spec.pattern})]
    paths = [str(p) for p in files]
    register_filesystems(con, files)  # s3:// … through fsspec (files/remote.py)
    results = [FileCheck(spec.name, "files_present", "passed", f"{len(files)} file(s)",
                         {"files": [{"file": str(f), "bytes": file_size(f)} for f in files]})]

    rejects = spec.format != "parquet"
    # One scan. Every column is referenced (its non-null count), so every value is parsed and cast (a
    # column the query did not use would be skipped by DuckDB's projection pushdown, its bad values
    # unseen). With a key, the scan feeds two aggregates at once (a CTE DuckDB streams to both, read
    # once): the counts per (file, period), and per key only count(*), the keys seen more than once
    # kept in a temporary table the duplicates check reads. (GROUPING SETS did the same but carried
    # every column's count in the per-key hash table too, the largest structure of the scan.)
    # With several files, the per-file rows also keep each key column's range: the locate pass then
    # reads only the files that can hold a duplicated key (a day's file, not the month's thirty).
    # A file is its index in `paths` (DuckDB's file_index), not its name: a UBIGINT group key instead
    # of the filename VARCHAR carried through the CTE (and a DATE by day not put through date_trunc)
    # took this pass 9-16 % less CPU (2 GB TSV: 12.45 -> 11.28 s, as DuckDB's own plain query for the
    # same findings; the per-key aggregate is most of what is left: bench_files.py's exact floor).
    ranged = bool(spec.key) and len(paths) > 1
    filled = ", ".join(f"count({quote_ident(c)}) AS omb_filled{i}" for i, c in enumerate(spec.columns))
    ranges = "".join(f", min({quote_ident(k)}) AS omb_min{j}, max({quote_ident(k)}) AS omb_max{j}"
                     for j, k in enumerate(spec.key)) if ranged else ""
    period = _period_expr(spec)
    no_key = "".join(f", CAST(NULL AS {spec.columns[k]}) AS {quote_ident(k)}" for k in spec.key)
    columns = ", ".join(quote_ident(c) for c in spec.columns)
    sql = (f"WITH omb_rows AS (SELECT {columns}, file_index AS omb_file FROM {reader(spec, rejects=rejects)}) "
           f"SELECT true AS per_file, omb_file, {period} AS period{no_key}, count(*) AS n, {filled}{ranges} "
           f"FROM omb_rows GROUP BY omb_file, {period}")
    if spec.key:
        keys = ", ".join(quote_ident(k) for k in spec.key)
        blanks = ", NULL" * (len(spec.columns) + (2 * len(spec.key) if ranged else 0))
        sql += f" UNION ALL SELECT false, NULL, NULL, {keys}, count(*){blanks} FROM omb_rows GROUP BY {keys} HAVING count(*) > 1"
    try:
        query(con, f"CREATE OR REPLACE TEMP TABLE omb_groups AS {sql}", files=paths)
    except Invalid as error:
        refused = _bad_endings(spec, paths) if "invalid state" in str(error) else None
        if refused is None:
            raise
        return [*results, refused]
    rows = query(con, f"SELECT omb_file, period, n, {', '.join(f'omb_filled{i}' for i in range(len(spec.columns)))} "
                      "FROM omb_groups WHERE per_file")
    per_file: dict[str, int] = dict.fromkeys(paths, 0)
    per_period: dict[dt.date, int] = {}
    nulls = dict.fromkeys(spec.columns, 0)
    for index, period, count, *non_null in rows:
        per_file[paths[index]] += count
        if period is not None:
            per_period[period] = per_period.get(period, 0) + count
        for column, n in zip(spec.columns, non_null, strict=True):
            nulls[column] += count - n
    total = sum(per_file.values())
    results.append(FileCheck(spec.name, "row_counts", "passed" if total else "failed", f"{total} rows in {len(paths)} file(s)", {
        "rows": total, "files": [{"file": f, "rows": n} for f, n in per_file.items()],
        "periods": [{"period": p.isoformat(), "rows": n} for p, n in sorted(per_period.items())],
        "nulls": nulls}))
    if rejects:
        _number_bad_lines(con, spec)
        results.append(_conformance(con, spec))
    if spec.period:
        results.append(_completeness(spec, per_period))
    if spec.key:
        results.append(_duplicates(con, spec, paths, ranged=ranged))
    if spec.anomaly:
        results.append(_anomalies(spec, per_period))
    return results


_BAD_LINES = ("SELECT s.file_path, e.line AS record, min(e.byte_position) AS position "
              "FROM reject_errors e JOIN reject_scans s USING (scan_id, file_id) GROUP BY ALL")


def _number_bad_lines(con: duckdb.DuckDBPyConnection, spec: FileSpec) -> None:
    """Table omb_bad_lines (file_path, record, line): each rejected record's physical line.

    DuckDB's reject_errors.line counts records (the header one, a blank line one), not physical lines:
    with a quote (CSV), a quoted field holding line breaks makes one record of several lines, and every
    bad line after it would be named too early. Its byte_position (the record's first byte) is exact,
    so for CSV one streamed pass over each file holding bad lines, up to its last one, counts the LFs
    before each (a file that cannot be read here, zstd, keeps DuckDB's number). TSV (no quote): a
    record is a line, nothing to count."""
    if not spec.quote_char:
        query(con, f"CREATE OR REPLACE TABLE omb_bad_lines AS SELECT file_path, record, record AS line FROM ({_BAD_LINES})")
        return
    rejected = query(con, _BAD_LINES)
    by_file: dict[str, list[tuple[int, int]]] = {}
    for path, record, position in rejected:
        by_file.setdefault(path, []).append((int(record), int(position)))
    columns: dict[str, list[Any]] = {"file_path": [], "record": [], "line": []}
    for path, records in by_file.items():
        lines = physical_lines(path, spec.compression, [p for _, p in records]) or {}
        columns["file_path"] += [path] * len(records)
        columns["record"] += [record for record, _ in records]
        columns["line"] += [lines.get(position, record) for record, position in records]
    # as one Arrow table: an INSERT per bad line (executemany) took minutes for 200,000 of them
    numbered = pa.table({"file_path": pa.array(columns["file_path"], pa.string()),
                         "record": pa.array(columns["record"], pa.int64()), "line": pa.array(columns["line"], pa.int64())})
    con.register("omb_numbered", numbered)
    try:
        query(con, "CREATE OR REPLACE TABLE omb_bad_lines AS SELECT * FROM omb_numbered")
    finally:
        con.unregister("omb_numbered")


def _conformance(con: duckdb.DuckDBPyConnection, spec: FileSpec) -> FileCheck:
    total = query(con, "SELECT count(DISTINCT (file_id, line)) FROM reject_errors")[0][0]
    bad = query(con, "SELECT s.file_path, b.line, list(e.column_name ORDER BY e.column_idx), "
                     "list(e.column_idx ORDER BY e.column_idx), "
                     "list(DISTINCT e.error_type), any_value(e.csv_line), min(e.error_message) "
                     "FROM reject_errors e JOIN reject_scans s USING (scan_id, file_id) "
                     "JOIN omb_bad_lines b ON b.file_path = s.file_path AND b.record = e.line "
                     f"GROUP BY ALL ORDER BY s.file_path, b.line LIMIT {REPORTED}")
    # DuckDB's csv_line keeps the line break before the line (after a CRLF line, and any blank lines
    # before it: "\n\r\noops…"): the text reported is the line itself
    lines = [{"file": f, "line": int(line), "columns": columns, "values": _values(spec, text, positions),
              "errors": sorted(kinds), "text": text, "message": message}
             for f, line, columns, positions, kinds, raw, message in bad
             for text in [raw.lstrip("\r\n") if raw is not None else None]]
    if not total:
        return FileCheck(spec.name, "conformance", "passed", "every line matches the columns and types")
    first = lines[0]
    return FileCheck(spec.name, "conformance", "failed",
                     f"{total} bad line(s); first: {Path(first['file']).name} line {first['line']} "
                     f"column {', '.join(first['columns'])} ({', '.join(first['errors']).lower()})",
                     {"bad_lines": total, "lines": lines})


_ENDING_ADVICE = {"MIXED LINE ENDINGS": ("mixed line endings", "convert it to one line ending, e.g. dos2unix"),
                  "LONE CR": ("a lone carriage return", "remove the CR or quote the field")}


def _bad_endings(spec: FileSpec, paths: list[str]) -> FileCheck | None:
    """The failed conformance of the first file that DuckDB's strict reader refuses whole for its line
    ends (LF and CRLF mixed, a lone CR), naming the first such line, so that no other check runs."""
    for path in paths:
        found = first_bad_ending(path, spec.compression, spec.quote_char)
        if found:
            line, problem, code = found
            title, advice = _ENDING_ADVICE[code]
            return FileCheck(spec.name, "conformance", "failed",
                             f"{title}: {Path(path).name} {problem} (the file is not read; {advice})",
                             {"bad_lines": 1, "lines": [{"file": path, "line": line, "columns": [], "values": [],
                                                         "errors": [code], "text": None, "message": problem}]})
    return None


def _values(spec: FileSpec, text: str | None, positions: list[int | None]) -> list[str | None]:
    """The text of each rejected column in its line (None where the line has no such field, as for
    a missing column); split on the separator, so a quoted field holding it is cut short."""
    fields = (text or "").split(spec.separator)
    return [fields[p - 1][:MAX_VALUE] if p is not None and 0 < p <= len(fields) else None for p in positions]


def _completeness(spec: FileSpec, per_period: Mapping[dt.date, int]) -> FileCheck:
    assert spec.period is not None
    expected = spec.period.expected()
    wanted = set(expected)
    missing = [d.isoformat() for d in expected if d not in per_period]
    outside = sorted(d.isoformat() for d in per_period if d not in wanted
                     and not (spec.period.start <= d <= spec.period.end))
    grain = spec.period.grain
    if not missing and not outside:
        return FileCheck(spec.name, "date_completeness", "passed", f"all {len(expected)} {grain}s present")
    parts = [f"{len(missing)} {grain}(s) missing" + (f": {', '.join(missing[:5])}" if missing else "")]
    if outside:
        parts.append(f"{len(outside)} outside the period: {', '.join(outside[:5])}")
    return FileCheck(spec.name, "date_completeness", "failed", "; ".join(parts),
                     {"expected": len(expected), "missing": missing[:REPORTED], "outside": outside[:REPORTED]})


def _duplicates(con: duckdb.DuckDBPyConnection, spec: FileSpec, paths: list[str], *, ranged: bool) -> FileCheck:
    keys = ", ".join(quote_ident(k) for k in spec.key)
    # the good rows only: omb_groups counts what the conformance scan accepted
    total = query(con, "SELECT count(*), sum(n) FROM omb_groups WHERE NOT per_file")[0]
    if not total[0]:
        return FileCheck(spec.name, "duplicates", "passed", f"every ({', '.join(spec.key)}) is unique")
    reported = f"FROM omb_groups WHERE NOT per_file ORDER BY n DESC, {keys} LIMIT {REPORTED}"
    found = query(con, f"SELECT {keys}, n {reported}")
    width = len(spec.key)
    files = _files_holding(con, spec, reported, paths) if ranged else paths
    located = _locate(con, spec, [tuple(r[:width]) for r in found], files)
    entries: list[dict[str, Any]] = [{"key": dict(zip(spec.key, map(_plain, r[:width]), strict=True)), "copies": int(r[width]),
                "lines": located.get(tuple(r[:width]), [])} for r in found]
    first = entries[0]
    where = ", ".join(f"{Path(f).name}:{n}" for f, n in first["lines"][:4])
    return FileCheck(spec.name, "duplicates", "failed",
                     f"{total[0]} key(s) duplicated ({int(total[1])} rows); first {first['key']} ×{first['copies']} at {where}",
                     {"duplicate_keys": total[0], "duplicate_rows": int(total[1]), "keys": entries})


def _files_holding(con: duckdb.DuckDBPyConnection, spec: FileSpec, reported: str, paths: list[str]) -> list[str]:
    """The files (in `paths` order) whose good rows can hold one of the reported keys: each key column
    within the file's [min, max] (DuckDB's own ordering), or, for a NULL, the file has NULLs there."""
    names = list(spec.columns)
    picked = ", ".join(f"{quote_ident(k)} AS omb_k{j}" for j, k in enumerate(spec.key))
    holds = " AND ".join(f"(CASE WHEN d.omb_k{j} IS NULL THEN g.omb_filled{names.index(k)} < g.n "
                         f"ELSE d.omb_k{j} BETWEEN g.omb_min{j} AND g.omb_max{j} END)" for j, k in enumerate(spec.key))
    rows = query(con, f"SELECT DISTINCT g.omb_file FROM omb_groups g, (SELECT {picked} {reported}) d "
                      f"WHERE g.per_file AND {holds}")
    holding = {r[0] for r in rows}
    return [p for i, p in enumerate(paths) if i in holding]


def _locate(con: duckdb.DuckDBPyConnection, spec: FileSpec, keys: list[tuple[Any, ...]],
            files: list[str]) -> dict[tuple[Any, ...], list[tuple[str, int]]]:
    """(file, line) of every good row holding one of `keys`: one pass over each file's raw lines, the
    lines DuckDB rejected (reject_errors) left out, as the copies counted are the good rows. Each line's
    key is matched by a hash join on the (at most REPORTED) keys wanted: an OR of one comparison per key
    on every line cost 40 s for 100 keys on a 3M-line file, 28 times the scan itself."""
    _wanted(con, spec, keys)
    width = len(spec.key)
    if spec.format == "parquet":
        picked = ", ".join(f"{quote_ident(k)} AS omb_p{j}" for j, k in enumerate(spec.key))
        rows = query(con, f"SELECT r.filename, r.file_row_number + 1, {_keys_of('r', width)} "
                          f"FROM (SELECT filename, file_row_number, {picked} FROM {reader(spec)}) r "
                          f"JOIN omb_wanted w ON {_same_keys(width)}", files=files)
        return _group_lines(rows, width)
    names = list(spec.columns)
    parts = ", ".join(f"TRY_CAST({_field(spec.separator, names.index(k) + 1, spec.columns[k], spec.quote_char)} "
                      f"AS {spec.columns[k]}) AS omb_p{j}" for j, k in enumerate(spec.key))
    first_data_line = 2 if spec.header else 1
    rejected = "SELECT line FROM omb_bad_lines WHERE file_path = $file"  # physical lines, as line_number
    threads = int(query(con, "SELECT current_setting('threads')")[0][0])
    found: list[tuple[Any, ...]] = []
    for file in files:
        if spec.quote_char and holds_lone_cr(file, spec.compression):
            rows = _locate_records(con, spec, file, first_data_line, rejected)
        elif threads > 1 and splittable(str(file), spec.compression, spec.encoding):
            rows = _locate_in_ranges(con, spec, str(file), parts, threads, first_data_line, rejected)
        else:
            rows = query(con, _raw_pass(spec, raw_lines(spec), parts, first_data_line, rejected, 1), file=file)
        found += [(file, *row) for row in rows]
    return _group_lines(found, width)


def _raw_pass(spec: FileSpec, lines: str, parts: str, first_data_line: int, rejected: str, first_line: int) -> str:
    """The locate pass over `lines` (a relation of `line_number` from 1 and the texts `parts` reads) that
    start on physical line `first_line`: the physical line and key of each good line holding a wanted key."""
    number = f"line_number + {first_line - 1}"
    return (f"SELECT r.line_number, {_keys_of('r', len(spec.key))} "
            f"FROM (SELECT {number} AS line_number, {parts} FROM {lines} WHERE {number} >= {first_data_line}) r "
            f"JOIN omb_wanted w ON {_same_keys(len(spec.key))} WHERE r.line_number NOT IN ({rejected})")


def _locate_in_ranges(con: duckdb.DuckDBPyConnection, spec: FileSpec, file: str, parts: str, threads: int,
                      first_data_line: int, rejected: str) -> list[tuple[Any, ...]]:
    """`_locate`'s raw pass over one large plain file cut into `threads` byte ranges, each read on its own
    connection at once (files/ranges.py): `row_number() OVER ()` numbers a file on one thread."""
    ranges = line_ranges(file, threads)
    with ThreadPoolExecutor(len(ranges)) as pool, child_cursors(con, len(ranges)) as cursors:
        counts = list(pool.map(lambda r: count_lines(file, *r), ranges[:-1]))  # the lines before each range
        starts = [1 + sum(counts[:i]) for i in range(len(ranges))]

        def part(i: int) -> list[tuple[Any, ...]]:
            lines = raw_lines(spec, sql_string(range_url(file, *ranges[i])))
            return query(cursors[i], _raw_pass(spec, lines, parts, first_data_line, rejected, starts[i]), file=file)

        return [row for rows in pool.map(part, range(len(ranges))) for row in rows]


def _wanted(con: duckdb.DuckDBPyConnection, spec: FileSpec, keys: list[tuple[Any, ...]]) -> None:
    """Table omb_wanted (omb_k0, omb_k1 ...): the keys to locate, typed as the key columns (a table of the
    scanner's own database, not a temporary one, so that `_locate_in_ranges`'s cursors see it)."""
    rows = ", ".join("(" + ", ".join(f"CAST($k{i}_{j} AS {spec.columns[k]})" for j, k in enumerate(spec.key)) + ")"
                     for i in range(len(keys)))
    names = ", ".join(f"omb_k{j}" for j in range(len(spec.key)))
    params = {f"k{i}_{j}": v for i, key in enumerate(keys) for j, v in enumerate(key)}
    query(con, f"CREATE OR REPLACE TABLE omb_wanted AS SELECT * FROM (VALUES {rows}) AS w({names})", **params)


def _keys_of(alias: str, width: int) -> str:
    return ", ".join(f"{alias}.omb_p{j}" for j in range(width))


def _same_keys(width: int) -> str:
    """The join of a read row (r.omb_p<j>) to a wanted key (w.omb_k<j>); NULL keys match, as GROUP BY grouped them."""
    return " AND ".join(f"r.omb_p{j} IS NOT DISTINCT FROM w.omb_k{j}" for j in range(width))


def _locate_records(con: duckdb.DuckDBPyConnection, spec: FileSpec, file: str, first_data_line: int,
                    rejected: str) -> list[tuple[Any, ...]]:
    """`_locate`'s pass over a CSV whose quoted fields hold a lone CR, which DuckDB's raw line reader
    splits (numbering every later line too high): Python's csv module reads the records with their
    physical lines, DuckDB casts and matches the key texts as in the raw pass (slower: the rare file)."""
    names = list(spec.columns)
    records = csv_records(spec, file, [names.index(k) for k in spec.key])
    texts = [f"NULLIF(text{j}, '')" if spec.columns[k] in ("VARCHAR", "TEXT") else f"text{j}"  # as `_field`: '' is NULL
             for j, k in enumerate(spec.key)]
    parts = ", ".join(f"TRY_CAST({t} AS {spec.columns[k]}) AS omb_p{j}"
                      for j, (t, k) in enumerate(zip(texts, spec.key, strict=True)))
    con.register("omb_records", records)
    try:
        return query(con, _raw_pass(spec, "omb_records", parts, first_data_line, rejected, 1), file=file)
    finally:
        con.unregister("omb_records")


def _field(separator: str, index: int, kind: str, quote: str = "") -> str:
    """The text of field `index` (from 1) of a raw `line`. The first field is cut at the first
    separator (`strpos`/`left`: on every line of the locate pass, a quarter cheaper than
    `string_split`), the others with `split_part`. With a `quote` (CSV), a quoted field loses its
    quotes and its doubled quotes are single, as read_csv reads it (`"17"` is key 17: without this a
    file quoting every field had its duplicates located nowhere). An empty text field is NULL, as
    read_csv reads it (other types: TRY_CAST of '' is NULL already, and NULLIF on every line would
    cost a third more)."""
    sep = sql_string(separator)
    if index == 1:
        text = f"CASE WHEN strpos(line, {sep}) = 0 THEN line ELSE left(line, strpos(line, {sep}) - 1) END"
    else:
        text = f"split_part(line, {sep}, {index})"
    if quote:
        q = sql_string(quote)
        text = (f"CASE WHEN length({text}) >= 2 AND starts_with({text}, {q}) AND ends_with({text}, {q}) "
                f"THEN replace(({text})[2:-2], {sql_string(quote * 2)}, {q}) ELSE {text} END")
    return f"NULLIF({text}, '')" if kind in ("VARCHAR", "TEXT") else text


def _group_lines(rows: list[tuple[Any, ...]], width: int) -> dict[tuple[Any, ...], list[tuple[str, int]]]:
    lines: dict[tuple[Any, ...], list[tuple[str, int]]] = {}
    for file, line, *key in rows:
        lines.setdefault(tuple(key[:width]), []).append((file, int(line)))
    return {k: sorted(v) for k, v in lines.items()}


def _anomalies(spec: FileSpec, per_period: Mapping[dt.date, int]) -> FileCheck:
    assert spec.anomaly is not None
    window, threshold = spec.anomaly.window, spec.anomaly.threshold
    days = sorted(per_period)
    found = []
    for i in range(window, len(days)):
        baseline = [per_period[d] for d in days[i - window:i]]
        mean, spread = statistics.fmean(baseline), statistics.pstdev(baseline)
        count = per_period[days[i]]
        score = (count - mean) / spread if spread else (0.0 if count == mean else float("inf"))
        if abs(score) > threshold:
            found.append({"period": days[i].isoformat(), "rows": count, "baseline_mean": round(mean, 1),
                          "z": None if score in (float("inf"), float("-inf")) else round(score, 2)})
    if not found:
        return FileCheck(spec.name, "anomalies", "passed", f"no count beyond {threshold}σ of the previous {window}")
    first = found[0]
    return FileCheck(spec.name, "anomalies", "failed",
                     f"{len(found)} anomalous period(s); first {first['period']}: {first['rows']} rows vs ~{first['baseline_mean']}",
                     {"anomalies": found[:REPORTED]})


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.date | dt.datetime) else value


def validate_files(config: FileConfig, *, settings: ScanSettings = ScanSettings(), platform: bool = False,
                   env: Mapping[str, str] | None = None) -> list[FileCheck]:
    """Every check of every file spec of `config`, each spec in a fresh scanner (its rejects its own)."""
    results: list[FileCheck] = []
    for spec in config.files:
        with scanner(settings) as con:
            results += validate_spec(con, spec, config.base, platform=platform, env=env)
    return results
