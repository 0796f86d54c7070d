"""`ombudsman schemas …`, `ombudsman mappings …`, `ombudsman pipelines list`: what `automate` needs
from a person, through the gateway.

    ombudsman schemas set dw --source sales --target SALES     # the project's schemas on each side
    ombudsman schemas map dw sales SALES                        # a source schema -> target schema pair
    ombudsman schemas list dw
    ombudsman mappings list dw                                  # approved table mappings
    ombudsman mappings approve dw sales.customer SALES.CUSTOMER --column name=CUSTOMER_NAME
    ombudsman mappings reject dw sales.customer SALES.CUSTOMER_OLD
    ombudsman mappings exclude dw sales.tmp_load --note "scratch table, not migrated"
    ombudsman mappings exclude dw sales.customer --column fax --note "dropped by design"
    ombudsman mappings exclusions dw
    ombudsman pipelines list dw

Exit codes: 0 ok, 1 the gateway or a service failed, 2 bad input.
"""

from __future__ import annotations

from typing import Any

import typer
from rich.markup import escape

from ombudsman.client.commands import JsonOpt, ServerOpt, _call, _client, _print, _table, console, err

app = typer.Typer(add_completion=False)
schemas_app = typer.Typer(no_args_is_help=True, help="A project's source and target schemas, and schema pairs.")
mappings_app = typer.Typer(no_args_is_help=True, help="Table mappings: approve, reject, exclude from coverage.")
pipelines_app = typer.Typer(no_args_is_help=True, help="A project's saved pipelines.")
app.add_typer(schemas_app, name="schemas")
app.add_typer(mappings_app, name="mappings")
app.add_typer(pipelines_app, name="pipelines")


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
def schemas_set(project_id: str,
                source: list[str] = typer.Option([], "--source", help="a source schema (repeat for several)"),
                target: list[str] = typer.Option([], "--target", help="a target schema (repeat for several)"),
                server: str | None = ServerOpt) -> None:
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
    console.print(f"{escape(project_id)}: source schemas {escape(str(project.get('source_schemas')))}, "
                  f"target schemas {escape(str(project.get('target_schemas')))}")


@schemas_app.command("map")
def schemas_map(project_id: str, source_schema: str, target_schema: str, server: str | None = ServerOpt) -> None:
    """Pair a source schema with a target schema (used by `automate` when it gets no schema map)."""
    client = _client(server)
    found = _call(client, lambda: client.set_schema_mapping(project_id, source_schema, target_schema))
    console.print(f"{escape(project_id)}: schema mappings {escape(str(found.get('schema_mappings', found)))}")


@schemas_app.command("list")
def schemas_list(project_id: str, server: str | None = ServerOpt, as_json: bool = JsonOpt) -> None:
    """The project's schemas per side and its schema pairs."""
    client = _client(server)
    project = _call(client, lambda: client.get_project(project_id))
    found = {"source_schemas": project.get("source_schemas") or [], "target_schemas": project.get("target_schemas") or [],
             "schema_mappings": project.get("schema_mappings") or {}}
    if as_json:
        _print(found)
        return
    console.print(f"source: {escape(', '.join(found['source_schemas']) or '-')}")
    console.print(f"target: {escape(', '.join(found['target_schemas']) or '-')}")
    _table([{"source": k, "target": v} for k, v in found["schema_mappings"].items()], ["source", "target"],
           title="schema mappings")


# --- table mappings ----------------------------------------------------------------------------


@mappings_app.command("list")
def mappings_list(project_id: str, server: str | None = ServerOpt, as_json: bool = JsonOpt) -> None:
    """Approved table mappings (source -> target, columns, confidence, automatic or by a person)."""
    client = _client(server)
    found = _call(client, lambda: client.mappings(project_id))
    items = found.get("mappings", []) if isinstance(found, dict) else found
    if as_json:
        _print(found)
        return
    rows = [{**m, "columns": len(m.get("columns") or {})} for m in items]
    _table(rows, ["source_table", "target_table", "columns", "confidence", "automatic", "approved_by"],
           title=f"{len(rows)} approved mapping(s)")


@mappings_app.command("approve")
def mappings_approve(project_id: str, source_table: str, target_table: str,
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
def mappings_reject(project_id: str, source_table: str, target_table: str, server: str | None = ServerOpt) -> None:
    """Reject a suggested (or approved) table pair; automation never approves it again."""
    _qualified(source_table, "source_table")
    _qualified(target_table, "target_table")
    client = _client(server)
    found = _call(client, lambda: client.reject_mapping(project_id, source_table, target_table))
    console.print(f"Rejected {escape(source_table)} -> {escape(target_table)}"
                  + ("" if (found or {}).get("changed") else " (already rejected)"))


@mappings_app.command("exclude")
def mappings_exclude(project_id: str, source_table: str,
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
def mappings_exclusions(project_id: str, server: str | None = ServerOpt, as_json: bool = JsonOpt) -> None:
    """What people excluded from coverage, with their notes."""
    client = _client(server)
    found = _call(client, lambda: client.mapping_exclusions(project_id))
    if as_json:
        _print(found)
        return
    rows = [{"source_table": e["source_table"], "excluded": "whole table" if e.get("table") else
             ", ".join(e.get("columns") or []), "notes": "; ".join(e.get("notes") or [])}
            for e in (found or {}).get("exclusions", [])]
    _table(rows, ["source_table", "excluded", "notes"], title=f"{len(rows)} exclusion(s)")


# --- pipelines ---------------------------------------------------------------------------------


@pipelines_app.command("list")
def pipelines_list(project_id: str, server: str | None = ServerOpt, as_json: bool = JsonOpt) -> None:
    """A project's saved pipelines (generated ones included)."""
    client = _client(server)
    found = _call(client, lambda: client.pipelines(project_id))
    items = found.get("items", found) if isinstance(found, dict) else found
    if as_json:
        _print(items)
        return
    _table(list(items or []), ["pipeline_id", "name", "description"], title=f"{len(items or [])} pipeline(s)")
