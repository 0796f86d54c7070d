"""Benchmark and opt-in check of migration code generation (issue 22).

1. `dbt build` on DuckDB (needs dbt-core + dbt-duckdb: `make bench` installs requirements-dbt.txt into
   .venv-dbt and names its dbt in OMB_DBT): the dbt project generated for the demo warehouse (libs/engine pipeline/sample.py, its rows
   loaded into a DuckDB file) parses (`dbt parse`) and builds green: every model, every not_null /
   unique test, and the snapshot of its type 2 customer_history (one row per customer's current
   version); the metadata tests' warehouse adds its SCD2 customer, whose snapshot keeps one row per
   current version. Skipped, saying why, when dbt is not installed: this is not counted as coverage
   (tests/metadata/test_codegen.py and tests/gateway/test_gateway_codegen.py check the project's YAML
   and references without dbt).
2. Timing: every platform's files for ~900 tables (copies of the metadata tests' warehouse), side by
   side with the validation pipelines generated from the same catalog; printed, never asserted.

    OMB_DBT=.venv-dbt/bin/dbt .venv/bin/python -m pytest -q -s tests/perf/bench_codegen.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from ombudsman.engine.pipeline.sample import source_data, write_duckdb
from ombudsman.metadata import classify, generate, relationships
from ombudsman.metadata.codegen import PLATFORMS, build_plan, generate_code
from ombudsman.metadata.ddl import parse_ddl
from ombudsman.metadata.generate import ApprovedMapping
from tests.metadata import warehouse as wh
from tests.metadata.test_codegen import demo_plan, files_of, warehouse_plan

# `make bench` installs dbt in a venv of its own (requirements-dbt.txt) and names it in OMB_DBT
DBT = Path(os.environ.get("OMB_DBT") or Path(sys.executable).parent / "dbt")


def _write_project(root: Path, files: dict[str, str], database: Path) -> Path:
    for path, text in files.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    (root / "profiles.yml").write_text(json.dumps({"ombudsman": {"target": "dev", "outputs": {"dev": {
        "type": "duckdb", "path": str(database), "schema": "main", "threads": 1}}}}))
    return root / "dbt"


def _dbt(project: Path, *args: str) -> list[dict[str, object]]:
    env = {**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "DO_NOT_TRACK": "1"}
    done = subprocess.run([str(DBT), *args, "--profiles-dir", str(project.parent), "--project-dir", str(project)],
                          capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    results = project / "target" / "run_results.json"
    return json.loads(results.read_text())["results"] if args[0] != "parse" else []


@pytest.mark.skipif(not DBT.exists(), reason="no dbt: OMB_DBT names none (make bench installs requirements-dbt.txt)")
def test_generated_dbt_projects_parse_and_build_green_on_duckdb(tmp_path: Path) -> None:
    database = tmp_path / "demo.duckdb"
    write_duckdb(database, source_data(), schema="sales")
    plan = demo_plan()
    project = _write_project(tmp_path / "demo", files_of("dbt", plan), database)
    _dbt(project, "parse")
    results = _dbt(project, "build")
    statuses = {r["unique_id"]: r["status"] for r in results}
    models = [k for k in statuses if k.startswith("model.")]
    tests = [k for k in statuses if k.startswith("test.")]
    assert len(models) == 4 and len(tests) == 8, statuses
    assert set(statuses.values()) <= {"success", "pass"}, statuses
    snapshots = [k for k in statuses if k.startswith("snapshot.")]
    assert [k.rsplit(".", 1)[1] for k in snapshots] == ["customer_history_snapshot"], statuses
    with duckdb.connect(str(database), read_only=True) as db:
        assert db.execute('SELECT count(*) FROM main."ORDERS"').fetchone() == (1000,)
        # the demo's type 2 customer history: the snapshot keeps each customer's current version
        assert db.execute("SELECT count(*) FROM snapshots.customer_history_snapshot").fetchone() == (100,)

    # the SCD2 customer of the metadata tests' warehouse: the snapshot keeps the current versions
    database = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(database)) as db:
        db.execute("CREATE SCHEMA sales")
        for statement in wh.SOURCE_DDL.split(";"):
            if statement.strip().lower().startswith("create table"):
                db.execute(statement.replace("serial", "integer"))
        for table, (columns, rows) in wh.source_rows().items():
            if rows:
                marks = ", ".join("?" for _ in columns)
                db.executemany(f'INSERT INTO sales.{table} ({", ".join(columns)}) VALUES ({marks})', rows)
    project = _write_project(tmp_path / "warehouse", files_of("dbt", warehouse_plan()), database)
    results = _dbt(project, "build")
    assert {r["status"] for r in results} <= {"success", "pass"}, results
    assert "snapshot.ombudsman_shop.dim_customer_snapshot" in {r["unique_id"] for r in results}
    with duckdb.connect(str(database), read_only=True) as db:
        current = db.execute("SELECT count(*) FROM sales.dim_customer WHERE is_current").fetchone()
        assert db.execute("SELECT count(*) FROM snapshots.dim_customer_snapshot").fetchone() == current


def _copies(copies: int) -> tuple[list[ApprovedMapping], object, list[object]]:
    ddl = "\n".join(wh.SOURCE_DDL.replace("sales.", f"sales{i}.") for i in range(copies))
    catalog = parse_ddl(ddl, "postgres")
    classes = classify.classify(catalog, relationships.infer(catalog))
    approved = [ApprovedMapping(source_table=t.qualified_name,
                                target_table=f"{t.schema_name.upper()}.{wh.TARGET_TABLES.get(t.name, t.name.upper())}",
                                columns={c.name: wh.RENAMED.get(c.name, c.name.upper()) for c in t.columns})
                for t in catalog.tables]
    return approved, catalog, classes


def test_codegen_time_per_platform_beside_pipeline_generation() -> None:
    approved, catalog, classes = _copies(70)
    target = parse_ddl("\n".join(wh.TARGET_DDL.replace("SALES.", f"SALES{i}.") for i in range(70)), "snowflake")
    started = time.perf_counter()
    pipelines = generate.generate_pipelines(approved, catalog, target, classes, relationships.infer(catalog))
    baseline = time.perf_counter() - started
    plan = build_plan("bench", approved, catalog, classes, {}, target_kind="snowflake")  # type: ignore[arg-type]
    print(f"\n{len(plan.tables)} tables; validation pipelines: {len(pipelines)} in {baseline:.2f} s "
          f"(load average {os.getloadavg()[0]:.1f})")
    for platform in PLATFORMS:
        started = time.perf_counter()
        artefacts = generate_code(platform, plan)
        seconds = time.perf_counter() - started
        size = sum(len(a.content) for a in artefacts)
        print(f"  {platform:<10} {len(artefacts):>5} files {size / 1e6:6.2f} MB {seconds:6.2f} s "
              f"= {seconds / baseline:.2f}x pipeline generation")
        assert len(artefacts) >= (2 if platform == "beam" else len(plan.tables))
