"""One `file_load` step: load the files of a shard into PostgreSQL, DuckDB or Snowflake, each exactly
once, with a checkpoint per file.

Each file is loaded in one transaction together with its checkpoint row on the target (`omb_file_loads`),
by the same per-target code as `ombudsman files load` (targets.py, load_snowflake.py): that row is the
fence, the one thing committed atomically with the rows. Around it, the step reports each file's checkpoints to the sink (engine.files.checkpoints: on the
platform, events on the run's stream) and plans from the sink's record of earlier runs:

- completed by this run and step (a redelivered step): skipped;
- completed by an earlier run: skipped with `resume`, refused without it; refused when the target holds
  no checkpoint row for it (the table was emptied or the connection points elsewhere) or its size changed;
- the target holds the file's row but no completed event (the worker died between the commit and the
  event; or a CLI load): recorded completed, `reconciled`, nothing loaded again (with `resume`, or in
  the same run);
- otherwise loaded: `started`, `progress` every few seconds (bytes read: PostgreSQL as it streams the
  file, Snowflake once the file is uploaded, DuckDB once it is in), then `completed` (rows) or `failed`
  (the first bad line's message; the file rolled back whole and the step stops there, failed). Two
  attempts loading one file at once meet on its checkpoint row: the second is `reconciled`.

A shard is the files whose path (relative to the config's folder) hashes to it (blake2b mod `of`): stable
whatever other files appear, so two steps never own one file.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ombudsman.contracts.replies import Invalid
from ombudsman.engine.files.checkpoints import CheckpointSink
from ombudsman.engine.files.config import FileConfig, FileSpec
from ombudsman.engine.files.load import _table, refuse_remote
from ombudsman.engine.files.scan import resolve_files
from ombudsman.engine.files.targets import CHECKPOINTS, LoadTarget, open_target, partially_loaded


@dataclass
class LoadOutcome:
    """What one load step did, file by file."""

    files: list[dict[str, Any]] = field(default_factory=list)
    failed: dict[str, Any] | None = None
    refused: str | None = None

    def add(self, spec: str, file: Path, status: str, size: int, rows: int = 0, seconds: float = 0.0,
            message: str = "", bad_lines: int = 0) -> None:
        self.files.append({"spec": spec, "file": str(file), "status": status, "bytes": size, "rows": rows,
                           "seconds": round(seconds, 3), "message": message,
                           **({"bad_lines": bad_lines} if bad_lines else {})})  # ON_ERROR = CONTINUE skipped them

    def partial(self) -> str | None:
        """Its files loaded with bad lines skipped (`targets.partially_loaded`), or None."""
        return partially_loaded((f["file"], f.get("bad_lines", 0)) for f in self.files if f["status"] == "loaded")

    def count(self, status: str) -> int:
        return sum(1 for f in self.files if f["status"] == status)


def _size(path: Path) -> int:
    return os.path.getsize(path)


def in_shard(file: Path, base: Path, index: int, of: int) -> bool:
    """Whether `file` belongs to shard `index` of `of` (a hash of its path relative to `base`)."""
    try:
        name = str(file.relative_to(base))
    except ValueError:
        name = str(file)
    digest = hashlib.blake2b(name.encode(), digest_size=8).digest()  # crc32 is linear: names a digit apart share parity
    return int.from_bytes(digest, "big") % of == index


@dataclass
class _Progress:
    """The bytes read of the file being loaded, sent to the sink every `every` seconds."""

    sink: CheckpointSink | None
    every: float
    current: dict[str, Any] = field(default_factory=dict)
    sent: int = 0

    def __call__(self, file: str, read: int, rows: int) -> None:
        self.current["bytes_read"] = read

    async def pump(self) -> None:
        while self.sink is not None:
            await asyncio.sleep(self.every)
            read = self.current.get("bytes_read", 0)
            if self.current.get("file") and read != self.sent:
                self.sent = read
                await self.sink.record("progress", **{k: v for k, v in self.current.items()})


async def load_shard(config: FileConfig, specs: list[FileSpec], url: str, *, sink: CheckpointSink | None,
                     resume: bool, shard: tuple[int, int] = (0, 1), platform: bool = True,
                     progress_seconds: float = 2.0, on_error: str = "ABORT_STATEMENT") -> LoadOutcome:
    """Load the files of `specs` in shard `shard` = (index, of) into their tables on `url` (PostgreSQL,
    DuckDB or Snowflake; see the module docstring); `Invalid` naming the field for a bad config, an
    unreachable target or an `on_error` (Snowflake's ON_ERROR) the target cannot apply."""
    refuse_remote(config)
    plan = []
    for spec in specs:
        files = resolve_files(spec, config.base, platform=platform)
        if not files:
            raise Invalid(f"{spec.name}: no file matches {spec.pattern!r}", {"field": f"files.{spec.name}.pattern"})
        plan.append((spec, _table(spec, config.files.index(spec)), [f for f in files if in_shard(f, config.base, *shard)]))
    target = await open_target(url, on_error=on_error)
    outcome = LoadOutcome()
    progress = _Progress(sink, progress_seconds)
    pump = asyncio.create_task(progress.pump())
    try:
        for spec, _, files in plan:
            target.check(spec, config.files.index(spec), files)
        events = {(r["spec"], r["file"]): r for r in (await sink.recorded() if sink else [])}
        for spec, (schema, table), files in plan:
            on_target = await target.recorded(spec)
            for path in files:
                done = await _planned(outcome, sink, spec, path, events.get((spec.name, str(path))),
                                      on_target.get(str(path)), resume)
                if done:
                    if outcome.refused:
                        return outcome
                    continue
                if not await _load_one(outcome, target, sink, progress, spec, schema, table, path):
                    return outcome
    finally:
        pump.cancel()
        await target.close()
    return outcome


async def _planned(outcome: LoadOutcome, sink: CheckpointSink | None, spec: FileSpec, path: Path,
                   event: dict[str, Any] | None, on_target: tuple[int, int] | None, resume: bool) -> bool:
    """Whether `path` needs no load (skipped, reconciled or refused: `outcome` says which)."""
    size = _size(path)
    same_step = bool(event and sink and event.get("run_id") == sink.run_id)
    if event and event["status"] == "completed":
        if not (resume or same_step):
            outcome.refused = (f"{spec.name}: {path.name} is already loaded (run {event['run_id']}, {event['rows']} rows): "
                               "set `resume: true` to skip the files loaded before")
        elif on_target is None:
            outcome.refused = (f"{spec.name}: {path.name} is recorded as loaded by run {event['run_id']}, but the target "
                               f"has no checkpoint row for it in {CHECKPOINTS} (table emptied, or the connection points "
                               "elsewhere?): nothing loaded")
        elif int(event["bytes"]) != size:
            outcome.refused = f"{spec.name}: {path.name} changed since it was loaded ({event['bytes']} bytes then, {size} now)"
        else:
            outcome.add(spec.name, path, "skipped", size, int(event["rows"]), message=f"loaded by run {event['run_id']}")
        return True
    if on_target is not None:
        if not (resume or same_step):
            outcome.refused = (f"{spec.name}: {path.name} is already in the target ({on_target[1]} rows, {CHECKPOINTS}): "
                               "set `resume: true` to skip the files loaded before")
            return True
        if on_target[0] != size:
            outcome.refused = f"{spec.name}: {path.name} changed since it was loaded ({on_target[0]} bytes then, {size} now)"
            return True
        if sink:
            await sink.record("completed", spec=spec.name, file=str(path), bytes=size, rows=on_target[1], reconciled=True)
        outcome.add(spec.name, path, "reconciled", size, on_target[1], message="in the target already; recorded")
        return True
    return False


async def _load_one(outcome: LoadOutcome, target: LoadTarget, sink: CheckpointSink | None, progress: _Progress,
                    spec: FileSpec, schema: str | None, table: str, path: Path) -> bool:
    """Load one file with its checkpoint row (targets.py); False when it failed (the step stops)."""
    size = _size(path)
    point = {"spec": spec.name, "file": str(path), "bytes": size}
    if sink:
        await sink.record("started", **point)
    progress.current, progress.sent = dict(point), 0
    try:
        done = await target.load_file(spec, schema, table, path, size, progress)
    finally:
        progress.current = {}
    if done.status == "failed":
        if sink:
            await sink.record("failed", **point, message=done.message)
        outcome.add(spec.name, path, "failed", size, 0, done.seconds, done.message)
        outcome.failed = outcome.files[-1]
        return False
    if done.status == "skipped":  # Snowflake's load history holds it (loaded outside Ombudsman): no checkpoint
        outcome.add(spec.name, path, "skipped", size, 0, done.seconds, done.message)
        return True
    reconciled = done.status == "reconciled"  # another attempt committed it meanwhile: its row is the fence
    if sink:
        await sink.record("completed", **point, rows=done.rows, seconds=round(done.seconds, 3), reconciled=reconciled)
    outcome.add(spec.name, path, done.status, size, done.rows, done.seconds, done.message, done.bad_lines)
    return True


def outcome_details(outcome: LoadOutcome, report: int) -> dict[str, Any]:
    """The step's details: counts per status and the first `report` files."""
    statuses = ("loaded", "skipped", "reconciled", "failed")
    return {"counts": {s: outcome.count(s) for s in statuses}, "files": outcome.files[:report],
            "failed": asdict(outcome)["failed"]}
