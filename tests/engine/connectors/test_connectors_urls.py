"""connect(url): the scheme chooses the connector; bad URLs and unreachable hosts give clear errors fast."""

from __future__ import annotations

import asyncio
import socket
from urllib.parse import quote

import pytest

from ombudsman.contracts.replies import Invalid
from ombudsman.engine.connectors import ConnectionFailed, connect, mask_url
from ombudsman.engine.connectors.duckdb import DuckDBConnector, duckdb_target
from ombudsman.engine.connectors.postgres import PostgresConnector, asyncpg_dsn


def test_scheme_chooses_the_connector() -> None:
    assert isinstance(connect("postgresql://u:p@h/db"), PostgresConnector)
    assert isinstance(connect("postgres://u@h:5433/db"), PostgresConnector)
    assert isinstance(connect("postgresql+asyncpg://u:p@h/db"), PostgresConnector)
    assert isinstance(connect("duckdb:///:memory:"), DuckDBConnector)


def test_postgres_url_keeps_libpq_socket_host_and_drops_our_options() -> None:
    dsn, own = asyncpg_dsn("postgresql+asyncpg://postgres:@/omb?host=/tmp/sock&pool_size=7&timeout=5")
    assert dsn == "postgresql://postgres:@/omb?host=%2Ftmp%2Fsock"
    assert own == {"pool_size": "7", "timeout": "5"}
    db = connect("postgresql://postgres:@/omb?host=/tmp/sock&pool_size=7&timeout=5")
    assert db.pool_size == 7 and db.timeout == 5.0


def test_duckdb_paths_follow_sqlalchemy() -> None:
    assert duckdb_target("duckdb:///:memory:")[0] == ":memory:"
    assert duckdb_target("duckdb:///relative/x.db")[0] == "relative/x.db"
    assert duckdb_target("duckdb:////abs/x.db?read_only=true&threads=2") == (
        "/abs/x.db",
        True,
        {"threads": "2"},
    )


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "empty"),
        ("localhost:5432/db", "no scheme"),
        ("mysql://u:p@h/db", "unsupported database scheme 'mysql'"),
        ("postgresql://u:p@h:notaport/db", "malformed"),
        ("duckdb://somehost/x.db", "has no host"),
    ],
)
def test_bad_url_is_invalid_naming_the_problem(url: str, message: str) -> None:
    with pytest.raises(Invalid, match=message) as caught:
        connect(url)
    assert caught.value.details.get("field") == "url"


def test_mask_url_hides_the_password() -> None:
    secret = quote("s3cr:t@!", safe="")
    assert mask_url(f"snowflake://me:{secret}@acct/db") == "snowflake://me:***@acct/db"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_unreachable_postgres_fails_fast_with_a_clear_error() -> None:
    url = f"postgresql://u:p@127.0.0.1:{_closed_port()}/db"
    report = await asyncio.wait_for(connect(url, connect_timeout=2).test(), 10)
    assert not report.ok and report.error and report.server_version is None
    with pytest.raises(
        ConnectionFailed, match=r"cannot connect to PostgreSQL at postgresql://u:\*\*\*@127\.0\.0\.1"
    ):
        await asyncio.wait_for(connect(url, connect_timeout=2).open(), 10)


async def test_blackholed_postgres_host_times_out_instead_of_hanging() -> None:
    # 10.255.255.1 is routable nowhere: the connect either times out or is refused at once
    report = await asyncio.wait_for(
        connect("postgresql://u:p@10.255.255.1:5432/db", connect_timeout=1).test(), 10
    )
    assert not report.ok and report.error


async def test_bad_password_is_reported_not_raised(database_url: str) -> None:
    bad = database_url.replace("postgres:@", "nobody:wrong@", 1)
    report = await connect(bad).test()
    assert not report.ok and report.error and "nobody" in report.error
