"""custom_query keeps the user's own identifier quoting: unquoted names stay unquoted so each database
folds them its own way (PostgreSQL to lower case, Snowflake to upper case), quoted names stay quoted,
and anything but one read-only SELECT is still refused — on real PostgreSQL and fakesnow."""

from __future__ import annotations

from typing import Any

import pytest

from ombudsman.contracts.results import StepResult
from ombudsman.engine.connectors import connect
from ombudsman.engine.validators import ValidationContext, get_validator, run_validator

from .tsql import columns, tables

ORDERS = [(i, ("open", "shipped", "closed")[i % 3], i * 1.5) for i in range(1, 31)]
LOWER_SQL = "select status, count(*) as n, sum(amount) as total from orders group by status"


async def _create_orders(url: str, rows: list[tuple[int, str, float]]) -> None:
    """`orders` created with unquoted names: stored `orders` on PostgreSQL, `ORDERS` on Snowflake."""
    values = ", ".join(f"({i}, '{s}', {a})" for i, s, a in rows)
    async with connect(url) as db:
        await db.execute("create table orders (id integer primary key, status varchar(20), amount decimal(12, 2))")
        await db.execute(f"insert into orders values {values}")


async def _custom_query(source_url: str, target_url: str, params: dict[str, Any]) -> tuple[StepResult, ValidationContext]:
    async with connect(source_url) as source, connect(target_url) as target:
        ctx = ValidationContext(source=source, target=target, step_id="custom", render_also=("tsql",))
        result = await run_validator(get_validator("custom_query"), ctx, params)
    return result, ctx


async def _count(url: str, sql: str) -> int:
    async with connect(url) as db:
        return int((await db.fetch_rows(sql))[0][0])


async def test_unquoted_lower_case_names_run_on_postgres_and_fakesnow(database_url: str, fakesnow_url: str) -> None:
    await _create_orders(database_url, ORDERS)
    await _create_orders(fakesnow_url, ORDERS)
    result, ctx = await _custom_query(database_url, fakesnow_url, {"source_sql": LOWER_SQL, "key_columns": ["status"]})
    assert result.status == "passed", result.message
    assert result.source["rows"] == result.target["rows"] == 3
    for side in ("source", "target"):
        [sql] = ctx.sql[side]
        # the user's names are sent unquoted (the database folds them); only our own wrapper alias is quoted
        assert "FROM orders" in sql and '"orders"' not in sql and '"ORDERS"' not in sql, sql
        assert '"status"' not in sql and "status" in sql, sql
        assert "LIMIT 10001" in sql, sql
    for tsql in ctx.renderings["tsql"]:
        assert tables(tsql) == {"orders"}, tsql
        assert columns(tsql) == {"status", "amount"}, tsql
        assert "TOP 10001" in tsql and "[orders]" not in tsql and "FROM orders" in tsql, tsql


async def test_a_real_difference_is_still_found(database_url: str, fakesnow_url: str) -> None:
    await _create_orders(database_url, ORDERS)
    await _create_orders(fakesnow_url, [r for r in ORDERS if r[0] != 4])  # one 'shipped' order lost
    result, _ = await _custom_query(database_url, fakesnow_url, {"source_sql": LOWER_SQL, "key_columns": ["status"]})
    assert result.status == "failed", result.message
    [row] = result.sample
    assert row["status"] == "shipped"


async def test_postgres_folds_unquoted_upper_case_names_and_keeps_quoted_ones(database_url: str) -> None:
    """PostgreSQL folds unquoted names to lower case: `ORDERS` finds `orders` only when left unquoted
    (quoting every name, as before, sent `"ORDERS"`, which does not exist); a quoted mixed-case name
    must stay quoted to be found at all."""
    await _create_orders(database_url, ORDERS)
    async with connect(database_url) as db:
        await db.execute('create table "AuditLog" ("EventId" integer, note text)')
        await db.execute("""insert into "AuditLog" values (1, 'a'), (2, 'b')""")
    upper = "SELECT STATUS, COUNT(*) AS N FROM ORDERS GROUP BY STATUS"
    result, ctx = await _custom_query(database_url, database_url, {
        "source_sql": upper, "target_sql": LOWER_SQL.replace(", sum(amount) as total", ""), "key_columns": ["status"],
    })
    assert result.status == "passed", result.message
    assert result.source["rows"] == 3
    assert "FROM ORDERS" in ctx.sql["source"][0] and '"ORDERS"' not in ctx.sql["source"][0]

    quoted = 'select "EventId", note from "AuditLog" order by "EventId"'
    result, ctx = await _custom_query(database_url, database_url, {"source_sql": quoted, "key_columns": ["EventId"]})
    assert result.status == "passed", result.message
    assert result.source["rows"] == result.target["rows"] == 2
    assert 'FROM "AuditLog"' in ctx.sql["source"][0] and '"EventId"' in ctx.sql["source"][0]
    assert "note" in ctx.sql["source"][0] and '"note"' not in ctx.sql["source"][0]


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("delete from orders", "source query: must be a SELECT, not DELETE"),
        ("select 1; drop table orders", "source query: must be exactly one SELECT statement (found 2)"),
        ("select * into orders_copy from orders", "source query: may only read: it contains INTO"),
        ("update orders set amount = 0", "source query: must be a SELECT, not UPDATE"),
    ],
)
async def test_anything_but_one_select_is_refused(sql: str, message: str, database_url: str, fakesnow_url: str) -> None:
    await _create_orders(database_url, ORDERS)
    await _create_orders(fakesnow_url, ORDERS)
    result, ctx = await _custom_query(database_url, fakesnow_url, {"source_sql": sql})
    assert result.status == "error"
    assert message in result.message, result.message
    assert not ctx.sql["source"]  # refused before anything was sent
    # nothing was written or dropped on either side
    assert await _count(database_url, "select sum(amount) * 10 from orders") == sum(int(a * 10) for _, _, a in ORDERS)
    assert await _count(fakesnow_url, "select count(*) from orders") == len(ORDERS)
