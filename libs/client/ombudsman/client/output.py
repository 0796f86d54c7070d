"""How every `ombudsman` command prints what it got: a rich table (the default), JSON or YAML.

Commands take `output: OutputFormat = FormatOpt` and call `emit(data, output, render)`: `render` draws
the table view; JSON and YAML print `data` as it came from the gateway. Id columns are never cut
("…"): they keep their full width and the table overflows the terminal if it must; other long
cells wrap.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from enum import StrEnum
from typing import Any

import typer
import yaml
from rich.console import Console
from rich.markup import escape
from rich.table import Table

console = Console()
err = Console(stderr=True)

STATUS_STYLE = {"passed": "green", "failed": "red", "error": "bold red", "warning": "yellow", "skipped": "dim",
                "completed": "green", "running": "cyan", "queued": "dim", "cancelled": "yellow", "ok": "green",
                "True": "green", "False": "red"}


class OutputFormat(StrEnum):
    """What a command prints: a table for people, JSON or YAML for scripts."""

    table = "table"
    json = "json"
    yaml = "yaml"


FormatOpt = typer.Option(OutputFormat.table, "--format", "-f", case_sensitive=False,
                         help="Output: table (default, for people), json or yaml (for scripts)")


def emit(data: Any, output: OutputFormat, render: Callable[[], None] | None = None) -> None:
    """Print `data` as JSON or YAML, or call `render` for the table view (default: JSON)."""
    if output is OutputFormat.yaml:
        plain = json.loads(json.dumps(data, default=str))
        typer.echo(yaml.safe_dump(plain, sort_keys=False, allow_unicode=True), nl=False)
    elif output is OutputFormat.json or render is None:
        typer.echo(json.dumps(data, default=str, indent=2))
    else:
        render()


def is_id_column(name: str) -> bool:
    """Columns holding ids (never truncated): `id`, `*_id`, and the names runs and steps go by."""
    return name in ("id", "run", "step", "pipeline", "name", "schedule", "batch", "event_type") or name.endswith("_id")


def _cell(column: str, value: Any) -> str:
    if isinstance(value, list | tuple):
        value = ", ".join(str(v) for v in value)
    elif isinstance(value, dict):
        value = ", ".join(f"{k}={v}" for k, v in value.items())
    text = escape("" if value is None else str(value))
    style = STATUS_STYLE.get(str(value)) if column in ("status", "ok", "verdict") else None
    return f"[{style}]{text}[/]" if style else text


def table(rows: Iterable[dict[str, Any]], columns: list[str], title: str | None = None,
          headers: dict[str, str] | None = None) -> None:
    """Print rows as a table of `columns` (keys of each row); ids are shown whole."""
    rows = list(rows)
    view = Table(title=title, title_justify="left")
    for column in columns:
        header = (headers or {}).get(column, column)
        if is_id_column(column):
            widest = max([len(header), *(len(str(r.get(column) or "")) for r in rows)])
            view.add_column(header, no_wrap=True, overflow="ignore", min_width=widest)
        else:
            view.add_column(header, overflow="fold")
    for row in rows:
        view.add_row(*(_cell(column, row.get(column)) for column in columns))
    console.print(view)


def fields(pairs: list[tuple[str, Any]], title: str | None = None) -> None:
    """Print one object as a two-column table of field and value."""
    view = Table(title=title, title_justify="left", show_header=False)
    view.add_column("field", style="bold", no_wrap=True)
    view.add_column("value", overflow="fold")
    for name, value in pairs:
        view.add_row(escape(name), _cell(name, value))
    console.print(view)


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print an error (exit 2: bad input; 1: a check failed or a service did); the exit to raise."""
    err.print(f"[bold red]error:[/] {escape(message)}")
    return typer.Exit(code)
