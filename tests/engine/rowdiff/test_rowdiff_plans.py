"""The row diff's bucket scans get the plans the databases execute well, checked by EXPLAIN:
PostgreSQL a (parallel) hash aggregate without a sort and without spilling, inside one REPEATABLE
READ snapshot per side; DuckDB a hash group-by; SQL Server `OPTION (HASH GROUP)` (parsed)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import sqlglot

from ombudsman.contracts.pipeline import TableRef
from ombudsman.engine.connectors import Connector, connect
from ombudsman.engine.rowdiff import DiffSide, RowDiffOptions, diff_tables
from ombudsman.engine.rowdiff.scan import auto_buckets, checksum_settings, session_settings
from tests.engine.rowdiff.test_rowdiff_tsql import _parses, _plan

ROWS = 300_000  # ~25 MB in PostgreSQL: past min_parallel_table_scan_size, so a parallel plan is possible
WIDE = (
    "SELECT i::bigint AS id, (i % 1000)::int AS qty, round((i * 37 % 10000000) / 100.0, 2)::numeric(12,2) AS price,"
    " ('customer ' || i)::varchar(40) AS name, DATE '2015-01-01' + (i % 3650) AS day,"
    " TIMESTAMP '2021-01-01' + i * INTERVAL '1 second' AS ts FROM generate_series(1, {rows}) AS g(i)"
)


async def _wide_pg(db: Connector, name: str, rows: int = ROWS) -> None:
    await db.execute(f"CREATE TABLE {name} AS {WIDE.format(rows=rows)}")
    await db.execute(f"ALTER TABLE {name} ADD PRIMARY KEY (id)")
    await db.execute(f"ANALYZE {name}")


def _nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    found = [plan]
    for child in plan.get("Plans", []):
        found += _nodes(child)
    return found


async def test_postgres_bucket_scan_is_a_parallel_hash_aggregate_without_sort_or_spill(database_url: str) -> None:
    async with connect(database_url) as db:
        await _wide_pg(db, "items")
        await _wide_pg(db, "copy")
        buckets_only = RowDiffOptions(whole_table_first=False)  # the bucket scan itself, without the early exit
        result = await diff_tables(DiffSide(db, TableRef(name="items")), DiffSide(db, TableRef(name="copy")), key=["id"],
                                   options=buckets_only)
        assert result.equal and result.source_rows == ROWS and result.levels == 1 and result.whole_table is None
        # identical tables: the bounds query and one checksum scan per side, nothing else
        assert result.queries == 4
        assert result.buckets == 403  # tuned: 300,000 rows of ~88 bytes in buckets of 64 KiB
        checksum = next(sql for sql in result.sql["source"] if "GROUP BY" in sql)
        # the snapshot each side read is recorded
        snapshot = result.snapshot["source"]
        assert snapshot["isolation"] == "repeatable read" and snapshot["at"] and snapshot["snapshot_id"]

        async with db.read_session(session_settings("postgres")) as session:
            settings = checksum_settings("postgres", result.buckets)
            rows = await session.fetch_rows(f"EXPLAIN (ANALYZE, FORMAT JSON) {checksum}", settings=settings)
        plan = json.loads(rows[0][0])[0]["Plan"] if isinstance(rows[0][0], str) else rows[0][0][0]["Plan"]
        nodes = _nodes(plan)
        kinds = [n["Node Type"] for n in nodes]
        assert "Sort" not in kinds and "Incremental Sort" not in kinds, kinds
        aggregates = [n for n in nodes if n["Node Type"] == "Aggregate"]
        assert aggregates and all(n["Strategy"] == "Hashed" for n in aggregates), aggregates
        assert all(n.get("HashAgg Batches", 1) == 1 and n.get("Disk Usage", 0) == 0 for n in aggregates)  # no spill
        # parallel workers planned: a partial hash aggregate under a Gather, finalised above it
        assert {n.get("Partial Mode") for n in aggregates} == {"Partial", "Finalize"}, aggregates
        assert "Gather" in kinds


async def test_identical_tables_end_at_the_whole_table_checksums(database_url: str) -> None:
    """Equal key bounds and counts: the whole tables' checksums (an ungrouped parallel aggregate)
    first, and equal ones end the diff; a changed row with the counts still equal is found after
    them; different counts go straight to the buckets; `whole_table_first` forces or skips the
    early exit."""
    async with connect(database_url) as db:
        await _wide_pg(db, "items")
        await _wide_pg(db, "copy")
        sides = DiffSide(db, TableRef(name="items")), DiffSide(db, TableRef(name="copy"))
        result = await diff_tables(*sides, key=["id"])
        assert result.equal and result.whole_table is True and result.source_rows == result.target_rows == ROWS
        # the bounds, the counts and one ungrouped checksum scan per side: no bucket, no refinement
        assert result.queries == 6 and result.levels == 0 and result.buckets == 0
        whole = next(sql for sql in result.sql["source"] if "SUM(" in sql)
        assert "GROUP BY" not in whole
        async with db.read_session(session_settings("postgres")) as session:
            rows = await session.fetch_rows(f"EXPLAIN (ANALYZE, FORMAT JSON) {whole}")
        plan = json.loads(rows[0][0])[0]["Plan"] if isinstance(rows[0][0], str) else rows[0][0][0]["Plan"]
        aggregates = [n for n in _nodes(plan) if n["Node Type"] == "Aggregate"]
        assert aggregates and all(n["Strategy"] == "Plain" for n in aggregates), aggregates
        assert "Gather" in [n["Node Type"] for n in _nodes(plan)]

        await db.execute("UPDATE copy SET name = 'changed' WHERE id = 123456")
        changed = await diff_tables(*sides, key=["id"])
        assert changed.whole_table is False and changed.changed == 1 and dict(changed.changed_columns) == {"name": 1}
        assert changed.levels >= 1 and changed.buckets > 0

        await db.execute("DELETE FROM copy WHERE id = 7")
        fewer = await diff_tables(*sides, key=["id"])
        assert fewer.whole_table is None and fewer.only_in_source == 1 and fewer.changed == 1
        forced = await diff_tables(*sides, key=["id"], options=RowDiffOptions(whole_table_first=True))
        assert forced.whole_table is False and forced.only_in_source == 1 and forced.changed == 1

        await db.execute("UPDATE copy SET name = i.name FROM items i WHERE copy.id = i.id AND copy.id = 123456")
        await db.execute("INSERT INTO copy SELECT * FROM items WHERE id = 7")
        skipped = await diff_tables(*sides, key=["id"], options=RowDiffOptions(whole_table_first=False))
        assert skipped.equal and skipped.whole_table is None and skipped.levels == 1


async def test_a_string_key_also_ends_at_the_whole_table_checksums(duckdb_url: str) -> None:
    async with connect(duckdb_url) as db:
        for name in ("a", "b"):
            await db.execute(f"CREATE TABLE {name} AS SELECT 'k' || i AS code, i * 2 AS v FROM range(1, 5001) AS g(i)")
        sides = DiffSide(db, TableRef(name="a")), DiffSide(db, TableRef(name="b"))
        result = await diff_tables(*sides, key=["code"])
        assert result.strategy == "key_hash" and result.equal and result.whole_table is True and result.levels == 0
        assert not any("GROUP BY" in sql for sql in result.sql["source"])
        await db.execute("UPDATE b SET v = -1 WHERE code = 'k4321'")
        changed = await diff_tables(*sides, key=["code"])
        assert changed.whole_table is False and changed.changed == 1 and changed.sample[0].key == {"code": "k4321"}
        keyless = await diff_tables(*sides, key=[])
        assert keyless.whole_table is False and keyless.changed == 1


async def test_postgres_read_session_reads_one_snapshot(database_url: str) -> None:
    async with connect(database_url) as db:
        await db.execute("CREATE TABLE t AS SELECT g AS id FROM generate_series(1, 10) AS g")
        async with db.read_session(session_settings("postgres")) as session:
            before = await session.fetch_rows("SELECT COUNT(*) FROM t")
            await db.execute("INSERT INTO t SELECT g FROM generate_series(11, 15) AS g")  # another connection
            after = await session.fetch_rows("SELECT COUNT(*) FROM t")
            pinned = await session.fetch_rows("SELECT current_setting('DateStyle'), current_setting('jit')")
            assert session.snapshot["isolation"] == "repeatable read"
        assert before == after == [(10,)]
        assert pinned == [("ISO, YMD", "off")]
        assert await db.fetch_rows("SELECT COUNT(*) FROM t") == [(15,)]
        # a session is read-only: a write inside it is refused
        async with db.read_session() as session:
            with pytest.raises(Exception, match="read-only"):
                await session.fetch_rows("INSERT INTO t VALUES (99) RETURNING id")


async def test_duckdb_bucket_scan_is_a_hash_group_by(duckdb_url: str) -> None:
    async with connect(duckdb_url) as db:
        for name in ("items", "copy"):
            await db.execute(
                f"CREATE TABLE {name} AS SELECT i::BIGINT AS id, (i % 1000)::INT AS qty, "
                f"CAST(i * 37 % 10000000 AS DECIMAL(12,2)) / 100 AS price, 'customer ' || i AS name, "
                f"DATE '2015-01-01' + (i % 3650)::INT AS day FROM range(1, 200001) AS r(i)"
            )
        result = await diff_tables(DiffSide(db, TableRef(name="items")), DiffSide(db, TableRef(name="copy")), key=["id"],
                                   options=RowDiffOptions(whole_table_first=False))
        assert result.equal and result.source_rows == 200_000 and result.queries == 4
        checksum = next(sql for sql in result.sql["source"] if "GROUP BY" in sql)
        plan = " ".join(str(v) for row in await db.fetch_rows(f"EXPLAIN {checksum}") for v in row)
        assert re.search(r"hash[ _]group[ _]by", plan, re.IGNORECASE), plan
        assert not re.search(r"order[ _]by|\bsort\b", plan, re.IGNORECASE), plan


async def test_a_difference_is_still_found_with_auto_buckets(database_url: str, duckdb_url: str) -> None:
    """PostgreSQL (cheap text under the pinned settings) against DuckDB: equal rows hash alike, and a
    changed date, decimal and timestamp (one microsecond) are found."""
    async with connect(database_url) as pg, connect(duckdb_url) as duck:
        await _wide_pg(pg, "items", 20_000)
        await duck.execute(
            "CREATE TABLE items (id BIGINT, qty INTEGER, price DECIMAL(12,2), name VARCHAR(40), day DATE, ts TIMESTAMP)"
        )
        batch = await pg.fetch("SELECT * FROM items ORDER BY id")
        await duck.executemany("INSERT INTO items VALUES (?, ?, ?, ?, ?, ?)", [tuple(r.values()) for r in batch.to_pylist()])
        await duck.execute("UPDATE items SET day = day + 1 WHERE id = 777")
        await duck.execute("UPDATE items SET price = price + 0.01 WHERE id = 15000")
        await duck.execute("UPDATE items SET ts = ts + INTERVAL 1 MICROSECOND WHERE id = 12345")
        result = await diff_tables(
            DiffSide(pg, TableRef(name="items")), DiffSide(duck, TableRef(name="items")), key=["id"], options=RowDiffOptions()
        )
        assert result.changed == 3 and result.only_in_source == result.only_in_target == 0
        assert dict(result.changed_columns) == {"day": 1, "price": 1, "ts": 1}
        pg_sql = next(sql for sql in result.sql["source"] if "GROUP BY" in sql)
        assert 'CAST("day" AS TEXT)' in pg_sql and 'CAST("price" AS TEXT)' in pg_sql  # the cheap forms
        # a timestamp prints its own text, as DuckDB's side does (the pair form): no TO_CHAR
        assert 'CAST(CAST("ts" AS TIMESTAMP) AS TEXT)' in pg_sql and "TO_CHAR" not in pg_sql


def test_tsql_checksum_queries_ask_for_a_hash_group() -> None:
    plan = _plan(["id"])
    from ombudsman.engine.rowdiff.engine import _checksum_query, _range_bucket, _residue

    sql = _parses(_checksum_query(plan, "source", _range_bucket(plan, "source", 1, 512), None))
    assert sql.endswith("OPTION(HASH GROUP)")
    options = sqlglot.parse_one(sql, read="tsql").args.get("options")
    assert options and options[0].name.upper() == "HASH GROUP"
    hashed = _plan(["name"])
    assert _parses(_checksum_query(hashed, "source", _residue(hashed, "source", 4096), None)).endswith("OPTION(HASH GROUP)")


def test_buckets_are_tuned_from_rows_and_width() -> None:
    assert auto_buckets(10, 100) == 256  # small tables: the floor
    assert auto_buckets(6_000_000, 200) == 18_311  # ~64 KiB of rows per bucket
    assert auto_buckets(1_000_000_000, 200) == 65_536  # the hash table stays small
    assert auto_buckets(6_000_000, 400) > auto_buckets(6_000_000, 100)


class _SnowflakeSide:
    """Only what rendering reads: the dialect (no query is run)."""

    dialect = "snowflake"


def test_snowflake_reads_are_pinned_by_time_travel_in_every_query() -> None:
    from ombudsman.engine.normalize import LogicalType, NormalizeOptions
    from ombudsman.engine.rowdiff.engine import RowDiffResult, _checksum_query, _Leaf, _range_bucket
    from ombudsman.engine.rowdiff.plan import ColumnPair, Plan
    from ombudsman.engine.validators import sql as q

    pairs = [ColumnPair("id", "ID", "ID", LogicalType("integer"), LogicalType("integer")),
             ColumnPair("name", "NAME", "NAME", LogicalType("string"), LogicalType("string"))]
    side: Any = DiffSide(_SnowflakeSide(), TableRef(name="ORDERS", schema_name="PUBLIC"))  # type: ignore[arg-type]
    plan = Plan(sides={"source": side, "target": side}, key=pairs[:1], columns=pairs, options=NormalizeOptions())
    plan.read_at["target"] = "2026-12-04 22:00:00.123456789 +0000"
    leaf = _Leaf(plan, RowDiffResult("key_range", ["id"], []), RowDiffOptions(), None)
    for query in (_checksum_query(plan, "target", _range_bucket(plan, "target", 1, 64), None),
                  leaf._query("target", sqlglot.exp.true())):
        sql, _ = q.render(query, "snowflake")
        assert "AT (TIMESTAMP => CAST('2026-12-04 22:00:00.123456789 +0000' AS TIMESTAMPLTZ))" in sql, sql
        table = sqlglot.parse_one(sql, read="snowflake").find(sqlglot.exp.Table)
        assert table is not None and table.args["when"].text("kind") == "TIMESTAMP"
    source_sql, _ = q.render(_checksum_query(plan, "source", _range_bucket(plan, "source", 1, 64), None), "snowflake")
    assert " AT (" not in source_sql  # only the pinned side


async def test_unpinned_sides_say_so(duckdb_url: str, fakesnow_url: str) -> None:
    async with connect(duckdb_url) as duck, connect(fakesnow_url) as snow:
        await duck.execute("CREATE TABLE t AS SELECT i AS id, 'x' || i AS name FROM range(1, 101) r(i)")
        await snow.execute("CREATE TABLE t (id INT, name VARCHAR(20))")
        await snow.execute("INSERT INTO t VALUES " + ", ".join(f"({i}, 'x{i}')" for i in range(1, 101)))
        result = await diff_tables(DiffSide(duck, TableRef(name="t")), DiffSide(snow, TableRef(name="t")), key=["id"])
        assert result.equal and result.source_rows == 100
        assert result.snapshot["source"]["isolation"] == "snapshot" and result.snapshot["source"]["at"]
        assert result.snapshot["target"] == {"isolation": "none", "reason": "fakesnow has no time travel"}


async def test_duckdb_read_session_reads_one_snapshot(duckdb_url: str) -> None:
    async with connect(duckdb_url) as db:
        await db.execute("CREATE TABLE t AS SELECT i AS id FROM range(1, 11) r(i)")
        async with db.read_session() as session:
            before = await session.fetch_rows("SELECT COUNT(*) FROM t")
            await db.execute("INSERT INTO t SELECT i FROM range(11, 16) r(i)")  # another connection, committed
            after = await session.fetch_rows("SELECT COUNT(*) FROM t")
            streamed = [b.num_rows async for b in session.stream("SELECT id FROM t", batch_size=4)]
        assert before == after == [(10,)] and sum(streamed) == 10
        assert await db.fetch_rows("SELECT COUNT(*) FROM t") == [(15,)]


async def test_hash_buckets_are_sized_from_the_catalog_without_a_count_scan(database_url: str, duckdb_url: str) -> None:
    """A string key: identical tables cost one checksum scan per side (the row estimate comes from
    the catalog, not from a COUNT(*) scan), and a change is still found."""
    for kind, url in (("postgres", database_url), ("duckdb", duckdb_url)):
        series = "generate_series(1, 5000) AS g(i)" if kind == "postgres" else "range(1, 5001) AS g(i)"
        async with connect(url) as db:
            for name in ("a", "b"):
                await db.execute(f"CREATE TABLE {name} AS SELECT 'k' || i AS code, i * 2 AS v FROM {series}")
            if kind == "postgres":
                await db.execute("ANALYZE a; ANALYZE b")
            result = await diff_tables(DiffSide(db, TableRef(name="a")), DiffSide(db, TableRef(name="b")), key=["code"],
                                       options=RowDiffOptions(whole_table_first=False))  # no COUNT(*) for the early exit
            assert result.strategy == "key_hash" and result.equal and result.source_rows == 5000
            scans = [sql for side in ("source", "target") for sql in result.sql[side] if 'FROM "a"' in sql or 'FROM "b"' in sql]
            assert len(scans) == 2 and all("GROUP BY" in sql for sql in scans), (kind, scans)
            await db.execute("UPDATE b SET v = -1 WHERE code = 'k4321'")
            changed = await diff_tables(DiffSide(db, TableRef(name="a")), DiffSide(db, TableRef(name="b")), key=["code"])
            assert changed.changed == 1 and changed.sample[0].key == {"code": "k4321"}, kind


async def test_one_connection_shared_by_both_sides_still_diffs(database_url: str) -> None:
    """pool_size=1 and both tables in one database: the sides cannot each hold a session's connection,
    so they read unpinned (and say so) instead of waiting for each other."""
    separator = "&" if "?" in database_url else "?"
    async with connect(f"{database_url}{separator}pool_size=1&connect_timeout=5") as db:
        await db.execute("CREATE TABLE a AS SELECT g AS id, g * 2 AS v FROM generate_series(1, 100) AS g")
        await db.execute("CREATE TABLE b AS SELECT g AS id, g * 2 AS v FROM generate_series(1, 101) AS g")
        result = await diff_tables(DiffSide(db, TableRef(name="a")), DiffSide(db, TableRef(name="b")), key=["id"])
        assert result.only_in_target == 1 and result.snapshot["source"]["isolation"] == "none"


async def test_an_integer_key_that_is_null_everywhere_is_still_compared(duckdb_url: str) -> None:
    """No key bounds (every key NULL): the rows are compared by key hash, not taken as empty tables."""
    async with connect(duckdb_url) as db:
        await db.execute("CREATE TABLE a AS SELECT CAST(NULL AS BIGINT) AS id, i AS v FROM range(1, 4) AS g(i)")
        await db.execute("CREATE TABLE b AS SELECT CAST(NULL AS BIGINT) AS id, i * 2 AS v FROM range(1, 4) AS g(i)")
        result = await diff_tables(DiffSide(db, TableRef(name="a")), DiffSide(db, TableRef(name="b")), key=["id"])
        assert result.strategy == "key_hash" and result.source_rows == result.target_rows == 3
        assert not result.equal
        empty = await diff_tables(DiffSide(db, TableRef(name="a"), "v < 0"), DiffSide(db, TableRef(name="b"), "v < 0"), key=["id"])
        assert empty.equal and empty.source_rows == empty.target_rows == 0


async def test_a_char_column_hashes_padded_against_duckdb(database_url: str, duckdb_url: str) -> None:
    """PostgreSQL CHAR(n) against DuckDB VARCHAR: the row hash prints the CHAR with its padding (no
    trim on PostgreSQL) and DuckDB pads to n, so trailing spaces on either side are no difference and a
    changed flag or code is still found."""
    async with connect(database_url) as pg, connect(duckdb_url) as duck:
        await pg.execute("CREATE TABLE flags AS SELECT i AS id, CAST(CASE WHEN i % 3 = 0 THEN '' ELSE chr(65 + i % 26) END AS CHAR(1)) AS flag, "
                         "CAST('c' || (i % 97) AS CHAR(5)) AS code FROM generate_series(1, 2000) AS g(i)")
        await duck.execute("CREATE TABLE flags AS SELECT i AS id, CASE WHEN i % 3 = 0 THEN (CASE WHEN i % 2 = 0 THEN ' ' ELSE '' END) "
                           "ELSE chr(CAST(65 + i % 26 AS INTEGER)) END AS flag, 'c' || (i % 97) || CASE WHEN i % 5 = 0 THEN '  ' ELSE '' END AS code "
                           "FROM range(1, 2001) AS g(i)")
        sides = DiffSide(pg, TableRef(name="flags")), DiffSide(duck, TableRef(name="flags"))
        result = await diff_tables(*sides, key=["id"], options=RowDiffOptions(whole_table_first=False))
        assert result.equal and result.source_rows == 2000 and result.leaf_rows_fetched == 0  # hashes alike: nothing fetched
        pg_sql = next(sql for sql in result.sql["source"] if "GROUP BY" in sql)
        assert '"flag"' in pg_sql and 'CAST("flag" AS TEXT)' not in pg_sql and "RTRIM" not in pg_sql  # printed padded
        await duck.execute("UPDATE flags SET flag = 'z' WHERE id = 7")
        await duck.execute("UPDATE flags SET code = 'c6 x' WHERE id = 6")
        changed = await diff_tables(*sides, key=["id"])
        assert changed.changed == 2 and dict(changed.changed_columns) == {"flag": 1, "code": 1}
