"""The pyodbc connector (the code SQL Server runs on), tested live against PostgreSQL through
Debian's psqlODBC driver: the same round trip, parameters and streaming as the native connectors."""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
import struct
from urllib.parse import quote

import pyarrow as pa
import pytest

from ombudsman.contracts.replies import Invalid
from ombudsman.engine.connectors import QueryFailed, connect
from ombudsman.engine.connectors.odbc import (
    OdbcConnector,
    SqlServerConnector,
    datetimeoffset_from_odbc,
    odbc_connection_string,
)
from tests.engine.connectors.kinds import ROUND_TRIP_DDL, ROUND_TRIP_ROWS, TRICKY_TEXT, normalise_row

INSERT = "INSERT INTO rt VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"


def _naive_utc(row: tuple[object, ...]) -> tuple[object, ...]:
    # ODBC has no time-zone-aware timestamp type for PostgreSQL: timestamptz arrives naive, in UTC
    return tuple(
        v.astimezone(dt.UTC).replace(tzinfo=None) if isinstance(v, dt.datetime) and v.tzinfo else v
        for v in normalise_row(row)
    )


async def test_odbc_round_trips_every_common_type(odbc_postgres_url: str) -> None:
    async with connect(odbc_postgres_url, timeout=30) as db:
        assert isinstance(db, OdbcConnector) and db.dialect == "postgres"
        await db.execute(ROUND_TRIP_DDL["postgres"])
        await db.executemany(INSERT, [_naive_utc(r) for r in ROUND_TRIP_ROWS])
        rows = [normalise_row(r) for r in await db.fetch_rows("SELECT * FROM rt ORDER BY id")]
        assert rows == [_naive_utc(r) for r in ROUND_TRIP_ROWS]
        table = await db.fetch("SELECT * FROM rt ORDER BY id")
        assert pa.types.is_decimal(table.schema.field(3).type)
        assert table.schema.field(3).type.scale == 3
        assert pa.types.is_boolean(table.schema.field(6).type)
        assert table.column(2)[0].as_py() == 9_007_199_254_740_993


async def test_odbc_binds_parameters_safely(odbc_postgres_url: str) -> None:
    async with connect(odbc_postgres_url) as db:
        await db.execute(ROUND_TRIP_DDL["postgres"])
        await db.executemany(INSERT, [_naive_utc(r) for r in ROUND_TRIP_ROWS])
        rows = await db.fetch_rows(
            "SELECT id, '?' AS q FROM rt /* ? */ WHERE s = ? AND id > ?", [TRICKY_TEXT, 0]
        )
        assert rows == [(1, "?")]
        assert await db.fetch_rows("SELECT id FROM rt WHERE s = ?", ["x' OR '1'='1"]) == []
        with pytest.raises(Invalid, match="1 '\\?' placeholder"):
            await db.fetch("SELECT id FROM rt WHERE s = ?", [])
        with pytest.raises(QueryFailed, match="no_such_table"):
            await db.fetch("SELECT * FROM no_such_table")


async def test_odbc_stream_is_batched(odbc_postgres_url: str) -> None:
    async with connect(odbc_postgres_url) as db:
        await db.execute(
            "CREATE TABLE big AS SELECT n, 'row ' || n AS label FROM generate_series(1, 1234) AS n"
        )
        sizes = [b.num_rows async for b in db.stream("SELECT n, label FROM big ORDER BY n", batch_size=300)]
        assert sizes == [300, 300, 300, 300, 34]
        assert (await db.fetch("SELECT n FROM big", limit=10)).num_rows == 10


async def test_odbc_test_reports_the_dbms(odbc_postgres_url: str) -> None:
    report = await connect(odbc_postgres_url).test()
    assert report.ok, report.error
    assert report.server_version and report.server_version.startswith("PostgreSQL")


async def test_odbc_unreachable_server_is_reported() -> None:
    from tests.engine.conftest import postgres_odbc_driver

    odbc = f"DRIVER={{{postgres_odbc_driver()}}};Servername=127.0.0.1;Port=1;Database=x;Username=u;Password=p"
    report = await connect(f"odbc:///?dialect=postgres&odbc_connect={quote(odbc)}", connect_timeout=2).test()
    assert not report.ok and report.error and "ODBC" in report.error


def test_sqlserver_urls_become_odbc_connection_strings() -> None:
    url = "mssql+pyodbc://sa:p%3Bw%7Dd@db.example.com:1433/Sales?driver=ODBC+Driver+18+for+SQL+Server&TrustServerCertificate=yes"
    assert odbc_connection_string(url, sqlserver=True) == (
        "DRIVER={ODBC Driver 18 for SQL Server};SERVER=db.example.com,1433;DATABASE=Sales;"
        "UID=sa;PWD={p;w}}d};TrustServerCertificate=yes"
    )
    raw = "DRIVER={FreeTDS};SERVER=h;PORT=1433;DATABASE=d;UID=u;PWD=p;TDS_Version=7.4"
    assert odbc_connection_string(f"mssql+pyodbc:///?odbc_connect={quote(raw)}", sqlserver=True) == raw
    assert odbc_connection_string("mssql+pyodbc://MyDsn", sqlserver=True) == "DSN=MyDsn"
    db = connect(url)
    assert isinstance(db, SqlServerConnector) and db.kind == "sqlserver" and db.dialect == "tsql"


async def test_sqlserver_connector_through_freetds_reports_an_unreachable_server() -> None:
    import pyodbc

    assert "FreeTDS" in pyodbc.drivers(), "FreeTDS is missing: run `bash scripts/ensure-odbc.sh` as root"
    url = f"mssql+pyodbc://sa:S3cret@127.0.0.1:{_closed_port()}/master?driver=FreeTDS&TDS_Version=7.4"
    assert odbc_connection_string(url, sqlserver=True).startswith("DRIVER={FreeTDS};SERVER=127.0.0.1;PORT=")
    report = await asyncio.wait_for(connect(url, connect_timeout=2).test(), 30)
    assert not report.ok and report.error and "cannot connect to SQL Server" in report.error
    assert "S3cret" not in report.error


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_bad_odbc_urls_are_invalid() -> None:
    with pytest.raises(Invalid, match="needs \\?driver="):
        connect("mssql+pyodbc://sa:pw@host:1433/db")
    with pytest.raises(Invalid, match="unknown ODBC dialect 'cobol'"):
        connect("odbc:///?odbc_connect=DSN%3Dx&dialect=cobol")


def test_datetimeoffset_is_read_with_its_offset() -> None:
    packed = struct.pack("<6hI2h", 2024, 3, 1, 12, 30, 15, 123_456_700, -5, -30)
    value = datetimeoffset_from_odbc(packed)
    assert value == dt.datetime(2024, 3, 1, 18, 0, 15, 123456, tzinfo=dt.UTC)
    assert value.utcoffset() == -dt.timedelta(hours=5, minutes=30)
