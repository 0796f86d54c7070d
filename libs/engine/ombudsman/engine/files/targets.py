"""Where files load: one class per target database, each loading ONE file together with its checkpoint
row in one transaction — the code `ombudsman files load` (load.py) and the `file_load` step (load_step.py)
share; they differ only in how they plan (the target's rows, or the run's events too).

A target answers `recorded(spec)` (its checkpoint rows: file → (bytes, rows)) and `load_file(…)`, whose
`FileLoad` is `loaded` (committed with its row), `failed` (rolled back whole; the database's message
naming the line), `reconciled` (another load committed the file's checkpoint row meanwhile: the row's
primary key is the fence, this attempt rolled back) or, for Snowflake, `skipped` (its load history holds
the file already).

- PostgreSQL: `COPY … FROM STDIN (FORMAT csv)` streamed from the file (gzip decompressed on the fly).
- DuckDB: the file read by a memory-capped scanner DuckDB (`read_csv`/`read_parquet`, strict) and
  streamed as Arrow into `INSERT INTO …` on the target, which stays sandboxed (opened as the engine's
  DuckDB connector opens it, without access to host files, so a step's own connector on the same file
  shares it); one process writes a DuckDB file at a time.
- Snowflake: `PUT` + `COPY INTO` (load_snowflake.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import os
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import duckdb

from ombudsman.contracts.replies import invalid_fields
from ombudsman.engine.connectors.duckdb import duckdb_target, sandboxed
from ombudsman.engine.connectors.postgres import asyncpg_dsn
from ombudsman.engine.connectors.urls import mask_url, parse_url
from ombudsman.engine.files.config import FileSpec
from ombudsman.engine.files.scan import (
    close_scanner,
    first_bad_ending,
    interruptible,
    open_scanner,
    quote_ident,
    reader,
)

CHECKPOINTS = "omb_file_loads"
ON_ERROR = ("ABORT_STATEMENT", "CONTINUE", "SKIP_FILE")  # Snowflake's; the others stop at the first bad line
_CHUNK = 1 << 20
Progress = Callable[[str, int, int], None]  # (file, bytes read so far in this file, rows so far)


@dataclass
class FileLoad:
    """What happened to one file."""

    spec: str
    file: str
    status: str  # loaded | skipped | failed | reloaded | reconciled
    bytes: int
    rows: int = 0
    seconds: float = 0.0
    message: str = ""
    bad_lines: int = 0  # Snowflake, ON_ERROR = CONTINUE: lines skipped in a file recorded as loaded


def partially_loaded(files: Iterable[tuple[str, int]]) -> str | None:
    """What a load's files loaded with bad lines skipped (Snowflake, ON_ERROR = CONTINUE) come to, from
    (file, bad lines) of its loaded files, or None when there is none."""
    partial = [(file, bad) for file, bad in files if bad]
    if not partial:
        return None
    return (f"{len(partial)} file(s) partially loaded, {sum(bad for _, bad in partial):,} bad line(s) skipped "
            f"(ON_ERROR = CONTINUE): {', '.join(Path(file).name for file, _ in partial)}")


def qualified(schema: str | None, table: str) -> str:
    """`"schema"."table"` (or `"table"`), quoted for PostgreSQL and DuckDB."""
    return f"{quote_ident(schema)}.{quote_ident(table)}" if schema else quote_ident(table)


class LoadTarget:
    """A target database open for loading files (see the module docstring)."""

    kind = ""

    def check(self, spec: FileSpec, index: int, files: list[Path]) -> None:
        """`Invalid` (naming `files.<index>.…`) when this target cannot load `spec`'s files; before any moves."""

    async def recorded(self, spec: FileSpec) -> dict[str, tuple[int, int]]:
        """The target's checkpoint rows of `spec`: file → (bytes, rows)."""
        raise NotImplementedError

    async def load_file(self, spec: FileSpec, schema: str | None, table: str, path: Path, size: int,
                        progress: Progress | None) -> FileLoad:
        """Load one file with its checkpoint row, in one transaction."""
        raise NotImplementedError

    async def close(self) -> None:
        """Close the connection."""


def check_on_error(on_error: str, kind: str) -> str:
    """`on_error` upper-cased; `Invalid` naming `on_error` when unknown, or not ABORT_STATEMENT for a
    target that is not Snowflake (PostgreSQL and DuckDB always stop at the first bad line)."""
    policy = on_error.upper()
    if policy not in ON_ERROR:
        raise invalid_fields(f"ON_ERROR must be {', '.join(ON_ERROR)}, not {on_error!r}", {"on_error": "unknown"})
    if kind != "snowflake" and policy != "ABORT_STATEMENT":
        raise invalid_fields(f"on_error {on_error!r} is Snowflake's; PostgreSQL and DuckDB stop at the first bad line",
                             {"on_error": "Snowflake only"})
    return policy


async def open_target(url: str, *, on_error: str = "ABORT_STATEMENT") -> LoadTarget:
    """The target of `url` (PostgreSQL, DuckDB or Snowflake) open for loading; `Invalid` naming the field
    for an unsupported, unreachable or read-only target, or an ON_ERROR it cannot apply."""
    kind = parse_url(url).kind
    if kind not in ("postgres", "duckdb", "snowflake"):
        raise invalid_fields(f"files load into PostgreSQL, DuckDB or Snowflake, not {mask_url(url)}", {"target": "unsupported"})
    policy = check_on_error(on_error, kind)
    if kind == "postgres":
        return PostgresTarget(await connect_target(url))
    if kind == "duckdb":
        return await asyncio.to_thread(DuckDBTarget.open, url)
    from ombudsman.engine.files.load_snowflake import SnowflakeTarget  # it imports this module

    return await asyncio.to_thread(SnowflakeTarget.open, url, policy)


# --- PostgreSQL ------------------------------------------------------------------------------------


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
    except (asyncpg.UniqueViolationError, asyncpg.DuplicateTableError, asyncpg.DuplicateObjectError):
        # two loads (shards) created it at once: PostgreSQL's IF NOT EXISTS does not serialise them, and the
        # loser meets the winner's committed table, its index or its row type (`type "omb_file_loads" already exists`)
        pass
    except BaseException:
        await conn.close()
        raise
    return conn


class PostgresTarget(LoadTarget):
    """PostgreSQL through asyncpg: COPY FROM STDIN, one transaction per file."""

    kind = "postgres"

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def check(self, spec: FileSpec, index: int, files: list[Path]) -> None:
        if spec.format == "parquet":
            raise invalid_fields(f"{spec.name}: load Parquet into DuckDB or Snowflake", {f"files.{index}.format": "parquet into PostgreSQL"})

    async def recorded(self, spec: FileSpec) -> dict[str, tuple[int, int]]:
        rows = await self.conn.fetch(f"SELECT file, bytes, rows FROM {CHECKPOINTS} WHERE spec = $1", spec.name)
        return {f: (int(b), int(r)) for f, b, r in rows}

    async def load_file(self, spec: FileSpec, schema: str | None, table: str, path: Path, size: int,
                        progress: Progress | None) -> FileLoad:
        start = time.perf_counter()
        try:
            async with self.conn.transaction():
                rows = await copy_file(self.conn, spec, schema, table, path, size, progress)
        except asyncpg.UniqueViolationError as error:
            # a key taken by another attempt that committed this file meanwhile (PostgreSQL made this one wait
            # for it): its checkpoint row is the fence. A key taken by other rows is the file's failure.
            done = await self.conn.fetchval(f"SELECT rows FROM {CHECKPOINTS} WHERE spec = $1 AND file = $2", spec.name, str(path))
            if done is not None:
                return FileLoad(spec.name, str(path), "reconciled", size, int(done), time.perf_counter() - start,
                                "committed by another load meanwhile")
            return self._failed(spec, path, size, start, error)
        except asyncpg.PostgresError as error:
            return self._failed(spec, path, size, start, error)
        return FileLoad(spec.name, str(path), "loaded", size, rows, time.perf_counter() - start)

    @staticmethod
    def _failed(spec: FileSpec, path: Path, size: int, start: float, error: Exception) -> FileLoad:
        where = getattr(error, "context", None) or getattr(error, "where", None) or ""
        message = f"{error.args[0] if error.args else error} {where}".strip()
        return FileLoad(spec.name, str(path), "failed", size, 0, time.perf_counter() - start, message)

    async def close(self) -> None:
        await self.conn.close()


# --- DuckDB ----------------------------------------------------------------------------------------

_BATCH_VALUES = 1 << 19  # values (rows x columns) per Arrow batch: 128k rows of 4 columns, fewer when wide
_STREAM = "omb_file_rows"
# one lock per DuckDB file, held by a load's COMMIT (all the writers of a DuckDB file are in one process)
_COMMIT_LOCKS: dict[str, threading.Lock] = {}
_COMMIT_LOCKS_GUARD = threading.Lock()


def commit_lock(path: str) -> threading.Lock:
    """The lock the file loads into the DuckDB file `path` hold while they COMMIT (see `DuckDBTarget._fenced`)."""
    with _COMMIT_LOCKS_GUARD:
        return _COMMIT_LOCKS.setdefault(os.path.realpath(path), threading.Lock())


def duckdb_message(error: BaseException) -> str:
    """DuckDB's message for a file that did not load, on one line: the CSV reader's `CSV Error on Line: N`
    and its reason, without the Arrow stream's wrapping or the reader's long list of options."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    first = lines[0] if lines else type(error).__name__
    if "CSV Error on Line" in first:
        first = first[first.index("CSV Error on Line"):]
    reason = [line for line in lines[1:4] if line.startswith(("Error when", "Could not", "Expected", "Value"))]
    return " ".join([first, *reason[:1]])


def _with_bad_ending(message: str, spec: FileSpec, path: Path) -> str:
    """DuckDB's refusal of a whole file for its line ends ("state machine reached an invalid state", no line
    given) completed with the line it is about: a lone CR, or an ending other than the first line's."""
    if "invalid state" not in message:
        return message
    found = first_bad_ending(path, spec.compression, spec.quote_char)
    return f"{message} {found[1]}" if found else message


def _batch_rows(spec: FileSpec) -> int:
    """Rows per Arrow batch from the scanner, bounded in values so a wide family's batches stay small (1M-row
    batches measured no faster than 128k on 4 columns, within the noise of a loaded machine)."""
    return max(1 << 13, min(1 << 20, _BATCH_VALUES // max(1, len(spec.columns))))


def _run(cur: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> None:
    """A statement without a result, completed (DuckDB refuses the next statement while one is pending)."""
    cur.execute(sql, params) if params else cur.execute(sql)
    cur.complete()


class DuckDBTarget(LoadTarget):
    """A DuckDB file opened for writing, sandboxed; each file INSERTed from a scanner's Arrow stream."""

    kind = "duckdb"

    def __init__(self, con: duckdb.DuckDBPyConnection, scanner: duckdb.DuckDBPyConnection,
                 commits: threading.Lock | None = None) -> None:
        self.con = con
        self.scanner = scanner
        self.commits = commits or threading.Lock()  # commit_lock(the file): shared by every load into it

    @classmethod
    def open(cls, url: str) -> DuckDBTarget:
        """Open `url` (blocking); `Invalid` when read-only, in memory, or locked by another process."""
        path, read_only, config = duckdb_target(url)
        if read_only or path == ":memory:":
            raise invalid_fields("load into a DuckDB file opened for writing", {"target": "read-only or in memory"})
        try:
            con = duckdb.connect(path, config=sandboxed(config))
        except duckdb.Error as error:
            raise invalid_fields(f"cannot open {mask_url(url)} for writing: {duckdb_message(error)} (a DuckDB file "
                                 "takes one writing process at a time)", {"target": "unavailable"}) from None
        try:
            _run(con, f"CREATE TABLE IF NOT EXISTS {CHECKPOINTS} (spec VARCHAR, file VARCHAR, bytes BIGINT, "
                 "rows BIGINT, loaded_at TIMESTAMP DEFAULT current_timestamp, PRIMARY KEY (spec, file))")
        except duckdb.TransactionException:  # two steps in this process created it at once
            pass
        except BaseException:
            con.close()
            raise
        return cls(con, open_scanner(), commit_lock(path))

    def check(self, spec: FileSpec, index: int, files: list[Path]) -> None:
        if not spec.columns:
            raise invalid_fields(f"{spec.name}: list the `columns` the files load", {f"files.{index}.columns": "missing"})

    async def recorded(self, spec: FileSpec) -> dict[str, tuple[int, int]]:
        def fetch(con: duckdb.DuckDBPyConnection) -> list[Any]:
            with con.cursor() as cur:
                return cur.execute(f"SELECT file, bytes, rows FROM {CHECKPOINTS} WHERE spec = ?", [spec.name]).fetchall()

        return {f: (int(b), int(r)) for f, b, r in await asyncio.to_thread(fetch, self.con)}

    async def load_file(self, spec: FileSpec, schema: str | None, table: str, path: Path, size: int,
                        progress: Progress | None) -> FileLoad:
        cur = self.con.cursor()
        try:
            return await interruptible(cur, self._load, spec, schema, table, path, size, progress)
        finally:
            cur.close()

    def _load(self, cur: duckdb.DuckDBPyConnection, spec: FileSpec, schema: str | None, table: str, path: Path,
              size: int, progress: Progress | None) -> FileLoad:
        start = time.perf_counter()
        columns = ", ".join(quote_ident(c) for c in spec.columns)
        began = False
        scan = self.scanner.cursor()
        try:
            stream = scan.sql(f"SELECT {columns} FROM {reader(spec, strict=True)}",
                              params={"files": [str(path)]}).to_arrow_reader(_batch_rows(spec))
            _run(cur, "BEGIN")
            began = True
            cur.register(_STREAM, stream)
            rows = int(cur.execute(f"INSERT INTO {qualified(schema, table)} ({columns}) SELECT {columns} FROM {_STREAM}").fetchone()[0])  # type: ignore[index]
            cur.complete()
            _run(cur, f"INSERT INTO {CHECKPOINTS} (spec, file, bytes, rows) VALUES (?, ?, ?, ?)",
                 [spec.name, str(path), size, rows])
            with self.commits:  # another attempt's conflict waits for this commit to be visible (_fenced)
                _run(cur, "COMMIT")
        except duckdb.Error as error:
            if began:
                with contextlib.suppress(duckdb.TransactionException):  # a failed COMMIT has ended it already
                    _run(cur, "ROLLBACK")
            done = self._fenced(cur, spec, path, error)
            if done is not None:
                return FileLoad(spec.name, str(path), "reconciled", size, done, time.perf_counter() - start,
                                "committed by another load meanwhile")
            return FileLoad(spec.name, str(path), "failed", size, 0, time.perf_counter() - start,
                            _with_bad_ending(duckdb_message(error), spec, path))
        finally:
            if began:
                cur.unregister(_STREAM)
            scan.close()
        if progress:
            progress(str(path), size, 0)
        return FileLoad(spec.name, str(path), "loaded", size, rows, time.perf_counter() - start)

    def _fenced(self, cur: duckdb.DuckDBPyConnection, spec: FileSpec, path: Path, error: duckdb.Error) -> int | None:
        """The rows of the file's checkpoint row committed by another attempt, when `error` is a conflict
        with it; None otherwise.

        DuckDB reports the conflict as soon as the other attempt's COMMIT has put the key in the index,
        before that commit is visible (measured: at once for about half the conflicts met by the INSERT);
        read at once, the row may not be there yet. The conflict names the file's path either way — the
        INSERT's `Duplicate key "spec: …, file: PATH"`, the COMMIT's `duplicate key "SPEC, PATH"`, which
        the 10 s wait this replaced did not recognise (no wait at all). Every load COMMITs holding the
        DuckDB file's `commit_lock`: taking it here waits exactly until the other commit has ended,
        visible (reconciled) or failed (this attempt failed), however slow the machine."""
        if not isinstance(error, duckdb.ConstraintException | duckdb.TransactionException):
            return None
        if CHECKPOINTS in str(error) or str(path) in str(error):
            with self.commits:
                pass
        return self._holds(cur, spec, path)

    @staticmethod
    def _holds(cur: duckdb.DuckDBPyConnection, spec: FileSpec, path: Path) -> int | None:
        row = cur.execute(f"SELECT rows FROM {CHECKPOINTS} WHERE spec = ? AND file = ?", [spec.name, str(path)]).fetchall()
        return int(row[0][0]) if row else None

    async def close(self) -> None:
        try:
            close_scanner(self.scanner)  # its spill folder removed too
        finally:
            self.con.close()

