"""dbt: a project (dbt_project.yml), the mapped source tables (models/sources.yml), one model per mapped
table selecting the mapped columns under their target names (models/<table>.sql), schema tests
(models/schema.yml: not_null on every key column, unique on a one-column key; a singular test for a
composite key), and a snapshot per type 2 table (snapshots/<table>_snapshot.sql). Pure.

Model SQL is quoted for the target's dialect; any name carrying Jinja's own braces is written as a
Jinja string of escapes so that dbt's rendering cannot evaluate it. dbt names (models, sources,
snapshots) are slugs; the real names go into `identifier`, `schema` and the model's `alias`."""

from __future__ import annotations

import re
from typing import Any

import yaml

from ombudsman.engine.dialects import dialect_for
from ombudsman.metadata.codegen.plan import CodegenPlan, TablePlan, slug
from ombudsman.metadata.codegen.render import Artefact, Quoter, comment_text, render

PROFILE = "ombudsman"
_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_JINJA = re.compile(r"[{}%#]")


def jinja_string(text: str) -> str:
    """A Jinja string literal of `text` made only of letters, digits and escapes."""
    out = []
    for char in text:
        if char.isascii() and (char.isalnum() or char in " _-."):
            out.append(char)
        elif ord(char) <= 0xFFFF:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(f"\\U{ord(char):08x}")
    return '"' + "".join(out) + '"'


def jinja_safe(sql: str) -> str:
    """`sql` (a quoted name) as dbt must see it: unchanged, or a Jinja expression printing it when it
    holds a brace, percent or hash."""
    return "{{ " + jinja_string(sql) + " }}" if _JINJA.search(sql) else sql


def _dump(document: dict[str, Any]) -> str:
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=120)


def _source_names(plan: CodegenPlan) -> dict[str, str]:
    taken: set[str] = set()
    return {schema: slug(schema, taken) for schema in dict.fromkeys(t.source_schema for t in plan.tables)}


def _sources_yml(plan: CodegenPlan, names: dict[str, str], tables: dict[str, str]) -> str:
    sources = []
    for schema, name in names.items():
        sources.append({
            "name": name,
            "schema": jinja_safe(schema),
            "quoting": {"database": True, "schema": True, "identifier": True},
            "tables": [{"name": tables[t.source_name], "identifier": jinja_safe(t.source_table)}
                       for t in plan.tables if t.source_schema == schema],
        })
    return _dump({"version": 2, "sources": sources})


def _model_tests(table: TablePlan) -> dict[str, Any]:
    keys = {k.lower() for k in table.key}
    columns = []
    for column in table.columns:
        tests: list[str] = []
        if column.target.lower() in keys:
            tests.append("not_null")
            if len(table.key) == 1:
                tests.append("unique")
        if tests:
            columns.append({"name": column.target, "quote": True, "data_tests": tests})
    entry: dict[str, Any] = {"name": table.slug,
                             "description": comment_text(f"{table.source_name} migrated to {table.target_name}")}
    if columns:
        entry["columns"] = columns
    return entry


def _snapshot(q: Quoter, table: TablePlan, source: str, source_table: str, version: str) -> str:
    scd2 = table.scd2
    assert scd2 is not None
    by_target = {c.target: c.source for c in table.columns}
    kept = [*scd2.business_key, *scd2.attributes]
    columns = [jinja_safe(f"{q.ident(by_target[c])} as {q.ident(c)}") for c in kept]
    if all(_PLAIN.match(k) for k in scd2.business_key):
        unique_key = repr(scd2.business_key[0]) if len(scd2.business_key) == 1 else repr(list(scd2.business_key))
    else:  # a name dbt would not quote: the key is one computed column
        parts = " || '|' || ".join(f"cast({q.ident(by_target[k])} as varchar)" for k in scd2.business_key)
        columns.append(jinja_safe(f"{parts} as omb_business_key"))
        unique_key = "'omb_business_key'"
    flag_source = by_target.get(scd2.current_flag or "")
    current = (f"{q.ident(flag_source)} = true" if flag_source
               else f"{q.ident(by_target[scd2.valid_to])} is null")
    return render("dbt_snapshot.sql.j2", name=f"{table.slug}_snapshot", unique_key=unique_key, version=version,
                  title=comment_text(table.source_name), columns=columns, source=source, table=source_table,
                  current=jinja_safe(current))


def generate(plan: CodegenPlan, version: str) -> list[Artefact]:
    """The dbt project of `plan`."""
    q = Quoter(dialect_for(plan.target_kind or plan.source_kind))
    project = f"ombudsman_{slug(plan.project_id)}"
    names = _source_names(plan)
    taken: set[str] = set()
    tables = {t.source_name: slug(t.source_table, taken) for t in plan.tables}
    artefacts = [
        Artefact(path="dbt/dbt_project.yml", content=_dump({
            "name": project, "version": "1.0.0", "config-version": 2, "profile": PROFILE,
            "model-paths": ["models"], "snapshot-paths": ["snapshots"], "test-paths": ["tests"],
            "models": {project: {"+materialized": "table"}},
        })),
        Artefact(path="dbt/models/sources.yml", content=_sources_yml(plan, names, tables)),
        Artefact(path="dbt/models/schema.yml", content=_dump({"version": 2,
                                                              "models": [_model_tests(t) for t in plan.tables]})),
    ]
    for table in plan.tables:
        source, source_table = names[table.source_schema], tables[table.source_name]
        columns = [jinja_safe(f"{q.ident(c.source)} as {q.ident(c.target)}") for c in table.columns]
        model = render("dbt_model.sql.j2", alias=jinja_string(table.target_table), version=version,
                       title=comment_text(f"{table.source_name} -> {table.target_name}"), columns=columns,
                       source=source, table=source_table)
        artefacts.append(Artefact(path=f"dbt/models/{table.slug}.sql", content=model))
        if len(table.key) > 1:
            key = [jinja_safe(q.ident(k)) for k in table.key]
            test = render("dbt_unique_key.sql.j2", title=comment_text(table.target_name), version=version, key=key,
                          key_text=comment_text(", ".join(table.key)), model=table.slug)
            artefacts.append(Artefact(path=f"dbt/tests/{table.slug}_key_unique.sql", content=test))
        if table.scd2 is not None:
            artefacts.append(Artefact(path=f"dbt/snapshots/{table.slug}_snapshot.sql",
                                      content=_snapshot(q, table, source, source_table, version)))
    return artefacts
