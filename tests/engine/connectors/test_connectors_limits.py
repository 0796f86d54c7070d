"""Timeouts, read-only user SQL and unreachable servers: clear errors, no hangs, pools stay usable."""

from __future__ import annotations

import asyncio
import socket

import pytest

from ombudsman.contracts.replies import Invalid
from ombudsman.engine.connectors import ConnectionFailed, QueryFailed, QueryTimeout, connect

SLOW = {  # queries slower than the timeout: the behaviour under test
    "postgres": "SELECT pg_sleep(5)",
    "odbc": "SELECT pg_sleep(5)",
    "duckdb": "SELECT count(*) FROM range(100000000) a, range(100000000) b WHERE a.range + b.range = -1",
}


@pytest.fixture(params=["postgres", "duckdb", "odbc"])
def slow_db(request: pytest.FixtureRequest) -> tuple[str, str]:
    fixture = {"postgres": "database_url", "duckdb": "duckdb_url", "odbc": "odbc_postgres_url"}[request.param]
    return request.param, request.getfixturevalue(fixture)


async def test_a_statement_past_its_timeout_is_cancelled_and_the_pool_still_works(
    slow_db: tuple[str, str],
) -> None:
    kind, url = slow_db
    async with connect(url, timeout=1, pool_size=1) as db:
        with pytest.raises(QueryTimeout, match="exceeded 1s"):
            await asyncio.wait_for(db.fetch(SLOW[kind]), 30)
        # the single pooled connection was cancelled or replaced: the next statement runs
        assert await asyncio.wait_for(db.fetch_rows("SELECT 41 + 1"), 30) == [(42,)]


@pytest.fixture(params=["postgres", "duckdb", "snowflake"])
def pooled_db(request: pytest.FixtureRequest) -> tuple[str, str]:
    fixture = {"postgres": "database_url", "duckdb": "duckdb_url", "snowflake": "fakesnow_url"}[request.param]
    return request.param, request.getfixturevalue(fixture)


async def test_pool_stats_count_connections_open_in_use_and_idle(pooled_db: tuple[str, str]) -> None:
    kind, url = pooled_db
    db = connect(url, pool_size=3)
    assert (db.pool_stats().size, db.pool_stats().open) == (3, 0)  # not open yet
    async with db:
        assert await db.fetch_rows("SELECT 1") == [(1,)]
        idle = db.pool_stats()
        assert idle.open >= 1 and idle.in_use == 0 and idle.idle == idle.open
        # two streams held open at once: two connections in use, never more than the pool's size
        first, second = db.stream("SELECT 1 AS n"), db.stream("SELECT 2 AS n")
        await anext(aiter(first))
        await anext(aiter(second))
        busy = db.pool_stats()
        assert busy.in_use == 2 and busy.open <= 3, (kind, busy)
        await first.aclose()
        await second.aclose()
        assert db.pool_stats().in_use == 0
    assert db.pool_stats().open == 0


@pytest.fixture(params=["postgres", "duckdb", "snowflake"])
def any_db(request: pytest.FixtureRequest) -> str:
    return request.getfixturevalue(
        {"postgres": "database_url", "duckdb": "duckdb_url", "snowflake": "fakesnow_url"}[request.param]
    )


async def test_user_sql_must_be_one_read_only_query(any_db: str) -> None:
    async with connect(any_db) as db:
        await db.execute("CREATE TABLE notes (id integer, body varchar(20))")
        await db.executemany("INSERT INTO notes VALUES (?, ?)", [(i, f"n{i}") for i in range(5)])
        table = await db.fetch_readonly("SELECT id FROM notes WHERE id >= ? ORDER BY id", [1], limit=3)
        assert table.column(0).to_pylist() == [1, 2, 3]
        for bad in ("DELETE FROM notes", "SELECT 1; DROP TABLE notes", "UPDATE notes SET body = 'x'"):
            with pytest.raises(Invalid):
                await db.fetch_readonly(bad)
        assert (await db.fetch_rows("SELECT count(*) FROM notes"))[0][0] == 5


async def test_postgres_read_only_transaction_refuses_writes_hidden_in_functions(database_url: str) -> None:
    async with connect(database_url) as db:
        await db.execute("CREATE TABLE t (n integer)")
        await db.execute(
            "CREATE FUNCTION sneaky() RETURNS integer LANGUAGE sql AS 'INSERT INTO t VALUES (1) RETURNING n'"
        )
        with pytest.raises(QueryFailed, match="read-only transaction"):
            await db.fetch_readonly("SELECT sneaky()")
        assert await db.fetch_rows("SELECT count(*) FROM t") == [(0,)]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_unreachable_snowflake_is_reported_within_the_login_timeout() -> None:
    url = f"snowflake://u:p@acct/db/sch?host=127.0.0.1&port={_closed_port()}&protocol=http"
    report = await asyncio.wait_for(connect(url, connect_timeout=2).test(), 60)
    assert not report.ok and report.error and "cannot connect to Snowflake" in report.error
    assert "p@" not in report.error  # the password never appears


async def test_duckdb_in_a_missing_folder_is_a_connection_error(tmp_path: object) -> None:
    with pytest.raises(ConnectionFailed, match="cannot connect to DuckDB"):
        async with connect(f"duckdb:///{tmp_path}/no/such/folder/x.db"):
            pass


def test_snowflake_url_problems_are_named() -> None:
    with pytest.raises(Invalid, match="needs an account"):
        connect("snowflake:///db")
    with pytest.raises(Invalid, match="unknown Snowflake URL option 'colour'"):
        connect("snowflake://u:p@acct/db?colour=blue")
    with pytest.raises(Invalid, match="login_timeout must be a number, got 'soon'"):
        connect("snowflake://u:p@acct/db?login_timeout=soon")


async def test_closing_waits_for_an_interrupted_statement_still_running_in_its_thread(duckdb_url: str) -> None:
    """A step cancelled over its memory cap closes its connectors; a driver call that ignores the
    interrupt keeps allocating in its thread, so close() returns only once that thread has returned
    (bounded), and the worker's next step is not charged with it."""
    import threading

    entered, release, returned = threading.Event(), threading.Event(), threading.Event()

    def stuck_in_the_driver() -> None:  # a driver call the interrupt does not reach
        entered.set()
        release.wait(60)
        returned.set()

    db = connect(url=duckdb_url, pool_size=1)
    await db.open()

    async def statement() -> None:
        async with db._connection() as raw:
            await db._run(raw, stuck_in_the_driver)

    task = asyncio.create_task(statement())
    assert await asyncio.to_thread(entered.wait, 30)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    closing = asyncio.create_task(db.close())
    for _ in range(50):  # let close() run as far as it goes on its own
        await asyncio.sleep(0)
    assert not closing.done() and not returned.is_set()
    release.set()
    await asyncio.wait_for(closing, 30)
    assert returned.is_set()
