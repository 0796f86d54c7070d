"""Retention of the audit log: rows beyond the retention period leave it as signed archive segments.

`archive(before)` takes the oldest contiguous run of log rows that occurred before `before` (which
must itself lie beyond `OMB_AUDIT_RETENTION_DAYS`; unset means keep forever, so nothing is ever
archived), re-verifies their chain, writes them to `<archive dir>/segment-NNNNNN.jsonl.gz` with a
manifest signed with Ed25519 (key derived from `OMB_SECRET_KEY`), records the segment in
`audit.archive_segments`, and only then deletes the rows, in one transaction that sets
`omb.audit_archiving = on` (the only way past the append-only trigger). Verification of the live
log then starts from the last segment's head hash; `verify_segments` re-verifies the files.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import io
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from ombudsman.audit.domain import GENESIS, VerifyReport, verify_chain
from ombudsman.audit.log import SCHEMA, archived_head, chain_rows
from ombudsman.contracts import events as ev
from ombudsman.contracts.chain import (
    SegmentManifest,
    UnreadableSegment,
    public_key_of,
    segment_line,
    segment_manifest_name,
    sign_manifest,
    signing_seed,
    verify_segment,
)
from ombudsman.contracts.envelope import Metadata
from ombudsman.contracts.replies import Conflict, Invalid
from ombudsman.eventstore.runtime import ServiceContext
from ombudsman.eventstore.settings import Settings

ARCHIVE_LOCK = 0x0A0D17A5  # serialises archiving runs (the writer appends at the head, archiving cuts the tail)
BATCH = 2000


class RetentionSettings(BaseSettings):
    """`OMB_AUDIT_RETENTION_DAYS` (unset: keep forever) and `OMB_AUDIT_ARCHIVE_DIR`."""

    model_config = SettingsConfigDict(env_prefix="OMB_AUDIT_", extra="ignore")

    retention_days: int | None = Field(default=None, ge=0)
    archive_dir: Path | None = None


def archive_dir(settings: Settings) -> Path:
    """Where segments are written: OMB_AUDIT_ARCHIVE_DIR, else `<OMB_HOME>/audit-archive`."""
    return RetentionSettings().archive_dir or Path(settings.home) / "audit-archive"


def archive_seed(settings: Settings) -> bytes:
    """The Ed25519 seed that signs segments (derived from OMB_SECRET_KEY; RuntimeError without it)."""
    return signing_seed(settings.require_secret("secret_key", "OMB_SECRET_KEY", "seeds the key that signs audit archive segments"))


def archive_public_key(settings: Settings) -> str:
    """The public key an auditor needs to check segment signatures offline."""
    return public_key_of(archive_seed(settings))


def check_retention(before: datetime, now: datetime | None = None) -> datetime:
    """`before` as aware UTC; Invalid when it lies inside the retention period (or retention is forever)."""
    days = RetentionSettings().retention_days
    when = before if before.tzinfo else before.replace(tzinfo=UTC)
    if days is None:
        raise Invalid("audit retention is unlimited (OMB_AUDIT_RETENTION_DAYS is not set): nothing may be archived",
                      {"field": "before"})
    cutoff = (now or datetime.now(UTC)) - timedelta(days=days)
    if when > cutoff:
        raise Invalid(f"before={when.isoformat()} is inside the retention period of {days} days "
                      f"(archive only before {cutoff.isoformat()})", {"field": "before"})
    return when


async def segments(conn: AsyncConnection) -> list[SegmentManifest]:
    """The recorded segments, oldest first (their manifests as stored at archiving)."""
    rows = (await conn.execute(text(f"SELECT manifest FROM {SCHEMA}.archive_segments ORDER BY segment"))).scalars()
    return [SegmentManifest.model_validate_json(m) for m in rows.all()]


async def archive(ctx: ServiceContext, before: datetime, meta: Metadata) -> dict[str, Any]:
    """Archive the oldest log rows that occurred before `before`; the segment's manifest, or `archived: 0`."""
    before = check_retention(before)
    folder = archive_dir(ctx.settings)
    async with ctx.uow() as uow:
        conn = uow.conn
        await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": ARCHIVE_LOCK})
        done_position, prev_hash = await archived_head(conn)
        # the oldest contiguous run: up to the first row that is inside the period (positions, not times, order it)
        bound = (
            await conn.execute(
                text(f"""SELECT coalesce((SELECT min(position) - 1 FROM {SCHEMA}.event_log WHERE occurred_at >= :b),
                                         (SELECT max(position) FROM {SCHEMA}.event_log))"""),
                {"b": before},
            )
        ).scalar_one()
        last = int(bound) if bound is not None else done_position
        if last <= done_position:
            return {"archived": 0, "before": before.isoformat()}
        seqs = (
            await conn.execute(
                text(f"""SELECT min(stream_seq), max(stream_seq), count(*) FROM {SCHEMA}.event_log
                         WHERE position BETWEEN :f AND :l"""),
                {"f": done_position + 1, "l": last},
            )
        ).one()
        number = len(await segments(conn)) + 1
        name = f"segment-{number:06d}.jsonl.gz"
        folder.mkdir(parents=True, exist_ok=True)
        partial = folder / f".{name}.partial"
        try:
            head_hash, count = await _write_segment(conn, partial, done_position, last, prev_hash)
            digest = await asyncio.to_thread(_sha256, partial)
            manifest = sign_manifest(
                SegmentManifest(
                    segment=number, file=name, first_position=done_position + 1, last_position=last,
                    first_stream_seq=int(seqs[0]), last_stream_seq=int(seqs[1]), row_count=count,
                    prev_hash=prev_hash, head_hash=head_hash, before=before.isoformat(),
                    created_at=datetime.now(UTC).isoformat(), sha256=digest,
                ),
                archive_seed(ctx.settings),
            )
            manifest_path = folder / segment_manifest_name(name)
            _write_durably(manifest_path, manifest.model_dump_json(indent=2).encode())
            os.replace(partial, folder / name)
        finally:
            partial.unlink(missing_ok=True)
        await conn.execute(
            text(f"""INSERT INTO {SCHEMA}.archive_segments (segment, file, first_position, last_position,
                     first_stream_seq, last_stream_seq, row_count, prev_hash, head_hash, archived_before, sha256,
                     public_key, manifest, archived_by)
                     VALUES (:segment, :file, :first, :last, :fseq, :lseq, :count, :prev, :head, :before, :sha,
                     :key, :manifest, :by)"""),
            {"segment": number, "file": name, "first": manifest.first_position, "last": last,
             "fseq": manifest.first_stream_seq, "lseq": manifest.last_stream_seq, "count": count, "prev": prev_hash,
             "head": head_hash, "before": before, "sha": digest, "key": manifest.public_key,
             "manifest": manifest.model_dump_json(), "by": meta.actor.name or meta.actor.id},
        )
        # The owner's SECURITY DEFINER function: the runtime role holds no DELETE on the log, and the
        # guard trigger lets only rows inside a recorded segment go.
        removed = (
            await conn.execute(text(f"SELECT {SCHEMA}.delete_archived(:f, :l)"),
                               {"f": manifest.first_position, "l": last})
        ).scalar_one()
        if removed != count:
            raise Conflict(f"archiving removed {removed} rows, expected {count}; nothing was archived")
        await uow.emit("archive", [ev.AuditArchived(
            segment=number, file=name, first_position=manifest.first_position, last_position=last, row_count=count,
            head_hash=head_hash, sha256=digest, before=before.isoformat())], meta,
            expected_version=await uow.version("archive"))
    return {"archived": count, "manifest": manifest.model_dump(mode="json"), "path": str(folder / name)}


async def _write_segment(conn: AsyncConnection, path: Path, done: int, last: int, prev_hash: str) -> tuple[str, int]:
    """Stream rows done+1..last into a gzip'd JSON Lines file, re-verifying the chain as they go."""
    stream_seqs: dict[int, int] = {}
    expected_position, count, prev = done + 1, 0, prev_hash
    batch: list[Any] = []

    async def flush() -> None:
        nonlocal expected_position, count, prev
        if not batch:
            return
        report = verify_chain(batch, expected_prev=prev)
        if not report.ok or batch[0].position != expected_position:
            at = report.broken_at if not report.ok else expected_position
            reason = report.reason if not report.ok else f"row {expected_position} is missing"
            raise Conflict(f"the log is broken at position {at} ({reason}): refusing to archive it into a signed "
                           "segment", {"broken_at": at})
        seqs = await conn.execute(
            text(f"SELECT position, stream_seq FROM {SCHEMA}.event_log WHERE position BETWEEN :f AND :l"),
            {"f": batch[0].position, "l": batch[-1].position},
        )
        stream_seqs.update({int(p): int(s) for p, s in seqs.all()})
        for row in batch:
            out.write(segment_line(row, stream_seqs.pop(row.position)))
        prev, count, expected_position = str(report.head_hash), count + len(batch), batch[-1].position + 1
        batch.clear()

    # local buffered writes between awaits of the next batch: cheap next to the database reads
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as zipped:  # noqa: ASYNC230
        out = io.TextIOWrapper(zipped, encoding="utf-8", newline="\n")
        async for row in chain_rows(conn, from_position=done + 1, to_position=last, batch=BATCH):
            batch.append(row)
            if len(batch) >= BATCH:
                await flush()
        await flush()
        out.flush()
        out.detach()
        zipped.close()
        raw.flush()
        os.fsync(raw.fileno())
    if expected_position != last + 1:
        raise Conflict(f"the log is broken at position {expected_position} (row missing): refusing to archive",
                       {"broken_at": expected_position})
    return prev, count


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as raw:
        for chunk in iter(lambda: raw.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _write_durably(path: Path, content: bytes) -> None:
    partial = path.with_name(f".{path.name}.partial")
    with open(partial, "wb") as out:
        out.write(content)
        out.flush()
        os.fsync(out.fileno())
    os.replace(partial, path)


async def verify_segments(conn: AsyncConnection, settings: Settings) -> tuple[VerifyReport, str]:
    """Re-verify every recorded segment's file and signature, in order; (report, head hash after them).

    The manifest recorded in the database is the reference; the file must match it and be signed
    with this service's key, and each segment must continue the previous one.
    """
    folder = archive_dir(settings)
    trusted = archive_public_key(settings)
    prev, checked, first = GENESIS, 0, None
    for manifest in await segments(conn):
        first = manifest.first_position if first is None else first
        try:
            report = await asyncio.to_thread(verify_segment, folder / manifest.file, manifest, public_key=trusted,
                                             expected_prev=prev)
        except UnreadableSegment:
            report = VerifyReport(ok=False, checked=0, broken_at=manifest.first_position,
                                  reason=f"segment {manifest.segment} ({manifest.file}): the file is missing or "
                                         f"unreadable in {folder}")
        if not report.ok:
            return report.model_copy(update={"checked": checked + report.checked, "first_position": first}), prev
        checked += report.checked
        prev = manifest.head_hash
    return VerifyReport(ok=True, checked=checked, first_position=first,
                        last_position=None if first is None else first + checked - 1, head_hash=prev), prev
