"""How the bucket scans run well on each database, and how many buckets the first scan gets.

PostgreSQL cannot estimate how many groups `(key - lo) / width` makes (it takes the key's distinct
count: one group per row), so by default it sorts the whole table (spilling at work_mem) and JIT-
compiles the expressions. The diff's read session therefore pins, per transaction (`SET LOCAL`):
no JIT, no sort (a hash aggregate, partial per parallel worker then finalised), parallel plans not
priced out by the over-estimated group count, and `work_mem` sized to the bucket count so that the
hash table never spills. Together with the canonical-text settings (DateStyle ISO, TimeZone UTC,
extra_float_digits, see normalize.cheap) the bucket scan costs about what a plain checksum scan
costs. DuckDB and Snowflake always aggregate by hashing (DuckDB's threads and memory_limit come
from the connection URL: the engine opens DuckDB with its configuration locked); SQL Server gets
`OPTION (HASH GROUP)` on the checksum queries.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from sqlglot import exp

from ombudsman.contracts.pipeline import TableRef
from ombudsman.engine.connectors.base import ReadSession
from ombudsman.engine.normalize import LogicalType, NormalizeOptions
from ombudsman.engine.normalize.cheap import pinned_settings
from ombudsman.engine.validators import sql as q

# the hash table of one bucket (key, count, NUMERIC sum state) with PostgreSQL's overheads, generous
HASH_BYTES_PER_BUCKET = 2048
MIN_WORK_MEM_MB, MAX_WORK_MEM_MB = 32, 256
# auto-tuned first scan: a bucket holds about this many bytes of rows. Each differing bucket is re-read
# by the next level, so small buckets keep the refinement of a few hundred differences to a sliver of
# the table (64 KiB: ~400 rows of a 150-byte row); each bucket costs the client a line per side
# (~300 bytes as Python objects: 41,667 lines of PostgreSQL figures took 13 MB); at 32 KiB the bench's
# 6M rows x 18 columns peaked at 309-311 MB, over the client's 300 MB budget.
BUCKET_BYTES = 64 * 1024
MIN_BUCKETS, MAX_BUCKETS = 256, 65_536

_TYPE_BYTES = {"integer": 8, "decimal": 12, "float": 8, "boolean": 1, "date": 4, "time": 8, "timestamp": 8,
               "timestamp_tz": 8, "uuid": 16, "binary": 32, "string": 24, "other": 24}


def session_settings(dialect: str, options: NormalizeOptions | None = None) -> dict[str, str]:
    """What the diff's read session pins for its whole transaction (PostgreSQL; nothing elsewhere);
    `options`: the diff's normalisation (its float digits are PostgreSQL's float output there)."""
    if dialect != "postgres":
        return {}
    return {
        **pinned_settings(dialect, options),
        "jit": "off",
        "enable_sort": "off",
        "parallel_setup_cost": "0",
        "parallel_tuple_cost": "0",
    }


def checksum_settings(dialect: str, buckets: int) -> dict[str, str]:
    """Per checksum statement: PostgreSQL's work_mem sized so that `buckets` groups never spill."""
    if dialect != "postgres":
        return {}
    mb = math.ceil(buckets * HASH_BYTES_PER_BUCKET / 2**20)
    return {"work_mem": f"{min(MAX_WORK_MEM_MB, max(MIN_WORK_MEM_MB, mb))}MB"}


def with_hash_group(query: exp.Select, dialect: str) -> exp.Select:
    """SQL Server: `OPTION (HASH GROUP)`, so that a badly estimated GROUP BY never sorts."""
    if dialect == "tsql":
        query.set("options", [exp.QueryOption(this=exp.Var(this="HASH GROUP"))])
    return query


def row_bytes(types: Sequence[LogicalType]) -> int:
    """A row's size as scanned, estimated from its columns' logical types."""
    return sum(_TYPE_BYTES.get(t.kind, 24) for t in types) + 24


def auto_buckets(rows: int, width: int) -> int:
    """First-scan buckets from the row count and width: each bucket about BUCKET_BYTES of rows, so a
    differing bucket is cheap to refine, and few enough that the hash table stays small."""
    wanted = math.ceil(max(rows, 1) * max(width, 1) / BUCKET_BYTES)
    return max(MIN_BUCKETS, min(MAX_BUCKETS, wanted))


async def estimated_rows(session: ReadSession, table: TableRef) -> int | None:
    """The table's row count as its catalog estimates it, without a scan (PostgreSQL `reltuples`
    once analysed, DuckDB `estimated_size`); None where there is none (a view, another database).
    Only sizes the hash buckets: the first scan counts the rows exactly."""
    dialect = session.connector.dialect
    try:
        if dialect == "postgres":
            name = q.table(table).sql(dialect="postgres", identify=True)
            rows = await session.fetch_rows("SELECT reltuples FROM pg_class WHERE oid = to_regclass(?)", [name])
        elif dialect == "duckdb":
            sql = "SELECT estimated_size FROM duckdb_tables() WHERE table_name = ? AND schema_name = ?"
            rows = await session.fetch_rows(sql, [table.name, table.schema_name or "main"])
        else:
            return None
    except Exception:  # no catalog access: count instead
        return None
    if len(rows) != 1 or rows[0][0] is None or float(rows[0][0]) < 0:
        return None
    return int(float(rows[0][0]))
