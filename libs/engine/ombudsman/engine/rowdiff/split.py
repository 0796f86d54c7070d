"""Split scans: the first bucketed scan of an integer key cut into key ranges, each run on its own
connection of the side (all reading the side's one snapshot), the per-bucket figures merged.

A database that aggregates in parallel by itself (PostgreSQL with parallel workers, DuckDB) gains
nothing; one that runs a query on one core (PostgreSQL with `max_parallel_workers_per_gather = 0`,
SQL Server at `max degree of parallelism` 1) reads the table about `parts` times faster. The default
is probed once per side (`probe_parts`); `RowDiffOptions.parallel` overrides it. The ranges follow
the bucket boundaries, so each bucket is computed by exactly one part; the figures are still summed
per bucket, which would also merge buckets a part boundary cut.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlglot import exp

from ombudsman.engine.connectors.base import ReadSession

MAX_PARTS = 4  # connections per side a probed default uses (a user's `parallel` may ask for more)


def split_ranges(lo: int, hi: int, width: int, parts: int) -> list[tuple[int, int]]:
    """[lo, hi] cut into at most `parts` contiguous inclusive key ranges at bucket boundaries
    (lo + i * width), as even in buckets as they can be."""
    buckets = math.ceil((hi - lo + 1) / width)
    per = math.ceil(buckets / max(1, min(parts, buckets)))
    return [(lo + start * width, min(hi, lo + (start + per) * width - 1)) for start in range(0, buckets, per)]


def range_conditions(key: exp.Expression, ranges: Sequence[tuple[int, int]]) -> list[exp.Expression]:
    """One condition per range (`key BETWEEN a AND b`); the first also takes the NULL keys, so that
    every row is read by exactly one part."""
    conditions: list[exp.Expression] = []
    for i, (a, b) in enumerate(ranges):
        between: exp.Expression = exp.Between(this=key.copy(), low=exp.Literal.number(a), high=exp.Literal.number(b))
        if i == 0:
            between = exp.Paren(this=exp.or_(exp.Is(this=key.copy(), expression=exp.Null()), between))
        conditions.append(between)
    return conditions


def merge_figures(parts: Sequence[Sequence[tuple[Any, ...]]]) -> list[tuple[Any, int, int]]:
    """(bucket, rows, hash sum) lines of several parts summed per bucket."""
    merged: dict[Any, list[int]] = defaultdict(lambda: [0, 0])
    for rows in parts:
        for bucket, count, total in rows:
            entry = merged[bucket]
            entry[0] += int(count or 0)
            entry[1] += int(total or 0)
    return [(bucket, count, total) for bucket, (count, total) in merged.items()]


async def probe_parts(session: ReadSession) -> tuple[int, str]:
    """How many parts a side's first scan gets by default, and why: PostgreSQL without parallel
    workers per query and SQL Server at MAXDOP 1 get up to MAX_PARTS connections (at most the
    pool's size); databases that parallelise a scan themselves get 1."""
    connector = session.connector
    dialect, most = connector.dialect, max(1, min(MAX_PARTS, connector.pool_size))
    try:
        if dialect == "postgres":
            rows = await session.fetch_rows(
                "SELECT current_setting('max_parallel_workers_per_gather'), current_setting('max_parallel_workers')"
            )
            if min(int(rows[0][0]), int(rows[0][1])) > 0:
                return 1, "PostgreSQL aggregates with parallel workers"
            return most, "PostgreSQL runs the scan without parallel workers"
        if dialect == "tsql":
            rows = await session.fetch_rows(
                "SELECT CAST(value_in_use AS INT) FROM sys.configurations WHERE name = 'max degree of parallelism'"
            )
            if rows and int(rows[0][0]) == 1:
                return most, "SQL Server runs each query on one core (MAXDOP 1)"
            return 1, "SQL Server parallelises the scan"
    except Exception as exc:  # no access to the settings: one scan, as before
        return 1, f"not probed: {str(exc).splitlines()[0][:120]}"
    return 1, f"{dialect} parallelises the scan itself"
