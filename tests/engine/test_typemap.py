"""Type mapping: the SQL Server table, judging existing column pairs, and the README kept in sync."""

from __future__ import annotations

from pathlib import Path

import pytest

from ombudsman.contracts.catalog import ColumnInfo
from ombudsman.contracts.replies import Invalid
from ombudsman.engine.connectors import connect
from ombudsman.engine.typemap import compatible, map_type, mapping_table_markdown

README = Path(__file__).resolve().parents[2] / "libs" / "engine" / "README.md"


def col(
    data_type: str, length: int | None = None, precision: int | None = None, scale: int | None = None
) -> ColumnInfo:
    return ColumnInfo(
        name="c", data_type=data_type, ordinal=1, length=length, precision=precision, scale=scale
    )


@pytest.mark.parametrize(
    ("source", "target_kind", "target_type", "fidelity", "note_has"),
    [
        (col("datetimeoffset", precision=7), "snowflake", "TIMESTAMP_TZ(9)", "lossless", ""),
        (col("datetimeoffset", precision=7), "postgres", "timestamptz(6)", "lossy", "offset is dropped"),
        (col("datetime2", precision=7), "snowflake", "TIMESTAMP_NTZ(9)", "lossless", ""),
        (col("datetime2", precision=7), "postgres", "timestamp(6)", "lossy", "cut from 7 to 6"),
        (col("datetime2", precision=7), "duckdb", "TIMESTAMP_NS", "lossless", ""),
        (col("datetime"), "snowflake", "TIMESTAMP_NTZ(3)", "lossless", "1/300"),
        (col("money"), "snowflake", "NUMBER(19,4)", "lossless", ""),
        (col("smallmoney"), "postgres", "numeric(10,4)", "lossless", ""),
        (col("sql_variant"), "snowflake", "VARIANT", "incompatible", "concrete type"),
        (col("sql_variant"), "duckdb", "VARCHAR", "incompatible", ""),
        (col("nvarchar", length=-1), "snowflake", "VARCHAR", "lossless", "16 MB"),
        (col("nvarchar", length=200), "postgres", "varchar(200)", "lossless", ""),
        (col("char", length=10), "snowflake", "VARCHAR(10)", "lossless", "trailing spaces"),
        (col("float", precision=24), "snowflake", "FLOAT", "lossless", "7 significant digits"),
        (col("real", precision=24), "postgres", "real", "lossless", ""),
        (col("float", precision=53), "duckdb", "DOUBLE", "lossless", ""),
        (col("tinyint"), "duckdb", "UTINYINT", "lossless", ""),
        (col("tinyint"), "postgres", "smallint", "lossless", ""),
        (col("bigint"), "snowflake", "NUMBER(19,0)", "lossless", ""),
        (col("decimal", precision=38, scale=10), "postgres", "numeric(38,10)", "lossless", ""),
        (col("uniqueidentifier"), "snowflake", "VARCHAR(36)", "lossless", "case-insensitively"),
        (col("uniqueidentifier"), "postgres", "uuid", "lossless", ""),
        (col("time", precision=7), "duckdb", "TIME", "lossy", "cut from 7 to 6"),
        (col("hierarchyid"), "snowflake", "VARCHAR", "lossy", "path text"),
        (col("geography"), "snowflake", "GEOGRAPHY", "lossless", ""),
        (col("rowversion"), "snowflake", "BINARY(8)", "lossless", ""),
        (col("bit"), "snowflake", "BOOLEAN", "lossless", ""),
        (col("xml"), "snowflake", "VARCHAR", "lossless", "whitespace"),
    ],
)
def test_sqlserver_type_map(
    source: ColumnInfo, target_kind: str, target_type: str, fidelity: str, note_has: str
) -> None:
    mapping = map_type("sqlserver", source, target_kind)
    assert (mapping.target_type, mapping.fidelity) == (target_type, fidelity)
    assert note_has in mapping.note


@pytest.mark.parametrize(
    ("source", "source_kind", "target", "target_kind", "fidelity", "note_has"),
    [
        (
            col("numeric", precision=12, scale=2),
            "postgres",
            col("number", precision=12, scale=2),
            "snowflake",
            "lossless",
            "",
        ),
        (
            col("numeric", precision=12, scale=2),
            "postgres",
            col("number", precision=10, scale=2),
            "snowflake",
            "lossy",
            "overflow",
        ),
        (
            col("decimal", precision=12, scale=4),
            "sqlserver",
            col("decimal", precision=12, scale=2),
            "duckdb",
            "lossy",
            "rounded from 4 to 2",
        ),
        (col("bigint"), "sqlserver", col("integer"), "postgres", "lossy", "overflow"),
        (col("int"), "sqlserver", col("number", precision=38, scale=0), "snowflake", "lossless", ""),
        (col("number", precision=38, scale=0), "snowflake", col("bigint"), "postgres", "lossy", "overflow"),
        (col("smallint"), "postgres", col("number", precision=5, scale=0), "snowflake", "lossless", ""),
        (col("number", precision=5, scale=0), "snowflake", col("smallint"), "postgres", "lossy", "overflow"),
        (col("int"), "sqlserver", col("double"), "duckdb", "lossless", "2^53"),
        (col("bigint"), "sqlserver", col("float"), "snowflake", "lossy", "floating point"),
        (col("real"), "postgres", col("double"), "duckdb", "lossless", ""),
        (col("double precision"), "postgres", col("real"), "duckdb", "lossy", "7 significant"),
        (
            col("varchar", length=100),
            "postgres",
            col("varchar", length=50),
            "snowflake",
            "lossy",
            "longer than 50",
        ),
        (
            col("nvarchar", length=-1),
            "sqlserver",
            col("varchar", length=4000),
            "postgres",
            "lossy",
            "cut to 4000",
        ),
        (col("nvarchar", length=10), "sqlserver", col("varchar", length=10), "sqlserver", "lossy", "Unicode"),
        (
            col("timestamptz"),
            "postgres",
            col("timestamp_ntz", precision=9),
            "snowflake",
            "lossy",
            "only if loaded in UTC",
        ),
        (
            col("timestamp_ltz", precision=9),
            "snowflake",
            col("timestamptz"),
            "postgres",
            "lossy",
            "cut from 9 to 6",
        ),
        (col("date"), "sqlserver", col("timestamp_ntz"), "snowflake", "lossless", "midnight"),
        (col("datetime2", precision=3), "sqlserver", col("date"), "snowflake", "lossy", "time of day"),
        (col("int"), "sqlserver", col("varchar", length=20), "snowflake", "lossy", "stored as text"),
        (col("bit"), "sqlserver", col("number", precision=1, scale=0), "snowflake", "lossless", "0/1"),
        (col("date"), "postgres", col("boolean"), "duckdb", "incompatible", "cannot hold"),
        (col("blob"), "duckdb", col("integer"), "postgres", "incompatible", ""),
        (col("mystery_type"), "postgres", col("text"), "duckdb", "incompatible", "unknown type mystery_type"),
    ],
)
def test_compatible_judges_existing_columns(
    source: ColumnInfo, source_kind: str, target: ColumnInfo, target_kind: str, fidelity: str, note_has: str
) -> None:
    mapping = compatible(source, source_kind, target, target_kind)
    assert mapping.fidelity == fidelity, mapping.note
    assert note_has in mapping.note


def test_every_proposed_type_is_judged_as_proposed() -> None:
    # map_type proposes a type; compatible() on that very type must agree on its fidelity
    from ombudsman.engine.typemap import SQLSERVER_EXAMPLES, _target_column

    for source in SQLSERVER_EXAMPLES:
        for kind in ("snowflake", "postgres", "duckdb"):
            proposed = map_type("sqlserver", source, kind)
            judged = compatible(source, "sqlserver", _target_column(kind, proposed.target_type), kind)
            assert judged.fidelity == proposed.fidelity, (source.name, kind)


def test_unknown_kind_is_invalid() -> None:
    with pytest.raises(Invalid, match="unknown database kind 'oracle'"):
        map_type("oracle", col("number"), "snowflake")
    with pytest.raises(Invalid, match="unknown database kind 'db2'"):
        map_type("sqlserver", col("int"), "db2")


def test_readme_documents_the_current_table() -> None:
    assert mapping_table_markdown() in README.read_text(encoding="utf-8"), (
        "libs/engine/README.md's type table is stale: paste ombudsman.engine.typemap.mapping_table_markdown()"
    )


async def test_introspected_columns_are_judged_across_databases(database_url: str, fakesnow_url: str) -> None:
    async with connect(database_url) as pg, connect(fakesnow_url) as sf:
        await pg.execute(
            "CREATE TABLE t (amount numeric(12,2), label varchar(40), placed_at timestamptz, n integer)"
        )
        await sf.execute(
            "CREATE TABLE T (AMOUNT NUMBER(12,2), LABEL VARCHAR(20), PLACED_AT TIMESTAMP_NTZ, N NUMBER(38,0))"
        )
        source = (await pg.introspect(["public"])).table("public", "t")
        target = (await sf.introspect(["PUBLIC"])).table("PUBLIC", "T")
    assert source is not None and target is not None
    judged = {
        c.name: compatible(c, "postgres", target.column(c.name), "snowflake").fidelity  # type: ignore[arg-type]
        for c in source.columns
    }
    assert judged == {"amount": "lossless", "label": "lossy", "placed_at": "lossy", "n": "lossless"}
