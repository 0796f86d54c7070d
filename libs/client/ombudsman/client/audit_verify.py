"""`ombudsman audit-verify FILE`: re-verify an audit export or archive segment offline, no server needed.

FILE is either an export of the log (JSON Lines or CSV from the audit `export` query) or an archive
segment (`segment-NNNNNN.jsonl.gz`, with `segment-NNNNNN.manifest.json` next to it, or the
manifest itself). Exit codes: 0 the chain verifies, 1 it is broken (the first broken position and
why are printed), 2 the file cannot be read.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from pydantic import ValidationError

from ombudsman.contracts.chain import (
    SegmentManifest,
    UnreadableSegment,
    VerifyReport,
    segment_manifest_name,
    verify_export,
    verify_export_csv,
    verify_segment,
)

app = typer.Typer(add_completion=False, help="Offline verification of the audit log.")


@app.callback()
def _group() -> None:
    """Offline verification of the audit log (a group, so `audit-verify` stays a named command)."""


def _unreadable(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


def _segment_paths(file: Path, manifest: Path | None) -> tuple[Path, Path]:
    if file.name.endswith(".manifest.json"):
        return file.with_name(file.name[: -len(".manifest.json")] + ".jsonl.gz"), file
    return file, manifest or file.with_name(segment_manifest_name(file.name))


def _verify_segment(file: Path, manifest_path: Path | None, public_key: str | None) -> VerifyReport:
    segment, manifest_file = _segment_paths(file, manifest_path)
    try:
        manifest = SegmentManifest.model_validate_json(manifest_file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise _unreadable(f"cannot read the segment's manifest {manifest_file}: {exc.strerror or exc}") from exc
    except ValidationError as exc:
        raise _unreadable(f"{manifest_file} is not a segment manifest: {exc.errors()[0]['msg']} "
                          f"(field {'.'.join(str(p) for p in exc.errors()[0]['loc'])})") from exc
    try:
        return verify_segment(segment, manifest, public_key=public_key)
    except UnreadableSegment as exc:
        raise _unreadable(str(exc)) from exc


def _is_csv(file: Path) -> bool:
    """A CSV export: named .csv, or (whatever its name) starting with the CSV header."""
    if file.suffix.lower() == ".csv":
        return True
    with file.open("rb") as head:
        return head.read(9) == b"position,"


def verify_file(file: Path, *, manifest: Path | None = None, public_key: str | None = None) -> VerifyReport:
    """Verify an export (.jsonl or .csv) or an archive segment offline; typer.Exit(2) when unreadable."""
    if not file.exists():
        raise _unreadable(f"{file} does not exist")
    if file.name.endswith((".gz", ".manifest.json")):
        return _verify_segment(file, manifest, public_key)
    return _verify_export(file)


def print_report(file: Path, report: VerifyReport, *, as_json: bool, public_key: str | None) -> None:
    """The report as people (or, with `as_json`, scripts) read it."""
    is_segment = file.name.endswith((".gz", ".manifest.json"))
    if as_json:
        typer.echo(json.dumps({"file": str(file), **report.model_dump()}))
    elif report.ok:
        typer.echo(f"ok: {report.checked} rows, positions {report.first_position}..{report.last_position}, "
                   f"head {report.head_hash}")
        if is_segment and public_key is None:
            typer.echo("note: the signature was checked against the key in the manifest; pass --public-key to "
                       "require the service's key")
    else:
        where = f"position {report.broken_at}" if report.broken_at is not None else "the file"
        typer.echo(f"BROKEN at {where}: {report.reason} ({report.checked} rows verified before it)")


def _verify_export(file: Path) -> VerifyReport:
    try:
        with file.open(encoding="utf-8", newline="") as lines:
            report = verify_export_csv(lines) if _is_csv(file) else verify_export(lines)
    except (OSError, UnicodeDecodeError) as exc:
        raise _unreadable(f"cannot read {file}: {getattr(exc, 'strerror', None) or exc}") from exc
    except ValueError as exc:
        raise _unreadable(f"{file}: {exc}") from exc
    if report.ok and report.checked == 0:
        raise _unreadable(f"{file} holds no audit log rows")
    return report


@app.command("audit-verify")
def audit_verify(
    file: Path = typer.Argument(..., help="an export (.jsonl or .csv) or an archive segment (.jsonl.gz / .manifest.json)"),
    manifest: Path | None = typer.Option(None, help="the segment's manifest, when not next to it"),
    public_key: str | None = typer.Option(
        None, "--public-key", envvar="OMB_AUDIT_PUBLIC_KEY",
        help="hex Ed25519 key segments must be signed with (the `archive_segments` query shows it)"),
    as_json: bool = typer.Option(False, "--json", help="print the report as JSON"),
) -> None:
    """Re-verify the hash chain of an audit export (JSON Lines or CSV) or archive segment, offline."""
    report = verify_file(file, manifest=manifest, public_key=public_key)
    print_report(file, report, as_json=as_json, public_key=public_key)
    raise typer.Exit(0 if report.ok else 1)
