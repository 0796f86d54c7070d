"""The type map's per-dialect tables: every type they read, every type they propose, the vocabulary."""

from __future__ import annotations

import pytest

from ombudsman.contracts.catalog import ColumnInfo
from ombudsman.contracts.replies import Invalid
from ombudsman.engine.typemap import (
    DDL_KINDS,
    DIALECTS,
    KINDS,
    _target_column,
    judge,
    loss_reason,
    map_type,
    parse,
    worst,
)


def test_every_database_kind_has_one_dialect_class() -> None:
    assert KINDS == ("sqlserver", "snowflake", "postgres", "duckdb")
    assert {kind: d.KIND for kind, d in DIALECTS.items()} == {kind: kind for kind in (*KINDS, *DDL_KINDS)}


@pytest.mark.parametrize("source_kind", (*KINDS, *DDL_KINDS))
@pytest.mark.parametrize("target_kind", (*KINDS, *DDL_KINDS))
def test_every_proposed_type_is_one_the_target_dialect_reads(source_kind: str, target_kind: str) -> None:
    """A typo in a RENDER table would propose a type its own TYPES table reads as `other`."""
    for name in [*DIALECTS[source_kind].TYPES, *DIALECTS[source_kind].ALIASES]:
        column = ColumnInfo(name="c", data_type=name, ordinal=1)
        source = parse(source_kind, column)
        assert source.family != "other", f"{source_kind} {name} reads as other"
        proposed = map_type(source_kind, column, target_kind)
        target = parse(target_kind, _target_column(target_kind, proposed.target_type))
        assert target.family != "other", f"{source_kind} {name} -> {target_kind} {proposed.target_type}"


def test_an_alias_reads_as_the_type_it_names() -> None:
    for kind, dialect in DIALECTS.items():
        for alias, name in dialect.ALIASES.items():
            read = parse(kind, ColumnInfo(name="c", data_type=alias, ordinal=1))
            assert read == parse(kind, ColumnInfo(name="c", data_type=name, ordinal=1))


def test_an_unknown_kind_is_refused_naming_the_known_ones() -> None:
    column = ColumnInfo(name="c", data_type="int", ordinal=1)
    with pytest.raises(Invalid, match=r"unknown database kind 'oracle'.*sqlserver, snowflake, postgres, duckdb"):
        map_type("oracle", column, "postgres")
    with pytest.raises(Invalid, match="unknown database kind 'oracle'"):
        map_type("sqlserver", column, "oracle")


def test_the_least_faithful_verdict_wins() -> None:
    assert worst() == "lossless"
    assert worst("lossless", "lossy") == "lossy"
    assert worst("incompatible", "lossy", "lossless") == "incompatible"


@pytest.mark.parametrize(
    ("source", "target", "reason"),
    [
        (ColumnInfo(name="c", data_type="decimal", ordinal=1, precision=18, scale=4), "snowflake", None),
        (ColumnInfo(name="c", data_type="datetime2", ordinal=1, precision=7), "postgres", "precision"),
        (ColumnInfo(name="c", data_type="datetimeoffset", ordinal=1, precision=3), "postgres", "time zone"),
        (ColumnInfo(name="c", data_type="sql_variant", ordinal=1), "postgres", "type"),
    ],
)
def test_a_loss_is_named_in_the_vocabulary(source: ColumnInfo, target: str, reason: str | None) -> None:
    mapping = map_type("sqlserver", source, target)
    if reason is None:
        assert mapping.fidelity == "lossless"
    else:
        assert mapping.fidelity != "lossless"
        assert loss_reason(mapping.fidelity, mapping.note) == reason


def test_a_kind_without_a_dialect_is_judged_by_type_family() -> None:
    """A generic ODBC source: the type map has no dialect for it, so names and lengths decide."""
    def c(data_type: str, length: int | None = None, scale: int | None = None) -> ColumnInfo:
        return ColumnInfo(name="c", data_type=data_type, ordinal=1, length=length, scale=scale)

    assert judge("odbc", c("int"), "postgres", c("numeric")) == ("lossless", "integer -> decimal")
    assert judge("odbc", c("varchar", 20), "postgres", c("varchar", 10)) == ("lossy", "length 10 < 20")
    assert judge("odbc", c("date"), "postgres", c("bytea")) == ("incompatible", "date -> binary")
    assert judge("sqlserver", c("datetime2"), "postgres", c("timestamp"))[0] == "lossy"  # the dialects decide
