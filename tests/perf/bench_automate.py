"""Benchmark: one automate job end to end on 900 tables of 20 columns (issue 15 item 9).

The catalogs of tests/perf/bench_metadata.py (SQL Server-style names on the source, Snowflake-style
renamed tables and columns on the target) are created for real: the source in PostgreSQL (the
`warehouse_url` server), the target in a DuckDB file. The real projects and metadata services run
over real NATS and PostgreSQL; the clock runs from the `automate` command to `AutomateCompleted`:
extraction of both catalogs, suggestions, auto-approval, relationships, classification, generation
and saving of the pipelines. It prints the total, each phase's seconds (from the job's events) and
the load average (the machine is shared). `OMB_BENCH_TABLES` / `OMB_BENCH_COLUMNS` change the size;
`OMB_BENCH_PROFILE=1` prints the 25 functions with the most cumulative time (cProfile, this process:
the services run in it).

    .venv/bin/python -m pytest -q -s -p no:cacheprovider tests/perf/bench_automate.py
"""

from __future__ import annotations

import cProfile
import io
import os
import pstats
import time
from pathlib import Path

import duckdb
import nats
import pytest

from ombudsman.contracts.catalog import Catalog
from ombudsman.engine.connectors import connect
from ombudsman.eventstore.settings import Settings
from ombudsman.metadata.app import create_service as metadata_service
from ombudsman.projects.app import create_service as projects_service
from tests.metadata.test_metadata_service import call, md, wait_job
from tests.perf.bench_metadata import build_catalogs

TABLES = int(os.environ.get("OMB_BENCH_TABLES", "900"))
COLUMNS = int(os.environ.get("OMB_BENCH_COLUMNS", "20"))
PG_TYPES = {"nvarchar": "varchar(100)", "varchar": "varchar(100)", "char": "char(10)", "datetime2": "timestamp",
            "money": "numeric(19,4)", "decimal": "numeric(18,2)", "bit": "boolean", "float": "double precision",
            "int": "integer", "bigint": "bigint", "date": "date"}
DUCK_TYPES = {"number": "DECIMAL(18,2)", "varchar": "VARCHAR", "timestamp_ntz": "TIMESTAMP", "boolean": "BOOLEAN",
              "float": "DOUBLE", "date": "DATE"}


def _ddl(catalog: Catalog, types: dict[str, str], quote: str) -> list[str]:
    statements = [f"CREATE SCHEMA IF NOT EXISTS {quote}{s}{quote}" for s in catalog.schemas]
    for table in catalog.tables:
        columns = ", ".join(f"{quote}{c.name}{quote} {types[c.data_type]}" for c in table.columns)
        key = ", ".join(f"{quote}{k}{quote}" for k in table.primary_key)
        statements.append(f"CREATE TABLE {quote}{table.schema_name}{quote}.{quote}{table.name}{quote} "
                          f"({columns}, PRIMARY KEY ({key}))")
    return statements


async def _databases(warehouse_url: str, target_file: Path) -> tuple[Catalog, Catalog]:
    source, target, _ = build_catalogs(TABLES, COLUMNS)
    async with connect(warehouse_url) as db:
        await db.execute("BEGIN")
        for statement in _ddl(source, PG_TYPES, '"'):
            await db.execute(statement)
        await db.execute("COMMIT")
    with duckdb.connect(str(target_file)) as con:
        for statement in _ddl(target, DUCK_TYPES, '"'):
            con.execute(statement)
    return source, target


@pytest.mark.timeout(1800)  # a benchmark on a shared machine: pytest's 300 s default is for tests
async def test_automate_900_tables_end_to_end(nats_url: str, database_url: str, warehouse_url: str,
                                              tmp_path: Path) -> None:
    target_file = tmp_path / "target.duckdb"
    source, target = await _databases(warehouse_url, target_file)
    settings = Settings(database_url=database_url, nats_url=nats_url, secret_key="k" * 32, request_timeout=120)
    projects, metadata = projects_service(settings), metadata_service(settings)
    await projects.start()
    await metadata.start()
    nc = await nats.connect(nats_url)
    profile = cProfile.Profile() if os.environ.get("OMB_BENCH_PROFILE") else None
    try:
        await call(nc, "cmd", "projects", "create", {"id": "big", "name": "big"})
        await call(nc, "cmd", "projects", "add_connection",
                   {"project_id": "big", "name": "source", "role": "source", "url": warehouse_url})
        await call(nc, "cmd", "projects", "add_connection",
                   {"project_id": "big", "name": "target", "role": "target", "url": f"duckdb:///{target_file}"})
        if profile:
            profile.enable()
        start, cpu_start = time.perf_counter(), time.process_time()
        started = await md(nc, "automate", {"project_id": "big", "source_schemas": source.schemas,
                                            "target_schemas": target.schemas, "timeout_seconds": 3600})
        answered = time.perf_counter() - start
        job = await wait_job(nc, "big", started["job_id"], seconds=3600, every=0.5)  # polls cost this process CPU
        seconds = time.perf_counter() - start
        if profile:
            profile.disable()
    finally:
        await nc.close()
        await metadata.stop()
        await projects.stop()
    summary = job.get("summary") or {}
    print(f"\nautomate end to end: {TABLES} tables x {COLUMNS} columns per side (PostgreSQL source, DuckDB target)\n"
          f"  answered 202-style in {answered * 1000:.0f} ms; job {job['status']} in {seconds:.1f} s; load average "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores; this process's CPU "
          f"{time.process_time() - cpu_start:.1f} s")
    for phase in job["phases"]:
        print(f"  {phase['phase']:<14} {phase['seconds']:7.1f} s  {phase['counts']}")
    if summary:
        print(f"  auto-approved {summary['auto_approved']}, pipelines {len(summary['pipeline_ids'])}")
    if profile:
        out = io.StringIO()
        pstats.Stats(profile, stream=out).sort_stats("cumulative").print_stats(25)
        print(out.getvalue())
    assert job["status"] == "completed", (job["failed_phase"], job["error"])
    assert len(summary["pipeline_ids"]) >= 1
