"""Benchmark: analysis of a 100,000-query Query Store export (issue 10).

Aim: >= 2,000 queries/s on one core, peak RSS <= 500 MB.

A CSV export of 100,000 queries is written to a temporary file: report queries over a star schema
built from a few thousand distinct shapes (joins to 1-3 dimensions, filters, aggregates, TOP,
brackets, NOLOCK), each run many times with other literals, as ad-hoc Query Store workloads are.
The measured part runs in a child process (so its peak RSS is its own): stream the file, fingerprint
every query, analyse each distinct query once with sqlglot, build the Workload Data model and the
suggestions. It prints queries/s for the whole, the time per phase, and the per-distinct-query cost
of the sqlglot analysis (what an all-distinct workload would pay).

    .venv/bin/python tests/perf/bench_workload.py [--queries 100000] [--shapes 5000]
    .venv/bin/python -m pytest -q -s tests/perf/bench_workload.py
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DIMENSIONS = [
    ("DimCustomer", "c", "CustomerKey", ["Region", "Segment"]),
    ("DimProduct", "p", "ProductKey", ["Category", "Brand"]),
    ("DimStore", "s", "StoreKey", ["Country", "City"]),
    ("DimDate", "d", "DateKey", ["Year", "Month"]),
]
MEASURES = ["SUM(f.Amount)", "AVG(f.Discount)", "COUNT(*)", "SUM(f.Quantity)", "MAX(f.OrderDate)", "MIN(f.Amount)"]


def shape(shape_id: int, r: random.Random) -> str:
    """One query of shape `shape_id` (its structure from the id, its literals from `r`)."""
    s = random.Random(shape_id)
    bracket = s.random() < 0.4

    def q(name: str) -> str:
        return f"[{name}]" if bracket else name

    dims = s.sample(DIMENSIONS, s.randint(1, 3))
    attributes = [f"{a}.{q(col)}" for _, a, _, cols in dims for col in s.sample(cols, s.randint(1, len(cols)))]
    measures = s.sample(MEASURES, s.randint(1, 3))
    hint = " WITH (NOLOCK)" if s.random() < 0.3 else ""
    sql = "SELECT "
    if s.random() < 0.3:
        sql += f"TOP {r.randint(5, 100)} "
    sql += ", ".join(attributes + [f"{m} AS m{i}" for i, m in enumerate(measures)])
    sql += f" FROM {q('dbo')}.{q('FactSales')} f{hint}"
    for table, alias, key, _ in dims:
        kind = s.choice(["JOIN", "INNER JOIN", "LEFT JOIN"])
        sql += f" {kind} dbo.{q(table)} {alias} ON {alias}.{q(key)} = f.{q(key)}"
    filters = []
    if s.random() < 0.6:
        filters.append(f"f.OrderDate >= '{2023 + r.randint(0, 1)}-{r.randint(1, 12):02d}-01'")
    if s.random() < 0.5:
        filters.append(f"f.Status = '{r.choice(['open', 'shipped', 'cancelled'])}'")
    if s.random() < 0.4:
        filters.append(f"f.Quantity > {r.randint(1, 10)}")
    for _, alias, _, cols in dims:
        if s.random() < 0.4:
            values = ", ".join(f"'v{r.randint(1, 12)}'" for _ in range(r.randint(1, 4)))
            filters.append(f"{alias}.{q(cols[0])} IN ({values})")
    if filters:
        sql += " WHERE " + " AND ".join(filters)
    sql += " GROUP BY " + ", ".join(attributes)
    if "TOP" in sql or s.random() < 0.5:
        sql += " ORDER BY m0 DESC"
    return sql


def write_export(path: Path, queries: int, shapes: int) -> None:
    r = random.Random(1)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["query_id", "query_sql_text", "count_executions", "avg_duration", "avg_cpu_time",
                         "avg_logical_io_reads", "first_execution_time", "last_execution_time"])
        for query_id in range(1, queries + 1):
            # shape popularity is skewed, as in real workloads: a few reports run most often
            shape_id = min(int(r.paretovariate(1.1)) - 1, shapes - 1) if r.random() < 0.5 else r.randrange(shapes)
            writer.writerow([query_id, shape(shape_id, r), r.randint(1, 50), round(r.uniform(100, 90_000), 1),
                             round(r.uniform(50, 20_000), 1), round(r.uniform(10, 9_000), 1),
                             f"2024-03-{r.randint(1, 28):02d}T10:00:00", f"2024-03-{r.randint(28, 31):02d}T12:00:00"])


def measure(path: Path) -> dict[str, float]:
    """The measured part (child process): stream, fingerprint, analyse, model, suggest."""
    sys.path.insert(0, str(ROOT))
    from ombudsman.workload.analysis import CatalogIndex
    from ombudsman.workload.model import QueryGroups, analyze_groups, build_model
    from ombudsman.workload.suggest import suggest
    from ombudsman.workload.upload import read_file
    from tests.workload.workload_gen import catalog

    index = CatalogIndex(catalog())
    cpu_start = time.process_time()
    start = time.perf_counter()
    groups = QueryGroups().extend(read_file(path))
    read_done = time.perf_counter()
    group_list = list(groups.groups.values())
    analyses = analyze_groups(group_list, index)
    analysed = time.perf_counter()
    model = build_model(group_list, index, analyses)
    found = suggest(model, index)
    end = time.perf_counter()
    cpu = time.process_time() - cpu_start
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent across fork and exec
    peak_kb = next(int(line.split()[1]) for line in Path("/proc/self/status").read_text().splitlines()
                   if line.startswith("VmHWM:"))
    return {
        "queries": groups.records, "distinct": len(group_list), "unparsed": model.totals.unparsed,
        "tables": model.totals.tables, "joins": model.totals.joins, "suggestions": len(found),
        "seconds": end - start, "read_and_fingerprint_s": read_done - start, "analysis_s": analysed - read_done,
        "model_and_suggest_s": end - analysed, "queries_per_s": groups.records / (end - start),
        "cpu_s": cpu, "queries_per_cpu_s": groups.records / cpu,
        "ms_per_distinct_query": (analysed - read_done) / max(1, len(group_list)) * 1000,
        "peak_rss_mb": peak_kb / 1024,
    }


def run(queries: int = 100_000, shapes: int = 5_000) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "export.csv"
        write_export(path, queries, shapes)
        size_mb = path.stat().st_size / 1e6
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        out = subprocess.run([sys.executable, __file__, "--child", str(path)], check=True, capture_output=True,
                             text=True, env=env)
        result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    result["file_mb"] = size_mb
    print(
        f"\nworkload analysis: {result['queries']:.0f} queries ({result['file_mb']:.1f} MB CSV), "
        f"{result['distinct']:.0f} distinct, {result['unparsed']:.0f} unparsed, {result['tables']:.0f} tables, "
        f"{result['joins']:.0f} joins, {result['suggestions']:.0f} suggestions\n"
        f"  total {result['seconds']:.1f} s = {result['queries_per_s']:.0f} queries/s "
        f"(aim >= 2000; {result['queries_per_cpu_s']:.0f} per CPU-second, one process on one core); "
        f"peak RSS {result['peak_rss_mb']:.0f} MB (aim <= 500)\n"
        f"  read+fingerprint {result['read_and_fingerprint_s']:.1f} s, sqlglot analysis {result['analysis_s']:.1f} s "
        f"({result['ms_per_distinct_query']:.2f} ms per distinct query), model+suggest {result['model_and_suggest_s']:.1f} s"
    )
    return result


def test_workload_analysis_100k() -> None:
    result = run()
    assert result["queries"] == 100_000 and result["distinct"] > 1000 and result["suggestions"] > 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--queries", type=int, default=100_000)
    parser.add_argument("--shapes", type=int, default=5_000)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child)))
    else:
        run(args.queries, args.shapes)
