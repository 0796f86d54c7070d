"""Explicit target names of a parent table's columns (`foreign_keys.target_ref_columns`,
`fact_dim_conformance.target_dim_key`) are used exactly as written, whatever the target's identifier
case; the case setting applies only to names derived from the source side.

PostgreSQL is the live proof (quoted names are case-sensitive there: a folded name would not be found);
fakesnow (like DuckDB underneath it) resolves quoted names case-insensitively, so there the test checks
the orphans found and the SQL sent to an upper-case Snowflake target."""

from __future__ import annotations

from typing import Any

from ombudsman.contracts.pipeline import TableRef
from ombudsman.contracts.results import StepResult
from ombudsman.engine.connectors import connect
from ombudsman.engine.validators import ValidationContext, get_validator, run_validator

from .tsql import columns, tables

CUSTOMERS = list(range(1, 11))
ORDERS = [(order, 1 + order % 10) for order in range(1, 51)]
ORPHANS = [(51, 404), (52, 404), (53, 505)]  # in the target only


def _values(rows: list[tuple[Any, ...]]) -> str:
    """Literal VALUES rows of our own test data (ints and plain words)."""
    return ", ".join("(" + ", ".join(f"'{v}'" if isinstance(v, str) else str(v) for v in row) + ")" for row in rows)


CUSTOMER_ROWS = [(c, f"customer{c}") for c in CUSTOMERS]


async def _load_postgres(url: str) -> None:
    """Source schema `src` in lower case; target schema `TGT` as a Snowflake-style upper-case copy whose
    customer key was renamed to the mixed-case "CustomerKey"."""
    async with connect(url) as db:
        for sql in (
            "create schema src",
            "create table src.customers (customer_id integer primary key, name text)",
            "create table src.orders (order_id integer primary key, customer_id integer)",
            f"insert into src.customers values {_values(CUSTOMER_ROWS)}",
            f"insert into src.orders values {_values(ORDERS)}",
            'create schema "TGT"',
            'create table "TGT"."CUSTOMERS" ("CustomerKey" integer primary key, "NAME" text)',
            'create table "TGT"."ORDERS" ("ORDER_ID" integer primary key, "CUSTOMER_ID" integer)',
            f'insert into "TGT"."CUSTOMERS" values {_values(CUSTOMER_ROWS)}',
            f'insert into "TGT"."ORDERS" values {_values(ORDERS + ORPHANS)}',
        ):
            await db.execute(sql)


def _context(source: Any, target: Any, source_schema: str, target_schema: str) -> ValidationContext:
    return ValidationContext(
        source=source, target=target,
        source_table=TableRef(schema_name=source_schema, name="orders"),
        target_table=TableRef(schema_name=target_schema, name="orders"),
        target_case="upper",  # unmapped target names are upper-cased (tables created unquoted on Snowflake)
        step_id="fk", render_also=("tsql",),
    )


async def _run(url_s: str, url_t: str, schemas: tuple[str, str], validator: str, params: dict[str, Any]
               ) -> tuple[StepResult, ValidationContext]:
    async with connect(url_s) as source, connect(url_t) as target:
        ctx = _context(source, target, *schemas)
        result = await run_validator(get_validator(validator), ctx, params)
    return result, ctx


FK_PARAMS: dict[str, Any] = {
    "columns": ["customer_id"], "references": "src.customers", "ref_columns": ["customer_id"],
    "target_references": "TGT.CUSTOMERS", "target_ref_columns": ["CustomerKey"],
}


async def test_target_ref_columns_are_used_as_written_on_an_upper_case_target(database_url: str) -> None:
    await _load_postgres(database_url)
    result, ctx = await _run(database_url, database_url, ("src", "tgt"), "foreign_keys", FK_PARAMS)
    assert result.status == "failed", result.message  # folded to "CUSTOMERKEY" it would be a database error
    assert result.source == {"orphans": 0} and result.target == {"orphans": 3}
    assert {(r["customer_id"], r["rows"]) for r in result.sample} == {(404, 2), (505, 1)}
    target_sql = ctx.sql["target"][1]  # [0]: the join guard's parent-key check
    assert '"p"."CustomerKey" = "c"."CUSTOMER_ID"' in target_sql, target_sql  # explicit: as written; derived: folded
    assert 'FROM "TGT"."ORDERS" AS "c"' in target_sql and 'FROM "TGT"."CUSTOMERS" AS "p"' in target_sql
    assert '"p"."customer_id" = "c"."customer_id"' in ctx.sql["source"][1]
    # the join guard on each side, the orphan count on each side, then the orphans sampled on the target
    source_tsql, target_tsql, sample_tsql = ctx.renderings["tsql"][2:]
    assert tables(source_tsql) == {"src.orders", "src.customers"}
    assert tables(target_tsql) == tables(sample_tsql) == {"TGT.ORDERS", "TGT.CUSTOMERS"}
    assert columns(source_tsql) == {"customer_id"}
    assert columns(target_tsql) == columns(sample_tsql) == {"CustomerKey", "CUSTOMER_ID"}
    assert "[p].[CustomerKey] = [c].[CUSTOMER_ID]" in ctx.renderings["tsql"][3]


async def test_fact_dim_conformance_uses_its_target_key_the_same_way(database_url: str) -> None:
    await _load_postgres(database_url)
    params = {"dimension": "src.customers", "target_dimension": "TGT.CUSTOMERS", "fact_key": "customer_id",
              "dim_key": "customer_id", "target_dim_key": "CustomerKey"}
    result, ctx = await _run(database_url, database_url, ("src", "tgt"), "fact_dim_conformance", params)
    assert result.status == "failed", result.message
    assert result.source["unmatched_facts"] == 0 and result.target["unmatched_facts"] == 3
    assert '"d"."CustomerKey" = "f"."CUSTOMER_ID"' in ctx.sql["target"][2], ctx.sql["target"][2]


async def test_without_target_ref_columns_the_source_name_is_folded(database_url: str) -> None:
    """A name derived from the source still follows the case setting: `customer_id` -> "CUSTOMER_ID",
    which the renamed target parent does not have (a clear error naming it)."""
    await _load_postgres(database_url)
    params = {k: v for k, v in FK_PARAMS.items() if k != "target_ref_columns"}
    result, ctx = await _run(database_url, database_url, ("src", "tgt"), "foreign_keys", params)
    assert result.status == "error"
    assert result.message.startswith("target database error") and "CUSTOMER_ID" in result.message
    assert '"p"."CUSTOMER_ID"' in ctx.sql["target"][0]  # the join guard fails first


async def test_target_ref_columns_of_the_wrong_length_are_refused(database_url: str) -> None:
    await _load_postgres(database_url)
    params = {**FK_PARAMS, "target_ref_columns": ["CustomerKey", "Extra"]}
    result, ctx = await _run(database_url, database_url, ("src", "tgt"), "foreign_keys", params)
    assert result.status == "error"
    assert result.message == "parameters.target_ref_columns: needs as many columns as parameters.columns"
    assert not ctx.sql["target"]


async def test_upper_case_fakesnow_target_with_a_renamed_parent_key(database_url: str, fakesnow_url: str) -> None:
    await _load_postgres(database_url)
    async with connect(fakesnow_url) as db:  # created unquoted: stored as ORDERS, CUSTOMERS, CUSTOMER_SK ...
        await db.execute("create table customers (customer_sk integer primary key, name varchar)")
        await db.execute("create table orders (order_id integer primary key, customer_id integer)")
        await db.execute(f"insert into customers values {_values(CUSTOMER_ROWS)}")
        await db.execute(f"insert into orders values {_values(ORDERS + ORPHANS[:1])}")
    params = {**FK_PARAMS, "target_references": "PUBLIC.CUSTOMERS", "target_ref_columns": ["CUSTOMER_SK"]}
    result, ctx = await _run(database_url, fakesnow_url, ("src", "public"), "foreign_keys", params)
    assert result.status == "failed", result.message
    assert result.source == {"orphans": 0} and result.target == {"orphans": 1}
    assert [(r["customer_id"], r["rows"]) for r in result.sample] == [(404, 1)]
    target_sql = ctx.sql["target"][1]
    assert 'FROM "PUBLIC"."ORDERS" AS "c"' in target_sql
    assert '"p"."CUSTOMER_SK" = "c"."CUSTOMER_ID"' in target_sql, target_sql
