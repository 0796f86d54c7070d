"""Split scans: the first bucketed scan of an integer key cut into key ranges, one connection per
range, the figures merged: exact results on PostgreSQL (parts sharing the session's snapshot) and
DuckDB, the probed default, and the part queries rendered for SQL Server and Snowflake (parsed)."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
import sqlglot

from ombudsman.contracts.pipeline import TableRef
from ombudsman.engine.connectors import Connector, connect
from ombudsman.engine.rowdiff import DiffSide, RowDiffOptions, diff_tables
from ombudsman.engine.rowdiff.engine import _checksum_query, _range_bucket
from ombudsman.engine.rowdiff.scan import session_settings
from ombudsman.engine.rowdiff.split import merge_figures, range_conditions, split_ranges
from ombudsman.engine.validators import sql as q
from tests.engine.rowdiff import tables as t
from tests.engine.rowdiff.test_rowdiff_exact import _assert_exact
from tests.engine.rowdiff.test_rowdiff_tsql import _plan

OPTIONS = dict(buckets=8, split=4, leaf_rows=4, fetch_rows=40, sample_limit=100)


async def _load(source: Connector, target: Connector) -> None:
    for db in (source, target):
        await t.create(db, "items", range(1, t.ROWS + 1))
        await t.insert(db, "items", [{**t.row(900), "id": None}])  # a NULL key: read by exactly one part
    await t.apply_changes(target, "items")


def _sides(source: Connector, target: Connector) -> tuple[DiffSide, DiffSide]:
    return DiffSide(source, TableRef(name="items")), DiffSide(target, TableRef(name="items"))


def _assert_split_exact(result: Any) -> None:
    result.source_rows -= 1  # the NULL-key row, equal on both sides, is counted once per side
    result.target_rows -= 1
    _assert_exact(result)


def test_ranges_follow_bucket_boundaries_and_cover_the_keys() -> None:
    for lo, hi, width, parts in [(1, 400, 64, 4), (1, 400, 64, 3), (-50, 7, 4, 5), (10, 10, 1, 4), (1, 1000, 1000, 4)]:
        ranges = split_ranges(lo, hi, width, parts)
        assert 1 <= len(ranges) <= parts
        assert ranges[0][0] == lo and ranges[-1][1] == hi
        assert all(b + 1 == c for (_, b), (c, _) in itertools.pairwise(ranges))  # contiguous, disjoint
        assert all((a - lo) % width == 0 for a, _ in ranges)  # each starts a bucket: no bucket is cut
    assert merge_figures([[(0, 2, 10), (1, 1, 5)], [(1, 3, 7), (None, 1, 4)]]) == [(0, 2, 10), (1, 4, 12), (None, 1, 4)]


async def test_postgres_without_parallel_workers_splits_over_connections_in_one_snapshot(
    database_url: str, tmp_path: Path
) -> None:
    async with connect(database_url) as pg:
        await pg.execute(
            "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET max_parallel_workers_per_gather = 0', current_database()); END $$"
        )
    async with connect(database_url) as source, connect(f"duckdb:///{tmp_path / 't.duckdb'}") as target:
        await _load(source, target)
        result = await diff_tables(*_sides(source, target), key=["id"], options=RowDiffOptions(**OPTIONS))
        assert result.parallel["source"]["parts"] == source.pool_size == 4  # probed: no parallel workers
        assert result.parallel["target"]["parts"] == 1  # DuckDB parallelises by itself
        _assert_split_exact(result)
        assert sum("BETWEEN" in sql for sql in result.sql["source"][:6]) >= 4  # the first scan's four parts

        # the parts read the session's snapshot: rows committed after it began are not seen by any
        async with source.read_session(session_settings("postgres")) as session:
            before = await session.fetch_rows("SELECT COUNT(*) FROM items")
            await source.execute("INSERT INTO items (id) SELECT g FROM generate_series(5000, 5099) AS g")
            async with session.parts(3) as parts:
                assert len(parts) == 3
                counts = [await part.fetch_rows("SELECT COUNT(*) FROM items") for part in parts]
                settings = [await part.fetch_rows("SELECT current_setting('DateStyle')") for part in parts]
        assert counts == [before] * 3 and settings == [[("ISO, YMD",)]] * 3
        assert (await source.fetch_rows("SELECT COUNT(*) FROM items"))[0][0] == before[0][0] + 100


async def test_duckdb_split_by_request_is_exact(tmp_path: Path) -> None:
    async with connect(f"duckdb:///{tmp_path / 's.duckdb'}") as source, connect(f"duckdb:///{tmp_path / 't.duckdb'}") as target:
        await _load(source, target)
        # DuckDB's transaction cannot be shared: parts need unpinned reads (consistent=False)
        result = await diff_tables(
            *_sides(source, target), key=["id"], options=RowDiffOptions(**OPTIONS, parallel=3, consistent=False)
        )
        assert result.parallel == {side: {"parts": 3, "reason": "asked for"} for side in ("source", "target")}
        _assert_split_exact(result)
        pinned = await diff_tables(*_sides(source, target), key=["id"], options=RowDiffOptions(**OPTIONS, parallel=3))
        _assert_split_exact(pinned)  # one pinned transaction: the ranges run in turn on it, still exact


@pytest.mark.parametrize("dialect", ["tsql", "snowflake"])
def test_part_queries_render_for_sql_server_and_snowflake(dialect: str) -> None:
    plan = _plan(["id"])
    for side in plan.sides.values():
        side.connector.dialect = dialect  # type: ignore[misc]
    conditions = range_conditions(plan.col("source", plan.key[0]), split_ranges(1, 4096, 512, 4))
    assert len(conditions) == 4
    for i, condition in enumerate(conditions):
        sql, _ = q.render(_checksum_query(plan, "source", _range_bucket(plan, "source", 1, 512), condition), dialect)
        parsed = sqlglot.parse_one(sql, read=dialect, error_level=sqlglot.ErrorLevel.RAISE)
        assert parsed.find(sqlglot.exp.Between) is not None and parsed.find(sqlglot.exp.Group) is not None
        assert ("IS NULL" in sql) == (i == 0)
        if dialect == "tsql":
            assert "OPTION(HASH GROUP)" in sql
