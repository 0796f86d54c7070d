"""Row diff benchmark: Ombudsman's `row_hash` against the floor and against reladiff.

Generates N rows of a lineitem-like table (18 columns: integers, decimals at four scales, a float,
three dates, a timestamp, CHAR(1) flags, a name and a ~70-character comment), loads them into
PostgreSQL (source, COPY) and DuckDB (target, a file), changes 50 rows, deletes 30 and inserts 20
in the target, and keeps an unchanged DuckDB copy. Then, interleaved, median of 3:

- Ombudsman's row diff (`diff_tables`, default options) — and checks that it found exactly the
  100 differences, each changed row with the right column;
- the floor: each database's own checksum scan (COUNT and SUM of a 60-bit MD5 of CONCAT_WS of
  every column), both at once — what any exact cross-database comparison must at least read;
- the same two on the identical pair (Ombudsman must find nothing);
- reladiff's hashdiff on the changed pair over every column (its DuckDB dialect gets the DATE type
  it lacks), checked exact, when `reladiff` is installed (`pip install -r requirements-bench.txt`;
  OMB_BENCH_RELADIFF=0 skips it).

Each measured run is a process of its own (`--child`), started fresh, so that its peak RSS
(`ru_maxrss` from `wait4`) is that tool's process alone — the bench's data generation never counts,
and the floor is measured the same way. DuckDB runs in the measured process, opened with
OMB_BENCH_DUCKDB_SETTINGS (default `memory_limit=128MB&threads=2`). Prints the ratios, the peak
RSS of each process, an idle process's RSS (imports and connections only) and the load average.
Targets (issue 19): <= 1.3x the floor, <= 1.1x on identical tables, >= 3.5x faster than reladiff,
<= 300 MB.

Memory: each Ombudsman run also reports its VmHWM by phase (imports; both connections open; after
the diff). OMB_BENCH_SIZES (e.g. `1000000,6000000,20000000`) runs the bench at each size in turn and
ends with one line of peak RSS per size (the issue wants it flat from 1M to 20M rows);
OMB_BENCH_REPEAT sets the interleaved rounds (default 3; 1 for a memory-only sweep).
OMB_BENCH_BASELINE=<dir> also measures another build of the engine in the same rounds, side by side
(`<dir>` holds its `ombudsman/engine`, e.g. `git archive main libs/engine | tar -x -C /tmp/before`
then `/tmp/before/libs/engine`): before/after figures from one run at one load.

Run: `make bench` (OMB_BENCH_ROWS, default 2,000,000) or
`python tests/perf/bench_rowdiff.py --rows 500000`. PostgreSQL: OMB_TEST_DATABASE_URL's server, or
an embedded one (pgserver).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

import asyncpg
import duckdb
import numpy as np
import psutil
import pyarrow as pa
import pyarrow.csv as pacsv

from ombudsman.contracts.pipeline import TableRef
from ombudsman.engine.connectors import Connector, connect
from ombudsman.engine.rowdiff import Difference, DiffSide, RowDiffOptions, diff_tables

DEFAULT_ROWS = 2_000_000
DUCKDB_SETTINGS = os.environ.get("OMB_BENCH_DUCKDB_SETTINGS", "memory_limit=128MB&threads=2")
CHUNK = 250_000
RELADIFF_THREADS = 2  # as the issue's `reladiff hashdiff -j2`
STATEMENT_TIMEOUT = 3600.0  # a loaded machine can take minutes per scan (the connectors' default is 60 s)
REPEAT = int(os.environ.get("OMB_BENCH_REPEAT", 3))
BASELINE = os.environ.get("OMB_BENCH_BASELINE")  # another build's libs/engine, measured side by side
CHANGED_COLUMNS = ["qty", "price", "ratio", "name", "day", "ts", "comment", "tax"]
# a lineitem-like table: 18 columns (integers, decimals at several scales, a float, dates, a timestamp,
# CHAR(1) flags, short and long text): column -> (PostgreSQL type, DuckDB type)
COLUMNS: dict[str, tuple[str, str]] = {
    "id": ("BIGINT", "BIGINT"),
    "orderkey": ("BIGINT", "BIGINT"),
    "partkey": ("INTEGER", "INTEGER"),
    "suppkey": ("INTEGER", "INTEGER"),
    "qty": ("INTEGER", "INTEGER"),
    "price": ("NUMERIC(12,2)", "DECIMAL(12,2)"),
    "extended": ("NUMERIC(15,2)", "DECIMAL(15,2)"),
    "discount": ("NUMERIC(4,2)", "DECIMAL(4,2)"),
    "tax": ("NUMERIC(8,4)", "DECIMAL(8,4)"),
    "ratio": ("DOUBLE PRECISION", "DOUBLE"),
    "returnflag": ("CHAR(1)", "VARCHAR(1)"),
    "status": ("CHAR(1)", "VARCHAR(1)"),
    "day": ("DATE", "DATE"),
    "commit_day": ("DATE", "DATE"),
    "ship_day": ("DATE", "DATE"),
    "ts": ("TIMESTAMP", "TIMESTAMP"),
    "name": ("VARCHAR(40)", "VARCHAR"),
    "comment": ("VARCHAR(200)", "VARCHAR"),
}
DDL = {
    dialect: "CREATE TABLE items (" + ", ".join(f"{c} {types[i]}" for c, types in COLUMNS.items()) + ")"
    for i, dialect in enumerate(("postgres", "duckdb"))
}
DUCKDB_CSV_COLUMNS = "{" + ", ".join(f"'{c}': '{types[1]}'" for c, types in COLUMNS.items()) + "}"
CHANGE_SQL = {"qty": "qty = qty + 1", "price": "price = price + 0.01", "ratio": "ratio = ratio * 1.01",
              "name": "name = name || 'x'", "day": "day = day + 1", "ts": "ts = ts + INTERVAL 1 SECOND",
              "comment": "comment = 'changed ' || comment", "tax": "tax = tax + 0.0001"}
INSERTED_ROW = ("SELECT id, id, 1, 1, 1, 1.00, 1.00, 0.05, 0.0800, 1.5, 'N', 'O', DATE '2020-01-01', DATE '2020-01-02', "
                "DATE '2020-01-03', TIMESTAMP '2020-01-01 00:00:00', 'new ' || id, 'inserted row ' || id")
WORDS = np.array("carefully final deposits detect slyly regular accounts quickly express packages sleep furiously "
                 "ironic pending requests haggle blithely bold instructions wake".split())


# --- data --------------------------------------------------------------------------------------------
def write_csv(path: Path, rows: int) -> None:
    """N rows as CSV, generated and written in chunks (the bench process stays small)."""
    schema = pa.schema([("id", pa.int64()), ("orderkey", pa.int64()), ("partkey", pa.int32()), ("suppkey", pa.int32()),
                        ("qty", pa.int32()), ("price", pa.string()), ("extended", pa.string()), ("discount", pa.string()),
                        ("tax", pa.string()), ("ratio", pa.float64()), ("returnflag", pa.string()), ("status", pa.string()),
                        ("day", pa.date32()), ("commit_day", pa.date32()), ("ship_day", pa.date32()),
                        ("ts", pa.timestamp("us")), ("name", pa.string()), ("comment", pa.string())])
    with pacsv.CSVWriter(str(path), schema, write_options=pacsv.WriteOptions(include_header=False)) as writer:
        for start in range(1, rows + 1, CHUNK):
            ids = np.arange(start, min(start + CHUNK, rows + 1), dtype=np.int64)
            cents = ids * 37 % 10_000_000
            qty = (ids % 50 + 1).astype(np.int32)
            day = (ids % 3650).astype("timedelta64[D]") + np.datetime64("2015-01-01")
            ts = np.datetime64("2021-01-01T00:00:00", "us") + (ids * 1_000_003).astype("timedelta64[us]")
            words = [WORDS[(ids * k) % len(WORDS)] for k in (3, 7, 11, 13, 17, 19, 23, 29, 31, 37)]
            comment = np.char.add(np.char.add(words[0], " "), words[1])
            for w in words[2:]:
                comment = np.char.add(np.char.add(comment, " "), w)
            writer.write_table(pa.table({
                "id": ids, "orderkey": ids // 4 + 1, "partkey": (ids * 7 % 200_000).astype(np.int32),
                "suppkey": (ids * 13 % 10_000).astype(np.int32), "qty": qty,
                "price": [f"{c // 100}.{c % 100:02d}" for c in cents.tolist()],
                "extended": [f"{c * q // 100}.{c * q % 100:02d}" for c, q in zip(cents.tolist(), qty.tolist(), strict=True)],
                "discount": [f"0.{i % 11:02d}" for i in ids.tolist()],
                "tax": [f"0.{i % 9:02d}{i % 97:02d}" for i in ids.tolist()],
                "ratio": ids * 0.001 + 0.5,
                "returnflag": np.array(["A", "N", "R"])[ids % 3], "status": np.array(["F", "O"])[ids % 2],
                "day": day, "commit_day": day + np.timedelta64(30, "D"), "ship_day": day + (ids % 60).astype("timedelta64[D]"),
                "ts": ts, "name": [f"customer {i}" for i in ids.tolist()], "comment": comment.astype(object),
            }, schema=schema))


def plan_changes(rows: int) -> tuple[dict[int, str], list[int], list[int]]:
    """50 changed ids (id -> column), 30 deleted ids, 20 inserted ids, spread over the table."""
    step = rows // 101
    spread = [step * (k + 1) for k in range(100)]
    changed = {i: CHANGED_COLUMNS[k % len(CHANGED_COLUMNS)] for k, i in enumerate(spread[:50])}
    return changed, spread[50:80], list(range(rows + 1, rows + 21))


async def load(pg_url: str, duck_path: Path, csv_path: Path, rows: int, *, identical: Path | None = None) -> None:
    """The source table in PostgreSQL, the target (with the 100 changes) in DuckDB at `duck_path`, and
    an unchanged copy in DuckDB at `identical` when given."""
    conn = await asyncpg.connect(pg_url)
    try:
        await conn.execute(DDL["postgres"])
        await conn.copy_to_table("items", source=str(csv_path), format="csv")
        await conn.execute("ALTER TABLE items ADD PRIMARY KEY (id)")
        await conn.execute("VACUUM ANALYZE items")
    finally:
        await conn.close()
    changed, deleted, inserted = plan_changes(rows)
    for path, edit in ((duck_path, True), (identical, False)):
        if path is None:
            continue
        duck = duckdb.connect(str(path))  # loaded with duckdb itself: the engine's connector may not read files
        try:
            duck.execute(DDL["duckdb"])
            duck.execute(f"INSERT INTO items SELECT * FROM read_csv('{csv_path}', header = false, columns = {DUCKDB_CSV_COLUMNS})")
            if edit:
                for i, column in changed.items():
                    duck.execute(f"UPDATE items SET {CHANGE_SQL[column]} WHERE id = {i}")
                duck.execute(f"DELETE FROM items WHERE id IN ({', '.join(map(str, deleted))})")
                duck.execute(f"INSERT INTO items {INSERTED_ROW} FROM range({inserted[0]}, {inserted[-1] + 1}) r(id)")
            duck.execute("CHECKPOINT")
        finally:
            duck.close()


# --- measuring ---------------------------------------------------------------------------------------
@contextmanager
def peak_rss() -> Iterator[dict[str, float]]:
    """The highest RSS (MB) of this process while the block runs, sampled every 10 ms."""
    process, box, stop = psutil.Process(), {"peak_mb": 0.0}, threading.Event()

    def sample() -> None:
        while not stop.is_set():
            box["peak_mb"] = max(box["peak_mb"], process.memory_info().rss / 2**20)
            stop.wait(0.01)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield box
    finally:
        stop.set()
        thread.join()
        box["peak_mb"] = max(box["peak_mb"], process.memory_info().rss / 2**20)


async def timed(run: Callable[[], Awaitable[Any]], repeat: int = REPEAT) -> tuple[float, float, Any]:
    """Median seconds of `repeat` runs, peak RSS (MB) over them, and the last run's value."""
    times, value = [], None
    with peak_rss() as rss:
        for _ in range(repeat):
            started = time.perf_counter()
            value = await run()
            times.append(time.perf_counter() - started)
    return statistics.median(times), rss["peak_mb"], value


class Collect:
    """A DiffWriter keeping every difference (the bench has 100)."""

    def __init__(self) -> None:
        self.found: list[Difference] = []

    def write(self, differences: Sequence[Difference]) -> None:
        self.found += differences

    def close(self) -> None:
        pass


async def ombudsman_diff(source: Connector, target: Connector) -> list[Difference]:
    collect = Collect()
    await diff_tables(DiffSide(source, TableRef(name="items")), DiffSide(target, TableRef(name="items")),
                      key=["id"], options=RowDiffOptions(), writer=collect)
    return collect.found


FLOOR_SQL = {  # each database's own checksum of every column, as its users would write it
    "postgres": "SELECT COUNT(*), SUM(('x' || LEFT(MD5(CONCAT_WS('|', {columns})), 15))::BIT(60)::BIGINT) FROM items",
    "duckdb": "SELECT COUNT(*), SUM(('0x' || LEFT(MD5(CONCAT_WS('|', {columns})), 15))::BIGINT) FROM items",
}


async def floor_scan(pg_url: str, target: Connector) -> None:
    """The floor: COUNT(*) and SUM of a 60-bit MD5 of CONCAT_WS(every column) in each database, both
    at once (PostgreSQL with JIT off, which only makes the floor lower)."""
    columns = ", ".join(COLUMNS)

    async def postgres() -> None:
        conn = await asyncpg.connect(pg_url)
        try:
            async with conn.transaction():
                await conn.execute("SET LOCAL jit = off")
                await conn.fetch(FLOOR_SQL["postgres"].format(columns=columns))
        finally:
            await conn.close()

    await asyncio.gather(postgres(), target.fetch_rows(FLOOR_SQL["duckdb"].format(columns=columns)))


def check(found: Sequence[tuple[str, int, Sequence[str]]], rows: int) -> tuple[bool, str]:
    """Exactly the 100 planted differences: (kind, id, columns) of each difference found."""
    changed, deleted, inserted = plan_changes(rows)
    got_changed = {i: set(columns) for kind, i, columns in found if kind == "changed"}
    got_deleted = {i for kind, i, _ in found if kind == "only_in_source"}
    got_inserted = {i for kind, i, _ in found if kind == "only_in_target"}
    ok = (got_changed == {i: {c} for i, c in changed.items()} and got_deleted == set(deleted)
          and got_inserted == set(inserted))
    return ok, f"{len(got_changed)} changed, {len(got_deleted)} only in source, {len(got_inserted)} only in target"


def reladiff_run(pg_url: str, duck_path: Path) -> Callable[[], Awaitable[list[tuple[str, tuple[Any, ...]]]]] | str:
    """A reladiff hashdiff of the same pair over every column, or why it cannot run."""
    try:
        import reladiff
        from reladiff.databases import duckdb as reladiff_duckdb
        from sqeleton.abcs.database_types import Date, Float
    except ImportError:
        return "not installed (pip install -r requirements-bench.txt)"
    # reladiff's DuckDB dialect has no DATE type ("Incompatible types for column 'day'"): register it,
    # as PostgreSQL's has (both render a date as a timestamp text), so that every column is compared
    dialect = reladiff_duckdb.Dialect
    dialect.TYPE_CLASSES = {**dialect.TYPE_CLASSES, "DATE": Date}
    # and its DOUBLE -> DECIMAL(38, p) text is not PostgreSQL's: PostgreSQL's float8 -> numeric keeps
    # 15 significant digits (DBL_DIG) first, DuckDB converts the exact binary value, so 256.003 became
    # 256.0030000000000 on one side and 256.0030000000001 on the other (reladiff found 263,136 false
    # differences at 2M rows). Give DuckDB PostgreSQL's conversion, so that reladiff is exact.
    number = dialect.normalize_number

    def normalize_number(self: Any, value: str, coltype: Any) -> str:
        if isinstance(coltype, Float):
            return self.to_string(f"CAST(printf('%.15g', {value}) AS DECIMAL(38, {coltype.precision}))")
        return number(self, value, coltype)

    dialect.normalize_number = normalize_number
    parts = urlsplit(pg_url)
    query = parse_qs(parts.query)
    pg = {"driver": "postgresql", "user": parts.username or "postgres", "dbname": parts.path.lstrip("/"),
          "host": query.get("host", [parts.hostname or "localhost"])[0]}
    if parts.port:
        pg["port"] = parts.port
    columns = tuple(c for c in COLUMNS if c != "id")

    async def run() -> list[tuple[str, tuple[Any, ...]]]:
        def blocking() -> list[tuple[str, tuple[Any, ...]]]:
            source = reladiff.connect_to_table(pg, "items", "id", extra_columns=columns)
            target = reladiff.connect_to_table(f"duckdb://main@{duck_path}", "items", "id", extra_columns=columns)
            return list(reladiff.diff_tables(source, target, algorithm=reladiff.Algorithm.HASHDIFF,
                                             max_threadpool_size=RELADIFF_THREADS))

        return await asyncio.to_thread(blocking)

    return run


def check_reladiff(lines: Sequence[tuple[str, int]], rows: int) -> tuple[bool, str]:
    """reladiff is exact when its -/+ lines are the 50 changed ids (both signs), the 30 deleted (-)
    and the 20 inserted (+), nothing else."""
    changed, deleted, inserted = plan_changes(rows)
    minus = sorted(i for sign, i in lines if sign == "-")
    plus = sorted(i for sign, i in lines if sign == "+")
    ok = minus == sorted([*changed, *deleted]) and plus == sorted([*changed, *inserted])
    return ok, f"{len(minus)} - lines, {len(plus)} + lines"


# --- measured runs, each in a fresh process of its own -----------------------------------------------
Found = list[tuple[str, int, list[str]]]  # (kind, id, columns) of each difference


def found_of(differences: Sequence[Difference]) -> Found:
    return [(d.kind, int(d.key["id"]), sorted(d.columns)) for d in differences]


async def child_run(kind: str, pg_url: str, duck_path: Path) -> dict[str, Any]:
    """One measured run in this process (started for it): `floor`, `ours`, `reladiff`, or `idle`
    (imports and both connections opened, nothing scanned); its seconds and what it found."""
    duck_url = f"duckdb:///{duck_path}?{DUCKDB_SETTINGS}"
    started = time.perf_counter()
    if kind == "reladiff":
        runner = reladiff_run(pg_url, duck_path)
        if isinstance(runner, str):
            return {"error": runner}
        lines = await runner()
        return {"seconds": time.perf_counter() - started, "lines": [(sign, int(row[0])) for sign, row in lines]}
    found: Found = []
    phases = {"imports": peak_rss_mb()}
    if kind == "floor":  # asyncpg straight, as a user's own checksum script would
        async with connect(duck_url, timeout=STATEMENT_TIMEOUT) as target:
            await floor_scan(pg_url, target)
    else:
        async with connect(pg_url, timeout=STATEMENT_TIMEOUT) as source, \
                connect(duck_url, timeout=STATEMENT_TIMEOUT) as target:
            await asyncio.gather(source.fetch_rows("SELECT 1"), target.fetch_rows("SELECT 1"))
            phases["connected"] = peak_rss_mb()
            if kind == "ours":
                found = found_of(await ombudsman_diff(source, target))
    phases["end"] = peak_rss_mb()
    return {"seconds": time.perf_counter() - started, "found": found, "phases": phases,
            "pandas": "pandas" in sys.modules}


def peak_rss_mb() -> float:
    """This process's peak RSS (VmHWM, MB). Not ru_maxrss: Linux carries that over from the parent
    across fork and exec, so a child of the bench (which generated the data) would start at its size."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def measure(kind: str, pg_url: str, duck_path: Path, *, engine: str | None = None) -> tuple[float, float, dict[str, Any]]:
    """Seconds, peak RSS (MB, of the child process alone) and the answer of one run in a child;
    `engine`: the folder of another build's `ombudsman/engine` to run instead of this one."""
    env = dict(os.environ)
    if engine:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [engine, env.get("PYTHONPATH")]))
    child = subprocess.run([sys.executable, __file__, "--child", kind, "--pg", pg_url, "--duck", str(duck_path)],
                           stdout=subprocess.PIPE, text=True, check=False, env=env)
    text = child.stdout.strip()
    if child.returncode != 0 or not text:
        raise RuntimeError(f"{kind} run failed (exit {child.returncode})")
    answer = json.loads(text.splitlines()[-1])
    return float(answer.get("seconds", 0.0)), float(answer["peak_rss_mb"]), answer


def _runs(values: list[float]) -> str:
    return ", ".join(f"{x:.2f}" for x in values)


async def bench(pg_url: str, folder: Path, rows: int) -> dict[str, Any]:
    csv_path, duck_path, same_path = folder / "items.csv", folder / "target.duckdb", folder / "same.duckdb"
    started = time.perf_counter()
    write_csv(csv_path, rows)
    await load(pg_url, duck_path, csv_path, rows, identical=same_path)
    csv_path.unlink()
    print(f"\nrow diff benchmark: {rows:,} rows x {len(COLUMNS)} columns, PostgreSQL (source) vs DuckDB (target, "
          f"{DUCKDB_SETTINGS}); "
          f"loaded in {time.perf_counter() - started:.1f} s; load average {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} cores", flush=True)
    report: dict[str, Any] = {"rows": rows, "columns": len(COLUMNS), "load_before": os.getloadavg()[0]}
    runs = [("floor", "floor", duck_path, None), ("ours", "ours", duck_path, None),
            ("floor_same", "floor", same_path, None), ("ours_same", "ours", same_path, None)]
    if BASELINE:
        runs += [("baseline", "ours", duck_path, BASELINE), ("baseline_same", "ours", same_path, BASELINE)]
    figures: dict[str, list[float]] = {name: [] for name, *_ in runs}
    rss: dict[str, float] = dict.fromkeys(figures, 0.0)
    answers: dict[str, dict[str, Any]] = {}
    _, idle_rss, _ = measure("idle", pg_url, duck_path)
    # interleaved (floor, ours, floor, ours ...) so that a change of load on a shared machine weighs
    # on all alike; each run a fresh process
    for _ in range(REPEAT):
        for name, kind, path, engine in runs:
            seconds, peak, answers[name] = measure(kind, pg_url, path, engine=engine)
            figures[name].append(seconds)
            rss[name] = max(rss[name], peak)
    median = {k: statistics.median(v) for k, v in figures.items()}
    found = [(k, i, c) for k, i, c in answers["ours"]["found"]]
    same_found = answers["ours_same"]["found"]
    ok, summary = check(found, rows)
    ok_same = not same_found
    report.update(
        floor_s=median["floor"], ombudsman_s=median["ours"], floor_same_s=median["floor_same"],
        ombudsman_same_s=median["ours_same"], ombudsman_rss_mb=max(rss["ours"], rss["ours_same"]),
        floor_rss_mb=max(rss["floor"], rss["floor_same"]), idle_rss_mb=idle_rss, exact=ok and ok_same,
        load_after=os.getloadavg()[0],
    )
    print(f"  an idle process (imports, both connections open):            peak RSS {idle_rss:6.0f} MB")
    print(f"  floor (each database's MD5 checksum scan, both at once): {median['floor']:8.2f} s   peak RSS {rss['floor']:6.0f} MB")
    print(f"  ombudsman row_hash:                                      {median['ours']:8.2f} s   peak RSS {rss['ours']:6.0f} MB")
    print(f"  ombudsman / floor: {median['ours'] / median['floor']:.2f}x (target <= 1.3x); runs: floor "
          f"{_runs(figures['floor'])} s, ombudsman {_runs(figures['ours'])} s")
    print(f"  differences found: {summary} -> {'all 100 with the right columns' if ok else 'WRONG'}")
    print(f"  identical tables: floor {median['floor_same']:.2f} s, ombudsman {median['ours_same']:.2f} s "
          f"(peak RSS {rss['ours_same']:.0f} MB) -> {median['ours_same'] / median['floor_same']:.2f}x (target <= 1.1x); "
          f"runs: floor {_runs(figures['floor_same'])} s, ombudsman {_runs(figures['ours_same'])} s; "
          f"{'no difference' if ok_same else f'WRONG: {len(same_found)} differences'}")
    phases = answers["ours"]["phases"]
    print(f"  ombudsman VmHWM by phase: imports {phases['imports']:.0f} MB, both connections open "
          f"{phases['connected']:.0f} MB, after the diff {phases['end']:.0f} MB; pandas imported: {answers['ours']['pandas']}")
    if BASELINE:
        ok_base, _ = check([(k, i, c) for k, i, c in answers["baseline"]["found"]], rows)
        base = answers["baseline"]["phases"]
        print(f"  baseline build ({BASELINE}), same rounds: {median['baseline']:.2f} s (identical {median['baseline_same']:.2f} s), "
              f"peak RSS {rss['baseline']:.0f} MB (identical {rss['baseline_same']:.0f} MB) vs this build "
              f"{rss['ours']:.0f} / {rss['ours_same']:.0f} MB; by phase {base['imports']:.0f} / {base['connected']:.0f} / "
              f"{base['end']:.0f} MB; {'exact' if ok_base else 'WRONG'}")
        report.update(baseline_s=median["baseline"], baseline_rss_mb=max(rss["baseline"], rss["baseline_same"]))
    report.update(phases=phases)
    print(f"  load average after: {os.getloadavg()[0]:.1f}", flush=True)
    if os.environ.get("OMB_BENCH_RELADIFF", "1") == "0":
        print("  reladiff: skipped (OMB_BENCH_RELADIFF=0)")
        report["reladiff"] = "skipped"
        return report
    try:
        runs = [measure("reladiff", pg_url, duck_path) for _ in range(int(os.environ.get("OMB_BENCH_RELADIFF_REPEAT", 1)))]
    except RuntimeError as exc:  # report, do not hide, a reladiff failure on this pair
        print(f"  reladiff: failed: {exc}")
        report["reladiff"] = f"failed: {exc}"
        return report
    if "error" in runs[0][2]:
        print(f"  reladiff: {runs[0][2]['error']}")
        report["reladiff"] = runs[0][2]["error"]
        return report
    theirs, theirs_rss = statistics.median(r[0] for r in runs), max(r[1] for r in runs)
    exact, what = check_reladiff([(sign, i) for sign, i in runs[-1][2]["lines"]], rows)
    report.update(reladiff_s=theirs, reladiff_rss_mb=theirs_rss, reladiff_exact=exact)
    print(f"  reladiff hashdiff (-j{RELADIFF_THREADS}):                                {theirs:8.2f} s   "
          f"peak RSS {theirs_rss:6.0f} MB   ({what} -> {'exact' if exact else 'NOT exact'})")
    print(f"  reladiff / ombudsman: {theirs / median['ours']:.2f}x (target >= 3.5x); load average {os.getloadavg()[0]:.1f}")
    return report


# --- keyless vs keyed (issue 23) ---------------------------------------------------------------------
KEYLESS_ROWS = 1_000_000


def load_duckdb_pair(folder: Path, rows: int) -> tuple[Path, Path]:
    """The bench table in two DuckDB files: the source as generated, the target with the same 50
    changes, 30 deletes and 20 inserts as the PostgreSQL bench."""
    csv_path, source_path, target_path = folder / "items.csv", folder / "source.duckdb", folder / "target.duckdb"
    write_csv(csv_path, rows)
    changed, deleted, inserted = plan_changes(rows)
    for path, edit in ((source_path, False), (target_path, True)):
        # loaded with duckdb itself: the engine's connector may not read files (sandbox)
        duck = duckdb.connect(str(path))
        try:
            duck.execute(DDL["duckdb"])
            duck.execute(f"INSERT INTO items SELECT * FROM read_csv('{csv_path}', header = false, columns = {DUCKDB_CSV_COLUMNS})")
            if edit:
                for i, column in changed.items():
                    duck.execute(f"UPDATE items SET {CHANGE_SQL[column]} WHERE id = {i}")
                duck.execute(f"DELETE FROM items WHERE id IN ({', '.join(map(str, deleted))})")
                duck.execute(f"INSERT INTO items {INSERTED_ROW} FROM range({inserted[0]}, {inserted[-1] + 1}) r(id)")
            duck.execute("CHECKPOINT")
        finally:
            duck.close()
    csv_path.unlink()
    return source_path, target_path


async def diff_with_key(source: Connector, target: Connector, key: list[str]) -> list[Difference]:
    """`diff_tables` with `key` (`[]`: keyless, rows compared as multisets and paired)."""
    collect = Collect()
    await diff_tables(DiffSide(source, TableRef(name="items")), DiffSide(target, TableRef(name="items")),
                      key=key, options=RowDiffOptions(), writer=collect)
    return collect.found


def check_keyless(found: list[Difference], rows: int) -> tuple[bool, str]:
    """Keyless: the 50 changed rows paired into changed rows naming their column, 30 + 20 one-sided."""
    changed, deleted, inserted = plan_changes(rows)
    kinds = {k: [d for d in found if d.kind == k] for k in ("changed", "only_in_source", "only_in_target")}
    named = sorted(c for d in kinds["changed"] for c in d.columns)
    ok = (len(kinds["changed"]) == len(changed) and named == sorted(changed.values())
          and len(kinds["only_in_source"]) == len(deleted) and len(kinds["only_in_target"]) == len(inserted))
    return ok, (f"{len(kinds['changed'])} changed, {len(kinds['only_in_source'])} only in source, "
                f"{len(kinds['only_in_target'])} only in target")


async def bench_keyless(folder: Path, rows: int) -> dict[str, Any]:
    """Keyless diff time vs keyed on the same DuckDB pair (goal: keyless <= 2x keyed), interleaved."""
    started = time.perf_counter()
    source_path, target_path = load_duckdb_pair(folder, rows)
    print(f"\nkeyless row diff benchmark: {rows:,} rows x {len(COLUMNS)} columns, DuckDB vs DuckDB; "
          f"loaded in {time.perf_counter() - started:.1f} s", flush=True)
    keyed_runs, keyless_runs, found_keyed, found_keyless = [], [], [], []
    async with connect(f"duckdb:///{source_path}") as source, connect(f"duckdb:///{target_path}") as target:
        for _ in range(REPEAT):
            seconds, _, found_keyed = await timed(lambda: diff_with_key(source, target, ["id"]), repeat=1)
            keyed_runs.append(seconds)
            seconds, rss, found_keyless = await timed(lambda: diff_with_key(source, target, []), repeat=1)
            keyless_runs.append(seconds)
    keyed, keyless = statistics.median(keyed_runs), statistics.median(keyless_runs)
    ok_keyed, _ = check(found_of(found_keyed), rows)
    ok, summary = check_keyless(found_keyless, rows)
    print(f"  keyed (id):   {keyed:8.2f} s   runs {', '.join(f'{x:.2f}' for x in keyed_runs)}")
    print(f"  keyless:      {keyless:8.2f} s   runs {', '.join(f'{x:.2f}' for x in keyless_runs)}   peak RSS {rss:.0f} MB")
    print(f"  keyless / keyed: {keyless / keyed:.2f}x (goal <= 2x); keyless found {summary} -> "
          f"{'right' if ok else 'WRONG'}; keyed {'right' if ok_keyed else 'WRONG'}")
    return {"rows": rows, "keyed_s": keyed, "keyless_s": keyless, "ratio": keyless / keyed, "exact": ok and ok_keyed}


def run_keyless_bench(rows: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="omb-bench-") as folder:
        return asyncio.run(bench_keyless(Path(folder), rows))


def test_bench_rowdiff_keyless() -> None:
    """Keyless vs keyed (OMB_BENCH_KEYLESS_ROWS, default 1,000,000): prints the ratio; fails only if a
    diff is wrong (never on timings)."""
    report = run_keyless_bench(int(os.environ.get("OMB_BENCH_KEYLESS_ROWS", KEYLESS_ROWS)))
    assert report["exact"], "a row diff missed or misreported differences"


@contextmanager
def postgres_url() -> Iterator[str]:
    """A fresh database on OMB_TEST_DATABASE_URL's server or on an embedded PostgreSQL."""
    external = os.environ.get("OMB_TEST_DATABASE_URL")
    server = None
    if external:
        admin = external
    else:
        from ombudsman.eventstore.embedded import EmbeddedPostgres

        server = EmbeddedPostgres.start(Path(tempfile.mkdtemp(prefix="omb-bench-pg-")) / "pgdata")
        admin = server.uri("postgres")
    name = "omb_bench_" + uuid.uuid4().hex[:8]
    asyncio.run(_admin(admin, f'CREATE DATABASE "{name}"'))
    parts = urlsplit(admin)
    try:
        yield urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))
    finally:
        asyncio.run(_admin(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        if server is not None:
            server.stop()


async def _admin(url: str, sql: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def run_bench(rows: int) -> dict[str, Any]:
    with postgres_url() as pg_url, tempfile.TemporaryDirectory(prefix="omb-bench-") as folder:
        return asyncio.run(bench(pg_url, Path(folder), rows))


def bench_sizes() -> list[int]:
    """The table sizes to run: OMB_BENCH_SIZES (comma-separated), else OMB_BENCH_ROWS, else 2,000,000."""
    sizes = os.environ.get("OMB_BENCH_SIZES") or os.environ.get("OMB_BENCH_ROWS") or str(DEFAULT_ROWS)
    return [int(size.replace("_", "")) for size in sizes.split(",") if size.strip()]


def run_sizes(sizes: Sequence[int]) -> list[dict[str, Any]]:
    """The bench at each size in turn, then peak RSS per size (is the client's memory flat?)."""
    reports = [run_bench(rows) for rows in sizes]
    if len(reports) > 1:
        print("\npeak RSS by table size (MB): " + "; ".join(
            f"{r['rows']:,} rows: ombudsman {r['ombudsman_rss_mb']:.0f}, floor {r['floor_rss_mb']:.0f}, idle {r['idle_rss_mb']:.0f}"
            + (f", baseline {r['baseline_rss_mb']:.0f}" if "baseline_rss_mb" in r else "")
            for r in reports), flush=True)
    return reports


def test_bench_rowdiff() -> None:
    """`make bench`: prints the figures; fails only if the diff is wrong (never on timings)."""
    for report in run_sizes(bench_sizes()):
        assert report["exact"], f"the row diff missed or misreported differences at {report['rows']:,} rows"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=None, help="rows in the table (default 2,000,000; keyless 1,000,000)")
    parser.add_argument("--keyless", action="store_true", help="keyless vs keyed diff, DuckDB vs DuckDB")
    parser.add_argument("--child", choices=("idle", "floor", "ours", "reladiff"), help=argparse.SUPPRESS)
    parser.add_argument("--pg", help=argparse.SUPPRESS)
    parser.add_argument("--duck", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:  # one measured run (see measure): its answer as the last line of stdout
        answer = asyncio.run(child_run(args.child, args.pg, Path(args.duck)))
        print(json.dumps({**answer, "peak_rss_mb": peak_rss_mb()}), flush=True)
        sys.exit(0)
    if args.keyless:
        sys.exit(0 if run_keyless_bench(args.rows or KEYLESS_ROWS)["exact"] else 1)
    reports = run_sizes([args.rows] if args.rows else bench_sizes())
    sys.exit(0 if all(r["exact"] for r in reports) else 1)
