"""`ombudsman schemas|mappings|pipelines`: help text, and bad input refused with exit code 2 and a
clear error before anything is sent."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from ombudsman.client.mapping_commands import app


@pytest.mark.parametrize("args, says", [
    (["mappings", "approve", "dw", "customer", "SALES.CUSTOMER"], "source_table: 'customer' must be schema.table"),
    (["mappings", "approve", "dw", "sales.customer", "SALES.CUSTOMER", "--column", "name"], "SOURCE_COLUMN=TARGET_COLUMN"),
    (["mappings", "reject", "dw", "sales.customer", "CUSTOMER"], "target_table"),
    (["mappings", "exclude", "dw", "sales.tmp"], "--note"),
    (["schemas", "set", "dw"], "--source and/or --target"),
])
def test_bad_input_exits_2_naming_what_is_wrong(args: list[str], says: str) -> None:
    result = CliRunner().invoke(app, [*args, "--server", "http://127.0.0.1:9"])
    assert result.exit_code == 2, result.output
    assert says in result.output.replace("\n", " ")


def test_help_of_the_new_commands() -> None:
    runner = CliRunner()
    for group, command in (("schemas", "map"), ("mappings", "exclude"), ("mappings", "list"), ("pipelines", "list")):
        result = runner.invoke(app, [group, command, "--help"])
        assert result.exit_code == 0 and "Usage" in result.output, result.output


def test_pipelines_validate_a_file_exit_1_naming_each_problem_and_2_on_bad_input(tmp_path) -> None:  # type: ignore[no-untyped-def]
    runner = CliRunner()
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nconnections:\n  source: {url: 'duckdb:///:memory:'}\n  target: {url: 'duckdb:///:memory:'}\n"
                   "steps:\n  - id: a\n    validator: no_such_validator\n    table: main.t\n"
                   "  - id: b\n    validator: record_counts\n")
    result = runner.invoke(app, ["pipelines", "validate", "--file", str(bad)])
    assert result.exit_code == 1, result.output
    said = result.output.replace("\n", " ")
    assert "invalid, 2 problem(s)" in said and "no_such_validator" in said and "'b'" in said
    good = tmp_path / "good.yaml"
    good.write_text("name: good\nconnections:\n  source: {url: 'duckdb:///:memory:'}\n  target: {url: 'duckdb:///:memory:'}\n"
                    "steps:\n  - id: counts\n    validator: record_counts\n    table: main.t\n")
    result = runner.invoke(app, ["pipelines", "validate", "--file", str(good), "--format", "json"])
    assert result.exit_code == 0, result.output
    import json

    assert json.loads(result.output) == {"pipeline": str(good), "valid": True, "steps": 1, "errors": []}
    missing = runner.invoke(app, ["pipelines", "validate", "--file", str(tmp_path / "absent.yaml")])
    assert missing.exit_code == 2 and "cannot read" in missing.output
    neither = runner.invoke(app, ["pipelines", "validate", "dw"])
    assert neither.exit_code == 2 and "PIPELINE_ID" in neither.output
