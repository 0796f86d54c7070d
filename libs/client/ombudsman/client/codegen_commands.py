"""`ombudsman codegen PROJECT --platform snowflake|bigquery|databricks|beam|dbt -o DIR`: the migration
code generated from the project's approved mappings, written under DIR (through the gateway).

Exit codes: 0 written, 1 the gateway or a service failed, 2 bad input (an unknown platform, a project
without approved mappings, DIR not a directory)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import typer
from rich.markup import escape

from ombudsman.client.commands import ProjectArg, ServerOpt, _call, _client, console, err

app = typer.Typer(add_completion=False)
PLATFORMS = ("snowflake", "bigquery", "databricks", "beam", "dbt")


def _bad(message: str) -> typer.Exit:
    err.print(f"[bold red]error:[/] {escape(message)}")
    return typer.Exit(2)


def write_archive(content: bytes, directory: Path) -> list[Path]:
    """Unpack a codegen zip under `directory`; a member that would land outside it is refused."""
    root = directory.resolve()
    written: list[Path] = []
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        for member in archive.infolist():
            if member.is_dir():
                continue
            path = (root / member.filename).resolve()
            if not path.is_relative_to(root):
                raise ValueError(f"refusing {member.filename!r}: outside {root}")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(archive.read(member))
            written.append(path)
    return written


@app.command("codegen")
def codegen(
    project_id: str = ProjectArg,
    platform: str = typer.Option(..., "--platform", "-p", help=f"one of: {', '.join(PLATFORMS)}"),
    output: Path = typer.Option(Path("."), "--output", "-o", help="directory the files are written under"),
    server: str | None = ServerOpt,
) -> None:
    """Generate migration code from the project's approved mappings and write it under -o DIR:
    target DDL and MERGE loads (snowflake, bigquery, databricks), a Beam pipeline, or a dbt project."""
    if platform not in PLATFORMS:
        raise _bad(f"--platform: unknown platform {platform!r} (one of: {', '.join(PLATFORMS)})")
    if output.exists() and not output.is_dir():
        raise _bad(f"--output: {output} is not a directory")
    client = _client(server)
    archive = _call(client, lambda: client.codegen(project_id, platform))
    try:
        written = write_archive(archive.content, output)
    except (ValueError, zipfile.BadZipFile) as exc:
        err.print(f"[bold red]error:[/] {escape(str(exc))}")
        raise typer.Exit(1) from None
    for path in written:
        console.print(escape(str(path)))
    console.print(f"{len(written)} file(s) for {platform} written under {escape(str(output.resolve()))}")
