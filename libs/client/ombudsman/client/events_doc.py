"""`ombudsman events`: the public event interface (AsyncAPI 3.0) for teams that subscribe to it."""

from __future__ import annotations

import json
from pathlib import Path

import typer
import yaml

from ombudsman.contracts.asyncapi import asyncapi_document

app = typer.Typer(add_completion=False)


@app.command("events")
def events(
    output_format: str = typer.Option("yaml", "--format", "-f", help="yaml | json"),
    output: Path | None = typer.Option(None, "--output", "-o", help="write to this file"),
) -> None:
    """Print the AsyncAPI document of every event type published on OMB_EVENTS."""
    if output_format not in ("yaml", "json"):
        typer.echo(f"error: --format must be yaml or json (got {output_format!r})", err=True)
        raise typer.Exit(2)
    document = asyncapi_document()
    text = json.dumps(document, indent=2) if output_format == "json" else yaml.safe_dump(document, sort_keys=False)
    if output:
        output.write_text(text)
    else:
        typer.echo(text)
