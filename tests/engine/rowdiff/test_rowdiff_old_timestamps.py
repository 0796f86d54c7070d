"""Timestamps outside the years 1 to 9999 (BC, year 12000) hash alike on PostgreSQL and DuckDB: the
pair form's range test gives them `<days since 1970> <time>` on both sides. It cannot be dropped to
save PostgreSQL its ~7 % (tried): the leaf compare would then judge those rows by their canonical
texts, which PostgreSQL's TO_CHAR and DuckDB's STRFTIME print differently for BC years (`0045-12-22`
and `-44-12-22` for 44 BC), a difference that is not one."""

from __future__ import annotations

from pathlib import Path

from ombudsman.contracts.pipeline import TableRef
from ombudsman.engine.connectors import connect
from ombudsman.engine.rowdiff import DiffSide, diff_tables

# microseconds since 1970: year 2024, 44 BC, year 12000, the first and last instants of years 1 and 9999
MICROS = [1_704_164_645_123_456, -63_524_966_400_000_000, 316_592_928_000_000_000, -62_135_596_800_000_000,
          253_402_300_799_999_999, 0, 86_400_000_001]


async def test_out_of_range_timestamps_hash_alike(database_url: str, tmp_path: Path) -> None:
    rows = 3_000
    async with connect(database_url) as pg, connect(f"duckdb:///{tmp_path / 't.duckdb'}") as duck:
        micros = ", ".join(str(m) for m in MICROS)
        await pg.execute(
            "CREATE TABLE ev AS SELECT i AS id, 'e' || i AS name, TIMESTAMP 'epoch' + (us / 1000000) * INTERVAL '1 second' "
            "+ (us % 1000000) * INTERVAL '1 microsecond' AS ts FROM (SELECT i, (ARRAY[" + micros + "])[1 + i % "
            f"{len(MICROS)}]::bigint AS us FROM generate_series(1, {rows}) AS g(i)) s"
        )
        await duck.execute(
            "CREATE TABLE ev AS SELECT i AS id, 'e' || i AS name, make_timestamp(us) AS ts FROM (SELECT i, "
            f"([{micros}])[1 + i % {len(MICROS)}]::BIGINT AS us FROM range(1, {rows + 1}) AS g(i)) s"
        )
        sides = DiffSide(pg, TableRef(name="ev")), DiffSide(duck, TableRef(name="ev"))
        for key in (["id"], []):
            result = await diff_tables(*sides, key=key)
            assert result.equal, (key, result.sample[:3])
            assert result.source_rows == result.target_rows == rows
        keyed = await diff_tables(*sides, key=["id"])
        assert "10000-01-01" in " ".join(keyed.sql["source"]) and keyed.whole_table is True
        await duck.execute("UPDATE ev SET ts = ts + INTERVAL 1 MICROSECOND WHERE id IN (8, 9)")  # year 44 BC, 12000
        changed = await diff_tables(*sides, key=["id"])
        assert changed.changed == 2 and dict(changed.changed_columns) == {"ts": 2} and changed.only_in_source == 0
        assert sorted(int(d.key["id"]) for d in changed.sample) == [8, 9]
