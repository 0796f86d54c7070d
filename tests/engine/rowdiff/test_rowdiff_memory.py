"""What a row diff loads into the client process: a PostgreSQL -> DuckDB diff (integer key, string key
and keyless) never imports pandas (~45 MB, which pyarrow imports the first time it converts Python
objects to an Arrow array); and the PostgreSQL connector's Arrow-free path gives exactly the rows the
Arrow round trip gives."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import subprocess
import sys
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from ombudsman.engine.connectors import connect
from ombudsman.engine.connectors.arrow import plain_rows, rows_as_tuples, rows_to_table
from tests.engine.rowdiff import tables as t

ROOT = Path(__file__).resolve().parents[3]

# runs in a fresh interpreter: this test process may have imported pandas for other tests
CHILD = """
import asyncio, json, sys
from ombudsman.contracts.pipeline import TableRef
from ombudsman.engine.connectors import connect
from ombudsman.engine.rowdiff import DiffSide, RowDiffOptions, diff_tables

async def main(source_url, target_url):
    found = {}
    options = RowDiffOptions(buckets=8, split=4, leaf_rows=4, fetch_rows=40, sample_limit=100)
    async with connect(source_url) as source, connect(target_url) as target:
        for name, key in (("int", ["id"]), ("string", ["sku"]), ("keyless", [])):
            result = await diff_tables(DiffSide(source, TableRef(name="items")), DiffSide(target, TableRef(name="items")),
                                       key=key, options=options)
            found[name] = [result.strategy, result.changed, result.only_in_source, result.only_in_target, result.levels]
    return found

found = asyncio.run(main(sys.argv[1], sys.argv[2]))
print(json.dumps({"found": found, "pandas": "pandas" in sys.modules}))
"""


async def _load(source_url: str, target_url: str) -> None:
    async with connect(source_url) as source, connect(target_url) as target:
        for db in (source, target):
            await t.create(db, "items", range(1, t.ROWS + 1))
        await t.apply_changes(target, "items")


def test_postgres_to_duckdb_row_diff_never_imports_pandas(database_url: str, tmp_path: Path) -> None:
    target_url = f"duckdb:///{tmp_path / 'target.duckdb'}"
    asyncio.run(_load(database_url, target_url))
    child = subprocess.run([sys.executable, "-c", CHILD, database_url, target_url], cwd=ROOT,
                           capture_output=True, text=True, timeout=600, check=False)
    assert child.returncode == 0, child.stderr[-3000:]
    answer = json.loads(child.stdout.strip().splitlines()[-1])
    changed, deleted, inserted = len(t.EXPECTED_CHANGED), len(t.DELETES), len(t.INSERTS)
    assert answer["found"]["int"] == ["key_range", changed, deleted, inserted, answer["found"]["int"][4]]
    assert answer["found"]["string"][:4] == ["key_hash", changed, deleted, inserted]
    # keyless: every changed row paired into a changed row, the deletes and inserts one-sided
    assert answer["found"]["keyless"][:4] == ["row_hash", changed, deleted, inserted]
    assert answer["found"]["int"][4] >= 2  # refined, then leaf rows streamed: the whole path ran
    assert answer["pandas"] is False, "the row diff imported pandas"


UUID = uuid.UUID("12345678-1234-5678-1234-567812345678")
ROUND_TRIPS: list[tuple[list[tuple[Any, ...]], list[pa.DataType | None]]] = [
    ([(1, "a", b"x", 2.5, True, dt.date(2020, 1, 1)), (None, None, None, None, None, None)], [None] * 6),
    ([(1, "a", 2.5, True, dt.date(2020, 1, 1), b"x")],
     [pa.int16(), pa.string(), pa.float64(), pa.bool_(), pa.date32(), pa.binary()]),
    ([(b"p",), (b"u",)], [pa.string()]),  # PostgreSQL's "char" comes as bytes, Arrow makes it text
    ([(1,), (True,)], [None]),  # mixed types: text
    ([(2**70,)], [None]),  # past BIGINT: text
    ([(Decimal("1.5"),), (Decimal("2.25"),)], [None]),  # decimals take the column's scale
    ([(UUID,)], [None]),  # UUIDs: text
    ([(dt.datetime(2021, 1, 1, 12, 0, tzinfo=dt.UTC),)], [pa.timestamp("us", tz="UTC")]),
    ([], [pa.int64()]),
]


@pytest.mark.parametrize("rows,hints", ROUND_TRIPS)
def test_rows_as_tuples_gives_what_the_arrow_round_trip_gives(rows: list[tuple[Any, ...]], hints: list[pa.DataType | None]) -> None:
    names = [f"c{i}" for i in range(len(hints))]
    table = rows_to_table(names, rows, hints)
    columns = [table.column(i).to_pylist() for i in range(table.num_columns)]
    through_arrow = list(zip(*columns, strict=True))
    assert rows_as_tuples(names, rows, hints) == through_arrow
    assert [tuple(map(type, r)) for r in rows_as_tuples(names, rows, hints)] == [tuple(map(type, r)) for r in through_arrow]


def test_plain_rows_are_only_those_arrow_keeps() -> None:
    assert plain_rows([(1, "a"), (None, "b")], [pa.int32(), pa.string()])
    assert not plain_rows([(b"p",)], [pa.string()])
    assert not plain_rows([(1,), (True,)], [None])
    assert not plain_rows([(UUID,)], [None])
    assert not plain_rows([(dt.datetime(2021, 1, 1),)], [pa.timestamp("us")])
