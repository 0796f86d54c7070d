"""The `row_hash` validator (registered through the entry point) on PostgreSQL -> DuckDB."""

from __future__ import annotations

import csv
from pathlib import Path

from ombudsman.contracts.pipeline import TableRef
from ombudsman.engine.connectors import connect
from ombudsman.engine.validators import ValidationContext, get_validator, run_validator
from tests.engine.rowdiff import tables as t


async def test_row_hash_finds_the_differences_and_passes_a_clean_pair(database_url: str, duckdb_url: str, tmp_path: Path) -> None:
    async with connect(database_url) as source, connect(duckdb_url) as target:
        for db in (source, target):
            await t.create(db, "items", range(1, 201))
            await db.execute("CREATE TABLE clean AS SELECT * FROM items")
        await t.apply_changes(target, "items")
        validator = get_validator("row_hash")

        ctx = ValidationContext(source=source, target=target, source_table=TableRef(name="items"), sample_limit=5)
        output = tmp_path / "diff.csv"
        result = await run_validator(validator, ctx, {"key": ["id"], "output": str(output)})
        assert result.status == "failed", result.message
        assert result.validator == "row_hash"
        assert result.source == {"rows": 200, "only_in_source": 2}
        assert result.target == {"rows": 200, "only_in_target": 2}
        assert result.details["changed"] == len(t.EXPECTED_CHANGED)
        assert set(result.affected_columns) == set(t.EXPECTED_CHANGED.values())
        assert len(result.sample) == 5 and result.sql["source"] and result.sql["target"]
        assert "2 rows only in source, 2 only in target, 12 changed" in result.message
        # the counts agree (200 and 200) but the key bounds do not (rows 201, 202 added): no early exit
        assert result.details["whole_table"] is None and result.details["buckets"] >= 256  # tuned, no parameter given
        lines = list(csv.DictReader(output.read_text(encoding="utf-8").splitlines()))
        assert len(lines) == 2 + 2 + len(t.EXPECTED_CHANGED)
        assert result.match_percentage == round(100 * (200 - 2 - 12) / 200, 4)

        filtered = ValidationContext(
            source=source, target=target, source_table=TableRef(name="items"),
            source_filter="id BETWEEN 11 AND 13", target_filter="id BETWEEN 11 AND 13",
        )
        result = await run_validator(validator, filtered, {"key": ["id"], "columns": ["qty"]})
        assert result.status == "failed" and result.affected_columns == ["qty"]

        clean = ValidationContext(source=source, target=target, source_table=TableRef(name="clean"))
        result = await run_validator(validator, clean, {"key": ["id"]})
        assert result.status == "passed", result.message
        assert result.match_percentage == 100.0 and result.source["rows"] == 200
        # each side's reads were pinned, and the step's details (carried by the run's events) say how
        snapshot = result.details["snapshot"]
        assert snapshot["source"]["isolation"] == "repeatable read" and snapshot["source"]["snapshot_id"]
        assert snapshot["target"]["isolation"] == "snapshot" and snapshot["target"]["at"]
        assert result.details["whole_table"] is True and result.details["buckets"] == 0  # the early exit
        result = await run_validator(validator, clean, {"key": ["id"], "whole_table_first": False})
        assert result.status == "passed" and result.details["whole_table"] is None and result.details["buckets"] >= 256
        # the first scan's parts per side and why (PostgreSQL here has parallel workers: one scan)
        assert result.details["parallel"]["source"] == {"parts": 1, "reason": "PostgreSQL aggregates with parallel workers"}
        assert result.details["parallel"]["target"]["parts"] == 1


async def test_row_hash_bad_input_is_an_error_result(database_url: str, duckdb_url: str) -> None:
    async with connect(database_url) as source, connect(duckdb_url) as target:
        for db in (source, target):
            await t.create(db, "items", range(1, 5))
        ctx = ValidationContext(source=source, target=target, source_table=TableRef(name="items"))
        validator = get_validator("row_hash")
        result = await run_validator(validator, ctx, {"key": ["missing"]})
        assert result.status == "error" and "key column 'missing'" in result.message
        result = await run_validator(validator, ctx, {"float_digits": 40})
        assert result.status == "error" and "parameters.float_digits" in result.message
        result = await run_validator(validator, ctx, {"output": "diff.xlsx"})
        assert result.status == "error" and "parameters.output" in result.message
        missing = ValidationContext(source=source, target=target, source_table=TableRef(name="nope"))
        result = await run_validator(validator, missing, {})
        assert result.status == "error" and "nope" in result.message
