"""BigQuery SQL: the target DDL and a staging table per mapped table (ddl.sql), and per table a MERGE
by key from the staging table into the target (load/<table>.sql). Pure."""

from __future__ import annotations

from ombudsman.metadata.codegen.plan import CodegenPlan
from ombudsman.metadata.codegen.render import Artefact, Quoter, ddl_artefact, staged_merge_artefact

DIALECT = "bigquery"


def generate(plan: CodegenPlan, version: str) -> list[Artefact]:
    """The BigQuery artefacts of `plan`."""
    q = Quoter(DIALECT)
    return [ddl_artefact(q, plan, DIALECT), *(staged_merge_artefact(q, t, DIALECT, version) for t in plan.tables)]
