"""BigQuery SQL: the target DDL and a staging table per mapped table (ddl.sql), and per table a MERGE
by key from the staging table into the target (load/<table>.sql). Pure."""

from __future__ import annotations

from ombudsman.metadata.codegen.plan import CodegenPlan
from ombudsman.metadata.codegen.render import (
    Artefact,
    Quoter,
    comment_text,
    header,
    merge_sql,
    render,
    staging_name,
    target_ddl_statements,
)

DIALECT = "bigquery"


def generate(plan: CodegenPlan, version: str) -> list[Artefact]:
    """The BigQuery artefacts of `plan`."""
    q = Quoter(DIALECT)
    ddl = target_ddl_statements(plan.target_catalog(), DIALECT)
    for table in plan.tables:
        staging = q.table(table.target_schema, staging_name(table))
        ddl.append(f"CREATE TABLE IF NOT EXISTS {staging} LIKE {q.table(table.target_schema, table.target_table)}")
    artefacts = [Artefact(path="bigquery/ddl.sql", content="".join(f"{s};\n\n" for s in ddl))]
    for table in plan.tables:
        staging = q.table(table.target_schema, staging_name(table))
        load = render("staged_merge.sql.j2", **header(table), version=version, staging=staging,
                      staging_plain=comment_text(f"{table.target_schema}.{staging_name(table)}"),
                      merge=merge_sql(q, table, staging), clear="TRUNCATE TABLE")
        artefacts.append(Artefact(path=f"bigquery/load/{table.slug}.sql", content=load))
    return artefacts
