"""`ombudsman files …`: validate extracts against their file config, suggest a config from a file.
Exit codes of `validate`: 0 every check passed, 1 a check failed, 2 bad input (config, paths)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import typer
import yaml
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ombudsman.contracts.replies import Invalid
from ombudsman.engine.files.checks import validate_files
from ombudsman.engine.files.config import load_config
from ombudsman.engine.files.scan import ScanSettings
from ombudsman.engine.files.suggest import suggest_spec

app = typer.Typer(no_args_is_help=True, help="Validate file extracts (TSV, CSV, Parquet) against their config.")


def _bad_input(error: Invalid) -> typer.Exit:
    err = Console(stderr=True)
    err.print(f"[bold red]error:[/] {escape(error.message)}", soft_wrap=True)
    for entry in (error.details or {}).get("fields", [])[1:]:
        err.print(f"  - {escape(entry['field'])}: {escape(entry['message'])}", soft_wrap=True)
    return typer.Exit(2)


@app.command("validate")
def validate(
        config: Path = typer.Argument(..., help="file config YAML (files: [{name, pattern, columns, ...}])"),
        output_format: str = typer.Option("table", "--format", "-f", help="table | json"),
        memory_limit: str = typer.Option("1GB", "--memory-limit", help="DuckDB memory cap (it spills past it)"),
        threads: int = typer.Option(2, "--threads", min=1, max=64),
) -> None:
    """Check every file family of CONFIG: files present, rows per file and period, bad lines, missing
    days, duplicate keys (with line numbers), anomalous daily counts."""
    if output_format not in ("table", "json"):
        raise _bad_input(Invalid(f"--format must be table or json, not {output_format!r}", {"fields": [{"field": "format", "message": "unknown"}]}))
    try:
        results = validate_files(load_config(config), settings=ScanSettings(memory_limit=memory_limit, threads=threads))
    except Invalid as error:
        raise _bad_input(error) from None
    failed = any(r.status != "passed" for r in results)
    if output_format == "json":
        typer.echo(json.dumps([dataclasses.asdict(r) for r in results], default=str, indent=2))
    else:
        table = Table(title=f"{config.name}: {'FAILED' if failed else 'passed'}")
        for column in ("files", "check", "status", "summary"):
            table.add_column(column, overflow="fold")
        for r in results:
            style = "green" if r.status == "passed" else "red"
            table.add_row(r.spec, r.check, f"[{style}]{r.status}[/]", escape(r.summary))
        Console(width=160).print(table)
    raise typer.Exit(1 if failed else 0)


@app.command("suggest")
def suggest(file: Path = typer.Argument(..., help="a TSV, CSV or Parquet file")) -> None:
    """Print a file config for FILE guessed from a sample of it (edit the period and key)."""
    try:
        spec = suggest_spec(file)
    except Invalid as error:
        raise _bad_input(error) from None
    typer.echo(yaml.safe_dump({"files": [spec]}, sort_keys=False))
