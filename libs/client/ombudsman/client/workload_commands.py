"""`ombudsman workload …`: learn from a SQL Server Query Store export what to validate, through the gateway.

    ombudsman workload upload sales querystore.csv        # JSON, CSV or .sql; streamed to the gateway
    ombudsman workload analyze WORKLOAD_ID                 # tables, columns, joins, aggregates, date filters
    ombudsman workload suggest WORKLOAD_ID                 # validation suggestions with their evidence
    ombudsman workload pipeline WORKLOAD_ID --map dbo=ANALYTICS --save -o workload.yaml

Exit codes: 0 ok, 1 the gateway or a service failed, 2 bad input.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from ombudsman.client.commands import (
    JsonOpt,
    ProjectArg,
    ServerOpt,
    _call,
    _client,
    _fmt,
    _table,
    console,
    err,
)
from ombudsman.client.output import FormatOpt, OutputFormat, emit, fields

app = typer.Typer(add_completion=False)
workload_app = typer.Typer(no_args_is_help=True, help="Query Store workloads: what production queries say to validate.")
app.add_typer(workload_app, name="workload")

FORMATS = {".json": "json", ".jsonl": "jsonl", ".csv": "csv", ".sql": "sql"}


@workload_app.command("upload")
def workload_upload(project_id: str = ProjectArg,
                    file: Path = typer.Argument(..., help="The Query Store export (JSON, JSON Lines, CSV) or .sql file"),
                    file_format: str | None = typer.Option(None, "--format", "-f",
                                                           help="json, jsonl, csv or sql (default: from the file's suffix)"),
                    server: str | None = ServerOpt) -> None:
    """Upload a Query Store export (or a .sql file of queries) to a project."""
    chosen = file_format or FORMATS.get(file.suffix.lower())
    if chosen not in ("json", "jsonl", "csv", "sql"):
        err.print("[bold red]error:[/] --format must be json, jsonl, csv or sql (the file's suffix does not say)")
        raise typer.Exit(2)
    if not file.is_file():
        err.print(f"[bold red]error:[/] {escape(str(file))} is not a file")
        raise typer.Exit(2)
    client = _client(server)
    uploaded = _call(client, lambda: client.upload_workload_file(project_id, file, chosen))
    console.print(f"Uploaded {escape(file.name)} as workload {escape(str(uploaded.get('workload_id')))}: "
                  f"{uploaded.get('queries')} queries, {uploaded.get('distinct_queries')} distinct.")


@workload_app.command("list")
def workload_list(project_id: str = ProjectArg, server: str | None = ServerOpt, output: OutputFormat = FormatOpt,
                  as_json: bool = JsonOpt) -> None:
    """A project's workloads."""
    client = _client(server)
    found = _call(client, lambda: client.workloads(project_id))
    items = found.get("items", found) if isinstance(found, dict) else found
    emit(items, _fmt(output, as_json), lambda: _table(
        items or [], ["workload_id", "filename", "status", "queries", "distinct_queries", "unparsed", "suggestions",
                      "uploaded_at"]))


@workload_app.command("analyze")
def workload_analyze(workload_id: str = typer.Argument(..., help="The workload's id (see `workload list`)"), server: str | None = ServerOpt,
                     output: OutputFormat = FormatOpt) -> None:
    """Analyse every query (tables, columns by usage, joins, aggregates, date filters); print the totals."""
    client = _client(server)
    found = _call(client, lambda: client.analyze_workload(workload_id))
    emit(found, output, lambda: fields(list((found.get("totals") or found).items()), title=f"workload {workload_id}"))


@workload_app.command("suggest")
def workload_suggest(workload_id: str = typer.Argument(..., help="The workload's id (see `workload list`)"), server: str | None = ServerOpt,
                     output: OutputFormat = FormatOpt, as_json: bool = JsonOpt) -> None:
    """Validation suggestions learned from the workload, with the executions behind each."""
    client = _client(server)
    found = _call(client, lambda: client.suggest_workload(workload_id))
    suggestions = found.get("suggestions", []) if isinstance(found, dict) else []
    rows = [{"id": s.get("id"), "validator": s.get("validator"), "table": s.get("table") or "",
             "executions": (s.get("evidence") or {}).get("executions"), "reason": s.get("reason")}
            for s in suggestions]
    emit(suggestions, _fmt(output, as_json), lambda: _table(rows, ["id", "validator", "table", "executions", "reason"],
                                                           title=f"{len(rows)} suggestions"))


def _schema_map(pairs: list[str]) -> dict[str, str] | None:
    if not pairs:
        return None
    mapped: dict[str, str] = {}
    for pair in pairs:
        source, sep, target = pair.partition("=")
        if not sep or not source.strip() or not target.strip():
            err.print(f"[bold red]error:[/] --map {escape(pair)!s}: expected SOURCE_SCHEMA=TARGET_SCHEMA")
            raise typer.Exit(2)
        mapped[source.strip()] = target.strip()
    return mapped


@workload_app.command("pipeline")
def workload_pipeline(
    workload_id: str = typer.Argument(..., help="The workload's id (see `workload list`)"),
    only: list[str] = typer.Option([], "--suggestion", help="a suggestion id to include (repeat; default: all)"),
    schema_map: list[str] = typer.Option([], "--map", help="SOURCE=TARGET schema for the target side (repeat; "
                                                           "default: the project's schema mappings)"),
    save: bool = typer.Option(False, "--save", help="also save the pipeline in the project"),
    output: Path | None = typer.Option(None, "--output", "-o", help="write the pipeline YAML here"),
    server: str | None = ServerOpt,
) -> None:
    """Turn the suggestions into a validation pipeline (YAML), ready for `ombudsman run`."""
    mapped = _schema_map(schema_map)
    client = _client(server)
    made = _call(client, lambda: client.workload_pipeline(workload_id, suggestion_ids=only or None,
                                                          schema_map=mapped, save=save))
    text = str(made.get("yaml", ""))
    if output is None:
        console.print(text, markup=False, highlight=False)
    else:
        output.write_text(text, encoding="utf-8")
    saved = f", saved as pipeline {made.get('pipeline_id')}" if made.get("saved") else ""
    target = output or "stdout"
    err.print(f"{made.get('steps')} steps{escape(saved)} -> {escape(str(target))}")
