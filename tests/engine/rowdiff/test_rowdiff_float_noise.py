"""Float noise below the tolerance is never a difference, keyed or keyless: 1e-12 relative noise on
doubles (including values exactly on a rounding boundary, where the noise moves the canonical text)
and 1e-12 absolute noise on zeros, over 300,000 rows; a real change among them is still found."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from ombudsman.contracts.pipeline import TableRef
from ombudsman.engine.connectors import Connector, connect
from ombudsman.engine.normalize import NormalizeOptions
from ombudsman.engine.normalize.reference import float_text
from ombudsman.engine.rowdiff import DiffSide, RowDiffOptions, diff_tables

ROWS = 300_000
# x: every 1000th value sits on a rounding boundary at 6 digits (7 digits ending in 5), another one in
# 1000 halfway between two single-precision values (the pair form's rounding boundary), every 7th is 0
SINGLE = "CAST(CAST(i AS DOUBLE) * 1.37 AS FLOAT)"
X = ("CASE WHEN i % 1000 = 0 THEN CAST((100000 + i % 899999) * 10 + 5 AS DOUBLE) / 1000 "
     f"WHEN i % 1000 = 500 THEN (CAST({SINGLE} AS DOUBLE) + CAST(nextafter({SINGLE}, CAST('inf' AS FLOAT)) AS DOUBLE)) / 2 "
     "WHEN i % 7 = 0 THEN CAST(0 AS DOUBLE) ELSE CAST(i AS DOUBLE) * 1.37 + 0.123 END")
NOISY_X = "CASE WHEN x = 0 THEN 1e-12 ELSE x * (1 + CASE WHEN (id // 1000) % 2 = 0 THEN 1e-12 ELSE -1e-12 END) END"
SELECT = f"SELECT i AS id, 'cat ' || CAST(i % 1000 AS VARCHAR) AS cat, {X} AS x, CAST(i AS DOUBLE) / 4 AS y FROM range(1, {ROWS + 1}) r(i)"


def test_boundary_values_do_move_the_canonical_text() -> None:
    """The test data really exercises the boundary: noise changes the text of such values."""
    moved = sum(
        float_text(v, 6) != float_text(v * (1 + (1e-12 if (i // 50) % 2 == 0 else -1e-12)), 6)
        for i in range(50, 20_000, 50)
        for v in [((100000 + i % 899999) * 10 + 5) / 1000]
    )
    assert moved > 10
    # the pair form rounds to single precision: noise moves a value halfway between two of them
    moved_single = 0
    for i in range(500, ROWS, 1000):
        low = _single(i * 1.37)
        up = struct.unpack("<f", (struct.unpack("<I", struct.pack("<f", low))[0] + 1).to_bytes(4, "little"))[0]
        halfway = (low + up) / 2
        moved_single += _single(halfway) != _single(halfway * (1 + (1e-12 if (i // 1000) % 2 == 0 else -1e-12)))
    assert moved_single > 10


def _single(x: float) -> float:
    return struct.unpack("<f", struct.pack("<f", x))[0]
    assert float_text(1e-12, 6, 1e-9) == "0" and float_text(0.0, 6, 1e-9) == "0"


async def _noisy_pair(source: Connector, target: Connector) -> None:
    await source.execute(f"CREATE TABLE f AS {SELECT}")
    await target.execute(
        f"CREATE TABLE f AS SELECT id, cat, {NOISY_X} AS x, y - 1e-12 AS y FROM ({SELECT}) s"
    )


@pytest.mark.parametrize("key", [["id"], []], ids=["keyed", "keyless"])
async def test_float_noise_over_300k_rows_is_no_difference(tmp_path: Path, key: list[str]) -> None:
    async with connect(f"duckdb:///{tmp_path / 'a.duckdb'}") as source, connect(f"duckdb:///{tmp_path / 'b.duckdb'}") as target:
        await _noisy_pair(source, target)
        sides = DiffSide(source, TableRef(name="f")), DiffSide(target, TableRef(name="f"))
        result = await diff_tables(*sides, key=key)
        assert result.source_rows == result.target_rows == ROWS
        assert result.differences == 0, result.sample[:3]
        assert result.leaf_rows_fetched > 0  # hashes did differ at the boundaries: the leaf judged them
        # a real change among the noise is still found, with its column
        await target.execute("UPDATE f SET x = x * 1.01 WHERE id = 12345")
        result = await diff_tables(*sides, key=key)
        assert (result.changed, result.only_in_source, result.only_in_target) == (1, 0, 0)
        assert dict(result.changed_columns) == {"x": 1}


async def test_float_noise_postgres_to_duckdb_keyless(warehouse_url: str, tmp_path: Path) -> None:
    rows = 50_000
    select = SELECT.replace(str(ROWS + 1), str(rows + 1))
    async with connect(warehouse_url) as source, connect(f"duckdb:///{tmp_path / 'b.duckdb'}") as target:
        xs = [r[0] for r in await target.fetch_rows(f"SELECT x FROM ({select}) s ORDER BY id")]  # PostgreSQL has no nextafter
        await source.execute(
            "CREATE TABLE f AS SELECT i AS id, 'cat ' || CAST(i % 1000 AS VARCHAR) AS cat, x, "
            "CAST(i AS DOUBLE PRECISION) / 4 AS y FROM unnest(CAST(? AS DOUBLE PRECISION[])) WITH ORDINALITY AS r(x, i)", [xs]
        )
        await target.execute(
            f"CREATE TABLE f AS SELECT id, cat, {NOISY_X} AS x, y + 1e-12 AS y FROM ({select}) s"
        )
        for key in (["id"], []):
            result = await diff_tables(DiffSide(source, TableRef(name="f")), DiffSide(target, TableRef(name="f")), key=key)
            assert result.source_rows == result.target_rows == rows
            assert result.differences == 0, result.sample[:3]


async def test_absolute_tolerance_is_an_option(tmp_path: Path) -> None:
    """float_absolute=0 restores exact zeros: 0 vs 1e-12 is then a difference."""
    async with connect(f"duckdb:///{tmp_path / 'a.duckdb'}") as source, connect(f"duckdb:///{tmp_path / 'b.duckdb'}") as target:
        await source.execute("CREATE TABLE z AS SELECT 1 AS id, CAST(0 AS DOUBLE) AS v")
        await target.execute("CREATE TABLE z AS SELECT 1 AS id, CAST(1e-12 AS DOUBLE) AS v")
        sides = DiffSide(source, TableRef(name="z")), DiffSide(target, TableRef(name="z"))
        assert (await diff_tables(*sides, key=["id"])).equal
        strict = RowDiffOptions(normalize=NormalizeOptions(float_absolute=0))
        assert (await diff_tables(*sides, key=["id"], options=strict)).changed == 1
