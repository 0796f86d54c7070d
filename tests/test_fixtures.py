"""The fixtures give real servers: a JetStream-enabled NATS and an empty PostgreSQL database."""

import asyncpg
import nats


async def test_nats_has_jetstream(nats_url: str) -> None:
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        info = await js.account_info()
        assert info.limits is not None
        await js.add_stream(name="FIXTURE_CHECK", subjects=["fixture.check"])
        ack = await js.publish("fixture.check", b"x")
        assert ack.seq == 1
    finally:
        await nc.close()


async def test_database_is_fresh_and_writable(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        tables = await conn.fetchval("select count(*) from information_schema.tables where table_schema='public'")
        assert tables == 0
        await conn.execute("create table t(x int)")
        await conn.execute("insert into t values (1), (2)")
        assert await conn.fetchval("select sum(x) from t") == 3
    finally:
        await conn.close()
