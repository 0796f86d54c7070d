"""`ombudsman files …`: validate extracts against their file config, suggest a config from a file.
Exit codes of `validate`: 0 every check passed, 1 a check failed, 2 bad input (config, paths)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from pathlib import Path

import typer
import yaml
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from ombudsman.contracts.replies import Invalid
from ombudsman.engine.files.checks import validate_files
from ombudsman.engine.files.config import load_config
from ombudsman.engine.files.load import FileLoad, load_files
from ombudsman.engine.files.load_snowflake import snowflake_statements
from ombudsman.engine.files.reload import reload_period
from ombudsman.engine.files.scan import ScanSettings, resolve_files
from ombudsman.engine.files.suggest import suggest_spec
from ombudsman.engine.files.targets import partially_loaded

app = typer.Typer(no_args_is_help=True, help=(
    "Validate file extracts (TSV, CSV, Parquet) against their config, and load them. In a pipeline, the "
    "config is a connection (file:///abs/path/files.yaml): each file family is a table for every validator "
    "(row_hash, record_counts …), and the file_checks validator runs these checks as a step on the workers."))


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
        threads: int = typer.Option(2, "--threads", min=1, max=64, help="DuckDB threads scanning the files"),
) -> None:
    """Check every file family of CONFIG: files present, rows per file and period, bad lines, missing
    days, duplicate keys (with line numbers), anomalous daily counts. (The same checks as a pipeline
    step: validator `file_checks` on a file:///…/CONFIG connection.)"""
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


@app.command("load")
def load(
        config: Path = typer.Argument(..., help="file config YAML; each file family names its `table`"),
        target: str = typer.Option(..., "--target", "-t", help="postgresql://…, duckdb:///path.db or snowflake://… (${ENV} allowed)"),
        resume: bool = typer.Option(False, "--resume", help="skip the files loaded before (recorded in omb_file_loads)"),
        reload: str | None = typer.Option(None, "--reload-period", metavar="PERIOD", help=(
            "delete the table's rows of one period (2026-01-02, or 2026-01 for a monthly family) and load the files "
            "holding it again, with their checkpoints, in one transaction (PostgreSQL)")),
        on_error: str = typer.Option("ABORT_STATEMENT", "--on-error", help=(
            "Snowflake's ON_ERROR: ABORT_STATEMENT | CONTINUE | SKIP_FILE (PostgreSQL and DuckDB stop at the first bad line)")),
) -> None:
    """Load every file into its table, each file in one transaction with its checkpoint, so an
    interrupted load resumes where it stopped (--resume) and no file is loaded twice. With
    --reload-period, only that period is deleted and reloaded, all or nothing."""
    import os

    try:
        parsed = load_config(config)
        total = sum(p.stat().st_size for spec in parsed.files for p in resolve_files(spec, parsed.base))
        with Progress(TextColumn("[bold]{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                      TextColumn("{task.fields[rows]:,} rows · {task.fields[files]} files"), TimeRemainingColumn(),
                      console=Console(stderr=True)) as bar:
            task = bar.add_task("loading", total=total or None, rows=0, files=0)
            seen: dict[str, int] = {}
            done_rows = [0]

            def advance(file: str, read: int, rows: int) -> None:
                bar.advance(task, read - seen.get(file, 0))
                seen[file] = read
                if rows:
                    done_rows[0] += rows
                    bar.update(task, rows=done_rows[0], files=len([f for f in seen if f]))

            url = os.path.expandvars(target)
            results = asyncio.run(reload_period(parsed, url, reload, progress=advance) if reload
                                  else load_files(parsed, url, resume=resume, progress=advance, on_error=on_error))
    except Invalid as error:
        raise _bad_input(error) from None
    table = Table(title=f"{config.name} → {target.split('://')[0]}")
    for column in ("files", "file", "status", "rows", "seconds", "message"):
        table.add_column(column, overflow="fold")
    for r in results:
        style = {"loaded": "green", "reloaded": "green", "skipped": "dim", "failed": "red"}[r.status]
        status = f"[yellow]{r.status}, {r.bad_lines:,} bad line(s) skipped[/]" if r.bad_lines and r.status == "loaded" \
            else f"[{style}]{r.status}[/]"
        table.add_row(r.spec, Path(r.file).name, status, f"{r.rows:,}", f"{r.seconds:.1f}", escape(r.message))
    console = Console(width=160)
    console.print(table)
    partial = partial_summary(results)
    if partial:
        console.print(f"[bold yellow]warning:[/] {escape(partial)}", soft_wrap=True)
    raise typer.Exit(1 if any(r.status == "failed" for r in results) else 0)


def partial_summary(results: list[FileLoad]) -> str | None:
    """The warning a load with partially loaded files ends with (Snowflake, ON_ERROR = CONTINUE), or None."""
    partial = partially_loaded((r.file, r.bad_lines) for r in results if r.status == "loaded")
    return partial and (f"{partial}. Their checkpoints are recorded, so --resume will not load those lines: "
                        "fix them and load them yourself")


@app.command("snowflake-sql")
def snowflake_sql(config: Path = typer.Argument(..., help="file config YAML"),
                  on_error: str = typer.Option("ABORT_STATEMENT", "--on-error", help="ABORT_STATEMENT | CONTINUE | SKIP_FILE")) -> None:
    """Print the PUT and COPY INTO statements that load CONFIG's files into Snowflake."""
    try:
        parsed = load_config(config)
        for spec in parsed.files:
            for statement in snowflake_statements(spec, resolve_files(spec, parsed.base), on_error=on_error):
                typer.echo(statement + ";")
    except Invalid as error:
        raise _bad_input(error) from None


@app.command("load-pipeline")
def load_pipeline_yaml(
        files: str = typer.Option(..., "--files", help="the project's file connection (file:///…/config.yaml) by name"),
        target: str = typer.Option(..., "--target", "-t", help="the project's PostgreSQL, DuckDB or Snowflake connection by name"),
        shards: int = typer.Option(2, "--shards", min=1, max=256, help="steps the files are split between (workers share them)"),
        resume: bool = typer.Option(False, "--resume", help="skip the files loaded by earlier runs"),
        families: list[str] = typer.Option([], "--family", help="only these file families (config names); default all"),
        timeout: float = typer.Option(6 * 3600, "--timeout", min=1, help="seconds a step may take"),
        on_error: str = typer.Option("ABORT_STATEMENT", "--on-error", help=(
            "Snowflake targets' ON_ERROR: ABORT_STATEMENT | CONTINUE | SKIP_FILE (the others stop at the first bad line)")),
) -> None:
    """Print the pipeline that loads through the platform: one `file_load` step per shard, run by the
    workers (`ombudsman remote-run load.yaml --project P`); each file's checkpoint is an event of the run,
    and a run with --resume skips the files loaded before. (`files load` loads from here, directly.)"""
    typer.echo(yaml.safe_dump(load_pipeline(files, target, shards=shards, resume=resume, families=families or None,
                                            timeout=timeout, on_error=on_error), sort_keys=False))


def load_pipeline(files: str, target: str, *, shards: int = 2, resume: bool = False,
                  families: list[str] | None = None, timeout: float = 6 * 3600,
                  on_error: str = "ABORT_STATEMENT") -> dict[str, object]:
    """A pipeline (as data) loading a project's file connection into its PostgreSQL, DuckDB or Snowflake
    connection in `shards` file_load steps (`on_error`: Snowflake's ON_ERROR, written only when not the default)."""
    parameters: dict[str, object] = {"resume": resume}
    if on_error.upper() != "ABORT_STATEMENT":
        parameters["on_error"] = on_error.upper()
    if families:
        parameters["files"] = list(families)
    steps = [{"id": f"load_{i}", "validator": "file_load", "source_connection": files, "target_connection": target,
              "timeout_seconds": timeout, "parameters": {**parameters, "shard": [i, shards]}} for i in range(shards)]
    return {"name": f"load {files} into {target}", "connections": {files: files, target: target},
            "defaults": {"snapshot": "step"}, "steps": steps}
