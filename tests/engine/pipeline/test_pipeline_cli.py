"""The standalone CLI, run as people run it: `.venv/bin/ombudsman ...` in a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import pytest

from ombudsman.engine.pipeline.sample import init_example, sample_pipeline_yaml

OMBUDSMAN = str(Path(sys.executable).with_name("ombudsman"))


def ombudsman(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([OMBUDSMAN, *args], capture_output=True, text=True, cwd=cwd, timeout=120)


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("cli")
    return init_example(folder / "example")


def test_run_finds_defects_and_exits_1_with_a_json_report(example: Path) -> None:
    done = ombudsman("run", str(example), "--format", "json", "--max-parallel", "2")
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    status = {s["step"]: s["status"] for s in report["steps"]}
    assert len(status) >= 10
    assert status["orders_count"] == "failed" and status["sales_by_status"] == "skipped"
    assert status["region_domain"] == "failed" and status["daily_orders"] == "failed"
    assert report["status"] == "failed"


def test_run_exits_0_when_everything_passes_and_writes_junit(example: Path, tmp_path: Path) -> None:
    source = example.parent / "source.duckdb"
    pipeline = tmp_path / "clean.yaml"
    text = sample_pipeline_yaml(f"duckdb:///{source}?read_only=true", f"duckdb:///{source}?read_only=true")
    pipeline.write_text(text.replace("columns: {email: email_address}", "columns: {}"))
    report = tmp_path / "report.xml"
    done = ombudsman("run", str(pipeline), "--format", "junit", "--output", str(report), "--step", "orders_count",
                     "--step", "orders_stats", "--step", "segment_distribution", "--step", "daily_orders")
    assert done.returncode == 0, done.stdout + done.stderr
    suite = ElementTree.parse(report).getroot()
    assert suite.tag == "testsuite" and suite.get("tests") == "4" and suite.get("failures") == "0"
    assert {c.get("name") for c in suite.iter("testcase")} == {"orders_count", "orders_stats", "segment_distribution",
                                                               "daily_orders"}


def test_table_output_lists_every_step(example: Path, tmp_path: Path) -> None:
    report = tmp_path / "report.txt"
    done = ombudsman("run", str(example), "--output", str(report))
    assert done.returncode == 1
    for step in ("orders_count", "customer_history", "monthly_sales_change"):
        assert step in report.read_text()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("name: [broken", "not valid YAML"),
        ("name: x\nconnections: {source: 'duckdb:///:memory:', target: 'duckdb:///:memory:'}\n"
         "steps:\n  - {id: s1, validator: no_such_validator, table: t}\n", "steps[0] 's1': validator: unknown validator"),
        ("name: x\nconnections: {source: 'duckdb:///:memory:', target: 'duckdb:///:memory:'}\n"
         "steps:\n  - {id: sums, validator: metric_sums, table: t}\n", "steps[0] 'sums': parameters.measures: field required"),
        ("name: x\nconnections: {source: 'duckdb:///:memory:', target: 'postgresql://u:Hidden@127.0.0.1:1/db'}\n"
         "steps:\n  - {id: c, validator: record_counts, table: t}\n", "connection 'target'"),
    ],
)
def test_bad_input_exits_2_with_a_message_and_no_traceback(content: str, message: str, tmp_path: Path) -> None:
    pipeline = tmp_path / "bad.yaml"
    pipeline.write_text(content)
    done = ombudsman("run", str(pipeline))
    assert done.returncode == 2, done.stdout + done.stderr
    assert message in done.stderr.replace("\n", " ")
    assert "Traceback" not in done.stderr and "Hidden" not in done.stderr


def test_missing_file_exits_2(tmp_path: Path) -> None:
    done = ombudsman("run", str(tmp_path / "nope.yaml"))
    assert done.returncode == 2 and "cannot read" in done.stderr and "Traceback" not in done.stderr


def test_validators_catalogue_as_json() -> None:
    done = ombudsman("validators", "--format", "json")
    assert done.returncode == 0, done.stderr
    catalogue = {v["name"]: v for v in json.loads(done.stdout)}
    assert len(catalogue) >= 29
    assert catalogue["metric_sums"]["category"] == "metric"
    assert "measures" in catalogue["metric_sums"]["parameters"]["required"]
    table = ombudsman("validators")
    assert table.returncode == 0 and "scd2" in table.stdout and "period_over_period" in table.stdout


def test_pipeline_mermaid_and_check(example: Path) -> None:
    done = ombudsman("pipeline", "mermaid", str(example))
    assert done.returncode == 0 and done.stdout.startswith("flowchart TD")
    assert ombudsman("pipeline", "check", str(example)).returncode == 0


def test_example_init_creates_a_runnable_example(tmp_path: Path) -> None:
    done = ombudsman("example", "init", "demo", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "demo" / "source.duckdb").exists() and (tmp_path / "demo" / "target.duckdb").exists()
    assert "duckdb:///demo/source.duckdb" in (tmp_path / "demo" / "pipeline.yaml").read_text()
    run = ombudsman("run", "demo/pipeline.yaml", "--format", "json", cwd=tmp_path)
    assert run.returncode == 1 and json.loads(run.stdout)["counts"]["failed"] >= 10


def test_committed_sample_pipeline_is_current_and_valid() -> None:
    repo = Path(__file__).resolve().parents[3]
    committed = (repo / "examples" / "sample_pipeline.yaml").read_text()
    expected = sample_pipeline_yaml(
        "duckdb:///examples/data/source.duckdb?read_only=true", "duckdb:///examples/data/target.duckdb?read_only=true",
        "examples/sample_pipeline.yaml",
    )
    assert committed.endswith(expected.split("\n", 2)[2])  # the same steps as the generator's
    done = ombudsman("pipeline", "check", "examples/sample_pipeline.yaml", cwd=repo)
    assert done.returncode == 0 and "18 steps, valid" in done.stdout
