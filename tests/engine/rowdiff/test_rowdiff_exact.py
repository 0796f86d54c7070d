"""The row diff finds exactly the injected differences between real databases: PostgreSQL↔DuckDB,
PostgreSQL↔Snowflake (fakesnow) and DuckDB↔DuckDB, whatever the key (integer, string, UUID,
composite, none), with a filter, a column subset, renamed columns, and files of differences."""

from __future__ import annotations

import asyncio
import contextlib
import csv
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import sqlglot

from ombudsman.contracts.pipeline import TableRef
from ombudsman.engine.connectors import Connector, connect
from ombudsman.engine.connectors.snowflake import FakesnowServer
from ombudsman.engine.rowdiff import (
    DiffSide,
    RowDiffInputError,
    RowDiffOptions,
    RowDiffResult,
    diff_tables,
    open_writer,
)
from tests.engine.rowdiff import tables as t
from tests.support import fresh_database

# small buckets so that every level of the algorithm runs on a few hundred rows
SMALL = RowDiffOptions(buckets=8, split=4, leaf_rows=4, fetch_rows=40, sample_limit=100)
PAIRS = [("postgres", "duckdb"), ("postgres", "fakesnow"), ("duckdb", "duckdb")]


async def _load(source_url: str, target_url: str) -> None:
    async with connect(source_url) as source, connect(target_url) as target:
        for db in (source, target):
            await t.create(db, "items", range(1, t.ROWS + 1))
            await t.create(db, "same", range(1, t.ROWS + 1))
        await t.apply_changes(target, "items")
        await t.create(source, "bag", [1, 2, 2, 3, 4, 4, 4, 5])
        await t.create(target, "bag", [1, 2, 3, 3, 4, 4, 6])


@pytest.fixture(scope="module", params=PAIRS, ids=["pg-duckdb", "pg-fakesnow", "duckdb-duckdb"])
def pair_urls(
    request: pytest.FixtureRequest, pg_server_url: str, fakesnow_server: FakesnowServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    """Source and target databases loaded once per pair for this module's tests (which only read)."""
    folder = tmp_path_factory.mktemp("rowdiff")
    with contextlib.ExitStack() as databases:
        urls = []
        for n, kind in enumerate(request.param):
            if kind == "postgres":
                urls.append(databases.enter_context(fresh_database(pg_server_url, "omb_rd_")))
            elif kind == "fakesnow":
                urls.append(fakesnow_server.url())
            else:
                urls.append(f"duckdb:///{folder / f'side{n}.duckdb'}")
        asyncio.run(_load(urls[0], urls[1]))
        yield urls[0], urls[1]


@pytest.fixture
async def pair(pair_urls: tuple[str, str]) -> AsyncIterator[tuple[Connector, Connector]]:
    async with connect(pair_urls[0]) as source, connect(pair_urls[1]) as target:
        yield source, target


def _sides(pair: tuple[Connector, Connector], where: tuple[str, str] | None = None) -> tuple[DiffSide, DiffSide]:
    source, target = pair
    conditions = [None, None]
    if where:
        conditions = [sqlglot.condition(where[0], dialect=source.dialect), sqlglot.condition(where[1], dialect=target.dialect)]
    return DiffSide(source, TableRef(name="items"), conditions[0]), DiffSide(target, TableRef(name="items"), conditions[1])


def _ids(result: RowDiffResult, kind: str) -> set[int]:
    """The ids of the sample's differences of one kind (keys may be sku, uid or composite)."""
    out = set()
    for d in result.sample:
        if d.kind != kind:
            continue
        if "id" in d.key:
            out.add(int(d.key["id"]))
        elif "sku" in d.key:
            out.add(int(d.key["sku"].removeprefix("SKU-")))
        else:
            out.add(next(i for i in range(1, t.ROWS + 3) if str(t.row(i)["uid"]) == d.key["uid"]))
    return out


def _assert_exact(result: RowDiffResult) -> None:
    assert result.only_in_source == len(t.DELETES) and _ids(result, "only_in_source") == set(t.DELETES)
    assert result.only_in_target == len(t.INSERTS) and _ids(result, "only_in_target") == set(t.INSERTS)
    assert result.changed == len(t.EXPECTED_CHANGED)
    changed = {next(iter(_ids_of(d))): set(d.columns) for d in result.sample if d.kind == "changed"}
    assert changed == {i: {column} for i, column in t.EXPECTED_CHANGED.items()}
    assert result.source_rows == t.ROWS and result.target_rows == t.ROWS
    assert not _ids(result, "changed") & t.NOISE


def _ids_of(d: object) -> set[int]:
    fake = RowDiffResult(strategy="key_range", key=[], columns=[], sample=[d])  # type: ignore[list-item]
    return _ids(fake, d.kind)  # type: ignore[attr-defined]


@pytest.mark.parametrize("key", [["id"], ["sku"], ["uid"], ["sku", "id"]], ids=["int", "string", "uuid", "composite"])
async def test_every_injected_difference_is_found_and_nothing_else(pair: tuple[Connector, Connector], key: list[str]) -> None:
    result = await diff_tables(*_sides(pair), key=key, options=SMALL)
    _assert_exact(result)
    assert result.strategy == ("key_range" if key == ["id"] else "key_hash")
    assert result.levels >= 2  # the first buckets were refined, not fetched whole
    # both values of a changed column, in canonical text
    note_22 = next(d for d in result.sample if d.kind == "changed" and _ids_of(d) == {22})
    assert note_22.columns["note"] == ("note 22", None)
    amount = next(d for d in result.sample if d.kind == "changed" and _ids_of(d) == {11})
    assert amount.columns["amount"] == (f"{t.row(11)['amount']:.2f}", "999.99")


async def test_changed_values_are_reported_both_sides(pair: tuple[Connector, Connector]) -> None:
    result = await diff_tables(*_sides(pair), key=["id"], options=SMALL)
    by_id = {int(d.key["id"]): d for d in result.sample}
    assert by_id[21].columns["note"] == ("", None)  # '' and NULL are different
    assert by_id[20].columns["note"] == (None, "was null")
    assert by_id[17].columns["updated_tz"] == ("2021-05-31 22:17:17.000051", "2021-06-01 03:00:00.000000")  # +02:00 in UTC
    assert by_id[16].columns["updated"] == ("2021-01-01 00:16:00.000016", "2021-01-01 00:16:00.000017")
    assert by_id[18].columns["payload"] == ("00000012", "ff")
    assert by_id[24].columns["note"] == ("note 24", "note 24 ")
    assert by_id[3].kind == "only_in_source" and by_id[3].columns["sku"] == ("SKU-00003", None)


async def test_where_filter_and_column_subset(pair: tuple[Connector, Connector]) -> None:
    result = await diff_tables(*_sides(pair, ("id < 16", "id < 16")), key=["id"], options=SMALL)
    assert (result.only_in_source, result.only_in_target) == (1, 0)
    assert {int(d.key["id"]) for d in result.sample if d.kind == "changed"} == {11, 12, 13, 14, 15}
    assert result.source_rows == 15 and result.target_rows == 14

    subset = await diff_tables(*_sides(pair), key=["id"], columns=["amount", "note"], options=SMALL)
    assert {int(d.key["id"]) for d in subset.sample if d.kind == "changed"} == {11, 20, 21, 22, 24}
    assert subset.columns == ["id", "amount", "note"]


async def test_a_clean_pair_has_no_differences(pair: tuple[Connector, Connector]) -> None:
    source, target = pair
    for key in (["id"], ["sku"], []):
        result = await diff_tables(DiffSide(source, TableRef(name="same")), DiffSide(target, TableRef(name="same")), key=key)
        assert result.equal and result.source_rows == result.target_rows == t.ROWS
        # equal counts: the whole tables' checksums first, equal, so one ungrouped scan each and nothing else
        assert result.leaf_rows_fetched == 0 and result.levels == 0 and result.whole_table is True


async def test_keyless_tables_are_multisets_with_duplicates(pair: tuple[Connector, Connector]) -> None:
    source, target = pair
    result = await diff_tables(DiffSide(source, TableRef(name="bag")), DiffSide(target, TableRef(name="bag")), key=[])
    assert result.strategy == "row_hash"
    copies = {(d.kind, int(d.columns["id"][0 if d.kind == "only_in_source" else 1])): (d.source_count, d.target_count)
              for d in result.sample}
    assert copies == {
        ("only_in_source", 2): (2, 1),
        ("only_in_target", 3): (1, 2),
        ("only_in_source", 4): (3, 2),
        ("only_in_source", 5): (1, 0),
        ("only_in_target", 6): (0, 1),
    }
    assert (result.only_in_source, result.only_in_target) == (3, 2)


async def test_keyless_diff_of_the_changed_table(pair: tuple[Connector, Connector]) -> None:
    """Without a key, a row changed in one column is still reported as changed, naming its column;
    deleted and inserted rows stay one-sided and the float noise is no difference."""
    result = await diff_tables(*_sides(pair), key=[], options=SMALL.model_copy(update={"fetch_rows": 1000}))
    assert result.strategy == "row_hash"
    assert (result.only_in_source, result.only_in_target) == (len(t.DELETES), len(t.INSERTS))
    assert result.changed == len(t.EXPECTED_CHANGED)
    changed = sorted(next(iter(d.columns)) for d in result.sample if d.kind == "changed")
    assert changed == sorted(t.EXPECTED_CHANGED.values())
    assert all(len(d.columns) == 1 for d in result.sample if d.kind == "changed")
    one_sided = {int(d.columns["id"][0 if d.kind == "only_in_source" else 1]) for d in result.sample if d.kind != "changed"}
    assert one_sided == set(t.DELETES) | set(t.INSERTS)
    # the pairing is bounded: none with pair_columns=0, so every change is one row on each side
    strict = await diff_tables(*_sides(pair), key=[], options=SMALL.model_copy(update={"fetch_rows": 1000, "pair_columns": 0}))
    assert strict.changed == 0
    assert strict.only_in_source == len(t.DELETES) + len(t.EXPECTED_CHANGED)


async def test_differences_stream_to_csv_and_parquet(pair: tuple[Connector, Connector], tmp_path: Path) -> None:
    for name in ("diff.csv", "diff.parquet"):
        writer = open_writer(tmp_path / name)
        options = SMALL.model_copy(update={"sample_limit": 2})
        result = await diff_tables(*_sides(pair), key=["id"], options=options, writer=writer)
        writer.close()
        assert len(result.sample) == 2
        if name.endswith(".csv"):
            lines = list(csv.DictReader((tmp_path / name).read_text(encoding="utf-8").splitlines()))
        else:
            lines = pq.read_table(tmp_path / name).to_pylist()
        assert len(lines) == len(t.DELETES) + len(t.INSERTS) + len(t.EXPECTED_CHANGED)
        assert {line["column"] for line in lines if line["kind"] == "changed"} == set(t.EXPECTED_CHANGED.values())


async def test_renamed_columns_are_mapped(tmp_path: Path) -> None:
    async with connect(f"duckdb:///{tmp_path / 'a.duckdb'}") as source, connect(f"duckdb:///{tmp_path / 'b.duckdb'}") as target:
        rename = {"amount": "total_amount", "note": "remark"}
        await t.create(source, "items", range(1, 101))
        await t.create(target, "items", range(1, 101), rename=rename)
        await target.execute("UPDATE items SET total_amount = 1 WHERE id = 7")
        result = await diff_tables(
            DiffSide(source, TableRef(name="items")), DiffSide(target, TableRef(name="items")), key=["id"], column_map=rename
        )
        assert [(d.key, set(d.columns)) for d in result.sample] == [({"id": "7"}, {"amount"})]
        with pytest.raises(RowDiffInputError, match=r"no column .note."):
            await diff_tables(
                DiffSide(source, TableRef(name="items")), DiffSide(target, TableRef(name="items")), key=["id"],
                column_map={"amount": "total_amount"},
            )
        with pytest.raises(RowDiffInputError, match="nope"):
            await diff_tables(DiffSide(source, TableRef(name="items")), DiffSide(target, TableRef(name="items")), key=["nope"])


async def test_leaf_fetches_stay_bounded(tmp_path: Path) -> None:
    """A 200,000-row pair with 5 differences fetches a few hundred rows, not the table."""
    async with connect(f"duckdb:///{tmp_path / 'a.duckdb'}") as source, connect(f"duckdb:///{tmp_path / 'b.duckdb'}") as target:
        for db in (source, target):
            await db.execute("CREATE TABLE big AS SELECT i AS id, 'v' || i AS s, i * 0.5 AS x FROM range(200000) r(i)")
        await target.execute("UPDATE big SET s = 'changed' WHERE id IN (5, 70000, 140000)")
        await target.execute("DELETE FROM big WHERE id IN (1000, 199999)")
        for key in (["id"], ["s"]):
            result = await diff_tables(DiffSide(source, TableRef(name="big")), DiffSide(target, TableRef(name="big")), key=key)
            assert result.differences == (5 if key == ["id"] else 8)
            assert result.leaf_rows_fetched < (2000 if key == ["id"] else 30000)


async def test_null_keys_are_compared_too(tmp_path: Path) -> None:
    async with connect(f"duckdb:///{tmp_path / 'a.duckdb'}") as source, connect(f"duckdb:///{tmp_path / 'b.duckdb'}") as target:
        await source.execute("CREATE TABLE k AS SELECT * FROM (VALUES (1, 'a'), (2, 'b'), (NULL, 'x'), (NULL, 'y')) v(id, v)")
        await target.execute("CREATE TABLE k AS SELECT * FROM (VALUES (1, 'a'), (NULL, 'x'), (NULL, 'z')) v(id, v)")
        result = await diff_tables(DiffSide(source, TableRef(name="k")), DiffSide(target, TableRef(name="k")), key=["id"])
        assert result.strategy == "key_range"
        assert [(d.kind, d.key, d.columns) for d in result.sample] == [
            ("only_in_source", {"id": "2"}, {"v": ("b", None)}),
            ("changed", {"id": None}, {"v": ("y", "z")}),
        ]
