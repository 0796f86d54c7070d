"""An in-process DuckDB that streams files: which files a spec names (inside the allowed folders),
and the `read_csv` / `read_parquet` expression that reads them with the spec's columns and types.

Memory stays bounded whatever the file size: DuckDB streams the scan, aggregates spill to a
temporary folder past `memory_limit`, and nothing but aggregates and the first bad lines come back.
Only the spec (validated: plain column names, known types) is written into SQL; paths travel as
parameters.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import glob
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import pyarrow as pa

from ombudsman.contracts.replies import invalid_fields
from ombudsman.engine.connectors.sandbox import file_roots
from ombudsman.engine.files.config import FileSpec
from ombudsman.engine.files.ranges import ByteRanges

T = TypeVar("T")

# one line as one column: a separator and quote that never split a line of text
_RAW_LINE = "\x1e"
_ENDINGS = re.compile(rb"\r\n|\r|\n")
# the endings that differ from the first line's (True: it ends CRLF); a CR alone is always odd
_ODD_ENDINGS = {True: re.compile(rb"\r(?!\n)|(?<!\r)\n"), False: re.compile(rb"\r\n|\r")}


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


@dataclass(frozen=True)
class ScanSettings:
    """How much of the machine a scan may take."""

    memory_limit: str = "512MB"
    threads: int = 2


def resolve_files(spec: FileSpec, base: Path, *, platform: bool = False,
                  env: Mapping[str, str] | None = None) -> list[Path]:
    """The files of `spec` (its pattern, relative to `base`), sorted; `Invalid` when one lies outside
    the folders an administrator allowed (`OMB_FILE_ROOTS`; on the platform, always required). An
    object-store pattern (`s3://…`) gives `remote.ObjectFile`s, confined to `OMB_FILE_BUCKETS`."""
    from ombudsman.engine.files.remote import resolve_objects, scheme_of

    if scheme_of(spec.pattern):  # s3://, gs://, az:// (files/remote.py): ObjectFile, not Path
        return resolve_objects(spec.name, spec.pattern, platform=platform, env=env)  # type: ignore[return-value]
    pattern = spec.pattern if os.path.isabs(spec.pattern) else str(base / spec.pattern)
    found = sorted(Path(p).resolve() for p in glob.glob(pattern, recursive=True) if Path(p).is_file())
    roots = file_roots(env)
    if roots or platform:
        outside = [p for p in found if not any(p == r or r in p.parents for r in roots)]
        if outside:
            allowed = ", ".join(str(r) for r in roots) or "none configured"
            raise invalid_fields(
                f"{spec.name}: {outside[0]} is outside the folders an administrator allowed (OMB_FILE_ROOTS: {allowed})",
                {f"files.{spec.name}.pattern": "outside OMB_FILE_ROOTS"}, setting="OMB_FILE_ROOTS")
    return found


# each open scanner's private spill folder and its owner lock, removed by close_scanner (keyed by id: a
# connection takes no attribute)
_SPILLS: dict[int, tuple[str, int]] = {}
_SPILL_PREFIX = "omb-files-"
_OWNER = ".owner"  # in each spill folder: locked (flock) while its scanner is open
_UNLOCKED_GRACE = 600.0  # seconds a folder without an owner lock may be another scanner being opened


def _lock_owner(spill: str) -> int:
    """The spill folder's owner lock, taken: the kernel releases it when this process ends however it
    ends (a killed worker too), which is how `sweep_spills` knows the folder is abandoned."""
    fd = os.open(os.path.join(spill, _OWNER), os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return fd


def sweep_spills(folder: str | None = None) -> list[str]:
    """Remove the spill folders of scanners whose process has ended without closing them (a worker killed
    mid-scan), in `folder` (the temporary folder): those whose owner lock is free, or that have none and
    are older than _UNLOCKED_GRACE. A live scanner's folder, in this process or another, is never touched.
    The folders removed."""
    removed: list[str] = []
    with contextlib.suppress(OSError):
        entries = [e for e in os.scandir(folder or tempfile.gettempdir())
                   if e.name.startswith(_SPILL_PREFIX) and e.is_dir(follow_symlinks=False)]
        for entry in entries:
            try:
                fd = os.open(os.path.join(entry.path, _OWNER), os.O_RDWR)
            except FileNotFoundError:  # no lock yet: abandoned only once too old to be a scanner being opened
                if time.time() - entry.stat(follow_symlinks=False).st_mtime > _UNLOCKED_GRACE:
                    shutil.rmtree(entry.path, ignore_errors=True)
                    removed.append(entry.path)
                continue
            except OSError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:  # held: its scanner is open
                os.close(fd)
                continue
            try:
                shutil.rmtree(entry.path, ignore_errors=True)
                removed.append(entry.path)
            finally:
                os.close(fd)
    return removed


def open_scanner(settings: ScanSettings = ScanSettings()) -> duckdb.DuckDBPyConnection:
    """A DuckDB for file scans: memory capped, spilling to a private temporary folder, no progress bar,
    configuration locked. Close it with `close_scanner` (or open it with `scanner`), which removes that
    folder; the folders of scanners whose process was killed are swept here (`sweep_spills`)."""
    sweep_spills()
    spill = tempfile.mkdtemp(prefix=_SPILL_PREFIX)
    owner = None
    try:
        owner = _lock_owner(spill)
        con = duckdb.connect(":memory:", config={
            "memory_limit": settings.memory_limit, "threads": settings.threads, "temp_directory": spill,
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
        })
        # in a process it deems interactive (`python -c`, a REPL, a notebook: __main__ has no __file__)
        # DuckDB draws its progress bar on stdout, a pipe or file too, for a query past 2 s: the file
        # bench's `python -c` validation of 2 GB printed 13 KB of bars before its JSON report
        con.execute("SET enable_progress_bar = false")
        con.register_filesystem(ByteRanges())  # parts of one file read at once (files/ranges.py)
        con.execute("SET lock_configuration = true")
    except BaseException:
        if owner is not None:
            os.close(owner)
        shutil.rmtree(spill, ignore_errors=True)
        raise
    _SPILLS[id(con)] = (spill, owner)
    return con


def close_scanner(con: duckdb.DuckDBPyConnection) -> None:
    """Close a scanner from `open_scanner` and remove its spill folder (with whatever DuckDB left in it)."""
    try:
        con.close()
    finally:
        spill = _SPILLS.pop(id(con), None)
        if spill:
            folder, owner = spill
            shutil.rmtree(folder, ignore_errors=True)
            os.close(owner)


# the cursors a scanner's work runs on besides the scanner itself, interrupted with it (`interrupt`)
_CHILDREN: dict[int, set[duckdb.DuckDBPyConnection]] = {}


@contextlib.contextmanager
def child_cursors(con: duckdb.DuckDBPyConnection, count: int) -> Iterator[list[duckdb.DuckDBPyConnection]]:
    """`count` cursors of a scanner (connections to its database, for queries run at once in threads),
    interrupted with it by `interrupt` and closed when the block ends."""
    cursors = [con.cursor() for _ in range(count)]
    children = _CHILDREN.setdefault(id(con), set())
    children.update(cursors)
    try:
        yield cursors
    finally:
        children.difference_update(cursors)
        if not children:
            _CHILDREN.pop(id(con), None)
        for cursor in cursors:
            cursor.close()


def interrupt(con: duckdb.DuckDBPyConnection) -> None:
    """Interrupt the query running on `con` and on its `child_cursors`."""
    con.interrupt()
    for cursor in list(_CHILDREN.get(id(con), ())):
        cursor.interrupt()


@contextlib.contextmanager
def scanner(settings: ScanSettings = ScanSettings()) -> Iterator[duckdb.DuckDBPyConnection]:
    """`open_scanner` for a `with` block: closed, its spill folder removed, however the block ends."""
    con = open_scanner(settings)
    try:
        yield con
    finally:
        close_scanner(con)


def _columns_struct(columns: Mapping[str, str]) -> str:
    return "{" + ", ".join(f"{sql_string(name)}: {sql_string(kind)}" for name, kind in columns.items()) + "}"


def reader(spec: FileSpec, *, rejects: bool = False, strict: bool = False) -> str:
    """The table function reading `spec`'s files, the file list being parameter `$files`; bad lines are
    skipped (with `rejects`, recorded in DuckDB's reject_errors table)."""
    if spec.format == "parquet":
        return "read_parquet($files, filename = true, file_row_number = true)"
    options = [
        f"delim = {sql_string(spec.separator)}", f"header = {str(spec.header).lower()}",
        f"quote = {sql_string(spec.quote_char)}", f"escape = {sql_string(spec.quote_char)}",
        f"columns = {_columns_struct(spec.columns)}", "auto_detect = false", "filename = true",
        f"encoding = {sql_string(spec.encoding)}", f"compression = {sql_string(spec.compression)}",
    ]
    # lines that do not match are skipped (and, with `rejects`, recorded in reject_errors with their
    # line numbers): the conformance check reports them, the other checks count the good rows
    # (`strict`: the first bad line is an error, as a load must stop there)
    if not strict:
        options += ["store_rejects = true", "rejects_limit = 0"] if rejects else ["ignore_errors = true"]
    return f"read_csv($files, {', '.join(options)})"


def raw_lines(spec: FileSpec, source: str = "$file") -> str:
    """Each physical line of one file (`source`: parameter `$file`, or a quoted path) as `line` text,
    numbered from 1 (header included), in file order: where a finding's line numbers come from.

    `new_line = '\\r\\n'` makes a line end at LF or CRLF alike, as `awk`/`nl` and editors count them
    (a CRLF counts once, its CR not kept in `line`). Without it DuckDB takes the ending of the first
    line: a file whose first line ends LF reads every later CRLF as two line breaks (an extra empty
    line each), numbering every line after it too high. A lone CR still ends a line, and what follows it
    on that line is lost: DuckDB's strict reader refuses such a file before this pass runs, except a CSV
    quoting the CR, whose duplicates `checks._locate` finds with `csv_records` instead.

    `parallel = false`: DuckDB's parallel reader splits a file every 8,000,000 bytes, and with
    `new_line = '\\r\\n'` a split falling on an LF loses a line: the read fails ("The Parallel CSV
    Reader currently does not support a full read on this file") or, when a single line follows the
    split, that line is silently missing (a duplicate there unlocated, later lines numbered one too
    low). About one split in 55 falls so on a TSV of 55-byte lines: a file of a few hundred MB and up
    all but surely hits it. Read in one pass every line is there; `row_number() OVER ()` runs this
    pass on one thread anyway, so the cost is small (CPU ~10% of this pass)."""
    options = [f"delim = {sql_string(_RAW_LINE)}", "header = false", "quote = ''", "escape = ''",
               "columns = {'line': 'VARCHAR'}", "auto_detect = false", "strict_mode = false",
               "new_line = '\\r\\n'", "parallel = false",
               f"encoding = {sql_string(spec.encoding)}", f"compression = {sql_string(spec.compression)}"]
    return f"(SELECT row_number() OVER () AS line_number, line FROM read_csv({source}, {', '.join(options)}))"


def _open_bytes(file: Any, compression: str) -> Any:
    """The decompressed bytes of a local plain or gzip file, as a binary file object; None for zstd (no
    reader in the standard library) or an object-store file."""
    import gzip

    path = Path(str(file))
    if not path.is_file() or compression == "zstd" or (compression == "auto" and path.suffix in (".zst", ".zstd")):
        return None
    return gzip.open(path, "rb") if compression == "gzip" or (compression == "auto" and path.suffix == ".gz") else open(path, "rb")


def _line_end_blocks(f: Any, chunk: int) -> Iterator[bytes]:
    """The bytes of an open binary file in blocks of about `chunk`, a CRLF never split between two."""
    while block := f.read(chunk):
        while block.endswith(b"\r") and (more := f.read(1)):
            block += more
        yield block


def first_bad_ending(file: Any, compression: str = "auto", quote: str = "", *,
                     chunk: int = 1 << 20) -> tuple[int, str, str] | None:
    """(line, what is wrong with its end, error code) of the first line of a local plain or gzip file
    that ends otherwise than the first line (LF vs CRLF: MIXED LINE ENDINGS) or holds a carriage return
    not followed by LF outside a `quote`d field (LONE CR), or None. DuckDB's strict CSV reader refuses
    such a file whole ("state machine reached an invalid state"): this names the line. One streamed
    pass: a block whose endings are all alike is counted at C speed; in another only the odd endings
    are looked at (a line's number is 1 + the LFs before it)."""
    handle = _open_bytes(file, compression)
    if handle is None:
        return None
    mark = quote.encode()
    name = {True: "CRLF", False: "LF"}
    first: bool | None = None  # the first line ends CRLF
    line, quotes = 1, 0  # the line and the quote characters before the block (odd: inside a quoted field)
    with handle as f:
        for block in _line_end_blocks(f, chunk):
            lfs, crs = block.count(b"\n"), block.count(b"\r")
            if (crs == 0 and first is not True) or (crs == lfs == block.count(b"\r\n") and first is not False):
                first = crs > 0 if first is None and lfs else first  # every ending in the block alike
            else:
                found, start = None, 0
                if first is None:  # the first line's ending decides which are odd
                    found = _next_ending(block, 0, _ENDINGS, mark, quotes)
                    if found and found[1] != b"\r":
                        first, start, found = found[1] == b"\r\n", found[0] + len(found[1]), None
                if first is not None and found is None:
                    inside = quotes + (block.count(mark, 0, start) if mark else 0)
                    found = _next_ending(block, start, _ODD_ENDINGS[first], mark, inside)
                if found:
                    n = line + block.count(b"\n", 0, found[0])
                    if found[1] == b"\r":
                        return n, f"line {n} holds a carriage return (CR) not followed by LF", "LONE CR"
                    return n, f"line {n} ends {name[not first]}, line 1 ends {name[bool(first)]}", "MIXED LINE ENDINGS"
            line += lfs
            quotes += block.count(mark) if mark else 0
    return None


def _next_ending(block: bytes, start: int, pattern: re.Pattern[bytes], mark: bytes,
                 quotes: int) -> tuple[int, bytes] | None:
    """(position, text) of the first match of `pattern` in `block` from `start` that is not inside a
    field quoted by `mark` (`quotes`: the quote characters before `start`)."""
    counted = start
    for match in pattern.finditer(block, start):
        if mark:
            quotes, counted = quotes + block.count(mark, counted, match.start()), match.start()
            if quotes % 2:
                continue
        return match.start(), match.group()
    return None


def holds_lone_cr(file: Any, compression: str = "auto", *, chunk: int = 1 << 20) -> bool:
    """Whether a local plain or gzip file holds a carriage return not followed by LF anywhere (in a CSV
    that DuckDB read, only inside quoted fields); False where it cannot be read here. One pass at C speed."""
    handle = _open_bytes(file, compression)
    if handle is None:
        return False
    with handle as f:
        return any(block.count(b"\r") != block.count(b"\r\n") for block in _line_end_blocks(f, chunk))


def csv_records(spec: FileSpec, file: Any, columns: list[int], *, batch: int = 1 << 16) -> pa.RecordBatchReader:
    """`line_number` and the text of each of `columns` (indexes from 0; as `text0`, `text1` ...) of every
    record of a local plain or gzip CSV file, numbered by physical line (1 + the LFs before it, header
    included) and read by Python's csv module, streamed in Arrow batches. For the file DuckDB's raw line
    reader cannot number: a CR inside a quoted field ends a line there and loses what follows it (see
    `holds_lone_cr`)."""
    import csv
    import io

    handle = _open_bytes(file, spec.compression)
    if handle is None:
        raise invalid_fields(f"{spec.name}: cannot number the lines of {file} here", {"files": "not local"})
    schema = pa.schema([("line_number", pa.int64()), *((f"text{i}", pa.string()) for i in range(len(columns)))])

    def batches() -> Iterator[pa.RecordBatch]:
        with io.TextIOWrapper(handle, encoding=spec.encoding, newline="\n") as lines:  # lines end at LF only
            reader = csv.reader(lines, delimiter=spec.separator, quotechar=spec.quote_char or None,
                                doublequote=True, strict=False)
            rows: list[list[Any]] = [[] for _ in schema]
            line = 1
            for record in reader:
                rows[0].append(line)
                for i, index in enumerate(columns):
                    rows[i + 1].append(record[index] if index < len(record) else None)
                line = reader.line_num + 1
                if len(rows[0]) >= batch:
                    yield pa.record_batch(rows, schema=schema)
                    rows = [[] for _ in schema]
            if rows[0]:
                yield pa.record_batch(rows, schema=schema)

    return pa.RecordBatchReader.from_batches(schema, batches())


def physical_lines(file: Any, compression: str, positions: list[int], *, chunk: int = 1 << 20) -> dict[int, int] | None:
    """The physical line (1 + the LFs before it) of each 1-based byte position (of the decompressed
    bytes, as DuckDB's reject_errors.byte_position gives a record's start) in a local plain or gzip file;
    None when the file cannot be read here (zstd, object store). One streamed pass, up to the last position."""
    handle = _open_bytes(file, compression)
    if handle is None:
        return None
    wanted = sorted(set(positions))
    found: dict[int, int] = {}
    offset, lines, i = 0, 1, 0
    with handle as f:
        while i < len(wanted) and (block := f.read(chunk)):
            counted = 0  # `lines` counts the LFs of the block before `counted`: each byte is counted once
            while i < len(wanted) and wanted[i] - 1 < offset + len(block):
                at = max(counted, wanted[i] - 1 - offset)
                lines += block.count(b"\n", counted, at)
                counted = at
                found[wanted[i]] = lines
                i += 1
            offset, lines = offset + len(block), lines + block.count(b"\n", counted)
    return found


def query(con: duckdb.DuckDBPyConnection, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    """Run `sql` with named parameters; DuckDB's errors become `Invalid` naming the file problem."""
    try:
        return con.execute(sql, params).fetchall()
    except duckdb.Error as error:
        first = str(error).splitlines()[0]
        raise invalid_fields(f"cannot read the files: {first}", {"files": first}) from None


async def interruptible(con: duckdb.DuckDBPyConnection, work: Callable[..., T], *args: Any) -> T:
    """`work(con, *args)` in a thread. When the awaiting task is cancelled (a step's timeout), the
    query running on `con` (and its child cursors) is interrupted (`interrupt`, again until the thread lets go) and the
    cancellation goes on only once the thread has ended: no scan keeps running behind a timed-out step."""
    task = asyncio.ensure_future(asyncio.to_thread(work, con, *args))
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        while not task.done():
            interrupt(con)
            await asyncio.wait([task], timeout=0.05)
        if not task.cancelled():
            task.exception()  # retrieved: the interrupted query's error is not the step's outcome
        raise


def file_size(file: Any) -> int:
    """The size in bytes of a resolved file (a local Path or a remote.ObjectFile)."""
    size = getattr(file, "size", None)
    return int(size) if isinstance(size, int) else Path(file).stat().st_size
