"""Side-by-side cost of the row diff's checksum SQL against the md5 floor, per side and per query.

Loads the row diff bench's table (tests/perf/bench_rowdiff.py: 18 lineitem-like columns) into
PostgreSQL and DuckDB, then times on each side, interleaved round by round, medians reported as
ratios to the floor of the same rounds (a loaded machine slows all alike):

- `floor`: the bench's floor query (COUNT and SUM of a 60-bit MD5 of CONCAT_WS of every column);
- `total`: our row hash over the whole table (COUNT, SUM, no grouping);
- `bucket`: our first bucket scan exactly as the row diff sends it (`GROUP BY` the key range);
- `floor+<column>`: the floor with that one column rendered as our row text renders it, so that
  each column's extra cost over the database's own text shows (`--columns`).

PostgreSQL runs every query in one transaction with the row diff's pinned settings (JIT off ...);
DuckDB as the bench opens it (memory_limit=128MB, threads=2). `--explain` prints one EXPLAIN ANALYZE
of the bucket scan per side.

Run: `nice -n 10 .venv/bin/python tests/perf/probe_rowdiff_sql.py --rows 1000000 --rounds 5`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import asyncpg
import duckdb
from sqlglot import exp

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from ombudsman.contracts.pipeline import TableRef
from ombudsman.engine.connectors import connect
from ombudsman.engine.normalize import NULL_MARKER, hash_sum_expr
from ombudsman.engine.normalize.cheap import cheap_canonical_expr
from ombudsman.engine.rowdiff.engine import (
    RowDiffOptions,
    _checksum_query,
    _first_width,
    _range_bucket,
    first_buckets,
)
from ombudsman.engine.rowdiff.plan import DiffSide, build_plan
from ombudsman.engine.rowdiff.scan import checksum_settings, session_settings
from tests.perf.bench_rowdiff import COLUMNS, FLOOR_SQL, load, postgres_url, write_csv

DIALECTS = {"source": "postgres", "target": "duckdb"}


def queries(plan: Any, side: str, rows: int, per_column: bool) -> tuple[dict[str, str], int]:
    """The SQL to time on `side` (name -> text) and the first scan's bucket count."""
    dialect = DIALECTS[side]
    sql: dict[str, str] = {"floor": FLOOR_SQL[dialect].format(columns=", ".join(COLUMNS))}
    total = exp.select(exp.Count(this=exp.Star()), hash_sum_expr(plan.row_hash(side), dialect)).from_(plan.table(side))
    sql["total"] = total.sql(dialect=dialect)
    buckets = first_buckets(plan, RowDiffOptions(), rows)
    width = _first_width(rows, buckets, RowDiffOptions().split)
    sql["bucket"] = _checksum_query(plan, side, _range_bucket(plan, side, 1, width), None).sql(dialect=dialect)
    if per_column:
        for pair in plan.columns:
            rendered = exp.Coalesce(
                this=cheap_canonical_expr(plan.col(side, pair), pair.declared(side), pair.type(side), dialect, plan.options,
                                          plan.peer(side)),
                expressions=[exp.Literal.string(NULL_MARKER)],
            ).sql(dialect=dialect)
            columns = ", ".join(rendered if c == pair.name else c for c in COLUMNS)
            sql[f"floor+{pair.name}"] = FLOOR_SQL[dialect].format(columns=columns)
    return sql, buckets


@contextmanager
def data(rows: int, keep: str | None) -> Iterator[tuple[str, Path]]:
    """A PostgreSQL URL and a DuckDB file holding the identical pair: fresh, or kept in `keep`
    (loaded on first use, its PostgreSQL stopped at the end and started again next time)."""
    if keep is None:
        with postgres_url() as pg_url, tempfile.TemporaryDirectory(prefix="omb-probe-") as folder:
            yield pg_url, asyncio.run(_load(pg_url, Path(folder), rows))
        return
    from ombudsman.eventstore.embedded import EmbeddedPostgres

    folder = Path(keep)
    server = EmbeddedPostgres.start(folder / "pgdata")
    try:
        pg_url = server.uri("postgres")
        same = folder / "same.duckdb"
        if not same.exists():
            same = asyncio.run(_load(pg_url, folder, rows))
        yield pg_url, same
    finally:
        server.stop()


async def _load(pg_url: str, folder: Path, rows: int) -> Path:
    csv_path, duck_path, same_path = folder / "items.csv", folder / "t.duckdb", folder / "same.duckdb"
    write_csv(csv_path, rows)
    await load(pg_url, duck_path, csv_path, rows, identical=same_path)
    csv_path.unlink()
    duck_path.unlink()
    return same_path


def _write_json(path: str, value: Any) -> None:
    Path(path).write_text(json.dumps(value, indent=1))


def _read_json(path: str) -> Any:
    return json.loads(Path(path).read_text())


async def probe(pg_url: str, same_path: Path, rows: int, rounds: int, per_column: bool, explain: bool, only: str | None,
                save: str | None, compare: list[str]) -> None:
    async with connect(pg_url) as pg, connect(f"duckdb:///{same_path}?memory_limit=128MB&threads=2") as dk:
        plan = await build_plan(DiffSide(pg, TableRef(name="items")), DiffSide(dk, TableRef(name="items")), key=["id"])
    plan.cheap.update(source=True, target=True)
    sql = {side: queries(plan, side, rows, per_column) for side in DIALECTS}
    buckets = sql["source"][1]
    if only:
        sql = {side: ({k: v for k, v in q.items() if k in ("floor", "total", "bucket") or only in k}, b) for side, (q, b) in sql.items()}
    if save:
        _write_json(save, {side: {k: q[k] for k in ("total", "bucket")} for side, (q, _) in sql.items()})
    for path in compare:  # another build's queries (--save), timed in the same rounds
        for side, saved in _read_json(path).items():
            sql[side][0].update({f"{Path(path).stem}:{k}": v for k, v in saved.items()})
    for side, (q, _) in sql.items():
        sql[side][0]["floor(bench)"] = q["floor"]  # PostgreSQL: as the bench runs it (JIT off, defaults otherwise)
        print(f"-- {side} ({DIALECTS[side]}) bucket scan:\n{q['bucket']}\n", flush=True)
    conn = await asyncpg.connect(pg_url)
    duck = duckdb.connect(str(same_path), config={"memory_limit": "128MB", "threads": "2"})
    settings = {**session_settings("postgres"), **checksum_settings("postgres", buckets)}
    try:
        async def pg_run(text: str, pinned: bool = True) -> float:
            async with conn.transaction(isolation="repeatable_read", readonly=True):
                for name, value in (settings if pinned else {"jit": "off"}).items():
                    await conn.execute("SELECT set_config($1, $2, true)", name, value)
                started = time.perf_counter()
                await conn.fetch(text)
                return time.perf_counter() - started

        def duck_run(text: str) -> float:
            started = time.perf_counter()
            duck.execute(text).fetchall()
            return time.perf_counter() - started

        if explain:
            async with conn.transaction(isolation="repeatable_read", readonly=True):
                for name, value in settings.items():
                    await conn.execute("SELECT set_config($1, $2, true)", name, value)
                for name in ("floor", "bucket"):
                    plan_rows = await conn.fetch("EXPLAIN (ANALYZE, TIMING OFF) " + sql["source"][0][name])
                    print(f"-- postgres {name}:\n" + "\n".join(r[0] for r in plan_rows), flush=True)
            for name in ("floor", "bucket"):
                print(f"-- duckdb {name}:\n" + duck.execute("EXPLAIN ANALYZE " + sql["target"][0][name]).fetchall()[0][1], flush=True)
        times: dict[tuple[str, str], list[float]] = defaultdict(list)
        for round_ in range(rounds):
            for side, (q, _) in sql.items():
                for name, text in q.items():
                    seconds = await pg_run(text, name != "floor(bench)") if side == "source" else duck_run(text)
                    times[side, name].append(seconds)
            print(f"round {round_ + 1}/{rounds} done, load {os.getloadavg()[0]:.1f}", flush=True)
    finally:
        await conn.close()
        duck.close()
    for side, (q, _) in sql.items():
        floor_runs = times[side, "floor"]
        print(f"\n{side} ({DIALECTS[side]}), {rows:,} rows, {rounds} rounds; median s and median of per-round ratio to floor")
        for name in q:
            ratios = [t / f for t, f in zip(times[side, name], floor_runs, strict=True)]
            print(f"  {name:22s} {statistics.median(times[side, name]):7.3f} s  {statistics.median(ratios):5.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--columns", action="store_true", help="also time the floor with each column in our form")
    parser.add_argument("--explain", action="store_true")
    parser.add_argument("--save", help="write this build's total and bucket queries to a JSON file")
    parser.add_argument("--compare", action="append", default=[], help="time a saved build's queries alongside (repeatable)")
    parser.add_argument("--keep", help="a folder keeping the loaded data between runs")
    parser.add_argument("--only", help="per-column queries whose name contains this")
    args = parser.parse_args()
    with data(args.rows, args.keep) as (pg_url, same_path):
        asyncio.run(probe(pg_url, same_path, args.rows, args.rounds, args.columns, args.explain, args.only,
                          args.save, args.compare))


if __name__ == "__main__":
    main()
