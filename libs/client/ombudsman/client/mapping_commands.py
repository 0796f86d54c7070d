"""`ombudsman schemas …`, `ombudsman mappings …`, `ombudsman pipelines list`: what `automate` needs
from a person, through the gateway.

    ombudsman schemas set dw --source sales --target SALES     # the project's schemas on each side
                                                                # (also `ombudsman projects schemas set`)
    ombudsman schemas map dw sales SALES                        # a source schema -> target schema pair
    ombudsman schemas list dw
    ombudsman mappings list dw                                  # approved table mappings
    ombudsman mappings approve dw sales.customer SALES.CUSTOMER --column name=CUSTOMER_NAME
    ombudsman mappings reject dw sales.customer SALES.CUSTOMER_OLD
    ombudsman mappings exclude dw sales.tmp_load --note "scratch table, not migrated"
    ombudsman mappings exclude dw sales.customer --column fax --note "dropped by design"
    ombudsman mappings exclusions dw
    ombudsman pipelines list dw
    ombudsman pipelines show dw validate-sales-customer        # its steps (--format yaml: the pipeline itself)
    ombudsman pipelines validate dw validate-sales-customer    # or --file pipeline.yaml; exit 1 when invalid

Exit codes: 0 ok, 1 the gateway or a service failed, 2 bad input.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from ombudsman.client.commands import (
    JsonOpt,
    ProjectArg,
    ServerOpt,
    _call,
    _client,
    _fmt,
    _items,
    _table,
    console,
    err,
    projects_app,
)
from ombudsman.client.output import FormatOpt, OutputFormat, emit, fields

app = typer.Typer(add_completion=False)
schemas_app = typer.Typer(no_args_is_help=True, help="A project's source and target schemas, and schema pairs.")
mappings_app = typer.Typer(no_args_is_help=True, help="Table mappings: approve, reject, exclude from coverage.")
pipelines_app = typer.Typer(no_args_is_help=True, help="A project's saved pipelines.")
app.add_typer(schemas_app, name="schemas")
app.add_typer(mappings_app, name="mappings")
app.add_typer(pipelines_app, name="pipelines")
projects_app.add_typer(schemas_app, name="schemas")  # `ombudsman projects schemas set …` too


def _bad(message: str) -> typer.Exit:
    """Print a bad-input error; the exit (code 2) to raise."""
    err.print(f"[bold red]error:[/] {escape(message)}")
    return typer.Exit(2)


def _qualified(name: str, option: str) -> str:
    if name.count(".") < 1 or not all(name.split(".")):
        raise _bad(f"{option}: {name!r} must be schema.table")
    return name


def _column_pairs(pairs: list[str]) -> dict[str, str]:
    """`--column source=target` options as a column map (exit 2 on a malformed one)."""
    found: dict[str, str] = {}
    for pair in pairs:
        source, sep, target = pair.partition("=")
        if not sep or not source.strip() or not target.strip():
            raise _bad(f"--column: {pair!r} must be SOURCE_COLUMN=TARGET_COLUMN")
        found[source.strip()] = target.strip()
    return found


# --- schemas -----------------------------------------------------------------------------------


@schemas_app.command("set")
def schemas_set(project_id: str = ProjectArg,
                source: list[str] = typer.Option([], "--source", help="a source schema (repeat for several)"),
                target: list[str] = typer.Option([], "--target", help="a target schema (repeat for several)"),
                server: str | None = ServerOpt, output: OutputFormat = FormatOpt) -> None:
    """Set the schemas `automate` extracts on each side (replaces the side's list)."""
    if not source and not target:
        raise _bad("give --source and/or --target schemas")
    changes: dict[str, Any] = {}
    if source:
        changes["source_schemas"] = source
    if target:
        changes["target_schemas"] = target
    client = _client(server)
    project = _call(client, lambda: client.update_project(project_id, **changes))
    emit(project, output, lambda: console.print(
        f"{escape(project_id)}: source schemas {escape(', '.join(project.get('source_schemas') or []) or '-')}; "
        f"target schemas {escape(', '.join(project.get('target_schemas') or []) or '-')}"))


@schemas_app.command("map")
def schemas_map(project_id: str = ProjectArg, source_schema: str = typer.Argument(..., help="A source schema"),
                target_schema: str = typer.Argument(..., help="The target schema it was migrated to"),
                server: str | None = ServerOpt) -> None:
    """Pair a source schema with a target schema (used by `automate` when it gets no schema map)."""
    client = _client(server)
    found = _call(client, lambda: client.set_schema_mapping(project_id, source_schema, target_schema))
    console.print(f"{escape(project_id)}: schema mappings {escape(str(found.get('schema_mappings', found)))}")


@schemas_app.command("list")
def schemas_list(project_id: str = ProjectArg, server: str | None = ServerOpt, output: OutputFormat = FormatOpt,
                 as_json: bool = JsonOpt) -> None:
    """The project's schemas per side and its schema pairs."""
    client = _client(server)
    project = _call(client, lambda: client.get_project(project_id))
    pairs: dict[str, str] = project.get("schema_mappings") or {}
    found = {"source_schemas": project.get("source_schemas") or [], "target_schemas": project.get("target_schemas") or [],
             "schema_mappings": pairs}

    def render() -> None:
        console.print(f"source: {escape(', '.join(found['source_schemas']) or '-')}")
        console.print(f"target: {escape(', '.join(found['target_schemas']) or '-')}")
        _table([{"source": k, "target": v} for k, v in pairs.items()], ["source", "target"], title="schema mappings")

    emit(found, _fmt(output, as_json), render)


# --- table mappings ----------------------------------------------------------------------------


@mappings_app.command("list")
def mappings_list(project_id: str = ProjectArg,
                  suggested: bool = typer.Option(False, "--suggested",
                                                 help="The suggestions awaiting a decision instead of the approved"),
                  server: str | None = ServerOpt, output: OutputFormat = FormatOpt, as_json: bool = JsonOpt) -> None:
    """Approved table mappings (source -> target, columns, confidence, automatic or by a person)."""
    client = _client(server)
    if suggested:
        found = _call(client, lambda: client.suggest_mappings(project_id))
        items = _items(found, "suggestions")
        rows = [{**m, "columns": len(m.get("columns") or m.get("column_mappings") or {})} for m in items]
        emit(found, _fmt(output, as_json), lambda: _table(
            rows, ["source_table", "target_table", "columns", "confidence", "status"],
            title=f"{len(rows)} suggestion(s)"))
        return
    found = _call(client, lambda: client.mappings(project_id))
    items = _items(found, "mappings")
    rows = [{**m, "columns": len(m.get("columns") or {})} for m in items]
    emit(found, _fmt(output, as_json), lambda: _table(
        rows, ["source_table", "target_table", "columns", "confidence", "automatic", "approved_by"],
        title=f"{len(rows)} approved mapping(s)"))


@mappings_app.command("approve")
def mappings_approve(project_id: str = ProjectArg, source_table: str = typer.Argument(..., help="The source table, schema.table"),
                     target_table: str = typer.Argument(..., help="The target table, schema.table"),
                     column: list[str] = typer.Option([], "--column", "-c",
                                                      help="SOURCE=TARGET column pair (repeat); default: the suggestion's"),
                     server: str | None = ServerOpt) -> None:
    """Approve (or correct) the mapping of a source table onto a target table."""
    _qualified(source_table, "source_table")
    _qualified(target_table, "target_table")
    columns = _column_pairs(column)
    client = _client(server)
    extra = {"columns": columns} if columns else {}
    found = _call(client, lambda: client.approve_mapping(project_id, source_table, target_table, **extra))
    mapping = (found or {}).get("mapping") or {}
    console.print(f"Approved {escape(source_table)} -> {escape(target_table)} "
                  f"({len(mapping.get('columns') or {})} columns)" + ("" if found.get("changed") else ", unchanged"))


@mappings_app.command("reject")
def mappings_reject(project_id: str = ProjectArg, source_table: str = typer.Argument(..., help="The source table, schema.table"),
                    target_table: str = typer.Argument(..., help="The target table, schema.table"), server: str | None = ServerOpt) -> None:
    """Reject a suggested (or approved) table pair; automation never approves it again."""
    _qualified(source_table, "source_table")
    _qualified(target_table, "target_table")
    client = _client(server)
    found = _call(client, lambda: client.reject_mapping(project_id, source_table, target_table))
    console.print(f"Rejected {escape(source_table)} -> {escape(target_table)}"
                  + ("" if (found or {}).get("changed") else " (already rejected)"))


@mappings_app.command("exclude")
def mappings_exclude(project_id: str = ProjectArg, source_table: str = typer.Argument(..., help="The source table, schema.table"),
                     column: list[str] = typer.Option([], "--column", "-c",
                                                      help="a column to exclude (repeat); none: the whole table"),
                     note: str = typer.Option("", "--note", "-n", help="why it is not migrated (required)"),
                     withdraw: bool = typer.Option(False, "--withdraw", help="take the exclusion back"),
                     server: str | None = ServerOpt) -> None:
    """Exclude a source table, or some columns, from the coverage check, with a note saying why."""
    _qualified(source_table, "source_table")
    if not withdraw and not note.strip():
        raise _bad("--note: say why this is excluded from the migration")
    client = _client(server)
    found = _call(client, lambda: client.exclude_mapping(project_id, source_table, note=note, columns=column,
                                                         withdraw=withdraw))
    what = f"{source_table} ({', '.join(column)})" if column else source_table
    verb = "Withdrew the exclusion of" if withdraw else "Excluded"
    console.print(f"{verb} {escape(what)}" + ("" if (found or {}).get("changed") else " (unchanged)"))


@mappings_app.command("exclusions")
def mappings_exclusions(project_id: str = ProjectArg, server: str | None = ServerOpt, output: OutputFormat = FormatOpt,
                        as_json: bool = JsonOpt) -> None:
    """What people excluded from coverage, with their notes."""
    client = _client(server)
    found = _call(client, lambda: client.mapping_exclusions(project_id))
    rows = [{"source_table": e["source_table"], "excluded": "whole table" if e.get("table") else
             ", ".join(e.get("columns") or []), "notes": "; ".join(e.get("notes") or [])}
            for e in (found or {}).get("exclusions", [])]
    emit(found, _fmt(output, as_json), lambda: _table(rows, ["source_table", "excluded", "notes"],
                                                     title=f"{len(rows)} exclusion(s)"))


# --- pipelines ---------------------------------------------------------------------------------


PipelineArg = typer.Argument(..., help="The saved pipeline's id (see `pipelines list`)")


@pipelines_app.command("list")
def pipelines_list(project_id: str = ProjectArg, server: str | None = ServerOpt, output: OutputFormat = FormatOpt,
                   as_json: bool = JsonOpt) -> None:
    """A project's saved pipelines (generated ones included)."""
    client = _client(server)
    items = _items(_call(client, lambda: client.pipelines(project_id)))
    rows = [{**p, "tags": ", ".join(p.get("tags") or [])} for p in items]
    emit(items, _fmt(output, as_json), lambda: _table(rows, ["pipeline_id", "name", "tags", "description"],
                                                     title=f"{len(items)} pipeline(s) of {project_id}"))


def _steps_of(yaml_text: str) -> list[dict[str, Any]]:
    from ombudsman.contracts.pipeline import PipelineError, load_pipeline

    try:
        spec = load_pipeline(yaml_text)
    except PipelineError:
        return []
    return [{"step": s.id, "validator": s.validator, "table": str(s.source_table or s.table or ""),
             "depends_on": ", ".join(s.depends_on or [])} for s in spec.steps]


@pipelines_app.command("show")
def pipelines_show(project_id: str = ProjectArg, pipeline_id: str = PipelineArg, server: str | None = ServerOpt,
                   output: OutputFormat = FormatOpt) -> None:
    """A saved pipeline: its name, tags and steps (--format yaml prints the pipeline YAML as saved)."""
    client = _client(server)
    found = _call(client, lambda: client.get_pipeline(project_id, pipeline_id))
    if output is OutputFormat.yaml and found.get("yaml"):
        typer.echo(str(found["yaml"]), nl=not str(found["yaml"]).endswith("\n"))
        return

    def render() -> None:
        fields([(k, found.get(k)) for k in ("pipeline_id", "name", "description", "tags", "version", "updated_at")
                if k in found], title=f"pipeline {pipeline_id}")
        steps = _steps_of(str(found.get("yaml") or ""))
        _table(steps, ["step", "validator", "table", "depends_on"], title=f"{len(steps)} step(s)")

    emit(found, output, render)


@pipelines_app.command("validate")
def pipelines_validate(project_id: str | None = typer.Argument(None, help="The project (with PIPELINE_ID)"),
                       pipeline_id: str | None = typer.Argument(None, help="A saved pipeline's id"),
                       file: Path | None = typer.Option(None, "--file", help="Check this pipeline YAML file instead"),
                       server: str | None = ServerOpt, output: OutputFormat = FormatOpt) -> None:
    """Check a pipeline without running it (validators known, parameters present and typed, tables
    named, SQL allowed): exit 0 valid, 1 invalid (each problem listed), 2 bad input."""
    from ombudsman.contracts.pipeline import PipelineError, load_pipeline
    from ombudsman.engine.pipeline import validate_pipeline

    if file is not None:
        if project_id or pipeline_id:
            raise _bad("give PROJECT PIPELINE_ID or --file, not both")
        try:
            text, label = file.read_text(encoding="utf-8"), str(file)
        except OSError as exc:
            raise _bad(f"cannot read {file}: {exc.strerror or exc}") from None
    elif project_id and pipeline_id:
        client = _client(server)
        found = _call(client, lambda: client.get_pipeline(project_id, pipeline_id))
        text, label = str(found.get("yaml") or ""), f"{project_id}/{pipeline_id}"
    else:
        raise _bad("give PROJECT PIPELINE_ID (a saved pipeline) or --file PIPELINE.yaml")
    try:
        spec = validate_pipeline(load_pipeline(text))
        report: dict[str, Any] = {"pipeline": label, "valid": True, "steps": len(spec.steps), "errors": []}
    except PipelineError as exc:
        report = {"pipeline": label, "valid": False, "errors": list(exc.errors)}

    def render() -> None:
        if report["valid"]:
            console.print(f"{escape(label)}: [green]valid[/], {report['steps']} steps")
            return
        err.print(f"{escape(label)}: [bold red]invalid[/], {len(report['errors'])} problem(s)")
        for problem in report["errors"]:
            err.print(f"  - {escape(str(problem))}")

    emit(report, output, render)
    if not report["valid"]:
        raise typer.Exit(1)
