"""Relationship and classification handlers of the metadata service: infer a side's relationships
(declared, named, from the workload, optionally measured in the database) and classify its tables."""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import Field

from ombudsman.contracts.envelope import Metadata
from ombudsman.contracts.replies import Unavailable
from ombudsman.eventstore.rpc import fit_page
from ombudsman.metadata import classify as classify_mod
from ombudsman.metadata import domain, relationships, workload_plan
from ombudsman.metadata import projections as read
from ombudsman.metadata.domain import Side
from ombudsman.metadata.handler_base import HandlerBase, SideRef, describe, parse
from ombudsman.metadata.relationships import JoinPair, Relationship
from ombudsman.metadata.workload_joins import load_join_pairs


class ClassificationPage(SideRef):
    """A page of a side's classification (tables with their per-column classes), sized for the bus."""

    offset: int = Field(default=0, ge=0)
    limit: int | None = Field(default=None, ge=1)


class Infer(SideRef):
    join_pairs: list[JoinPair] = Field(default_factory=list)
    measure_inclusion: bool = False
    connection: str | None = None
    min_confidence: float = Field(default=0.5, ge=0, le=1)
    timeout_seconds: float = Field(default=120.0, gt=0, le=3600)


INCLUSION_SAMPLE_ROWS = 100_000  # child rows checked per candidate: big facts stay cheap


async def measure_inclusion(url: str, rels: list[Relationship],
                            sample_rows: int | None = INCLUSION_SAMPLE_ROWS) -> list[Relationship]:
    """Each relationship with data evidence: child values missing from the parent, counted in the
    database (at most `sample_rows` child rows each)."""
    from ombudsman.engine.connectors import connect

    measured: list[Relationship] = []
    async with connect(url) as db:
        for rel in rels:
            rows = await db.fetch_rows(relationships.inclusion_query(rel, db.dialect, sample_rows))
            total, orphans = (int(rows[0][0] or 0), int(rows[0][1] or 0)) if rows else (0, 0)
            measured.append(relationships.apply_inclusion(rel, total, orphans))
    return measured


class RelationshipHandlers(HandlerBase):
    """infer_relationships, classify; the relationships and classification queries."""

    async def infer_relationships(self, payload: dict[str, Any], meta: Metadata) -> dict[str, Any]:
        """Declared, named, workload (and optionally measured) relationships of one side."""
        cmd = parse(Infer, payload)
        rels = await self._infer(cmd.project_id, cmd.side, cmd.join_pairs, cmd.measure_inclusion,
                                 cmd.connection or cmd.side, cmd.min_confidence, cmd.timeout_seconds, meta)
        return {"relationships": [r.model_dump(mode="json") for r in rels]}

    async def _infer(
        self, project: str, side: Side, pairs: list[JoinPair], measure: bool, connection: str, min_confidence: float,
        limit_s: float, meta: Metadata,
    ) -> list[Relationship]:
        catalog = await self._catalog(project, side)
        if not pairs:  # the joins the workload service learned (WorkloadDetailsRecorded, consumed)
            async with self._read() as conn:
                pairs = await load_join_pairs(conn, project)
            # spelled as the catalog has them now (a workload analysed before the catalog existed)
            pairs = workload_plan.resolve_pairs(pairs, catalog)
        rels = relationships.infer(catalog, pairs, min_confidence=0.0)
        if measure:
            secret = await self.ports.connection_secret(project, connection)
            try:
                rels = await asyncio.wait_for(measure_inclusion(secret["url"], rels), limit_s)
            except (Exception, TimeoutError) as exc:
                raise Unavailable(f"cannot measure value inclusion on {side}: {describe(exc)}", {"side": side}) from None
        rels = [r for r in rels if r.confidence >= min_confidence]
        await self._commit(project, lambda s: domain.record_relationships(s, side, rels), meta)
        return rels

    async def classify(self, payload: dict[str, Any], meta: Metadata) -> dict[str, Any]:
        """Classify the tables of one side (fact, dimension, bridge, staging; keys; SCD2)."""
        cmd = parse(SideRef, payload)
        classes = await self._classify(cmd.project_id, cmd.side, meta)
        # per-column classes are read with the `classification` query (paged): 900 tables' columns
        # would not fit one reply
        return {"tables": [c.model_dump(mode="json", exclude={"columns"}) for c in classes],
                "counts": classify_mod.counts(classes)}

    async def _classify(self, project: str, side: Side, meta: Metadata) -> list[classify_mod.TableClass]:
        catalog = await self._catalog(project, side)
        async with self._read() as conn:
            rels = await read.load_relationships(conn, project, side)
        if not rels:
            rels = relationships.infer(catalog)
        classes = classify_mod.classify(catalog, rels)
        await self._commit(project, lambda s: domain.record_classification(s, side, classes), meta)
        return classes

    async def relationships(self, payload: dict[str, Any], meta: Metadata) -> dict[str, Any]:
        cmd = parse(SideRef, payload)
        async with self._read() as conn:
            rels = await read.load_relationships(conn, cmd.project_id, cmd.side)
        return {"relationships": [r.model_dump(mode="json") for r in rels]}

    async def classification(self, payload: dict[str, Any], meta: Metadata) -> dict[str, Any]:
        """The classification of a side, table by table with per-column classes, in bus-sized pages
        (`offset`; `next_offset` is None on the last page)."""
        cmd = parse(ClassificationPage, payload)
        async with self._read() as conn:
            classes = await read.load_classes(conn, cmd.project_id, cmd.side)
        items = [c.model_dump(mode="json") for c in classes]
        page, following = fit_page(items, cmd.offset, cmd.limit or len(items) or 1)
        return {"tables": page, "counts": classify_mod.counts(classes), "total": len(items), "next_offset": following}
