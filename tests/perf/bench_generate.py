"""Benchmark: pipeline generation per table class at ~900 tables (issue 15 item 3).

The defect warehouse's DDL (tests/gateway/defect_warehouse.py: 10 source tables in two naming
conventions, 9 migrated) copied into `--copies` schema pairs (90 → 900 source tables, 810 approved
pairs); relationships inferred and tables classified by name (no data), then the metadata service's
pure `generate.generate_pipelines` is timed. Prints the time, the pipelines and steps generated and
the steps per validator. Nothing is asserted about the time (the machine is shared).

    PYTHONPATH=. .venv/bin/python tests/perf/bench_generate.py [--copies 90]
    .venv/bin/python -m pytest -q -s tests/perf/bench_generate.py
"""

from __future__ import annotations

import argparse
import collections
import time

from ombudsman.metadata import classify, generate, relationships
from ombudsman.metadata.ddl import parse_ddl
from tests.gateway import defect_warehouse as wh


def _copies(ddl: str, schemas: list[str], copies: int) -> str:
    parts = []
    for i in range(copies):
        text = ddl
        for schema in schemas:
            text = text.replace(f"SCHEMA {schema};", f"SCHEMA {schema}{i};").replace(f"{schema}.", f"{schema}{i}.")
        parts.append(text)
    return "\n".join(parts)


def run(copies: int = 90) -> dict[str, object]:
    """Generate every pipeline of `copies` copies of the warehouse; the figures."""
    source = parse_ddl(_copies(wh.SOURCE_DDL, wh.SOURCE_SCHEMAS, copies), "postgres")
    target = parse_ddl(_copies(wh.TARGET_DDL, wh.TARGET_SCHEMAS, copies), "snowflake")
    rels = relationships.infer(source)
    classes = classify.classify(source, rels)
    targets = {t.qualified_name.lower(): t for t in target.tables}
    approved = []
    for table in source.tables:
        counterpart = targets.get(table.qualified_name.lower())
        if counterpart is None:
            continue
        renamed = wh.TARGET_NAMES.get(f"{table.schema_name.rstrip('0123456789')}.{table.name}", ("", {}))[1]
        names = {c.name.lower(): c.name for c in counterpart.columns}
        columns = {c.name: names.get(renamed.get(c.name, c.name).lower(), "") for c in table.columns}
        approved.append(generate.ApprovedMapping(source_table=table.qualified_name, target_table=counterpart.qualified_name,
                                                 columns={s: t for s, t in columns.items() if t}))
    start = time.perf_counter()
    pipelines = generate.generate_pipelines(approved, source, target, classes, rels)
    seconds = time.perf_counter() - start
    validators = collections.Counter(s.split("_")[0] for p in pipelines for s in p.steps)
    return {"source_tables": len(source.tables), "pairs": len(approved), "relationships": len(rels),
            "pipelines": len(pipelines), "steps": sum(len(p.steps) for p in pipelines), "seconds": round(seconds, 2),
            "steps_by_prefix": dict(validators.most_common())}


def test_bench_generate() -> None:
    figures = run()
    print("\n", figures)
    assert figures["pipelines"] == figures["pairs"]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=90)
    print(run(parser.parse_args().copies))
