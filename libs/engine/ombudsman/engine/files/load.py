"""Loading file extracts into their table, each file exactly once, resumable.

Each file is loaded in one transaction on the target together with its checkpoint row in
`omb_file_loads` (spec, file, bytes, rows): a load killed half-way leaves the files before it loaded
and recorded, the one it was in rolled back, so `--resume` skips exactly the recorded files and a
file is never loaded twice. The first bad line stops the file (its transaction rolls back) with the
database's message naming the line.
- PostgreSQL: `COPY … FROM STDIN (FORMAT csv)` streamed from the file (gzip decompressed on the fly).
- DuckDB: `INSERT INTO … SELECT … FROM read_csv/read_parquet` in the target database.
- Snowflake: `PUT` to the table's stage and `COPY INTO` one file at a time, in a transaction with its
  checkpoint row (load_snowflake.py); Snowflake's own load history refuses a staged file twice as well.
"""

from __future__ import annotations

import asyncio
import gzip
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import duckdb

from ombudsman.contracts.replies import invalid_fields
from ombudsman.engine.connectors.duckdb import duckdb_target
from ombudsman.engine.connectors.postgres import asyncpg_dsn
from ombudsman.engine.connectors.urls import mask_url, parse_url
from ombudsman.engine.files.config import FileConfig, FileSpec
from ombudsman.engine.files.scan import quote_ident, reader, resolve_files

CHECKPOINTS = "omb_file_loads"
_CHUNK = 1 << 20
Progress = Callable[[str, int, int], None]  # (file, bytes read so far in this file, rows so far)


@dataclass
class FileLoad:
    """What happened to one file."""

    spec: str
    file: str
    status: str  # loaded | skipped | failed | reloaded
    bytes: int
    rows: int = 0
    seconds: float = 0.0
    message: str = ""


def _table(spec: FileSpec, index: int) -> tuple[str | None, str]:
    if not spec.table:
        raise invalid_fields(f"{spec.name}: name the `table` the files load into", {f"files.{index}.table": "missing"})
    schema, _, table = spec.table.rpartition(".")
    return schema or None, table


def _qualified(schema: str | None, table: str) -> str:
    return f"{quote_ident(schema)}.{quote_ident(table)}" if schema else quote_ident(table)


async def load_files(config: FileConfig, target_url: str, *, resume: bool = False,
                     progress: Progress | None = None, platform: bool = False,
                     on_error: str = "ABORT_STATEMENT") -> list[FileLoad]:
    """Load every file of every spec of `config` into its table on `target_url` (PostgreSQL, DuckDB,
    Snowflake). `on_error` is Snowflake's policy for bad lines (ABORT_STATEMENT, CONTINUE, SKIP_FILE);
    PostgreSQL and DuckDB always stop at the first bad line."""
    kind = parse_url(target_url).kind
    refuse_remote(config)
    plan = [(spec, _table(spec, i), resolve_files(spec, config.base, platform=platform)) for i, spec in enumerate(config.files)]
    missing = [spec.name for spec, _, files in plan if not files]
    if missing:
        raise invalid_fields(f"no file matches the pattern of {', '.join(missing)}", {"files": "no match"})
    if kind != "snowflake" and on_error.upper() != "ABORT_STATEMENT":
        raise invalid_fields(f"on_error {on_error!r} is Snowflake's; PostgreSQL and DuckDB stop at the first bad line",
                             {"on_error": "Snowflake only"})
    if kind == "postgres":
        return await _load_postgres(plan, target_url, resume, progress)
    if kind == "duckdb":
        return await asyncio.to_thread(_load_duckdb, plan, target_url, resume, progress)
    if kind == "snowflake":
        from ombudsman.engine.files.load_snowflake import load_snowflake  # it imports this module

        return await asyncio.to_thread(load_snowflake, plan, target_url, resume, progress, on_error)
    raise invalid_fields(f"files load into PostgreSQL, DuckDB or Snowflake, not {mask_url(target_url)}", {"target": "unsupported"})


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


async def _chunks(path: Path, spec: FileSpec, file: str, progress: Progress | None) -> AsyncIterator[bytes]:
    opener: Any = gzip.open if spec.compression == "gzip" or (spec.compression == "auto" and path.suffix == ".gz") else open
    read = 0
    with opener(path, "rb") as handle:
        while chunk := await asyncio.to_thread(handle.read, _CHUNK):
            read += len(chunk)
            if progress:
                progress(file, read, 0)
            yield chunk


async def copy_file(conn: Any, spec: FileSpec, schema: str | None, table: str, path: Path, size: int,
                    progress: Progress | None) -> int:
    """`COPY … FROM STDIN` one file (of `size` bytes) into its table and record its checkpoint row, in
    the caller's transaction; the rows copied."""
    status = await conn.copy_to_table(
        table, schema_name=schema, columns=list(spec.columns), source=_chunks(path, spec, str(path), progress),
        format="csv", delimiter=spec.separator, header=spec.header, quote=spec.quote_char or "\x01",
        encoding={"utf-8": "UTF8", "latin-1": "LATIN1", "utf-16": "UTF8"}[spec.encoding])
    rows = int(status.split()[-1])
    await conn.execute(f"INSERT INTO {CHECKPOINTS} (spec, file, bytes, rows) VALUES ($1, $2, $3, $4)",
                       spec.name, str(path), size, rows)
    return rows


async def connect_target(url: str) -> Any:
    """An asyncpg connection to the PostgreSQL target, its checkpoint table created; `Invalid` when unreachable."""
    try:
        conn = await asyncpg.connect(asyncpg_dsn(url)[0])
    except (OSError, asyncpg.PostgresError) as error:
        raise invalid_fields(f"cannot connect to {mask_url(url)}: {type(error).__name__}", {"target": "unreachable"}) from None
    try:
        await conn.execute(f"CREATE TABLE IF NOT EXISTS {CHECKPOINTS} (spec text, file text, bytes bigint, rows bigint, "
                           "loaded_at timestamptz DEFAULT now(), PRIMARY KEY (spec, file))")
    except (asyncpg.UniqueViolationError, asyncpg.DuplicateTableError):
        pass  # two loads (shards) created it at once: PostgreSQL's IF NOT EXISTS does not serialise them
    except BaseException:
        await conn.close()
        raise
    return conn


async def _load_postgres(plan: list[Any], url: str, resume: bool, progress: Progress | None) -> list[FileLoad]:
    conn = await connect_target(url)
    results: list[FileLoad] = []
    try:
        for spec, (schema, table), files in plan:
            if spec.format == "parquet":
                raise invalid_fields(f"{spec.name}: load Parquet into DuckDB or Snowflake", {"format": "parquet into PostgreSQL"})
            recorded = {f: (b, r) for f, b, r in await conn.fetch(f"SELECT file, bytes, rows FROM {CHECKPOINTS} WHERE spec = $1", spec.name)}
            for path in files:
                skipped = already_loaded(recorded, spec, path, resume)
                if skipped:
                    results.append(skipped)
                    continue
                start = time.perf_counter()
                try:
                    async with conn.transaction():
                        rows = await copy_file(conn, spec, schema, table, path, path.stat().st_size, progress)
                except asyncpg.PostgresError as error:
                    where = getattr(error, "context", None) or getattr(error, "where", None) or ""
                    results.append(FileLoad(spec.name, str(path), "failed", path.stat().st_size, 0,
                                            time.perf_counter() - start, f"{error.args[0] if error.args else error} {where}".strip()))
                    return results
                if progress:
                    progress(str(path), path.stat().st_size, rows)
                results.append(FileLoad(spec.name, str(path), "loaded", path.stat().st_size, rows, time.perf_counter() - start))
    finally:
        await conn.close()
    return results


def _load_duckdb(plan: list[Any], url: str, resume: bool, progress: Progress | None) -> list[FileLoad]:
    path, read_only, _ = duckdb_target(url)
    if read_only or path == ":memory:":
        raise invalid_fields("load into a DuckDB file opened for writing", {"target": "read-only or in memory"})
    con = duckdb.connect(path)
    results: list[FileLoad] = []
    try:
        con.execute(f"CREATE TABLE IF NOT EXISTS {CHECKPOINTS} (spec VARCHAR, file VARCHAR, bytes BIGINT, rows BIGINT, "
                    "loaded_at TIMESTAMP DEFAULT current_timestamp, PRIMARY KEY (spec, file))")
        for spec, (schema, table), files in plan:
            recorded = {f: (b, r) for f, b, r in con.execute(f"SELECT file, bytes, rows FROM {CHECKPOINTS} WHERE spec = ?", [spec.name]).fetchall()}
            columns = ", ".join(quote_ident(c) for c in spec.columns)
            for file in files:
                skipped = already_loaded(recorded, spec, file, resume)
                if skipped:
                    results.append(skipped)
                    continue
                start = time.perf_counter()
                try:
                    con.execute("BEGIN")
                    rows = con.execute(f"INSERT INTO {_qualified(schema, table)} ({columns}) SELECT {columns} "
                                       f"FROM {reader(spec, strict=True)}", {"files": [str(file)]}).fetchone()[0]
                    con.execute(f"INSERT INTO {CHECKPOINTS} (spec, file, bytes, rows) VALUES (?, ?, ?, ?)",
                                [spec.name, str(file), file.stat().st_size, rows])
                    con.execute("COMMIT")
                except duckdb.Error as error:
                    con.execute("ROLLBACK")
                    results.append(FileLoad(spec.name, str(file), "failed", file.stat().st_size, 0,
                                            time.perf_counter() - start, str(error).splitlines()[0]))
                    return results
                if progress:
                    progress(str(file), file.stat().st_size, rows)
                results.append(FileLoad(spec.name, str(file), "loaded", file.stat().st_size, rows, time.perf_counter() - start))
    finally:
        con.close()
    return results
