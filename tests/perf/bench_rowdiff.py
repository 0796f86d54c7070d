"""Row diff benchmark: Ombudsman's `row_hash` against the floor and against reladiff.

Generates N rows (numeric, decimal, float, string, date, timestamp columns), loads them into
PostgreSQL (source, COPY) and DuckDB (target, a file), changes 50 rows, deletes 30 and inserts 20
in the target, then times, median of 3:

- Ombudsman's row diff (`diff_tables`, default options) — and checks that it found exactly the
  100 differences, each changed row with the right column;
- the floor: each database's own single checksum scan of the whole table (COUNT and SUM of the
  same canonical row hash), both at once — what any exact cross-database comparison must read;
- reladiff's hashdiff on the same pair, when `reladiff` (and psycopg2) are installed
  (`pip install -r requirements-bench.txt`); "not installed" otherwise.

Prints the ratios Ombudsman/floor and reladiff/Ombudsman and the peak RSS of this process during
each diff. Targets at 2,000,000 rows: <= 1.3x the floor, >= 3x faster than reladiff, <= 300 MB.

Run: `make bench` (OMB_BENCH_ROWS, default 2,000,000) or
`python tests/perf/bench_rowdiff.py --rows 500000`. PostgreSQL: OMB_TEST_DATABASE_URL's server, or
an embedded one (pgserver).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
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
from ombudsman.engine.normalize import hash_sum_expr
from ombudsman.engine.rowdiff import Difference, DiffSide, RowDiffOptions, diff_tables
from ombudsman.engine.rowdiff.plan import build_plan
from ombudsman.engine.validators import sql as q

DEFAULT_ROWS = 2_000_000
CHUNK = 250_000
REPEAT = 3
CHANGED_COLUMNS = ["qty", "price", "ratio", "name", "day", "ts"]
DDL = {
    "postgres": "CREATE TABLE items (id BIGINT, qty INTEGER, price NUMERIC(12,2), ratio DOUBLE PRECISION, "
    "name VARCHAR(40), day DATE, ts TIMESTAMP)",
    "duckdb": "CREATE TABLE items (id BIGINT, qty INTEGER, price DECIMAL(12,2), ratio DOUBLE, name VARCHAR, day DATE, "
    "ts TIMESTAMP)",
}


# --- data --------------------------------------------------------------------------------------------
def write_csv(path: Path, rows: int) -> None:
    """N rows as CSV, generated and written in chunks (the bench process stays small)."""
    schema = pa.schema([("id", pa.int64()), ("qty", pa.int32()), ("price", pa.string()), ("ratio", pa.float64()),
                        ("name", pa.string()), ("day", pa.date32()), ("ts", pa.timestamp("us"))])
    with pacsv.CSVWriter(str(path), schema, write_options=pacsv.WriteOptions(include_header=False)) as writer:
        for start in range(1, rows + 1, CHUNK):
            ids = np.arange(start, min(start + CHUNK, rows + 1), dtype=np.int64)
            cents = ids * 37 % 10_000_000
            price = [f"{c // 100}.{c % 100:02d}" for c in cents.tolist()]
            day = (ids % 3650).astype("timedelta64[D]") + np.datetime64("2015-01-01")
            ts = np.datetime64("2021-01-01T00:00:00", "us") + (ids * 1_000_003).astype("timedelta64[us]")
            writer.write_table(pa.table({
                "id": ids, "qty": (ids % 1000).astype(np.int32), "price": price, "ratio": ids * 0.001 + 0.5,
                "name": [f"customer {i}" for i in ids.tolist()], "day": day, "ts": ts,
            }, schema=schema))


def plan_changes(rows: int) -> tuple[dict[int, str], list[int], list[int]]:
    """50 changed ids (id -> column), 30 deleted ids, 20 inserted ids, spread over the table."""
    step = rows // 101
    spread = [step * (k + 1) for k in range(100)]
    changed = {i: CHANGED_COLUMNS[k % len(CHANGED_COLUMNS)] for k, i in enumerate(spread[:50])}
    return changed, spread[50:80], list(range(rows + 1, rows + 21))


async def load(pg_url: str, duck_path: Path, csv_path: Path, rows: int) -> None:
    conn = await asyncpg.connect(pg_url)
    try:
        await conn.execute(DDL["postgres"])
        await conn.copy_to_table("items", source=str(csv_path), format="csv")
        await conn.execute("ALTER TABLE items ADD PRIMARY KEY (id)")
        await conn.execute("VACUUM ANALYZE items")
    finally:
        await conn.close()
    changed, deleted, inserted = plan_changes(rows)
    async with connect(f"duckdb:///{duck_path}") as duck:
        await duck.execute(DDL["duckdb"])
        await duck.execute(f"INSERT INTO items SELECT * FROM read_csv('{csv_path}', header = false, "
                           "columns = {'id': 'BIGINT', 'qty': 'INTEGER', 'price': 'DECIMAL(12,2)', 'ratio': 'DOUBLE', "
                           "'name': 'VARCHAR', 'day': 'DATE', 'ts': 'TIMESTAMP'})")
        change_sql = {"qty": "qty = qty + 1", "price": "price = price + 0.01", "ratio": "ratio = ratio * 1.01",
                      "name": "name = name || 'x'", "day": "day = day + 1", "ts": "ts = ts + INTERVAL 1 SECOND"}
        for i, column in changed.items():
            await duck.execute(f"UPDATE items SET {change_sql[column]} WHERE id = {i}")
        await duck.execute(f"DELETE FROM items WHERE id IN ({', '.join(map(str, deleted))})")
        await duck.execute("INSERT INTO items SELECT id, 1, 1.00, 1.5, 'new ' || id, DATE '2020-01-01', "
                           f"TIMESTAMP '2020-01-01 00:00:00' FROM range({inserted[0]}, {inserted[-1] + 1}) r(id)")
        await duck.execute("CHECKPOINT")


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


async def floor_scan(source: Connector, target: Connector) -> None:
    """COUNT(*) and SUM(row hash) of the whole table on each side, both at once."""
    plan = await build_plan(DiffSide(source, TableRef(name="items")), DiffSide(target, TableRef(name="items")), key=["id"])

    async def scan(side: Any) -> Any:
        query = q.exp.select(q.count_star(), hash_sum_expr(plan.row_hash(side), plan.dialect(side))).from_(plan.table(side))
        sql, params = q.render(query, plan.dialect(side))
        return await plan.sides[side].connector.fetch_rows(sql, params)

    await asyncio.gather(scan("source"), scan("target"))


def check(found: list[Difference], rows: int) -> tuple[bool, str]:
    changed, deleted, inserted = plan_changes(rows)
    got_changed = {int(d.key["id"]): set(d.columns) for d in found if d.kind == "changed"}
    got_deleted = {int(d.key["id"]) for d in found if d.kind == "only_in_source"}
    got_inserted = {int(d.key["id"]) for d in found if d.kind == "only_in_target"}
    ok = (got_changed == {i: {c} for i, c in changed.items()} and got_deleted == set(deleted)
          and got_inserted == set(inserted))
    return ok, f"{len(got_changed)} changed, {len(got_deleted)} only in source, {len(got_inserted)} only in target"


def reladiff_run(pg_url: str, duck_path: Path) -> Callable[[], Awaitable[int]] | str:
    """A reladiff hashdiff of the same pair, or why it cannot run."""
    try:
        import reladiff
    except ImportError:
        return "not installed (pip install -r requirements-bench.txt)"
    parts = urlsplit(pg_url)
    query = parse_qs(parts.query)
    pg = {"driver": "postgresql", "user": parts.username or "postgres", "dbname": parts.path.lstrip("/"),
          "host": query.get("host", [parts.hostname or "localhost"])[0]}
    if parts.port:
        pg["port"] = parts.port
    # reladiff's DuckDB driver has no DATE type ("Incompatible types for column 'day'"): it compares
    # the other columns, which only makes its job smaller
    columns = ("qty", "price", "ratio", "name", "ts")

    async def run() -> int:
        def blocking() -> int:
            source = reladiff.connect_to_table(pg, "items", "id", extra_columns=columns)
            target = reladiff.connect_to_table(f"duckdb://main@{duck_path}", "items", "id", extra_columns=columns)
            return sum(1 for _ in reladiff.diff_tables(source, target, algorithm=reladiff.Algorithm.HASHDIFF))

        return await asyncio.to_thread(blocking)

    return run


# --- the benchmark ---------------------------------------------------------------------------------
async def bench(pg_url: str, folder: Path, rows: int) -> dict[str, Any]:
    csv_path, duck_path = folder / "items.csv", folder / "target.duckdb"
    started = time.perf_counter()
    write_csv(csv_path, rows)
    await load(pg_url, duck_path, csv_path, rows)
    csv_path.unlink()
    print(f"\nrow diff benchmark: {rows:,} rows, PostgreSQL (source) vs DuckDB (target); "
          f"loaded in {time.perf_counter() - started:.1f} s", flush=True)
    report: dict[str, Any] = {"rows": rows}
    async with connect(pg_url) as source, connect(f"duckdb:///{duck_path}") as target:
        # interleaved (floor, ours, floor, ours ...) so that a change of load on a shared machine
        # weighs on both alike
        floors, ours_runs, floor_rss, ours_rss = [], [], 0.0, 0.0
        found: list[Difference] = []
        for _ in range(REPEAT):
            seconds, rss, _ = await timed(lambda: floor_scan(source, target), repeat=1)
            floors.append(seconds)
            floor_rss = max(floor_rss, rss)
            seconds, rss, found = await timed(lambda: ombudsman_diff(source, target), repeat=1)
            ours_runs.append(seconds)
            ours_rss = max(ours_rss, rss)
        floor, ours = statistics.median(floors), statistics.median(ours_runs)
    ok, summary = check(found, rows)
    report.update(floor_s=floor, ombudsman_s=ours, ombudsman_rss_mb=ours_rss, floor_rss_mb=floor_rss, exact=ok)
    print(f"  floor (one checksum scan per side, both at once): {floor:8.2f} s   peak RSS {floor_rss:6.0f} MB")
    print(f"  ombudsman row_hash:                               {ours:8.2f} s   peak RSS {ours_rss:6.0f} MB")
    print(f"  ombudsman / floor: {ours / floor:.2f}x (target <= 1.3x); runs: floor "
          f"{', '.join(f'{x:.2f}' for x in floors)} s, ombudsman {', '.join(f'{x:.2f}' for x in ours_runs)} s")
    print(f"  differences found: {summary} -> {'all 100 with the right columns' if ok else 'WRONG'}")
    runner = reladiff_run(pg_url, duck_path)
    if isinstance(runner, str):
        print(f"  reladiff: {runner}")
        report["reladiff"] = runner
    else:
        try:
            theirs, theirs_rss, count = await timed(runner, repeat=int(os.environ.get("OMB_BENCH_RELADIFF_REPEAT", REPEAT)))
        except Exception as exc:  # report, do not hide, a reladiff failure on this pair
            print(f"  reladiff: failed: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
            report["reladiff"] = f"failed: {exc}"
        else:
            report.update(reladiff_s=theirs, reladiff_rss_mb=theirs_rss, reladiff_differences=count)
            print(f"  reladiff hashdiff:                                {theirs:8.2f} s   peak RSS {theirs_rss:6.0f} MB"
                  f"   ({count} +/- lines)")
            print(f"  reladiff / ombudsman: {theirs / ours:.2f}x (target >= 3x)")
    return report


# --- keyless vs keyed (issue 23) ---------------------------------------------------------------------
KEYLESS_ROWS = 1_000_000


def load_duckdb_pair(folder: Path, rows: int) -> tuple[Path, Path]:
    """The bench table in two DuckDB files: the source as generated, the target with the same 50
    changes, 30 deletes and 20 inserts as the PostgreSQL bench."""
    csv_path, source_path, target_path = folder / "items.csv", folder / "source.duckdb", folder / "target.duckdb"
    write_csv(csv_path, rows)
    columns = ("{'id': 'BIGINT', 'qty': 'INTEGER', 'price': 'DECIMAL(12,2)', 'ratio': 'DOUBLE', 'name': 'VARCHAR', "
               "'day': 'DATE', 'ts': 'TIMESTAMP'}")
    changed, deleted, inserted = plan_changes(rows)
    change_sql = {"qty": "qty = qty + 1", "price": "price = price + 0.01", "ratio": "ratio = ratio * 1.01",
                  "name": "name = name || 'x'", "day": "day = day + 1", "ts": "ts = ts + INTERVAL 1 SECOND"}
    for path, edit in ((source_path, False), (target_path, True)):
        # loaded with duckdb itself: the engine's connector may not read files (sandbox)
        duck = duckdb.connect(str(path))
        try:
            duck.execute(DDL["duckdb"])
            duck.execute(f"INSERT INTO items SELECT * FROM read_csv('{csv_path}', header = false, columns = {columns})")
            if edit:
                for i, column in changed.items():
                    duck.execute(f"UPDATE items SET {change_sql[column]} WHERE id = {i}")
                duck.execute(f"DELETE FROM items WHERE id IN ({', '.join(map(str, deleted))})")
                duck.execute("INSERT INTO items SELECT id, 1, 1.00, 1.5, 'new ' || id, DATE '2020-01-01', "
                             f"TIMESTAMP '2020-01-01 00:00:00' FROM range({inserted[0]}, {inserted[-1] + 1}) r(id)")
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
    print(f"\nkeyless row diff benchmark: {rows:,} rows x 7 columns (BIGINT id, INTEGER, DECIMAL(12,2), DOUBLE, "
          f"VARCHAR, DATE, TIMESTAMP), DuckDB vs DuckDB; loaded in {time.perf_counter() - started:.1f} s", flush=True)
    keyed_runs, keyless_runs, found_keyed, found_keyless = [], [], [], []
    async with connect(f"duckdb:///{source_path}") as source, connect(f"duckdb:///{target_path}") as target:
        for _ in range(REPEAT):
            seconds, _, found_keyed = await timed(lambda: diff_with_key(source, target, ["id"]), repeat=1)
            keyed_runs.append(seconds)
            seconds, rss, found_keyless = await timed(lambda: diff_with_key(source, target, []), repeat=1)
            keyless_runs.append(seconds)
    keyed, keyless = statistics.median(keyed_runs), statistics.median(keyless_runs)
    ok_keyed, _ = check(found_keyed, rows)
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


def test_bench_rowdiff() -> None:
    """`make bench`: prints the figures; fails only if the diff is wrong (never on timings)."""
    report = run_bench(int(os.environ.get("OMB_BENCH_ROWS", DEFAULT_ROWS)))
    assert report["exact"], "the row diff missed or misreported differences"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=None, help="rows in the table (default 2,000,000; keyless 1,000,000)")
    parser.add_argument("--keyless", action="store_true", help="keyless vs keyed diff, DuckDB vs DuckDB")
    args = parser.parse_args()
    if args.keyless:
        sys.exit(0 if run_keyless_bench(args.rows or KEYLESS_ROWS)["exact"] else 1)
    sys.exit(0 if run_bench(args.rows or DEFAULT_ROWS)["exact"] else 1)
