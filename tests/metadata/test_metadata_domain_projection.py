"""The metadata aggregate's decisions (pure) and its read model on a real PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from ombudsman.contracts import events as ev
from ombudsman.contracts.envelope import Actor, Metadata
from ombudsman.contracts.registry import Event, envelope_for
from ombudsman.contracts.replies import Invalid, NotFound
from ombudsman.eventstore.db import create_engine
from ombudsman.metadata import domain
from ombudsman.metadata import projections as read
from ombudsman.metadata.ddl import parse_ddl
from ombudsman.metadata.diff import diff_catalogs
from ombudsman.metadata.mapping import suggest
from tests.metadata.warehouse import SOURCE_DDL, TARGET_DDL
from tests.support import folded

SOURCE = parse_ddl(SOURCE_DDL, "postgres")
TARGET = parse_ddl(TARGET_DDL, "snowflake")
META = Metadata(actor=Actor(id="u1", name="ana", role="user"))


def _with_catalogs(project: str = "p1") -> tuple[domain.MetadataState, list[Event]]:
    events = domain.record_catalog(project, "source", SOURCE, diff_catalogs(None, SOURCE))
    events += domain.record_catalog(project, "target", TARGET, diff_catalogs(None, TARGET), dialect="snowflake")
    return folded(domain.METADATA, project, events), events


def test_catalog_events_are_chunked_summarised_and_folded() -> None:
    state, events = _with_catalogs()
    details = [e for e in events if isinstance(e, ev.MetadataDetailsRecorded) and e.kind == "catalog"]
    assert [(e.side, e.chunk, e.chunks, len(e.items)) for e in details] == [("source", 1, 1, 12), ("target", 1, 1, 13)]
    big = domain.details("p1", "catalog", "source", [{"i": i} for i in range(120)], {"kind": "postgres"})
    assert [(e.chunk, e.chunks, len(e.items)) for e in big] == [(1, 3, 50), (2, 3, 50), (3, 3, 20)]  # type: ignore[attr-defined]
    assert big[0].header == {"kind": "postgres"} and big[1].header == {}  # type: ignore[attr-defined]
    assert len({e.batch_id for e in big}) == 1  # type: ignore[attr-defined]
    summary = next(e for e in events if isinstance(e, ev.MetadataExtracted) and e.side == "source")
    assert (summary.tables, summary.columns, summary.changes["first_extraction"]) == (12, 56, True)
    assert any(isinstance(e, ev.DdlUploaded) and e.dialect == "snowflake" for e in events)
    assert state.sides["source"].extracted and state.sides["target"].tables == 13 and state.version == len(events)


def test_approve_correct_and_reject() -> None:
    state, _ = _with_catalogs()
    cmd = domain.ApproveMapping(project_id="p1", source_table="sales.fact_sales", target_table="sales.fct_sales",
                                columns={"quantity": "qty", "sale_id": "SALE_ID"})
    [approved] = domain.approve(state, cmd, SOURCE, TARGET, {})
    assert isinstance(approved, ev.MappingApproved)
    assert (approved.target_table, approved.columns) == ("SALES.FCT_SALES", {"quantity": "QTY", "sale_id": "SALE_ID"})
    state.apply(approved)
    assert domain.approve(state, cmd, SOURCE, TARGET, {}) == []  # the same approval again changes nothing
    corrected = domain.approve(state, cmd.model_copy(update={"columns": {"quantity": "QTY"}}), SOURCE, TARGET, {})
    assert len(corrected) == 1
    state.apply(corrected[0])
    assert state.approved["sales.fact_sales"].columns == {"quantity": "QTY"}
    [rejected] = domain.reject(state, "sales.fact_sales", "SALES.FCT_SALES")
    state.apply(rejected)
    assert "sales.fact_sales" not in state.approved and domain.reject(state, "sales.fact_sales", "SALES.FCT_SALES") == []


def test_approve_refuses_what_does_not_exist() -> None:
    state, _ = _with_catalogs()
    with pytest.raises(Invalid, match=r"columns: unknown column\(s\) source sales.fact_sales: nope; target SALES.FCT_SALES: NOPE2"):
        domain.approve(state, domain.ApproveMapping(project_id="p1", source_table="sales.fact_sales",
                                                    target_table="SALES.FCT_SALES", columns={"nope": "NOPE2"}),
                       SOURCE, TARGET, {})
    with pytest.raises(NotFound, match=r"target_table: no table 'SALES\.NOPE'"):
        domain.approve(state, domain.ApproveMapping(project_id="p1", source_table="sales.fact_sales",
                                                    target_table="SALES.NOPE"), SOURCE, TARGET, {})
    with pytest.raises(Invalid, match="same target column"):
        domain.approve(state, domain.ApproveMapping(project_id="p1", source_table="sales.fact_sales",
                                                    target_table="SALES.FCT_SALES",
                                                    columns={"quantity": "QTY", "sale_id": "qty"}), SOURCE, TARGET, {})
    empty = domain.MetadataState(project_id="p2")
    with pytest.raises(NotFound, match="has no source and no target catalog yet"):
        domain.record_suggestions(empty, suggest(SOURCE, TARGET))
    with pytest.raises(Invalid, match="no approved mapping"):
        domain.pipelines_generated(empty, [])


async def test_read_model_applies_events_idempotently_and_rebuilds(database_url: str) -> None:
    state, events = _with_catalogs()
    suggestions = suggest(SOURCE, TARGET)
    events += domain.record_suggestions(state, suggestions)
    events += [ev.MappingApproved(project_id="p1", source_table="sales.dim_date", target_table="SALES.DIM_DATE",
                                  columns={"date_key": "DATE_SK"}, confidence=1.0, automatic=True),
               ev.MappingApproved(project_id="p1", source_table="sales.fact_sales", target_table="SALES.FCT_SALES",
                                  columns={"sale_id": "SALE_ID"}),
               ev.MappingRejected(project_id="p1", source_table="sales.fact_sales", target_table="SALES.FCT_SALES"),
               ev.ColumnDescriptionsSuggested(project_id="p1", table="sales.fact_sales", side="source", model="m1",
                                              descriptions={"sale_id": "The sale.", "amount": "Its amount."}),
               ev.ColumnDescriptionApproved(project_id="p1", table="sales.fact_sales", side="source", column="sale_id",
                                            description="The sale.", model="m1"),
               ev.ColumnDescriptionRejected(project_id="p1", table="sales.fact_sales", side="source", column="amount")]
    envelopes = [envelope_for(e, stream_id="p1", version=i, meta=META) for i, e in enumerate(events, start=1)]
    projection = read.MetadataProjection()
    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            await projection.setup(conn)
            for envelope in envelopes + envelopes[-7:]:  # the last seven delivered twice
                await projection.apply(conn, envelope)
        async with engine.begin() as conn:
            await _check(conn, projection, envelopes, suggestions)
    finally:
        await engine.dispose()


async def _check(conn, projection, envelopes, suggestions) -> None:  # type: ignore[no-untyped-def]
        catalog = await read.load_catalog(conn, "p1", "source")
        assert catalog is not None and catalog.kind == "postgres" and len(catalog.tables) == 12
        assert catalog.table("sales", "fact_sales").primary_key == ["sale_id"]  # type: ignore[union-attr]
        loaded = await read.load_suggestions(conn, "p1")
        assert loaded is not None and loaded.table("sales.fact_sales").column_map() == \
            suggestions.table("sales.fact_sales").column_map()  # type: ignore[union-attr]
        assert loaded.unmapped_target_tables == ["SALES.AUDIT_LOG"]
        mappings = await read.load_approved(conn, "p1")
        assert [(m["source_table"], m["approved_by"]) for m in mappings] == [("sales.dim_date", "ana")]
        assert (await read.load_changes(conn, "p1", "target")).first_extraction  # type: ignore[union-attr]
        # the draft suggested, approved and rejected before stays decided when delivered again
        described = (await read.load_descriptions(conn, "p1", "source"))["sales.fact_sales"].columns
        assert described["sale_id"].description == "The sale." and described["sale_id"].by == "ana"
        assert described["sale_id"].draft is None and described["amount"].draft is None
        assert described["amount"].description is None
        status = await read.load_status(conn, "p1")
        assert status["sides"]["source"]["tables"] == 12 and status["approved_mappings"] == 1
        # a new extraction replaces the old catalog (chunk 1 of a new batch)
        smaller = SOURCE.model_copy(update={"tables": SOURCE.tables[:3]})
        again = [envelope_for(e, stream_id="p1", version=i, meta=META) for i, e in enumerate(
            domain.record_catalog("p1", "source", smaller, diff_catalogs(SOURCE, smaller)), start=len(envelopes) + 1)]
        for envelope in again:
            await projection.apply(conn, envelope)
        assert len((await read.load_catalog(conn, "p1", "source")).tables) == 3  # type: ignore[union-attr]
        assert len((await read.load_changes(conn, "p1", "source")).tables_removed) == 9  # type: ignore[union-attr]
        # replay from scratch gives the same read model
        query = text(f"SELECT kind, side, key, body::text AS body, updated_at FROM {read.DOCUMENTS} ORDER BY 1, 2, 3")
        before = (await conn.execute(query)).all()
        await projection.reset(conn)
        for envelope in envelopes + again:
            await projection.apply(conn, envelope)
        after = (await conn.execute(query)).all()
        assert before == after  # byte-identical rebuild
        await read.ProjectCleanup().apply(
            conn, envelope_for(ev.ProjectDeleted(project_id="p1"), stream_id="p1", version=99, meta=META))
        count = text(f"SELECT count(*) FROM {read.DOCUMENTS} WHERE project_id = 'p1'")
        assert (await conn.execute(count)).scalar_one() == 0
        # rebuilding the documents after the deletion does not bring the project back
        await projection.reset(conn)
        for envelope in envelopes + again:
            await projection.apply(conn, envelope)
        assert (await conn.execute(count)).scalar_one() == 0
