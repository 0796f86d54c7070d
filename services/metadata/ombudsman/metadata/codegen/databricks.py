"""Databricks: Delta tables (the target DDL with USING DELTA) and a staging table per mapped table
(ddl.sql); per table a MERGE by key from the staging table (load/<table>.sql); for a type 2 table
also the SCD2 MERGE that end-dates the current version of a changed row and inserts the new one
(scd2/<table>.sql). Pure."""

from __future__ import annotations

from ombudsman.metadata.codegen.plan import CodegenPlan, TablePlan
from ombudsman.metadata.codegen.render import (
    Artefact,
    Quoter,
    comment_text,
    ddl_artefact,
    header,
    render,
    staged_merge_artefact,
    staging_name,
)

DIALECT = "databricks"


def _delta(statement: str) -> str:
    return f"{statement} USING DELTA" if statement.lstrip().upper().startswith("CREATE TABLE") else statement


def scd2_sql(q: Quoter, table: TablePlan, version: str) -> str:
    """The SCD2 MERGE of a type 2 table (table.scd2 is set)."""
    scd2 = table.scd2
    assert scd2 is not None
    t, s = "t", "s"
    flag = q.ident(scd2.current_flag) if scd2.current_flag else None
    current = f"{t}.{flag} = TRUE" if flag else f"{t}.{q.ident(scd2.valid_to)} IS NULL"
    changed = " OR ".join(f"NOT ({t}.{c} <=> {s}.{c})" for c in q.columns(scd2.attributes)) or "FALSE"
    return render("databricks_scd2.sql.j2", **header(table), version=version,
                  target=q.table(table.target_schema, table.target_table),
                  staging=q.table(table.target_schema, staging_name(table)),
                  key=q.columns(scd2.business_key),
                  merge_keys=[q.ident(f"__merge_key_{i}") for i in range(1, len(scd2.business_key) + 1)],
                  current=current, changed=changed, valid_to=q.ident(scd2.valid_to),
                  valid_from=q.ident(scd2.valid_from), flag=flag, columns=q.columns([c.target for c in table.columns]),
                  valid_to_plain=comment_text(scd2.valid_to), valid_from_plain=comment_text(scd2.valid_from))


def generate(plan: CodegenPlan, version: str) -> list[Artefact]:
    """The Databricks artefacts of `plan`."""
    q = Quoter(DIALECT)
    artefacts = [ddl_artefact(q, plan, DIALECT, _delta)]
    for table in plan.tables:
        artefacts.append(staged_merge_artefact(q, table, DIALECT, version))
        if table.scd2 is not None:
            artefacts.append(Artefact(path=f"databricks/scd2/{table.slug}.sql", content=scd2_sql(q, table, version)))
    return artefacts
