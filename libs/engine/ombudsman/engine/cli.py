"""The engine's standalone commands, mounted into `ombudsman`: run a pipeline, list validators,
draw a pipeline, create the sample. Exit codes of `run`: 0 passed, 1 a critical step failed, 2 bad input."""

from __future__ import annotations

import asyncio
import io
import json
import sys
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from ombudsman.contracts.pipeline import PipelineError, load_pipeline_file
from ombudsman.contracts.replies import OmbudsmanError
from ombudsman.contracts.results import PipelineResult
from ombudsman.engine.files.cli import app as files_app

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Validation engine (standalone).")
pipeline_app = typer.Typer(no_args_is_help=True, help="Check and draw pipelines.")
example_app = typer.Typer(no_args_is_help=True, help="The sample warehouse and pipeline.")
app.add_typer(pipeline_app, name="pipeline")
app.add_typer(example_app, name="example")
app.add_typer(files_app, name="files")

EXIT_PASSED, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2
_STATUS_STYLE = {"passed": "green", "failed": "red", "error": "bold red", "warning": "yellow", "skipped": "dim"}
_FORMATS = ("table", "json", "junit")


def _fail(message: str | list[str], code: int = EXIT_BAD_INPUT) -> typer.Exit:
    err = Console(stderr=True)
    lines = [message] if isinstance(message, str) else message
    err.print("[bold red]error:[/] " + escape(lines[0]) if len(lines) == 1 else "[bold red]error:[/] invalid pipeline",
              soft_wrap=True)
    if len(lines) > 1:
        for line in lines:
            err.print("  - " + escape(line), soft_wrap=True)
    return typer.Exit(code)


def _load(path: Path) -> Any:
    from ombudsman.engine.pipeline import validate_pipeline

    try:
        return validate_pipeline(load_pipeline_file(path))
    except PipelineError as exc:
        raise _fail([f"{path}: {e}" for e in exc.errors] if len(exc.errors) > 1 else f"{path}: {exc.errors[0]}") from None


@app.command("run")
def run_command(
    pipeline: Path = typer.Argument(..., help="pipeline YAML file"),
    output_format: str = typer.Option("table", "--format", "-f", help="table | json | junit"),
    output: Path | None = typer.Option(None, "--output", "-o", help="write the report to this file"),
    max_parallel: int = typer.Option(4, "--max-parallel", "-p", min=1, max=64, help="steps run at the same time"),
    step: list[str] = typer.Option(None, "--step", help="run only these step ids (repeatable)"),
    plan: bool = typer.Option(False, "--plan", help="run nothing: estimate per step the rows and bytes each side "
                              "will scan, the seconds and (Snowflake) credits"),
) -> None:
    """Run a pipeline against its databases and report every step's result."""
    from ombudsman.engine.pipeline import StepEvent, run_pipeline

    if output_format not in _FORMATS or (plan and output_format == "junit"):
        allowed = ("table", "json") if plan else _FORMATS
        raise _fail(f"--format must be one of {', '.join(allowed)} (got {output_format!r})")
    spec = _load(pipeline)
    unknown = [s for s in step or [] if s not in {x.id for x in spec.steps}]
    if unknown:
        raise _fail(f"--step: unknown step {', '.join(map(repr, unknown))}")
    if plan:
        _print_plan(spec, step or None, output_format, output)
        raise typer.Exit(EXIT_PASSED)
    # Progress goes to stderr so a JSON/JUnit report on stdout stays clean.
    console = Console(stderr=True)
    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), BarColumn(bar_width=20), TimeElapsedColumn(),
        console=console, transient=False, disable=not console.is_terminal,
    ) as progress:
        tasks = {s.id: progress.add_task(f"[dim]{escape(s.id)}[/] waiting", total=1) for s in spec.steps if not step or s.id in step}

        def on_progress(event: StepEvent) -> None:
            task = tasks[event.step_id]
            if event.kind == "started":
                progress.update(task, description=f"{escape(event.step_id)} [cyan]{event.validator}[/] running")
            elif event.result is not None:
                style = _STATUS_STYLE.get(event.result.status, "")
                progress.update(task, completed=1, description=f"{escape(event.step_id)} [{style}]{event.result.status}[/]")

        try:
            result = asyncio.run(run_pipeline(spec, max_parallel=max_parallel, on_progress=on_progress, only=step or None))
        except PipelineError as exc:
            raise _fail(exc.errors) from None
        except OmbudsmanError as exc:
            raise _fail(exc.message) from None
    report = _render(result, output_format)
    if output is not None:
        if isinstance(report, Table):
            buffer = Console(file=io.StringIO(), width=200, color_system=None)
            buffer.print(report)
            report = buffer.file.getvalue()  # type: ignore[attr-defined]
        output.write_text(report)
        console.print(f"report written to {escape(str(output))}")
    elif output_format == "table":
        _wide_console().print(report)
    else:
        sys.stdout.write(str(report) + "\n")
    summary = ", ".join(f"{n} {s}" for s, n in sorted(result.counts.items()))
    console.print(f"[bold]{escape(result.name)}[/]: [{_STATUS_STYLE.get(result.status, '')}]{result.status}[/] ({summary}) in {result.duration_seconds:.2f} s")
    raise typer.Exit(EXIT_FAILED if result.status == "failed" else EXIT_PASSED)


def _print_plan(spec: Any, only: list[str] | None, output_format: str, output: Path | None) -> None:
    """`run --plan`: the price of each step, as a table or JSON; nothing is run."""
    from ombudsman.engine.pipeline.estimate import plan_pipeline

    try:
        priced = asyncio.run(plan_pipeline(spec, only=only))
    except PipelineError as exc:
        raise _fail(exc.errors) from None
    except OmbudsmanError as exc:
        raise _fail(exc.message) from None
    if output_format == "json":
        text = priced.model_dump_json(indent=2)
    else:
        buffer = Console(file=io.StringIO(), width=200, color_system=None)
        buffer.print(plan_table(priced))
        text = buffer.file.getvalue()  # type: ignore[attr-defined]
    if output is not None:
        output.write_text(text)
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")


def _figure(value: float | None, digits: int = 0) -> str:
    return "?" if value is None else f"{value:,.{digits}f}"


def plan_table(priced: Any) -> Table:
    """The plan of `run --plan` as a table: one row per step and side."""
    total = f"{_figure(priced.seconds, 2)} s" + (f", {priced.credits:.6f} credits" if priced.credits is not None else "")
    table = Table(title=f"{priced.name}: estimated {total} (steps one after the other)")
    for name in ("step", "validator", "side", "table", "rows", "bytes", "scans", "rows/s", "seconds", "credits", "from"):
        table.add_column(name, overflow="fold")
    for cost in priced.steps:
        for side in ("source", "target"):
            s = getattr(cost, side)
            if s is None:
                table.add_row(escape(cost.step), cost.validator, side, "-", *["-"] * 7)
                continue
            source = s.statistics + (f" ({s.note})" if s.note else "")
            table.add_row(escape(cost.step), cost.validator, side, escape(s.table or "-"), _figure(s.rows),
                          _figure(s.bytes), str(s.scans), _figure(s.rate_rows_per_second), _figure(s.seconds, 3),
                          "-" if s.credits is None else f"{s.credits:.6f}", escape(source))
    return table


def _wide_console(stderr: bool = False) -> Console:
    """A console that does not squeeze tables to 80 columns when writing to a file or pipe."""
    console = Console(stderr=stderr)
    return console if console.is_terminal else Console(stderr=stderr, width=200)


def _render(result: PipelineResult, output_format: str) -> Any:
    if output_format == "json":
        return result.model_dump_json(indent=2)
    if output_format == "junit":
        return to_junit(result)
    return _table(result)


def _table(result: PipelineResult) -> Table:
    table = Table(title=f"{result.name}: {result.status}", show_lines=False)
    for name in ("step", "validator", "status", "severity", "match %", "seconds", "message"):
        table.add_column(name, overflow="fold")
    for r in result.steps:
        style = _STATUS_STYLE.get(r.status, "")
        table.add_row(
            escape(r.step), r.validator, f"[{style}]{r.status}[/]", r.severity,
            "" if r.match_percentage is None else f"{r.match_percentage:.2f}", f"{r.duration_seconds:.3f}", escape(r.message),
        )
    return table


def to_junit(result: PipelineResult) -> str:
    """JUnit XML: one testsuite per pipeline, one testcase per step."""
    counts = result.counts
    suite = ElementTree.Element(
        "testsuite", name=result.name, tests=str(len(result.steps)), failures=str(counts.get("failed", 0)),
        errors=str(counts.get("error", 0)), skipped=str(counts.get("skipped", 0)), time=f"{result.duration_seconds:.3f}",
        timestamp=result.started_at,
    )
    for r in result.steps:
        case = ElementTree.SubElement(suite, "testcase", name=r.step, classname=r.validator, time=f"{r.duration_seconds:.3f}")
        body = json.dumps({"source": r.source, "target": r.target, "sample": r.sample[:10], "sql": r.sql}, default=str, indent=1)
        if r.status == "failed":
            ElementTree.SubElement(case, "failure", message=r.message, type=r.severity).text = body
        elif r.status == "error":
            ElementTree.SubElement(case, "error", message=r.message, type="error").text = body
        elif r.status == "skipped":
            ElementTree.SubElement(case, "skipped", message=r.message)
        elif r.status == "warning":
            ElementTree.SubElement(case, "system-out").text = f"warning: {r.message}"
    ElementTree.indent(suite)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ElementTree.tostring(suite, encoding="unicode")


def _parameter_summary(schema: dict[str, Any]) -> str:
    required = set(schema.get("required", []))
    parts = []
    for name, prop in schema.get("properties", {}).items():
        kind = prop.get("type") or "|".join(
            str(o.get("type", o.get("$ref", "?")).split("/")[-1]) for o in prop.get("anyOf", []) if o.get("type") != "null"
        ) or "any"
        if kind == "array" and "items" in prop:
            kind = f"list[{prop['items'].get('type', 'any')}]"
        if "enum" in prop:
            kind = "|".join(map(str, prop["enum"]))
        parts.append(f"{name}{'*' if name in required else ''}: {kind}")
    return ", ".join(parts) or "-"


@app.command("validators")
def validators_command(
    output_format: str = typer.Option("table", "--format", "-f", help="table | json"),
    category: str | None = typer.Option(None, "--category", help="only this category"),
) -> None:
    """List the validator catalogue with each validator's parameters (* = required)."""
    from ombudsman.engine.validators import load_errors, validators

    entries = [v.describe() for v in validators().values() if category in (None, v.category)]
    if output_format == "json":
        sys.stdout.write(json.dumps(entries, indent=2) + "\n")
        return
    if output_format != "table":
        raise _fail(f"--format must be table or json (got {output_format!r})")
    table = Table(title=f"{len(entries)} validators")
    for name in ("name", "category", "parameters", "description"):
        table.add_column(name, overflow="fold")
    for e in sorted(entries, key=lambda e: (e["category"], e["name"])):
        table.add_row(e["name"], e["category"], escape(_parameter_summary(e["parameters"])), escape(e["description"]))
    _wide_console().print(table)
    for name, error in load_errors().items():
        Console(stderr=True).print(f"[yellow]warning:[/] validator {name} failed to load: {escape(error)}")


@pipeline_app.command("check")
def check_command(pipeline: Path = typer.Argument(..., help="pipeline YAML file")) -> None:
    """Check a pipeline (structure, validators, parameters, dependencies) without running it."""
    spec = _load(pipeline)
    Console().print(f"{escape(str(pipeline))}: {len(spec.steps)} steps, valid")


@pipeline_app.command("mermaid")
def mermaid_command(pipeline: Path = typer.Argument(..., help="pipeline YAML file")) -> None:
    """Print the pipeline's DAG as a Mermaid flowchart."""
    from ombudsman.engine.pipeline import to_mermaid

    sys.stdout.write(to_mermaid(_load(pipeline)))


@example_app.command("init")
def example_init(directory: Path = typer.Argument(Path("ombudsman-example"), help="folder to create")) -> None:
    """Create a sample source and target DuckDB (with injected defects) and a pipeline that finds them."""
    from ombudsman.engine.pipeline.sample import DEFECTS, init_example

    pipeline = init_example(directory, relative_to=Path.cwd())
    console = Console()
    console.print(f"created {escape(str(directory))}/source.duckdb, target.duckdb and {escape(str(pipeline))}")
    console.print("defects injected into the target:")
    for defect in DEFECTS:
        console.print(f"  - {escape(defect)}")
    console.print(f"now run: [bold]ombudsman run {escape(str(pipeline))}[/]")
