"""Loading file extracts into their table, each file exactly once, resumable (`ombudsman files load`).

Each file is loaded in one transaction on the target together with its checkpoint row in
`omb_file_loads` (spec, file, bytes, rows): a load killed half-way leaves the files before it loaded
and recorded, the one it was in rolled back, so `--resume` skips exactly the recorded files and a
file is never loaded twice. The first bad line stops the file (its transaction rolls back) with the
database's message naming the line. How one file loads into PostgreSQL (COPY), DuckDB (INSERT from a
streamed read_csv/read_parquet) or Snowflake (PUT + COPY INTO) is `targets.py` / `load_snowflake.py`,
shared with the `file_load` pipeline step (load_step.py), which plans from the run's events as well.
"""

from __future__ import annotations

from pathlib import Path

from ombudsman.contracts.replies import invalid_fields
from ombudsman.engine.files.config import FileConfig, FileSpec
from ombudsman.engine.files.scan import resolve_files
from ombudsman.engine.files.targets import (  # noqa: F401  (re-exported: reload.py, tests)
    CHECKPOINTS,
    FileLoad,
    Progress,
    connect_target,
    copy_file,
    open_target,
)
from ombudsman.engine.files.targets import qualified as _qualified  # noqa: F401


def _table(spec: FileSpec, index: int) -> tuple[str | None, str]:
    if not spec.table:
        raise invalid_fields(f"{spec.name}: name the `table` the files load into", {f"files.{index}.table": "missing"})
    schema, _, table = spec.table.rpartition(".")
    return schema or None, table


async def load_files(config: FileConfig, target_url: str, *, resume: bool = False,
                     progress: Progress | None = None, platform: bool = False,
                     on_error: str = "ABORT_STATEMENT") -> list[FileLoad]:
    """Load every file of every spec of `config` into its table on `target_url` (PostgreSQL, DuckDB,
    Snowflake). `on_error` is Snowflake's policy for bad lines (ABORT_STATEMENT, CONTINUE, SKIP_FILE);
    PostgreSQL and DuckDB always stop at the first bad line."""
    refuse_remote(config)
    plan = [(spec, _table(spec, i), resolve_files(spec, config.base, platform=platform)) for i, spec in enumerate(config.files)]
    missing = [spec.name for spec, _, files in plan if not files]
    if missing:
        raise invalid_fields(f"no file matches the pattern of {', '.join(missing)}", {"files": "no match"})
    target = await open_target(target_url, on_error=on_error)
    results: list[FileLoad] = []
    try:
        for index, (spec, _, files) in enumerate(plan):
            target.check(spec, index, files)
        for spec, (schema, table), files in plan:
            recorded = await target.recorded(spec)
            for path in files:
                skipped = already_loaded(recorded, spec, path, resume)
                if skipped:
                    results.append(skipped)
                    continue
                result = await target.load_file(spec, schema, table, path, path.stat().st_size, progress)
                if result.status == "reconciled":  # another load committed it meanwhile
                    result.status = "skipped"
                results.append(result)
                if result.status == "failed":
                    return results
                if progress and result.status == "loaded":
                    progress(str(path), result.bytes, result.rows)
    finally:
        await target.close()
    return results


def refuse_remote(config: FileConfig) -> None:
    """`Invalid` for a family on an object store (s3://…): those are validated, not loaded, here."""
    from ombudsman.engine.files.remote import scheme_of

    for index, spec in enumerate(config.files):
        if scheme_of(spec.pattern):
            raise invalid_fields(f"{spec.name}: files on an object store ({spec.pattern}) are validated, not loaded, "
                                 "here: load them with Snowflake's COPY INTO, or copy them under OMB_FILE_ROOTS",
                                 {f"files.{index}.pattern": "object store"})


def already_loaded(recorded: dict[str, tuple[int, int]], spec: FileSpec, file: Path, resume: bool) -> FileLoad | None:
    """The skipped result of a file whose checkpoint is in `recorded`, or None to load it; `Invalid`
    when it was loaded but `resume` was not asked for, or it changed since."""
    done = recorded.get(str(file))
    if done is None:
        return None
    if not resume:
        raise invalid_fields(f"{spec.name}: {file.name} is already loaded ({done[1]} rows): use --resume to "
                             f"skip the files loaded before", {"resume": "files already loaded"})
    if done[0] != file.stat().st_size:
        raise invalid_fields(f"{spec.name}: {file.name} changed since it was loaded ({done[0]} bytes then, "
                             f"{file.stat().st_size} now)", {"files": "changed after loading"})
    return FileLoad(spec.name, str(file), "skipped", done[0], done[1], message="loaded before")
