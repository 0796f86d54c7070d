"""Snowflake: the target DDL and a staging table per mapped table (ddl.sql); per table a load that
copies the staged Parquet files into the staging table and MERGEs them by key (load/<table>.sql), and
an incremental load: a stream on the staging table and a serverless task that merges what the stream
holds (incremental/<table>.sql). Pure."""

from __future__ import annotations

from ombudsman.metadata.codegen.plan import CodegenPlan
from ombudsman.metadata.codegen.render import (
    Artefact,
    Quoter,
    comment_text,
    ddl_artefact,
    header,
    merge_sql,
    render,
    staging_name,
)

DIALECT = "snowflake"
STAGE = "OMBUDSMAN_LANDING"  # a stage per target schema, created by whoever owns the files' storage
SCHEDULE = "5 MINUTE"


def generate(plan: CodegenPlan, version: str) -> list[Artefact]:
    """The Snowflake artefacts of `plan`."""
    q = Quoter(DIALECT)
    artefacts = [ddl_artefact(q, plan, DIALECT)]
    for table in plan.tables:
        staging = q.table(table.target_schema, staging_name(table))
        load = render("snowflake_load.sql.j2", **header(table), version=version, staging=staging,
                      stage=q.table(table.target_schema, STAGE), folder=table.slug,
                      stage_text=comment_text(q.table(table.target_schema, STAGE)), merge=merge_sql(q, table, staging))
        stream_name = q.table(table.target_schema, f"{table.target_table}__stream")
        columns = ", ".join(q.columns([c.target for c in table.columns]))
        incremental = render("snowflake_incremental.sql.j2", **header(table), version=version, staging=staging,
                             stream=stream_name, stream_literal=q.string(stream_name), schedule=SCHEDULE,
                             task=q.table(table.target_schema, f"{table.target_table}__merge_task"),
                             merge=merge_sql(q, table, f"(SELECT {columns} FROM {stream_name})"))
        artefacts += [Artefact(path=f"snowflake/load/{table.slug}.sql", content=load),
                      Artefact(path=f"snowflake/incremental/{table.slug}.sql", content=incremental)]
    return artefacts
