"""`ombudsman`: one command line for the engine (standalone runs), the embedded stack and the gateway.

Sub-commands live next to what they drive and are mounted here lazily, so `ombudsman --help`
stays fast and a missing optional piece never breaks the rest.
"""

from __future__ import annotations

import importlib
import sys

import typer

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Ombudsman: data-migration validation.")

# (module, attribute): a typer app whose commands are mounted at the top level.
_MOUNTED = [
    ("ombudsman.engine.cli", "app"),
    ("ombudsman.eventstore.cli", "app"),
    ("ombudsman.eventstore.launcher", "app"),
    ("ombudsman.client.demo", "app"),
    ("ombudsman.client.commands", "app"),
    ("ombudsman.client.audit_verify", "app"),
]


@app.callback()
def _root() -> None:
    """Ombudsman: prove a migrated warehouse holds the same data as its source."""


@app.command()
def version() -> None:
    """Print Ombudsman's version."""
    from importlib.metadata import version as dist_version

    typer.echo(dist_version("ombudsman-client"))


def _mount() -> None:
    for module_name, attribute in _MOUNTED:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and module_name.startswith(exc.name):
                continue  # that piece is not installed
            raise
        sub = getattr(module, attribute)
        for command in sub.registered_commands:
            app.registered_commands.append(command)
        for group in sub.registered_groups:
            app.registered_groups.append(group)


def main() -> None:
    """Entry point of the `ombudsman` console script."""
    _mount()
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
