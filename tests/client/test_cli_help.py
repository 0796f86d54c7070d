"""Every `ombudsman` command, at every depth, has help text, and so has each of its options and
arguments; `--help` works on each (issue 17)."""

from __future__ import annotations

from functools import cache
from typing import Any

import typer
from typer.testing import CliRunner

from ombudsman.client import cli


@cache
def _root() -> Any:
    cli._mount()  # as `ombudsman` does: every piece's commands on the one app
    cli._run_anywhere()
    return typer.main.get_command(cli.app)


def _walk(command: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    found = [(path, command)]
    if hasattr(command, "commands"):
        for name, sub in sorted(command.commands.items()):
            found += _walk(sub, (*path, name))
    return found


def test_every_command_option_and_argument_has_help() -> None:
    commands = _walk(_root())
    assert len(commands) > 80  # the whole tree, groups and their subcommands
    missing = []
    for path, command in commands:
        label = " ".join(("ombudsman", *path))
        if not (command.help or command.short_help or "").strip():
            missing.append(f"{label}: no help")
        for param in command.params:
            if param.name == "help":
                continue
            if not (getattr(param, "help", None) or "").strip():
                missing.append(f"{label}: {param.name} has no help")
    assert missing == []


def test_help_of_every_command_prints_its_usage() -> None:
    runner = CliRunner()
    root = _root()
    for path, command in _walk(root):
        result = runner.invoke(cli.app, [*path, "--help"], terminal_width=80)
        assert result.exit_code == 0, (path, result.output)
        assert "Usage" in result.output and (command.help or "").split("\n")[0][:30].split()[0] in result.output, path
