"""Delete and reload one period (a day or a month of the date column) of loaded extracts, atomically.

The period's files are those holding rows of it (one DuckDB scan over the family's files; a file also
holding rows of another period is refused: reloading it would load those twice). In ONE transaction on
the target: the table's rows of the period are deleted, the checkpoint rows of the period's files are
deleted, and each file is loaded again with its new checkpoint row. A bad line or an interruption rolls
the whole period back: the table and `omb_file_loads` are as before the reload.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any

import asyncpg

from ombudsman.contracts.replies import invalid_fields
from ombudsman.engine.connectors.urls import mask_url, parse_url
from ombudsman.engine.files.config import FileConfig, FileSpec
from ombudsman.engine.files.load import (
    CHECKPOINTS,
    FileLoad,
    Progress,
    _qualified,
    _table,
    connect_target,
    copy_file,
    refuse_remote,
)
from ombudsman.engine.files.scan import (
    ScanSettings,
    close_scanner,
    open_scanner,
    query,
    quote_ident,
    reader,
    resolve_files,
)


def period_bounds(spec: FileSpec, period: str) -> tuple[dt.date, dt.date]:
    """[start, end) of `period` at the family's grain: `2026-01-02` (day) or `2026-01` (month)."""
    grain = spec.period.grain if spec.period else "day"
    try:
        if grain == "month":
            start = dt.date.fromisoformat(period + "-01" if len(period) == 7 else period)
            if start.day != 1:
                raise ValueError("a month starts on its 1st")
            return start, (start.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
        start = dt.date.fromisoformat(period)
    except ValueError as error:
        raise invalid_fields(f"--reload-period {period!r} is not a {grain} of {spec.name} ({error}); write "
                             f"{'2026-01' if grain == 'month' else '2026-01-02'}", {"reload_period": "not a period"}) from None
    return start, start + dt.timedelta(days=1)


def period_files(spec: FileSpec, files: list[Path], start: dt.date, end: dt.date,
                 settings: ScanSettings = ScanSettings()) -> list[tuple[Path, int]]:
    """The files holding rows of [start, end), with their sizes; `Invalid` when one of them holds rows
    of other periods too."""
    column = quote_ident(str(spec.date_column))
    con = open_scanner(settings)
    try:
        rows = query(con, f"SELECT filename, count(*) FILTER (WHERE {column} >= $start AND {column} < $end), "
                          f"count(*) FILTER (WHERE {column} IS NULL OR {column} < $start OR {column} >= $end) "
                          f"FROM {reader(spec, strict=True)} GROUP BY filename ORDER BY filename",
                     files=[str(f) for f in files], start=start, end=end)
    finally:
        close_scanner(con)
    mixed = [(Path(f).name, outside) for f, inside, outside in rows if inside and outside]
    if mixed:
        name, outside = mixed[0]
        raise invalid_fields(f"{spec.name}: {name} also holds {outside} row(s) outside {start}..{end}: a period is "
                             "reloaded when its files hold only it", {"reload_period": "files span other periods"})
    return [(Path(f), Path(f).stat().st_size) for f, inside, _ in rows if inside]


async def reload_period(config: FileConfig, target_url: str, period: str, *, progress: Progress | None = None,
                        platform: bool = False) -> list[FileLoad]:
    """Delete the rows of `period` from each family's table and load its files again, with their
    checkpoints, in one PostgreSQL transaction per family (see the module docstring)."""
    if parse_url(target_url).kind != "postgres":
        raise invalid_fields(f"--reload-period loads into PostgreSQL here, not {mask_url(target_url)}",
                             {"target": "unsupported"})
    refuse_remote(config)
    plan = []
    for index, spec in enumerate(config.files):
        if not spec.date_column:
            raise invalid_fields(f"{spec.name}: a period is reloaded by its date_column, and this family has none",
                                 {f"files.{index}.date_column": "missing"})
        start, end = period_bounds(spec, period)
        files = period_files(spec, resolve_files(spec, config.base, platform=platform), start, end)
        plan.append((spec, _table(spec, index), start, end, files))
    conn = await connect_target(target_url)
    results: list[FileLoad] = []
    try:
        for spec, (schema, table), start, end, files in plan:
            results += await _reload_family(conn, spec, schema, table, start, end, files, progress)
            if any(r.status == "failed" for r in results):
                break
    finally:
        await conn.close()
    return results


async def _reload_family(conn: Any, spec: FileSpec, schema: str | None, table: str, start: dt.date, end: dt.date,
                         files: list[tuple[Path, int]], progress: Progress | None) -> list[FileLoad]:
    loaded: list[FileLoad] = []
    current = files[0] if files else None
    size = 0
    began = time.perf_counter()
    try:
        async with conn.transaction():
            column = quote_ident(str(spec.date_column))
            status = await conn.execute(f"DELETE FROM {_qualified(schema, table)} WHERE {column} >= $1 AND {column} < $2",
                                        start, end)
            deleted = int(status.split()[-1])
            await conn.execute(f"DELETE FROM {CHECKPOINTS} WHERE spec = $1 AND file = ANY($2::text[])",
                               spec.name, [str(f) for f, _ in files])
            for path, size in files:
                current, began = (path, size), time.perf_counter()
                rows = await copy_file(conn, spec, schema, table, path, size, progress)
                if progress:
                    progress(str(path), size, rows)
                loaded.append(FileLoad(spec.name, str(path), "reloaded", size, rows,
                                       time.perf_counter() - began, f"period {start}: {deleted} row(s) deleted first"))
    except asyncpg.PostgresError as error:
        where = getattr(error, "context", None) or getattr(error, "where", None) or ""
        failed, size = (str(current[0]), current[1]) if current else ("", 0)
        message = f"{error.args[0] if error.args else error} {where}".strip()
        return [FileLoad(spec.name, failed, "failed", size, 0,
                         time.perf_counter() - began, f"period {start} rolled back, table unchanged: {message}")]
    return loaded
