"""Apache Beam: one Python pipeline (beam/pipeline.py) that reads every mapped source table with
ReadFromJdbc (a query of the mapped columns, in the source's dialect) and writes the rows to the target
table with WriteToJdbc (an INSERT in the target's dialect); connection details are options, never in
the file. Pure."""

from __future__ import annotations

from ombudsman.engine.dialects import dialect_for
from ombudsman.metadata.codegen.plan import CodegenPlan
from ombudsman.metadata.codegen.render import Artefact, Quoter, render

JDBC_DRIVERS = {
    "postgres": "org.postgresql.Driver",
    "sqlserver": "com.microsoft.sqlserver.jdbc.SQLServerDriver",
    "snowflake": "net.snowflake.client.jdbc.SnowflakeDriver",
    "duckdb": "org.duckdb.DuckDBDriver",
}


def source_dialect(plan: CodegenPlan) -> str:
    return dialect_for(plan.source_kind)


def target_dialect(plan: CodegenPlan) -> str:
    """The target's dialect (the source's when the target kind is not known)."""
    return dialect_for(plan.target_kind or plan.source_kind)


def generate(plan: CodegenPlan, version: str) -> list[Artefact]:
    """The Beam artefacts of `plan`."""
    src, tgt = Quoter(source_dialect(plan)), Quoter(target_dialect(plan))
    tables = []
    for table in plan.tables:
        select = ", ".join(src.ident(c.source) for c in table.columns)
        targets = [c.target for c in table.columns]
        tables.append({
            "name": table.slug,
            "source_table": table.source_name,
            "target_table": table.target_name,
            "query": f"SELECT {select} FROM {src.table(table.source_schema, table.source_table)}",
            "statement": f"INSERT INTO {tgt.table(table.target_schema, table.target_table)} "
                         f"({', '.join(tgt.columns(targets))}) VALUES ({', '.join('?' for _ in targets)})",
        })
    code = render("beam_pipeline.py.j2", version=version, project=plan.project_id, tables=tables,
                  source_driver=JDBC_DRIVERS.get(plan.source_kind, ""),
                  target_driver=JDBC_DRIVERS.get(plan.target_kind or plan.source_kind, ""))
    return [Artefact(path="beam/pipeline.py", content=code),
            Artefact(path="beam/requirements.txt", content="apache-beam>=2.60\n")]
