"""Every connector, against a real database: values of every common type survive a round trip
through bound parameters and back as Arrow; parameters are bound (never spliced into SQL);
streams come in bounded batches."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pyarrow as pa
import pytest

from ombudsman.contracts.replies import Invalid
from ombudsman.engine.connectors import Connector, QueryFailed, connect
from tests.engine.connectors.kinds import ROUND_TRIP_DDL, ROUND_TRIP_ROWS, TRICKY_TEXT, normalise_row

KINDS = ["postgres", "duckdb", "snowflake"]


@pytest.fixture(params=KINDS)
def db_url(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    kind = request.param
    fixture = {"postgres": "database_url", "duckdb": "duckdb_url", "snowflake": "fakesnow_url"}[kind]
    yield kind, request.getfixturevalue(fixture)


@contextlib.asynccontextmanager
async def loaded(kind: str, url: str):  # type: ignore[no-untyped-def]
    async with connect(url, timeout=30) as db:
        await db.execute(ROUND_TRIP_DDL[kind])
        await db.executemany("INSERT INTO rt VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", ROUND_TRIP_ROWS)
        yield db


async def test_every_common_type_round_trips(db_url: tuple[str, str]) -> None:
    kind, url = db_url
    async with loaded(kind, url) as db:
        assert db.kind == kind
        table = await db.fetch("SELECT * FROM rt ORDER BY id")
        assert isinstance(table, pa.Table)
        assert table.num_rows == 3
        rows = [normalise_row(r) for r in await db.fetch_rows("SELECT * FROM rt ORDER BY id")]
        assert rows == [normalise_row(r) for r in ROUND_TRIP_ROWS]
        # Arrow keeps exact integers and decimals, and the time zone of tz-aware timestamps
        schema = table.schema
        assert pa.types.is_integer(schema.field(2).type)
        assert table.column(2)[0].as_py() == 9_007_199_254_740_993
        assert pa.types.is_decimal(schema.field(3).type)
        assert pa.types.is_timestamp(schema.field(9).type) and schema.field(9).type.tz is not None
        assert pa.types.is_timestamp(schema.field(8).type) and schema.field(8).type.tz is None


async def test_parameters_are_bound_not_spliced(db_url: tuple[str, str]) -> None:
    kind, url = db_url
    async with loaded(kind, url) as db:
        # a '?' inside a literal, a quoted identifier and comments is not a placeholder
        rows = await db.fetch_rows(
            "SELECT id, '?' AS q /* ? */ FROM rt -- ?\n WHERE s = ? AND id > ?", [TRICKY_TEXT, 0]
        )
        assert rows == [(1, "?")]
        injection = "x' OR '1'='1"
        assert await db.fetch_rows("SELECT id FROM rt WHERE s = ?", [injection]) == []
        assert (await db.fetch_rows("SELECT count(*) FROM rt"))[0][0] == 3


async def test_wrong_parameter_count_is_a_clear_error(db_url: tuple[str, str]) -> None:
    _kind, url = db_url
    async with connect(url) as db:
        with pytest.raises(Invalid, match="2 '\\?' placeholder"):
            await db.fetch("SELECT ? , ?", [1])


async def test_sql_error_names_the_database_and_statement(db_url: tuple[str, str]) -> None:
    _kind, url = db_url
    async with connect(url) as db:
        with pytest.raises(QueryFailed) as caught:
            await db.fetch("SELECT * FROM no_such_table")
        assert "no_such_table" in caught.value.message


async def test_stream_yields_bounded_batches(db_url: tuple[str, str]) -> None:
    _kind, url = db_url
    async with connect(url) as db:
        await db.execute("CREATE TABLE big (n integer, label varchar(20))")
        await db.executemany("INSERT INTO big VALUES (?, ?)", [(n, f"row {n}") for n in range(2_345)])
        sizes: list[int] = []
        seen: list[int] = []
        async for batch in db.stream("SELECT n, label FROM big WHERE n >= ? ORDER BY n", [0], batch_size=500):
            assert isinstance(batch, pa.RecordBatch)
            sizes.append(batch.num_rows)
            seen.extend(batch.column(0).to_pylist())
        assert max(sizes) <= 500 and len(sizes) >= 5
        assert seen == list(range(2_345))


async def test_fetch_limit_caps_rows(db_url: tuple[str, str]) -> None:
    kind, url = db_url
    async with loaded(kind, url) as db:
        assert (await db.fetch("SELECT id FROM rt ORDER BY id", limit=2)).num_rows == 2
        assert (await db.fetch("SELECT id FROM rt ORDER BY id", limit=0)).num_rows == 0


async def test_concurrent_queries_share_the_pool(db_url: tuple[str, str]) -> None:
    import asyncio

    kind, url = db_url
    async with loaded(kind, url) as db:
        results = await asyncio.gather(
            *(
                db.fetch_rows("SELECT count(*) FROM rt WHERE id <= ?", [i])
                for i in range(1, 4)
                for _ in range(4)
            )
        )
        assert [r[0][0] for r in results] == [i for i in range(1, 4) for _ in range(4)]


async def test_connection_test_reports_version_and_latency(db_url: tuple[str, str]) -> None:
    _kind, url = db_url
    db: Connector = connect(url)
    report = await db.test()
    assert report.ok, report.error
    assert report.server_version and report.latency_ms is not None and report.latency_ms >= 0


async def test_executemany_of_other_statements_binds_each_row(db_url: tuple[str, str]) -> None:
    kind, url = db_url
    async with loaded(kind, url) as db:
        await db.executemany("UPDATE rt SET i = ? WHERE id = ?", [(10, 1), (20, 2)])
        assert await db.fetch_rows("SELECT id, i FROM rt WHERE id < ? ORDER BY id", [3]) == [(1, 10), (2, 20)]
