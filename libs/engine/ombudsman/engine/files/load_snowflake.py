"""Loading file extracts into Snowflake: `PUT` each file to the table's stage, then `COPY INTO` it in
one transaction with its checkpoint row, so an interrupted load resumes where it stopped and no file is
loaded twice (the same contract as the PostgreSQL and DuckDB targets in `targets.py`; `SnowflakeTarget` is
what `ombudsman files load` and the `file_load` step both drive).

Each file goes to a stage folder of its own (`@%TABLE/omb/<digest of its path>/`), so two files of one
name in different folders never overwrite each other. The COPY's own result row is read, file by file,
by `copy_outcome` (pure): `LOADED` records the checkpoint; `LOAD_SKIPPED` means Snowflake's load history
(64 days) already holds the file although our checkpoint does not (it was loaded by hand): reported
skipped, never loaded again (or `reconciled` when the checkpoint row is there: another attempt committed
the file meanwhile); `PARTIALLY_LOADED` (ON_ERROR = CONTINUE) records the checkpoint with the rows loaded,
so a resume never retries the bad lines, and reports the file loaded with `bad_lines` and the first bad
line; `LOAD_FAILED` (ON_ERROR = SKIP_FILE) records nothing and fails the file naming the line; an error
(ON_ERROR = ABORT_STATEMENT, the default) rolls the file back and stops the load with Snowflake's message.
Identifiers are rendered by sqlglot for Snowflake: unquoted where they may be (so `sales.orders` resolves
like any Snowflake name, case-insensitively), quoted only where they must be.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlglot
from sqlglot import exp

from ombudsman.contracts.replies import invalid_fields
from ombudsman.engine.connectors.urls import mask_url
from ombudsman.engine.files.config import FileSpec
from ombudsman.engine.files.scan import sql_string
from ombudsman.engine.files.targets import ON_ERROR, FileLoad, LoadTarget, Progress

CHECKPOINTS = "OMB_FILE_LOADS"
_ENCODINGS = {"utf-8": "UTF8", "latin-1": "ISO88591", "utf-16": "UTF16"}


def _ident(name: str) -> str:
    return exp.to_identifier(name).sql("snowflake")  # type: ignore[union-attr]


def _target(spec: FileSpec) -> tuple[str, str]:
    """The table as Snowflake names it, and its table stage."""
    if not spec.table:
        raise invalid_fields(f"{spec.name}: name the `table` the files load into", {"table": "missing"})
    schema, _, table = spec.table.rpartition(".")
    target = f"{_ident(schema)}.{_ident(table)}" if schema else _ident(table)
    stage = f"@{_ident(schema)}.%{_ident(table)}" if schema else f"@%{_ident(table)}"
    return target, stage


def stage_folder(stage: str, file: Path) -> str:
    """The stage folder `file` is put into: one per file path."""
    return f"{stage}/omb/{hashlib.sha256(str(file).encode()).hexdigest()[:16]}"


def _file_format(spec: FileSpec) -> str:
    if spec.format == "parquet":
        return "TYPE = PARQUET"
    quote = sql_string(spec.quote_char) if spec.quote_char else "NONE"
    text = (f"TYPE = CSV FIELD_DELIMITER = {sql_string(spec.separator)} SKIP_HEADER = {int(spec.header)} "
            f"FIELD_OPTIONALLY_ENCLOSED_BY = {quote} ESCAPE_UNENCLOSED_FIELD = NONE")
    # UTF8 is Snowflake's default: named only when the files are in another encoding
    return text if spec.encoding == "utf-8" else f"{text} ENCODING = {sql_string(_ENCODINGS[spec.encoding])}"


def put_statement(spec: FileSpec, file: Path) -> str:
    """`PUT` one file into its stage folder (compressed by the client unless it already is)."""
    return f"PUT {sql_string('file://' + str(file))} {stage_folder(_target(spec)[1], file)} AUTO_COMPRESS = TRUE PARALLEL = 4"


def staged_name(spec: FileSpec, file: Path) -> str:
    """The name `file` gets on the stage (`AUTO_COMPRESS` appends .gz to text files not compressed yet)."""
    return file.name if file.suffix in (".gz", ".zst") or spec.format == "parquet" else f"{file.name}.gz"


def copy_statement(spec: FileSpec, file: Path, staged: str, on_error: str = "ABORT_STATEMENT") -> str:
    """`COPY INTO` the table from one staged file."""
    if on_error.upper() not in ON_ERROR:
        raise invalid_fields(f"ON_ERROR must be {', '.join(ON_ERROR)}, not {on_error!r}", {"on_error": "unknown"})
    target, stage = _target(spec)
    columns = ", ".join(_ident(c) for c in spec.columns)
    return (f"COPY INTO {target} ({columns}) FROM {stage_folder(stage, file)}/{staged} "
            f"FILE_FORMAT = ({_file_format(spec)}) ON_ERROR = {on_error.upper()}")


def snowflake_statements(spec: FileSpec, files: list[Path], *, on_error: str = "ABORT_STATEMENT") -> list[str]:
    """The statements `load_snowflake` runs for `files`, in order (a PUT and a COPY per file), each
    checked by sqlglot's Snowflake parser: for a team that runs them itself."""
    statements = [s for f in files for s in (put_statement(spec, f), copy_statement(spec, f, staged_name(spec, f), on_error))]
    for statement in statements:
        sqlglot.parse_one(statement, read="snowflake")
    return statements


def _create_checkpoints(cur: Any) -> None:
    """The checkpoint table, created when missing. Two loads (shards) creating it at once may conflict
    (fakesnow: a catalog write-write conflict): the one that lost waits, up to 10 s, for the other's table."""
    import snowflake.connector

    deadline = time.monotonic() + 10
    while True:
        try:
            cur.execute(f"CREATE TABLE IF NOT EXISTS {CHECKPOINTS} (spec VARCHAR, file VARCHAR, bytes BIGINT, "
                        "rows BIGINT, loaded_at TIMESTAMP_TZ DEFAULT CURRENT_TIMESTAMP())")
            return
        except snowflake.connector.errors.ProgrammingError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@dataclass(frozen=True)
class CopyOutcome:
    """What one file's `COPY INTO` result means: whether its checkpoint row is recorded (in the COPY's
    transaction) and how the file is reported (`FileLoad` status, rows, message, bad lines skipped)."""

    checkpoint: bool
    status: str  # loaded | failed | skipped (the caller looks for a checkpoint row: then reconciled)
    rows: int = 0
    message: str = ""
    bad_lines: int = 0


def _count(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def _first_error(row: dict[str, Any]) -> str:
    where = f"line {row.get('first_error_line')}"
    if row.get("first_error_character") is not None:
        where += f", character {row.get('first_error_character')}"
    if row.get("first_error_column_name"):
        where += f", column {row.get('first_error_column_name')}"
    return f"the first bad line: {where}: {row.get('first_error')}"


def copy_outcome(row: dict[str, Any] | None) -> CopyOutcome:
    """Interpret the result row of a `COPY INTO` of ONE file (Snowflake's columns: file, status, rows_parsed,
    rows_loaded, error_limit, errors_seen, first_error, first_error_line, first_error_character,
    first_error_column_name; any case), or None when the COPY returned no row. Pure: no I/O.

    - `LOADED`: checkpoint with `rows_loaded`.
    - `PARTIALLY_LOADED` (ON_ERROR = CONTINUE): checkpoint with `rows_loaded`, so a resume never loads the
      file again and its bad lines stay out; `loaded` with `bad_lines` and a message naming them.
    - `LOAD_FAILED` (ON_ERROR = SKIP_FILE): no checkpoint, nothing loaded: `failed`, naming the first bad line.
    - `LOAD_SKIPPED`, or Snowflake's single-column "Copy executed with 0 files processed." (its load
      history holds the file): no checkpoint, `skipped`.
    - no row, or another status: no checkpoint, `failed` with a message saying so.
    """
    if not row:
        return CopyOutcome(False, "failed", message="COPY INTO returned no result row for the file: nothing recorded")
    row = {str(k).lower(): v for k, v in row.items()}
    status = str(row.get("status") or "")
    loaded, bad = _count(row.get("rows_loaded")), _count(row.get("errors_seen"))
    if status == "LOADED":
        return CopyOutcome(True, "loaded", loaded)
    if status == "PARTIALLY_LOADED":
        return CopyOutcome(True, "loaded", loaded, (
            f"PARTIALLY LOADED (ON_ERROR = CONTINUE): {bad} bad line(s) skipped, not loaded; {loaded} of "
            f"{_count(row.get('rows_parsed'))} rows loaded; {_first_error(row)}"), bad)
    if status == "LOAD_FAILED":
        return CopyOutcome(False, "failed", message=(
            f"LOAD_FAILED: nothing of the file loaded (ON_ERROR = SKIP_FILE skips a file whole): {bad} bad "
            f"line(s); {_first_error(row)}"), bad_lines=bad)
    if status == "LOAD_SKIPPED" or status.startswith("Copy executed with 0 files processed"):
        return CopyOutcome(False, "skipped", message="Snowflake's load history holds it already (loaded outside Ombudsman)")
    return CopyOutcome(False, "failed", message=f"COPY INTO answered status {status or '(none)'!r} for the file: nothing recorded")


class SnowflakeTarget(LoadTarget):
    """Snowflake through its connector (blocking, so each call runs in a thread): PUT, then COPY INTO in a
    transaction with the file's checkpoint row."""

    kind = "snowflake"

    def __init__(self, conn: Any, on_error: str) -> None:
        self.conn = conn
        self.on_error = on_error

    @classmethod
    def open(cls, url: str, on_error: str = "ABORT_STATEMENT") -> SnowflakeTarget:
        """Connect (blocking) and create the checkpoint table; `Invalid` when unreachable."""
        import snowflake.connector

        from ombudsman.engine.connectors.snowflake import snowflake_connect_args

        try:
            conn = snowflake.connector.connect(**snowflake_connect_args(url))
        except snowflake.connector.errors.Error as error:
            raise invalid_fields(f"cannot connect to {mask_url(url)}: {type(error).__name__}", {"target": "unreachable"}) from None
        try:
            _create_checkpoints(conn.cursor())
        except BaseException:
            conn.close()
            raise
        return cls(conn, on_error)

    def check(self, spec: FileSpec, index: int, files: list[Path]) -> None:
        snowflake_statements(spec, files[:1], on_error=self.on_error)  # every statement checked before the first file moves

    async def recorded(self, spec: FileSpec) -> dict[str, tuple[int, int]]:
        def fetch() -> list[Any]:
            cur = self.conn.cursor()
            cur.execute(f"SELECT file, bytes, rows FROM {CHECKPOINTS} WHERE spec = ?", (spec.name,))
            return list(cur.fetchall())

        return {f: (int(b), int(r)) for f, b, r in await asyncio.to_thread(fetch)}

    async def load_file(self, spec: FileSpec, schema: str | None, table: str, path: Path, size: int,
                        progress: Progress | None) -> FileLoad:
        return await asyncio.to_thread(self._load, spec, path, size, progress)

    def _load(self, spec: FileSpec, file: Path, size: int, progress: Progress | None) -> FileLoad:
        import snowflake.connector

        start = time.perf_counter()
        cur = self.conn.cursor()
        cur.execute(put_statement(spec, file))
        put = cur.fetchone()  # (source, target, sizes, compressions, status, message)
        staged = str(put[1]) if put else staged_name(spec, file)
        if progress:
            progress(str(file), size, 0)  # uploaded
        try:
            cur.execute("BEGIN")
            cur.execute(copy_statement(spec, file, staged, self.on_error))
            result = cur.fetchone()
            outcome = copy_outcome(dict(zip([d[0] for d in cur.description], result, strict=False)) if result else None)
            if outcome.checkpoint:
                cur.execute(f"INSERT INTO {CHECKPOINTS} (spec, file, bytes, rows) VALUES (?, ?, ?, ?)",
                            (spec.name, str(file), size, outcome.rows))
            cur.execute("COMMIT")
        except snowflake.connector.errors.Error as error:
            cur.execute("ROLLBACK")
            lines = [line.strip() for line in (getattr(error, "msg", None) or str(error)).splitlines() if line.strip()]
            message = " ".join(lines[:2])  # Snowflake: the value, then the file, line and character
            return FileLoad(spec.name, str(file), "failed", size, 0, time.perf_counter() - start, message)
        seconds = time.perf_counter() - start
        if outcome.status == "skipped":
            cur.execute(f"SELECT rows FROM {CHECKPOINTS} WHERE spec = ? AND file = ?", (spec.name, str(file)))
            done = cur.fetchone()
            if done:  # another attempt committed it meanwhile (its checkpoint row): recorded, not loaded again
                return FileLoad(spec.name, str(file), "reconciled", size, int(done[0]), seconds, "committed by another load meanwhile")
        return FileLoad(spec.name, str(file), outcome.status, size, outcome.rows, seconds, outcome.message, outcome.bad_lines)

    async def close(self) -> None:
        await asyncio.to_thread(self.conn.close)
