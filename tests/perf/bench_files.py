"""File validation at size (issue 21): MB/s and peak memory of `ombudsman files validate` on a
generated TSV, against three floors measured in the same run on the same file: `wc -l` (reading the
bytes); DuckDB's own `count(*)` of `read_csv` with the same columns (its raw scan: DuckDB's projection
pushdown leaves uncast every column a query does not name, so this count casts none and counts the bad
line too; casting all four costs it ~1.6x CPU); and a fair floor, DuckDB's own plain query for the same
findings in one read (per-day counts, every column cast, the keys seen more than once, reject_errors for
the bad line; not the duplicate copies' line numbers, which need a second read of the raw lines), with
the same memory_limit and threads.

Workload: one TSV of `--rows` lines (default 36,000,000 ≈ 2 GB): sale_id BIGINT (unique), sold_on DATE
(January 2026 without the 15th), amount DECIMAL(12,2), note VARCHAR (~30 chars), plus one duplicated
sale and one bad line at the end. Ombudsman must find exactly: 1 bad line (its number), the 15th
missing, 1 duplicated key with both line numbers; its peak RSS (the validating process, DuckDB
memory_limit 512MB) is printed and must stay ≤ 1 GB.
Load (OMB_BENCH_LOAD_ROWS, default 10,000,000 rows of the same shape, no bad line): MB/s of
`load_files` into DuckDB and into PostgreSQL (each file in a transaction with its checkpoint row)
against each database's own bulk load of the same file measured in the same run (DuckDB `INSERT …
SELECT FROM read_csv`, PostgreSQL `COPY … FROM STDIN` through asyncpg), every table's row count checked.
Each tool's wall time and CPU time (user + system of its process) are printed, with the ratios by
both: on a loaded machine the wall ratios swing from run to run, the CPU ones much less (`--rounds`
interleaves several runs of every tool and prints the medians).
Run: `python tests/perf/bench_files.py [--rows N] [--rounds R]` or through `make bench`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import asyncpg
import duckdb
import psutil

from ombudsman.engine.connectors.postgres import asyncpg_dsn
from ombudsman.engine.files.config import parse_config
from ombudsman.engine.files.load import load_files
from tests.perf.bench_rowdiff import postgres_url

VALIDATE = """
import json, sys
from pathlib import Path
from ombudsman.engine.files.checks import validate_files
from ombudsman.engine.files.config import load_config
from ombudsman.engine.files.scan import ScanSettings
results = validate_files(load_config(Path(sys.argv[1])), settings=ScanSettings(memory_limit="512MB"))
# VmHWM, this process's own peak: ru_maxrss starts at the parent's peak (Linux keeps it across fork and exec),
# so a validation started by a large pytest worker or by the bench that generated the file reported theirs
peak_kb = next(int(line.split()[1]) for line in Path("/proc/self/status").read_text().splitlines() if line.startswith("VmHWM:"))
print(json.dumps({"results": [r.__dict__ for r in results], "rss_kb": peak_kb}, default=str))
"""

CONFIG = """files:
  - name: sales
    pattern: "sales_*.tsv"
    columns: {sale_id: BIGINT, sold_on: DATE, amount: "DECIMAL(12,2)", note: VARCHAR}
    date_column: sold_on
    period: {start: 2026-01-01, end: 2026-01-31}
    key: [sale_id]
"""


def generate(folder: Path, rows: int) -> Path:
    path = folder / "sales_2026_01.tsv"
    duckdb.sql(f"""COPY (SELECT i AS sale_id,
        DATE '2026-01-01' + CAST(CASE WHEN i % 31 = 14 THEN 15 ELSE i % 31 END AS INTEGER) AS sold_on,
        CAST(i % 100000 AS DECIMAL(12,2)) / 100 AS amount, 'customer note number ' || i AS note
        FROM range({rows}) t(i)) TO '{path}' (DELIMITER '\t', HEADER true)""")
    with open(path, "a") as f:
        f.write("12345\t2026-01-02\t1.00\tduplicate of sale 12345\n")  # line rows + 2
        f.write("oops\t2026-01-02\t1.00\tbad id\n")                     # line rows + 3
    return path


FLOOR = """
import json, sys, duckdb
path, rows = sys.argv[1], int(sys.argv[2])
con = duckdb.connect(config={"memory_limit": "512MB", "threads": 2})
found = con.sql(f\"\"\"WITH sales AS (FROM read_csv('{path}', delim='\\t', header=true, quote='', escape='', auto_detect=false,
      columns={{'sale_id': 'BIGINT', 'sold_on': 'DATE', 'amount': 'DECIMAL(12,2)', 'note': 'VARCHAR'}}, store_rejects=true))
    SELECT 'day' AS finding, CAST(sold_on AS VARCHAR) AS value, count(*) AS n, count(amount), count(note) FROM sales GROUP BY sold_on
    UNION ALL
    SELECT 'duplicate', CAST(sale_id AS VARCHAR), count(*), NULL, NULL FROM sales GROUP BY sale_id HAVING count(*) > 1\"\"\").fetchall()
bad = con.sql("SELECT line FROM reject_errors").fetchall()
days = {v for f, v, *_ in found if f == "day"}
print(json.dumps({"exact": sum(n for f, _, n, *_ in found if f == "day") == rows + 1 and len(days) == 30
                  and "2026-01-15" not in days and [(v, n) for f, v, n, *_ in found if f == "duplicate"] == [("12345", 2)]
                  and bad == [(rows + 3,)]}))
"""


def timed(command: list[str], label: str = "", **kwargs) -> tuple[float, float, str]:
    """Wall seconds, CPU seconds (user + system of the child) and stdout of `command`; a failure names its
    exit status and the tail of its stderr (an `ombudsman files validate` that dies says why, not only
    `returned non-zero exit status 1`). CPU time is the figure that survives a loaded machine: wall time
    there depends on what else runs."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, **kwargs)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert done.returncode == 0, (f"{label or ' '.join(command)} exited {done.returncode} after "
                                  f"{seconds:.0f} s; stderr tail:\n{done.stderr[-3000:]}")
    return seconds, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, done.stdout


TOOLS = ("wc -l", "DuckDB read_csv count(*) (raw scan)", "DuckDB exact floor (days, dups, rejects)",
         "ombudsman files validate")


def _round(folder: Path, path: Path, rows: int) -> tuple[dict[str, tuple[float, float]], float]:
    """One run of each tool on `path`, in TOOLS order: {tool: (wall s, CPU s)} and ombudsman's peak RSS
    in MB; every finding of the floor and of ombudsman asserted exact."""
    times: dict[str, tuple[float, float]] = {}
    wall, cpu, _ = timed(["wc", "-l", str(path)])
    times[TOOLS[0]] = (wall, cpu)
    raw_sql = (f"SELECT count(*) FROM read_csv('{path}', delim='\t', header=true, quote='', escape='', auto_detect=false, "
               "columns={'sale_id':'BIGINT','sold_on':'DATE','amount':'DECIMAL(12,2)','note':'VARCHAR'}, ignore_errors=true)")
    wall, cpu, _ = timed([sys.executable, "-c", f"import duckdb; duckdb.connect(config={{'memory_limit': '512MB', 'threads': 2}}).sql({raw_sql!r}).fetchall()"],
                         "DuckDB read_csv count(*)")
    times[TOOLS[1]] = (wall, cpu)
    wall, cpu, floor_out = timed([sys.executable, "-c", FLOOR, str(path), str(rows)], "DuckDB exact floor")
    times[TOOLS[2]] = (wall, cpu)
    assert json.loads(floor_out.strip().splitlines()[-1])["exact"], "the floor's findings must be exact (else it is no floor for the same work)"
    wall, cpu, out = timed([sys.executable, "-c", VALIDATE, str(folder / "files.yaml")],
                           "ombudsman files validate", env=os.environ)
    times[TOOLS[3]] = (wall, cpu)
    try:
        report = json.loads(out.strip().splitlines()[-1])
    except (IndexError, ValueError):
        raise AssertionError(f"ombudsman files validate printed no JSON report last; stdout tail:\n{out[-2000:]!r}") from None
    checks = {r["check"]: r for r in report["results"]}
    exact = (checks["conformance"]["details"]["lines"][0]["line"] == rows + 3
             and checks["date_completeness"]["details"]["missing"] == ["2026-01-15"]
             and [n for _, n in checks["duplicates"]["details"]["keys"][0]["lines"]] == [12347, rows + 2])
    assert exact, f"every finding must be exact: {checks}"
    return times, report["rss_kb"] / 1024


def run(rows: int, rounds: int = 1) -> dict[str, float]:
    """`rounds` interleaved runs of every tool on one generated file; the median of each is printed."""
    with tempfile.TemporaryDirectory(prefix="omb-bench-files-") as tmp:
        folder = Path(tmp)
        path = generate(folder, rows)
        (folder / "files.yaml").write_text(CONFIG)
        size_mb = path.stat().st_size / 1e6
        done = [_round(folder, path, rows) for _ in range(rounds)]
        wall = {t: statistics.median(r[0][t][0] for r in done) for t in TOOLS}
        cpu = {t: statistics.median(r[0][t][1] for r in done) for t in TOOLS}
        rss_mb = max(r[1] for r in done)
        raw, floor, omb = TOOLS[1], TOOLS[2], TOOLS[3]
        print(f"\nfile validation, {rows:,} rows, {size_mb:,.0f} MB TSV (4 columns: BIGINT, DATE, DECIMAL(12,2), VARCHAR); "
              f"median of {rounds} interleaved round(s)")
        print(f"{'':40}{'s':>8}{'MB/s':>9}{'CPU s':>8}")
        for name in TOOLS:
            print(f"{name:40}{wall[name]:8.1f}{size_mb / wall[name]:9.0f}{cpu[name]:8.1f}")
        for label, figures in (("time", wall), ("CPU", cpu)):
            print(f"by {label}: ombudsman / raw scan {figures[omb] / figures[raw]:.2f}x ({figures[raw] / figures[omb]:.0%} of its MB/s); "
                  f"ombudsman / exact floor {figures[omb] / figures[floor]:.2f}x ({figures[floor] / figures[omb]:.0%}); "
                  f"floor / raw scan {figures[floor] / figures[raw]:.2f}x")
        print(f"peak RSS {rss_mb:.0f} MB; findings exact (ombudsman and floor, every round)")
        print(f"load average: {' '.join(f'{x:.1f}' for x in psutil.getloadavg())}; cpus: {psutil.cpu_count()}")
        assert rss_mb <= 1024, f"peak RSS {rss_mb:.0f} MB over 1 GB"
        return {"ombudsman_s": wall[omb], "duckdb_s": wall[raw], "floor_s": wall[floor], "wc_s": wall[TOOLS[0]],
                "ombudsman_cpu_s": cpu[omb], "duckdb_cpu_s": cpu[raw], "floor_cpu_s": cpu[floor], "rss_mb": rss_mb}


LOAD_COLUMNS = {"sale_id": "BIGINT", "sold_on": "DATE", "amount": "DECIMAL(12,2)", "note": "VARCHAR"}
PG_TABLE = "sales (sale_id bigint, sold_on date, amount numeric(12,2), note text)"


async def _pg_floor(url: str, path: Path) -> int:
    conn = await asyncpg.connect(asyncpg_dsn(url)[0])
    try:
        await conn.execute(f"CREATE TABLE floor_{PG_TABLE}")
        status = await conn.copy_to_table("floor_sales", source=path, format="csv", delimiter="\t", header=True,
                                          quote="\x01")
        return int(status.split()[-1])
    finally:
        await conn.close()


async def _pg_count(url: str, table: str) -> int:
    conn = await asyncpg.connect(asyncpg_dsn(url)[0])
    try:
        return int(await conn.fetchval(f"SELECT count(*) FROM {table}"))
    finally:
        await conn.close()


async def _pg_create(url: str) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(url)[0])
    try:
        await conn.execute(f"CREATE TABLE {PG_TABLE}")
    finally:
        await conn.close()


def run_load(rows: int) -> dict[str, float]:
    """Load MB/s into DuckDB and PostgreSQL, Ombudsman's against each database's own bulk load."""
    with tempfile.TemporaryDirectory(prefix="omb-bench-load-") as tmp, postgres_url() as pg_url:
        folder = Path(tmp)
        path = folder / "sales_2026_01.tsv"
        duckdb.sql(f"""COPY (SELECT i AS sale_id, DATE '2026-01-01' + CAST(i % 31 AS INTEGER) AS sold_on,
            CAST(i % 100000 AS DECIMAL(12,2)) / 100 AS amount, 'customer note number ' || i AS note
            FROM range({rows}) t(i)) TO '{path}' (DELIMITER '\t', HEADER true)""")
        size_mb = path.stat().st_size / 1e6
        config = parse_config({"files": [{"name": "sales", "pattern": "sales_*.tsv", "columns": LOAD_COLUMNS,
                                          "table": "sales"}]}, folder)
        figures: dict[str, float] = {}
        # DuckDB: its own INSERT … SELECT FROM read_csv, then ours, each into a new database file
        floor_db, ours_db = folder / "floor.duckdb", folder / "ours.duckdb"
        start = time.perf_counter()
        with duckdb.connect(str(floor_db)) as con:
            con.execute("CREATE TABLE sales (sale_id BIGINT, sold_on DATE, amount DECIMAL(12,2), note VARCHAR)")
            con.execute(f"INSERT INTO sales SELECT * FROM read_csv('{path}', delim='\t', header=true, quote='', escape='', "
                        f"auto_detect=false, columns={LOAD_COLUMNS!r})")
            floor_rows = con.execute("SELECT count(*) FROM sales").fetchone()[0]
        figures["duckdb_floor_s"] = time.perf_counter() - start
        with duckdb.connect(str(ours_db)) as con:
            con.execute("CREATE TABLE sales (sale_id BIGINT, sold_on DATE, amount DECIMAL(12,2), note VARCHAR)")
        start = time.perf_counter()
        loaded = asyncio.run(load_files(config, f"duckdb:///{ours_db}"))
        figures["duckdb_ours_s"] = time.perf_counter() - start
        with duckdb.connect(str(ours_db)) as con:
            ours_rows = con.execute("SELECT count(*) FROM sales").fetchone()[0]
        assert floor_rows == ours_rows == rows and [r.status for r in loaded] == ["loaded"], (floor_rows, ours_rows, loaded)
        # PostgreSQL: COPY FROM STDIN of the file, then ours (COPY streamed + checkpoint row)
        start = time.perf_counter()
        pg_floor_rows = asyncio.run(_pg_floor(pg_url, path))
        figures["postgres_floor_s"] = time.perf_counter() - start
        asyncio.run(_pg_create(pg_url))
        start = time.perf_counter()
        loaded = asyncio.run(load_files(config, pg_url))
        figures["postgres_ours_s"] = time.perf_counter() - start
        assert pg_floor_rows == asyncio.run(_pg_count(pg_url, "sales")) == rows, loaded
        print(f"\nfile load, {rows:,} rows, {size_mb:,.0f} MB TSV (BIGINT, DATE, DECIMAL(12,2), VARCHAR); every table "
              f"holds exactly {rows:,} rows")
        print(f"{'':44}{'s':>8}{'MB/s':>9}")
        for name, key in (("DuckDB INSERT … SELECT FROM read_csv (floor)", "duckdb_floor_s"),
                          ("ombudsman files load → DuckDB", "duckdb_ours_s"),
                          ("PostgreSQL COPY FROM STDIN (floor)", "postgres_floor_s"),
                          ("ombudsman files load → PostgreSQL", "postgres_ours_s")):
            print(f"{name:44}{figures[key]:8.1f}{size_mb / figures[key]:9.0f}")
        print(f"ombudsman / floor: DuckDB {figures['duckdb_ours_s'] / figures['duckdb_floor_s']:.2f}x, "
              f"PostgreSQL {figures['postgres_ours_s'] / figures['postgres_floor_s']:.2f}x; load average: "
              f"{' '.join(f'{x:.1f}' for x in psutil.getloadavg())}")
        return figures


def test_bench_files() -> None:
    run(int(os.environ.get("OMB_BENCH_FILE_ROWS", "36000000")), int(os.environ.get("OMB_BENCH_FILE_ROUNDS", "1")))


def test_bench_file_load() -> None:
    run_load(int(os.environ.get("OMB_BENCH_LOAD_ROWS", "10000000")))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=36_000_000)
    parser.add_argument("--rounds", type=int, default=1, help="interleaved runs of every tool; medians printed")
    args = parser.parse_args()
    run(args.rows, args.rounds)
