"""Checks of generated migration code shared by the codegen tests (unit and end to end): SQL parsed
by sqlglot for its dialect, statement by statement, with error_level=raise; the Beam pipeline
compiled and its TABLES read back; the dbt project's YAML loaded and every source/ref it uses
defined. Each returns what it found so that tests can assert on names."""

from __future__ import annotations

import ast
import re
from typing import Any

import sqlglot
import yaml
from sqlglot import exp
from sqlglot.errors import ErrorLevel

SQL_DIALECT = {"snowflake": "snowflake", "bigquery": "bigquery", "databricks": "databricks"}
SOURCE_CALL = re.compile(r"source\('([^']+)',\s*'([^']+)'\)")
REF_CALL = re.compile(r"ref\('([^']+)'\)")


def parse_sql(text: str, dialect: str) -> list[exp.Expression]:
    """Every statement of a SQL file, parsed for `dialect` (raises on the first that does not parse).
    Snowflake streams and tasks are opaque commands for sqlglot: a task's body is parsed on its own."""
    statements = [s for s in sqlglot.parse(text, read=dialect, error_level=ErrorLevel.RAISE) if s is not None]
    parsed: list[exp.Expression] = []
    for statement in statements:
        if isinstance(statement, exp.Command):
            sql = statement.sql(dialect=dialect, comments=False)
            assert re.match(r"(CREATE (STREAM|TASK)|ALTER TASK)\b", sql), f"opaque statement: {sql[:120]}"
            if "\nAS\n" in sql:
                parsed += parse_sql(sql.split("\nAS\n", 1)[1], dialect)
        parsed.append(statement)
    return parsed


def identifiers(statements: list[exp.Expression]) -> set[str]:
    """Every identifier the statements name, unquoted."""
    return {i.name for s in statements for i in s.find_all(exp.Identifier)}


def check_sql_bundle(platform: str, files: dict[str, str]) -> dict[str, list[exp.Expression]]:
    """Each .sql file of a SQL platform, parsed (path -> statements); every file has statements."""
    parsed = {}
    for path, text in files.items():
        if path.endswith(".sql"):
            parsed[path] = parse_sql(text, SQL_DIALECT[platform])
            assert parsed[path], f"{path} holds no statement"
    return parsed


def check_beam(files: dict[str, str]) -> list[dict[str, str]]:
    """The pipeline compiles; its TABLES literal (what it reads and writes)."""
    code = files["beam/pipeline.py"]
    compile(code, "beam/pipeline.py", "exec")
    tree = ast.parse(code)
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
    assert {"ReadFromJdbc", "WriteToJdbc"} <= imported
    tables = next(n.value for n in tree.body if isinstance(n, ast.Assign)
                  and any(isinstance(t, ast.Name) and t.id == "TABLES" for t in n.targets))
    return ast.literal_eval(tables)


def check_dbt(files: dict[str, str]) -> dict[str, Any]:
    """YAML loads; every model in schema.yml has its file; every source() and ref() used is defined.
    Returns {project, sources: {(source, table): identifier}, models: {name: schema entry}, snapshots: [..]}."""
    project = yaml.safe_load(files["dbt/dbt_project.yml"])
    assert project["profile"] and project["name"].isidentifier()
    sources_doc = yaml.safe_load(files["dbt/models/sources.yml"])
    sources = {(s["name"], t["name"]): t["identifier"] for s in sources_doc["sources"] for t in s["tables"]}
    schema = yaml.safe_load(files["dbt/models/schema.yml"])
    model_files = {p.rsplit("/", 1)[1][:-4] for p in files if p.startswith("dbt/models/") and p.endswith(".sql")}
    models = {m["name"]: m for m in schema["models"]}
    assert set(models) == model_files, (set(models), model_files)
    snapshots = []
    for path, text in files.items():
        if not path.endswith(".sql"):
            continue
        for call in SOURCE_CALL.findall(text):
            assert call in sources, f"{path} selects from an undefined source {call}"
        for name in REF_CALL.findall(text):
            assert name in model_files, f"{path} refers to an undefined model {name}"
        if path.startswith("dbt/snapshots/"):
            snapshots.append(path)
            assert re.search(r"\{% snapshot \w+ %\}", text) and "{% endsnapshot %}" in text
    return {"project": project, "sources": sources, "models": models, "snapshots": snapshots}
