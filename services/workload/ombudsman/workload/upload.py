"""Reading a Query Store export, streamed: CSV, a JSON array, JSON Lines, or a `.sql` file of queries.

Nothing here reads a whole file into memory: CSV goes through the `csv` module over a text stream,
a JSON array through `ijson` (incremental, C backend), JSON Lines line by line, and `.sql` files
batch by batch (`GO` lines split batches; `sqlparse.split` splits the statements of a batch).

Accepted columns (case-insensitive; the first name is the Query Store's own, see
deploy/sql/query_store_export.sql):

| field | names accepted |
|---|---|
| query id | `query_id` |
| text | `query_sql_text`, `query_text`, `sql_text`, `text`, `query` |
| executions | `count_executions`, `execution_count`, `executions` (default 1) |
| avg duration (µs) | `avg_duration`, `avg_duration_us` |
| total duration (µs) | `total_duration`, `total_duration_us` (default avg × executions) |
| avg CPU (µs) | `avg_cpu_time`, `avg_cpu_time_us` |
| avg logical reads | `avg_logical_io_reads`, `avg_logical_reads` |
| first / last run | `first_execution_time`, `last_execution_time` (ISO 8601) |
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from ombudsman.contracts.commands.workload import UploadFormat
from ombudsman.contracts.replies import Invalid

MAX_QUERIES = 100_000
MAX_QUERY_CHARS = 1_000_000
MAX_BATCH_CHARS = 10_000_000

_ALIASES: dict[str, tuple[str, ...]] = {
    "query_id": ("query_id",),
    "text": ("query_sql_text", "query_text", "sql_text", "text", "query"),
    "executions": ("count_executions", "execution_count", "executions"),
    "avg_duration": ("avg_duration", "avg_duration_us"),
    "total_duration": ("total_duration", "total_duration_us"),
    "avg_cpu_time": ("avg_cpu_time", "avg_cpu_time_us"),
    "avg_logical_io_reads": ("avg_logical_io_reads", "avg_logical_reads"),
    "first_execution_time": ("first_execution_time",),
    "last_execution_time": ("last_execution_time",),
}
_GO = re.compile(r"^\s*GO\s*(?:\d+\s*)?(?:--.*)?$", re.IGNORECASE)


@dataclass(slots=True)
class QueryRecord:
    """One row of an export: a query's text and its runtime statistics."""

    text: str
    query_id: str | None = None
    executions: int = 1
    avg_duration: float = 0.0  # microseconds
    total_duration: float = 0.0  # microseconds
    avg_cpu_time: float = 0.0
    avg_logical_io_reads: float = 0.0
    first_execution_time: datetime | None = None
    last_execution_time: datetime | None = None


def detect_format(filename: str, head: str = "") -> UploadFormat:
    """The format from the file name, or from the first characters when the name says nothing."""
    lowered = filename.lower()
    for suffix, fmt in ((".csv", "csv"), (".jsonl", "jsonl"), (".ndjson", "jsonl"), (".sql", "sql")):
        if lowered.endswith(suffix):
            return fmt  # type: ignore[return-value]
    stripped = head.lstrip("\ufeff \t\r\n")
    if stripped.startswith("["):
        return "json"
    if stripped.startswith("{"):
        return "jsonl"
    if lowered.endswith(".json"):
        return "json"
    raise Invalid(f"{filename}: unknown upload format: name it .csv, .json, .jsonl or .sql", {"field": "format"})


def _number(value: Any, field: str, where: str) -> float:
    if value is None or value == "":
        return 0.0
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise Invalid(f"{where}: {field}: not a number: {str(value)[:40]!r}", {"field": field}) from None
    if number < 0 or number != number:
        raise Invalid(f"{where}: {field}: must be a non-negative number", {"field": field})
    return number


def _time(value: Any, field: str, where: str) -> datetime | None:
    if value is None or value == "":
        return None
    try:
        parsed = datetime.fromisoformat(str(value).strip().replace(" +", "+"))
    except ValueError:
        raise Invalid(f"{where}: {field}: not an ISO 8601 time: {str(value)[:40]!r}", {"field": field}) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _columns(names: Iterable[str]) -> dict[str, str]:
    """Our field -> the row's key, for the keys present."""
    lowered = {n.strip().lower(): n for n in names if n is not None}
    found: dict[str, str] = {}
    for field, aliases in _ALIASES.items():
        for alias in aliases:
            if alias in lowered:
                found[field] = lowered[alias]
                break
    return found


def record_from_row(row: dict[str, Any], where: str, columns: dict[str, str] | None = None) -> QueryRecord:
    """One export row as a QueryRecord; `Invalid` names the row and the field that is wrong."""
    cols = columns if columns is not None else _columns(row.keys())
    if "text" not in cols:
        raise Invalid(f"{where}: no query text column (expected query_sql_text)", {"field": "query_sql_text"})
    text = row.get(cols["text"])
    if not isinstance(text, str) or not text.strip():
        raise Invalid(f"{where}: query_sql_text is empty", {"field": "query_sql_text"})
    if len(text) > MAX_QUERY_CHARS:
        raise Invalid(f"{where}: query_sql_text is longer than {MAX_QUERY_CHARS} characters", {"field": "query_sql_text"})

    def get(field: str) -> Any:
        return row.get(cols[field]) if field in cols else None

    executions_raw = get("executions")
    executions = 1 if executions_raw in (None, "") else _number(executions_raw, "count_executions", where)
    if executions != int(executions):
        raise Invalid(f"{where}: count_executions: must be a whole number", {"field": "count_executions"})
    avg = _number(get("avg_duration"), "avg_duration", where)
    total_raw = get("total_duration")
    total = avg * executions if total_raw in (None, "") else _number(total_raw, "total_duration", where)
    query_id = get("query_id")
    return QueryRecord(
        text=text,
        query_id=None if query_id in (None, "") else str(query_id),
        executions=int(executions),
        avg_duration=avg,
        total_duration=total,
        avg_cpu_time=_number(get("avg_cpu_time"), "avg_cpu_time", where),
        avg_logical_io_reads=_number(get("avg_logical_io_reads"), "avg_logical_io_reads", where),
        first_execution_time=_time(get("first_execution_time"), "first_execution_time", where),
        last_execution_time=_time(get("last_execution_time"), "last_execution_time", where),
    )


def _csv_records(stream: IO[str], name: str) -> Iterator[QueryRecord]:
    csv.field_size_limit(MAX_QUERY_CHARS + 1)
    reader = csv.DictReader(stream)
    if not reader.fieldnames:
        return
    columns = _columns(reader.fieldnames)
    if "text" not in columns:
        raise Invalid(f"{name}: no query text column: expected query_sql_text among {reader.fieldnames[:12]}",
                      {"field": "query_sql_text"})
    try:
        for row in reader:
            yield record_from_row(row, f"{name} line {reader.line_num}", columns)
    except csv.Error as exc:
        raise Invalid(f"{name} line {reader.line_num}: not valid CSV: {exc}") from None


def _json_records(binary: IO[bytes], name: str) -> Iterator[QueryRecord]:
    import ijson

    index = 0
    try:
        for index, item in enumerate(ijson.items(binary, "item", use_float=True), start=1):
            if not isinstance(item, dict):
                raise Invalid(f"{name} item {index}: expected an object with query_sql_text")
            yield record_from_row(item, f"{name} item {index}")
    except ijson.JSONError as exc:
        raise Invalid(f"{name}: not valid JSON after item {index}: {exc}") from None


def _jsonl_records(stream: IO[str], name: str) -> Iterator[QueryRecord]:
    for number, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise Invalid(f"{name} line {number}: not valid JSON: {exc.msg}") from None
        if not isinstance(item, dict):
            raise Invalid(f"{name} line {number}: expected an object with query_sql_text")
        yield record_from_row(item, f"{name} line {number}")


def _sql_batches(stream: IO[str], name: str) -> Iterator[str]:
    """Batches of a T-SQL script: the text between `GO` lines (each bounded in size)."""
    lines: list[str] = []
    size = 0
    for number, line in enumerate(stream, start=1):
        if _GO.match(line):
            if lines:
                yield "".join(lines)
            lines, size = [], 0
            continue
        lines.append(line)
        size += len(line)
        if size > MAX_BATCH_CHARS:
            raise Invalid(f"{name} line {number}: a batch longer than {MAX_BATCH_CHARS} characters")
        if line.rstrip().endswith(";") and size > 65_536:
            yield "".join(lines)  # flush long runs of statements at a statement end
            lines, size = [], 0
    if lines:
        yield "".join(lines)


def _sql_records(stream: IO[str], name: str) -> Iterator[QueryRecord]:
    import sqlparse

    for batch in _sql_batches(stream, name):
        for statement in sqlparse.split(batch):
            text = statement.strip()
            if text and _has_code(text):
                yield QueryRecord(text=text)


def _has_code(statement: str) -> bool:
    """False for a statement that is only comments."""
    stripped = re.sub(r"--[^\n]*|/\*.*?\*/", "", statement, flags=re.S).strip().strip(";")
    return bool(stripped)


def read_records(binary: IO[bytes], name: str, fmt: UploadFormat | None = None,
                 limit: int = MAX_QUERIES) -> Iterator[QueryRecord]:
    """Every query of an export read from a binary stream, at most `limit` (more is `Invalid`)."""
    peekable = binary if hasattr(binary, "peek") else io.BufferedReader(binary)  # type: ignore[arg-type,type-var]
    head = peekable.peek(64)[:64].decode("utf-8", errors="ignore")  # type: ignore[attr-defined]
    fmt = fmt or detect_format(name, head)
    if fmt == "json" and head.lstrip("\ufeff \t\r\n").startswith("{"):
        fmt = "jsonl"  # "json" names both forms: an object first means JSON Lines
    if fmt == "json":
        records: Iterator[QueryRecord] = _json_records(peekable, name)
    else:
        text = io.TextIOWrapper(peekable, encoding="utf-8-sig", errors="strict", newline="" if fmt == "csv" else None)
        if fmt == "csv":
            records = _csv_records(text, name)
        elif fmt == "jsonl":
            records = _jsonl_records(text, name)
        elif fmt == "sql":
            records = _sql_records(text, name)
        else:
            raise Invalid(f"unknown upload format {fmt!r}: csv, json, jsonl or sql", {"field": "format"})
    count = 0
    try:
        for record in records:
            count += 1
            if count > limit:
                raise Invalid(f"{name}: more than {limit} queries in one upload; split the export", {"limit": limit})
            yield record
    except UnicodeDecodeError as exc:
        raise Invalid(f"{name}: not UTF-8 text (byte {exc.start} of a chunk)") from None


def read_file(path: str | Path, fmt: UploadFormat | None = None, limit: int = MAX_QUERIES) -> Iterator[QueryRecord]:
    """Every query of an export file, streamed (the file is opened and read incrementally)."""
    file = Path(path)
    try:
        handle = file.open("rb")
    except OSError as exc:
        raise Invalid(f"cannot read {file.name}: {exc.strerror}", {"field": "path"}) from None
    with handle:
        yield from read_records(handle, file.name, fmt, limit)


def read_text(content: str, name: str, fmt: UploadFormat | None = None, limit: int = MAX_QUERIES) -> Iterator[QueryRecord]:
    """Every query of an export given inline (small uploads)."""
    return read_records(io.BytesIO(codecs.encode(content, "utf-8")), name, fmt, limit)
