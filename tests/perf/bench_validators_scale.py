"""Validator families at scale (issue 24): each family on a generated star schema at 1x and 10x.

Star schema, DuckDB source and target files generated with SQL (the target an identical copy):
- `dim_customer` (customer_id BIGINT unique, region VARCHAR(8 values), label VARCHAR unique):
  30,000 customers at 1x, 300,000 at 10x;
- `fact_sales` (sale_id BIGINT, customer_id BIGINT -> dim_customer, amount DECIMAL(12,2),
  quantity INTEGER, code VARCHAR(~customers distinct), sold_at TIMESTAMP over ~3 years by minute):
  300,000 rows at 1x, 3,000,000 at 10x.

Families and the step each runs (identical data: every step must pass):
- metric: metric_sums of amount, quantity by customer_id (30k / 300k groups: hash-bucket grain);
- referential: fact_dim_conformance fact -> dim by label (one group per customer), with the join guard;
- foreign_keys: orphans of fact.customer_id (with the parent-key check);
- timeseries: ts_rolling_drift of amount per hour (~26k periods, max_periods 10,000: coarser grain);
- quality: domain_values of code (bucket grain), distribution of code (hash buckets past 1,000 values).

Prints per family: time at 1x and 10x, their ratio, the grain used, and the peak RSS of this process
while the family ran (sampled every 20 ms). Run: `python tests/perf/bench_validators_scale.py
[--base-rows 300000]`.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import duckdb
import psutil

from ombudsman.contracts.pipeline import TableRef
from ombudsman.engine.connectors import connect
from ombudsman.engine.validators import ValidationContext, get_validator, run_validator

FAMILIES: list[tuple[str, str, dict[str, Any]]] = [
    ("metric", "metric_sums", {"measures": ["amount", "quantity"], "group_by": ["customer_id"]}),
    ("referential", "fact_dim_conformance", {"dimension": "main.dim_customer", "fact_key": "customer_id",
                                             "dim_key": "customer_id", "attribute": "label", "measure": "amount"}),
    ("foreign_keys", "foreign_keys", {"columns": ["customer_id"], "references": "main.dim_customer",
                                      "ref_columns": ["customer_id"]}),
    ("timeseries", "ts_rolling_drift", {"time_column": "sold_at", "grain": "hour", "measure": "amount",
                                        "max_periods": 10_000, "window": 24}),
    ("quality/domain", "domain_values", {"column": "code"}),
    ("quality/distribution", "distribution", {"column": "code", "kind": "categorical"}),
]


def generate(path: Path, rows: int) -> str:
    customers = max(rows // 10, 1)
    with duckdb.connect(str(path)) as db:
        db.execute(f"""
            CREATE TABLE dim_customer AS SELECT i AS customer_id, 'r' || (i % 8) AS region, 'c-' || i AS label
            FROM range({customers}) t(i);
            CREATE TABLE fact_sales AS SELECT i AS sale_id, (i * 7919) % {customers} AS customer_id,
                CAST((i * 31) % 100000 AS DECIMAL(12, 2)) / 100 AS amount, CAST(i % 13 AS INTEGER) AS quantity,
                'k' || ((i * 13) % {customers}) AS code,
                TIMESTAMP '2021-01-01' + TO_MINUTES(CAST((i * 3) % 1576800 AS BIGINT)) AS sold_at
            FROM range({rows}) t(i);
        """)
    return f"duckdb:///{path}"


class Peak:
    """Peak RSS of this process while in the block (sampled by a thread)."""

    def __enter__(self) -> Peak:
        self.process = psutil.Process()
        self.peak = self.process.memory_info().rss
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()
        return self

    def _watch(self) -> None:
        while not self.stop.wait(0.02):
            self.peak = max(self.peak, self.process.memory_info().rss)

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()

    @property
    def mb(self) -> float:
        return self.peak / 2**20


async def run_family(source: str, target: str, validator: str, params: dict[str, Any]) -> tuple[float, float, str, str]:
    async with connect(source) as s, connect(target) as t:
        ctx = ValidationContext(source=s, target=t, source_table=TableRef(schema_name="main", name="fact_sales"),
                                step_id=validator)
        with Peak() as peak:
            started = time.perf_counter()
            result = await run_validator(get_validator(validator), ctx, params)
            elapsed = time.perf_counter() - started
    return elapsed, peak.mb, str(result.details.get("grain", "-")), result.status


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-rows", type=int, default=300_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        urls: dict[int, tuple[str, str]] = {}
        for scale in (1, 10):
            rows = args.base_rows * scale
            started = time.perf_counter()
            urls[scale] = (generate(Path(folder) / f"s{scale}.duckdb", rows), generate(Path(folder) / f"t{scale}.duckdb", rows))
            print(f"generated {rows:,} fact rows x2 in {time.perf_counter() - started:.1f} s", flush=True)
        print(f"\n| family | validator | 1x ({args.base_rows:,}) | 10x ({args.base_rows * 10:,}) | ratio | grain 1x / 10x "
              "| peak RSS 1x / 10x | status |")
        print("|---|---|---|---|---|---|---|---|")
        for family, validator, params in FAMILIES:
            t1, m1, g1, s1 = await run_family(*urls[1], validator, params)
            t10, m10, g10, s10 = await run_family(*urls[10], validator, params)
            print(f"| {family} | {validator} | {t1:.2f} s | {t10:.2f} s | {t10 / t1:.1f}x | {g1} / {g10} "
                  f"| {m1:.0f} / {m10:.0f} MB | {s1} / {s10} |", flush=True)
        print(f"\nload average: {' '.join(f'{x:.1f}' for x in psutil.getloadavg())}; cpus: {psutil.cpu_count()}")


if __name__ == "__main__":
    asyncio.run(main())
