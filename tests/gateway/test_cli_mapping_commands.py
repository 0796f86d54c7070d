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
