"""`ombudsman`: one command line for the engine (standalone runs), the embedded stack and the gateway.

Sub-commands live next to what they drive and are mounted here lazily, so `ombudsman --help`
stays fast and a missing optional piece never breaks the rest.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import typer

app = typer.Typer(
    no_args_is_help=True, add_completion=False, help="Ombudsman: data-migration validation.",
    epilog="Exit codes: 0 ok, 1 a validation (run, check) failed, 2 bad input. Listings print tables; "
           "--format json|yaml prints them for scripts. `ombudsman COMMAND --help` for any command.",
)

# (module, attribute): a typer app whose commands are mounted at the top level.
_MOUNTED = [
    ("ombudsman.engine.cli", "app"),
    ("ombudsman.eventstore.cli", "app"),
    ("ombudsman.eventstore.launcher", "app"),
    ("ombudsman.client.demo", "app"),
    ("ombudsman.client.events_doc", "app"),
    ("ombudsman.client.commands", "app"),
    ("ombudsman.client.workload_commands", "app"),
    ("ombudsman.client.mapping_commands", "app"),
    ("ombudsman.client.results_commands", "app"),
    ("ombudsman.client.audit_verify", "app"),
    ("ombudsman.client.codegen_commands", "app"),
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


def _run_anywhere() -> None:
    """`ombudsman run`: standalone by default; on the gateway's workers when `--server` is given."""
    try:
        from ombudsman.client.commands import remote_plan, remote_run
        from ombudsman.engine.cli import run_command
    except ModuleNotFoundError:
        return

    def run(
        pipeline: Path = typer.Argument(..., help="pipeline YAML file (or, with --server and --project, a saved pipeline id)"),
        output_format: str = typer.Option("table", "--format", "-f", help="table | json | junit"),
        output: Path | None = typer.Option(None, "--output", "-o", help="write the report to this file"),
        max_parallel: int = typer.Option(4, "--max-parallel", min=1, max=64, help="steps run at the same time"),
        step: list[str] = typer.Option(None, "--step", help="run only these step ids (repeatable)"),
        server: str | None = typer.Option(None, "--server", "-s", help="run on this gateway's workers instead"),
        project: str | None = typer.Option(None, "--project", help="the project of a saved pipeline (with --server)"),
        plan: bool = typer.Option(False, "--plan", help="run nothing: estimate per step the rows and bytes each side "
                                  "will scan, the seconds and (Snowflake) credits"),
    ) -> None:
        """Run a pipeline and report every step's result (exit 0 passed, 1 failed, 2 bad input).

        Standalone (no server needed) unless --server names a gateway: then the pipeline runs on the
        gateway's workers and progress is followed live.
        """
        if server and plan:
            remote_plan(str(pipeline), project=project, server=server, output_format=output_format)
            return
        if server:
            remote_run(str(pipeline), project=project, watch_it=True, server=server)
            return
        run_command(pipeline, output_format=output_format, output=output, max_parallel=max_parallel, step=step,
                    plan=plan)

    app.registered_commands[:] = [c for c in app.registered_commands if c.name != "run"]
    app.command("run")(run)


def main() -> None:
    """Entry point of the `ombudsman` console script."""
    _mount()
    _run_anywhere()
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
