"""The workload's join pairs reach the metadata service by events (WorkloadDetailsRecorded of kind
`model`), are kept in a projection on a real PostgreSQL and feed relationship inference."""

from __future__ import annotations

from sqlalchemy import text

from ombudsman.contracts import events as ev
from ombudsman.contracts.envelope import Actor, Metadata
from ombudsman.contracts.registry import envelope_for
from ombudsman.eventstore.db import create_engine
from ombudsman.metadata import projections as read
from ombudsman.metadata import relationships
from ombudsman.metadata.ddl import parse_ddl
from ombudsman.metadata.workload_joins import KIND, WorkloadJoins, load_join_pairs
from ombudsman.workload import domain as workload_domain
from ombudsman.workload.model import JoinUsage, Totals, WorkloadModel
from tests.metadata.warehouse import SOURCE_DDL

META = Metadata(actor=Actor.service("workload"))


def _analysed(workload_id: str, joins: list[tuple[str, str, str, str, int]]) -> list[ev.WorkloadDetailsRecorded]:
    """The events the workload service appends when it has analysed a workload with these joins."""
    state = workload_domain.WorkloadState(workload_id=workload_id, version=1, project_id="p1")
    model = WorkloadModel(totals=Totals(), joins=[
        JoinUsage(left_table=a, left_column=b, right_table=c, right_column=d, queries=1, executions=n)
        for a, b, c, d, n in joins])
    return [e for e in workload_domain.analyzed(state, model) if isinstance(e, ev.WorkloadDetailsRecorded)]


async def test_join_pairs_projection_feeds_inference(database_url: str) -> None:
    first = _analysed("w1", [("sales.dim_product", "product_key", "sales.fact_returns", "product_key", 4000)])
    second = _analysed("w2", [("sales.dim_product", "product_key", "sales.fact_returns", "product_key", 1000),
                              ("sales.fact_returns", "store_key", "sales.dim_store", "store_key", 7)])
    again = _analysed("w1", [("sales.dim_product", "product_key", "sales.fact_returns", "product_key", 10)])
    envelopes = [envelope_for(e, stream_id=e.workload_id, version=i, meta=META)
                 for i, e in enumerate([*first, *second, *again], start=1)]
    projection = WorkloadJoins()
    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            await projection.setup(conn)
            for envelope in envelopes[:1] + envelopes:  # a redelivery changes nothing
                await projection.apply(conn, envelope)
            pairs = await load_join_pairs(conn, "p1")
            # w1 was analysed again: its new figures replace the old ones
            assert (pairs[0].left_column, pairs[0].right_table, pairs[0].executions) == \
                ("product_key", "sales.fact_returns", 1010)
            assert len(pairs) == 2
            # the documents projection's rebuild leaves the workload's joins alone
            await read.MetadataProjection().reset(conn)
            assert len(await load_join_pairs(conn, "p1")) == 2
            catalog = parse_ddl(SOURCE_DDL, "postgres")
            rel = next(r for r in relationships.infer(catalog, pairs)
                       if r.child_table == "sales.fact_returns" and r.child_columns == ["product_key"])
            assert "workload" in rel.kinds and rel.parent_table == "sales.dim_product"
            await read.ProjectCleanup().apply(
                conn, envelope_for(ev.ProjectDeleted(project_id="p1"), stream_id="p1", version=9, meta=META))
            count = text(f"SELECT count(*) FROM {read.DOCUMENTS} WHERE project_id = 'p1' AND kind = '{KIND}'")
            assert (await conn.execute(count)).scalar_one() == 0
            await projection.apply(conn, envelopes[0])  # the project is gone: nothing comes back
            assert (await conn.execute(count)).scalar_one() == 0
    finally:
        await engine.dispose()
