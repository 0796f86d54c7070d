"""The row diff: per-bucket checksums in one scan per side, refinement of the buckets that differ,
then the rows of the few remaining buckets compared column by column.

1. Both sides, in parallel, one query each: `SELECT bucket, COUNT(*), SUM(row_hash) ... GROUP BY
   bucket`. With a single integer key the bucket is a range of keys, `(key - lo) DIV width`;
   otherwise it is `key_hash MOD m` (tables without a key: `row_hash MOD m`).
2. Buckets whose count or sum differ are refined: the same query restricted to them (key ranges,
   which an index serves; or `key_hash MOD m IN (...)`) with `split` times finer buckets.
3. Once the differing buckets are small enough, their rows (key, hash, canonical columns) are
   fetched, at most `fetch_rows` per query and side, and compared in Python.

Memory holds the per-bucket figures of one level and one chunk of leaf rows: it depends on the
number of buckets and the thresholds, never on the table's size.

Each side's queries run through one read session of its connector (PostgreSQL: one REPEATABLE
READ transaction, so every scan of a side reads the same snapshot, with the settings of `scan`
pinned), and the hashes use the cheapest canonical text per column where that session allows it
(normalize.cheap). The first scan's bucket count is tuned from the rows and their width unless
`buckets` is given.

Early exit: when both sides count the same rows (and, for an integer key, have the same key bounds,
which its index gives for free; only then are the rows counted), the whole tables' checksums (COUNT
and SUM of row_hash, no grouping) are compared first, and equal ones end the diff there: identical
tables cost one ungrouped scan per side, about what the databases' own checksum costs (a GROUP BY
adds ~10 % on PostgreSQL), plus the exact COUNT(*) (on PostgreSQL a parallel index-only scan, ~4 %
of the checksum scan; DuckDB and Snowflake count from metadata). Tables whose bounds or counts
differ go straight to the buckets; equal counts with different contents pay the whole-table scan on
top (`whole_table_first` False turns it off, True runs it whatever the counts).
"""

from __future__ import annotations

import contextlib
import math
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlglot import exp

from ombudsman.engine.connectors.base import ReadSession
from ombudsman.engine.normalize import NormalizeOptions, floats_equal
from ombudsman.engine.normalize.sql import cast, fn
from ombudsman.engine.rowdiff.output import SOURCE_KINDS, Difference, DifferenceKind, DiffWriter
from ombudsman.engine.rowdiff.pairing import OneSided, pair_rows
from ombudsman.engine.rowdiff.plan import (
    ColumnPair,
    DiffSide,
    Plan,
    RowDiffInputError,
    Side,
    as_int,
    build_plan,
)
from ombudsman.engine.rowdiff.scan import (
    auto_buckets,
    checksum_settings,
    estimated_rows,
    row_bytes,
    session_settings,
    with_hash_group,
)
from ombudsman.engine.rowdiff.snapshot import pin_side
from ombudsman.engine.rowdiff.split import merge_figures, probe_parts, range_conditions, split_ranges
from ombudsman.engine.validators import sql as q
from ombudsman.engine.validators.base import all_settled

Strategy = Literal["key_range", "key_hash", "row_hash"]
NULL_BUCKET = -1  # key ranges: the rows whose key is NULL
MAX_HASH_BUCKETS = 65_536  # first-scan buckets when sized by row count: bounds the figures held per side
SIDES: tuple[Side, Side] = ("source", "target")


class RowDiffOptions(BaseModel):
    """Tuning of the row diff; the defaults suit tables from a few rows to hundreds of millions."""

    model_config = ConfigDict(extra="forbid")

    normalize: NormalizeOptions = Field(default_factory=NormalizeOptions)
    buckets: int | None = Field(
        default=None, ge=1, le=1_000_000, description="buckets of the first scan; default: tuned from rows and row width"
    )
    consistent: bool = Field(default=True, description="each side read at one snapshot where the database offers it")
    split: int = Field(default=16, ge=2, le=4096, description="how many finer buckets a differing bucket becomes")
    leaf_rows: int = Field(default=64, ge=1, description="a key range with at most this many rows is fetched, not split")
    fetch_rows: int = Field(default=20_000, ge=10, description="rows per side fetched by one leaf query")
    max_ranges: int = Field(default=400, ge=1, description="key ranges (or bucket ids) per refinement query")
    max_levels: int = Field(default=8, ge=1, description="refinement levels of hash buckets (each is a scan)")
    sample_limit: int = Field(default=20, ge=0, le=100)
    recorded_sql: int = Field(default=8, ge=0, description="statements per side kept in the result")
    pair_columns: int = Field(
        default=3, ge=0, le=64, description="keyless: a one-sided row pairs with one differing in at most this many columns"
    )
    pair_rows: int = Field(default=100_000, ge=0, description="keyless: one-sided rows per side held for pairing")
    parallel: int | None = Field(
        default=None, ge=1, le=64,
        description="integer keys: connections per side the first scan is split over (key ranges); default: probed",
    )
    whole_table_first: bool | None = Field(
        default=None,
        description="compare the whole tables' checksums before any bucket (equal: done); default: when both "
        "sides count the same rows",
    )


@dataclass
class RowDiffResult:
    strategy: Strategy
    key: list[str]
    columns: list[str]
    source_rows: int = 0
    target_rows: int = 0
    only_in_source: int = 0
    only_in_target: int = 0
    changed: int = 0
    duplicates_in_source: int = 0  # extra rows of keys held more than once (see output.Difference)
    duplicates_in_target: int = 0
    changed_columns: Counter[str] = field(default_factory=Counter)
    sample: list[Difference] = field(default_factory=list)
    levels: int = 0
    queries: int = 0
    leaf_rows_fetched: int = 0
    sql: dict[str, list[str]] = field(default_factory=lambda: {"source": [], "target": []})
    buckets: int = 0  # of the first scan
    snapshot: dict[str, dict[str, Any]] = field(default_factory=dict)  # side -> what pinned its reads
    parallel: dict[str, dict[str, Any]] = field(default_factory=dict)  # side -> parts of the first scan, and why
    whole_table: bool | None = None  # the whole tables' checksums were compared first: equal or not (None: not run)

    @property
    def differences(self) -> int:
        return self.only_in_source + self.only_in_target + self.changed + self.duplicates_in_source + self.duplicates_in_target

    @property
    def equal(self) -> bool:
        return self.differences == 0


@dataclass
class _Bucket:
    """A bucket that differs: an inclusive key range (range strategy) or an id under a modulus."""

    ident: int
    lo: int = 0
    hi: int = 0
    source_rows: int = 0
    target_rows: int = 0
    width: int = 0  # key ranges: the width of the level the bucket comes from

    @property
    def rows(self) -> int:
        return max(self.source_rows, self.target_rows)


class _Run:
    """Runs queries on both sides concurrently (each side through its read session), counts and
    records them."""

    def __init__(
        self, plan: Plan, result: RowDiffResult, options: RowDiffOptions, sessions: Mapping[Side, ReadSession]
    ) -> None:
        self.plan, self.result, self.options, self.sessions = plan, result, options, sessions
        self.parts: dict[Side, int] = {"source": 1, "target": 1}

    def _render(self, side: Side, query: exp.Expression) -> tuple[str, list[Any]]:
        sql, params = q.render(query, self.plan.dialect(side))
        if len(self.result.sql[side]) < self.options.recorded_sql:
            self.result.sql[side].append(sql)
        self.result.queries += 1
        return sql, params

    async def rows(self, side: Side, query: exp.Expression, buckets: int | None = None) -> list[tuple[Any, ...]]:
        """`buckets`: a checksum query making about that many groups (sizes PostgreSQL's work_mem)."""
        sql, params = self._render(side, query)
        settings = checksum_settings(self.plan.dialect(side), buckets) if buckets else None
        return await self.sessions[side].fetch_rows(sql, params, settings=settings)

    async def split_rows(
        self, side: Side, build: Callable[[exp.Expression | None], exp.Expression], ranges: Sequence[tuple[int, int]],
        key: exp.Expression, buckets: int,
    ) -> list[tuple[Any, ...]]:
        """A checksum query (`build(condition)`) split into key `ranges`, one per connection of the
        side's session parts (see rowdiff.split), its figures merged per bucket."""
        if len(ranges) <= 1:
            return await self.rows(side, build(None), buckets)
        settings = checksum_settings(self.plan.dialect(side), buckets)
        queries = [self._render(side, build(condition)) for condition in range_conditions(key, ranges)]
        async with self.sessions[side].parts(len(queries)) as sessions:

            async def run_share(index: int) -> list[list[tuple[Any, ...]]]:
                share = queries[index :: len(sessions)]  # fewer connections than ranges: in turn
                return [await sessions[index].fetch_rows(sql, params, settings=settings) for sql, params in share]

            shares = await all_settled(*(run_share(i) for i in range(len(sessions))))
        return merge_figures([rows for share in shares for rows in share])

    async def both(
        self, build: Callable[[Side], exp.Expression], buckets: int | None = None
    ) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        source, target = await all_settled(
            self.rows("source", build("source"), buckets), self.rows("target", build("target"), buckets)
        )
        return source, target

    async def stream(self, side: Side, query: exp.Expression) -> AsyncIterator[list[tuple[Any, ...]]]:
        sql, params = self._render(side, query)
        async for rows in self.sessions[side].stream_rows(sql, params, batch_size=self.options.fetch_rows):
            yield rows


async def diff_tables(
    source: DiffSide,
    target: DiffSide,
    *,
    key: Sequence[str] | None = None,
    columns: Sequence[str] | None = None,
    exclude: Sequence[str] = (),
    column_map: Mapping[str, str] | None = None,
    options: RowDiffOptions | None = None,
    writer: DiffWriter | None = None,
) -> RowDiffResult:
    """Every row that differs between two tables: only in source, only in target, or changed (with
    the differing columns and both values). `key=None` takes the source's primary key; `key=[]` (or
    no primary key) compares the tables as multisets of rows. The full list goes to `writer`."""
    options = options or RowDiffOptions()
    plan = await build_plan(
        source, target, key=key, columns=columns, exclude=exclude, column_map=column_map, options=options.normalize
    )
    strategy: Strategy = "key_range" if plan.integer_key else ("key_hash" if plan.key else "row_hash")
    result = RowDiffResult(strategy=strategy, key=[p.name for p in plan.key], columns=[p.name for p in plan.columns])
    async with contextlib.AsyncExitStack() as stack:
        sessions: dict[Side, ReadSession] = {}
        shared = plan.sides["source"].connector is plan.sides["target"].connector
        for side in SIDES:
            connector = plan.sides[side].connector
            if shared and connector.pool_size < 2:  # two sessions would wait for each other's one connection
                sessions[side] = ReadSession(connector)
            else:
                sessions[side] = await stack.enter_async_context(
                    connector.read_session(session_settings(connector.dialect, options.normalize), consistent=options.consistent)
                )
            # the cheap canonical forms need the pinned settings (DuckDB's need none)
            plan.cheap[side] = sessions[side].settings_pinned or connector.dialect == "duckdb"
            result.snapshot[side] = await pin_side(plan, side, sessions[side], consistent=options.consistent)
        run = _Run(plan, result, options, sessions)
        leaf = _Leaf(plan, result, options, writer)
        if strategy == "key_range" and not await _range_diff(run, leaf):
            result.strategy = "key_hash"  # a key range too wide for BIGINT arithmetic
        if result.strategy != "key_range":
            await _hash_diff(run, leaf)
    return result


def first_buckets(plan: Plan, options: RowDiffOptions, rows: int) -> int:
    """The first scan's bucket count: `options.buckets`, else tuned from the rows and their width."""
    if options.buckets is not None:
        return options.buckets
    return auto_buckets(rows, row_bytes([p.type("source") for p in plan.columns]))


# --- checksums per bucket ------------------------------------------------------------------------------
def _checksum_query(
    plan: Plan, side: Side, bucket: exp.Expression | None, where: exp.Expression | None
) -> exp.Expression:
    """`SELECT bucket, COUNT(*), SUM(row_hash) ... GROUP BY bucket`; `bucket` None: the whole table's
    figures as bucket 0, without grouping."""
    from ombudsman.engine.normalize import hash_sum_expr

    query = exp.select(
        (bucket if bucket is not None else exp.Literal.number(0)).as_("b"), q.count_star().as_("n"),
        hash_sum_expr(plan.row_hash(side), plan.dialect(side)).as_("s"),
    ).from_(plan.table(side))
    condition = plan.where(side, where)
    if condition is not None:
        query = query.where(condition)
    if bucket is None:
        return query
    dialect = plan.dialect(side)
    return with_hash_group(query.group_by(exp.Literal.number(1)) if dialect != "tsql" else query.group_by(bucket), dialect)


def _count_query(plan: Plan, side: Side) -> exp.Expression:
    query = exp.select(q.count_star()).from_(plan.table(side))
    condition = plan.where(side)
    return query.where(condition) if condition is not None else query


async def _row_counts(run: _Run, exact: bool) -> tuple[int, int]:
    """Each side's rows, for the early exit's choice and the hash buckets' size: COUNT(*) (`exact`),
    else the catalog's estimate where the side is a whole table and the catalog has one. PostgreSQL's
    `reltuples` cannot stand in for the exact count: ANALYZE sets it from a sample (6M rows after
    VACUUM ANALYZE: not 6,000,000), so identical tables would miss the early exit."""
    plan = run.plan

    async def rows_of(side: Side) -> int:
        if not exact and plan.sides[side].where is None:
            estimate = await estimated_rows(run.sessions[side], plan.sides[side].table)
            if estimate is not None:
                return estimate
        return as_int((await run.rows(side, _count_query(plan, side)))[0][0])

    source, target = await all_settled(rows_of("source"), rows_of("target"))
    return source, target


async def _whole_tables_equal(
    run: _Run, counts: tuple[int, int] | None, scan: Callable[[Side], Awaitable[list[tuple[Any, ...]]]]
) -> bool:
    """The early exit: the whole tables' checksums (`scan(side)`, bucket 0) compared before any
    bucket, when `whole_table_first` asks for it or (by default) the exact `counts` agree. True when
    they are equal: the tables are identical and the diff is done."""
    wanted = run.options.whole_table_first
    if wanted is False or (wanted is None and (counts is None or counts[0] != counts[1])):
        return False
    source, target = await all_settled(scan("source"), scan("target"))
    run.result.whole_table = not _differing(source, target, run.result)
    return run.result.whole_table


def _bucket_id(row: tuple[Any, ...]) -> int:
    return NULL_BUCKET if row[0] is None else as_int(row[0])


def _differing(
    source: list[tuple[Any, ...]], target: list[tuple[Any, ...]], result: RowDiffResult | None = None
) -> dict[int, tuple[int, int]]:
    """Bucket id -> (source rows, target rows) for the buckets whose count or hash sum differ. Both
    lists are sorted in place and walked together: nothing but the differing buckets is built (a
    first scan's figures are tens of thousands of lines per side)."""
    source.sort(key=_bucket_id)
    target.sort(key=_bucket_id)
    found: dict[int, tuple[int, int]] = {}
    source_rows = target_rows = i = j = 0
    while i < len(source) or j < len(target):
        s_id = _bucket_id(source[i]) if i < len(source) else None
        t_id = _bucket_id(target[j]) if j < len(target) else None
        if t_id is None or (s_id is not None and s_id < t_id):  # a bucket of the source only
            count = as_int(source[i][1])
            source_rows += count
            found[s_id] = (count, 0)  # type: ignore[index]
            i += 1
        elif s_id is None or t_id < s_id:
            count = as_int(target[j][1])
            target_rows += count
            found[t_id] = (0, count)
            j += 1
        else:
            s_count, t_count = as_int(source[i][1]), as_int(target[j][1])
            source_rows, target_rows = source_rows + s_count, target_rows + t_count
            if s_count != t_count or as_int(source[i][2]) != as_int(target[j][2]):
                found[s_id] = (s_count, t_count)
            i, j = i + 1, j + 1
    if result is not None:
        result.source_rows, result.target_rows = source_rows, target_rows
    return found


# --- integer key: buckets are key ranges -----------------------------------------------------------------
def _int_div(dividend: exp.Expression, divisor: int, dialect: str) -> exp.Expression:
    if dialect == "duckdb":
        return exp.IntDiv(this=dividend, expression=exp.Literal.number(divisor))
    if dialect == "snowflake":
        return fn("FLOOR", exp.Div(this=dividend, expression=exp.Literal.number(divisor)))
    return exp.Div(this=dividend, expression=exp.Literal.number(divisor), typed=True)  # BIGINT / BIGINT truncates


def _range_bucket(plan: Plan, side: Side, lo: int, width: int) -> exp.Expression:
    dialect = plan.dialect(side)
    key = cast(plan.col(side, plan.key[0]), "bigint", dialect) if dialect != "snowflake" else plan.col(side, plan.key[0])
    offset = exp.Paren(this=exp.Sub(this=key, expression=exp.Literal.number(lo)))
    return _int_div(offset, width, dialect)


def _ranges_condition(plan: Plan, side: Side, ranges: Sequence[tuple[int, int]]) -> exp.Expression:
    key = plan.col(side, plan.key[0])
    parts: list[exp.Expression] = [
        exp.EQ(this=key.copy(), expression=exp.Literal.number(a)) if a == b
        else exp.Between(this=key.copy(), low=exp.Literal.number(a), high=exp.Literal.number(b))
        for a, b in ranges
    ]
    return exp.Paren(this=exp.or_(*parts)) if len(parts) > 1 else parts[0]


def _first_width(key_range: int, buckets: int, split: int) -> int:
    """The first level's bucket width: at least key_range / buckets, and m * split^k with m < split,
    so that every finer level (width / split, ..., m, then 1) nests exactly in the one above."""
    wanted = max(1, math.ceil(key_range / buckets))
    unit = 1
    while unit * split <= wanted:
        unit *= split
    return math.ceil(wanted / unit) * unit


def _buckets_condition(plan: Plan, side: Side, buckets: Sequence[_Bucket], lo: int) -> exp.Expression:
    """Rows of the given key-range buckets. Key ranges (`key BETWEEN a AND b OR ...`) let an index or
    partition pruning serve the query; DuckDB, which evaluates a long OR row by row, gets the bucket
    ids per level instead (`(key - lo) // width IN (...)`); both select exactly the same rows."""
    parts: list[exp.Expression] = []
    if any(b.ident == NULL_BUCKET for b in buckets):
        parts.append(exp.Is(this=plan.col(side, plan.key[0]), expression=exp.Null()))
    keyed = [b for b in buckets if b.ident != NULL_BUCKET]
    if keyed and plan.dialect(side) != "duckdb":
        parts.append(_ranges_condition(plan, side, _merge(keyed)))
    elif keyed:
        by_width: dict[int, list[int]] = defaultdict(list)
        for b in keyed:
            by_width[b.width].append(b.ident)
        parts += [
            exp.In(this=_range_bucket(plan, side, lo, width), expressions=[exp.Literal.number(i) for i in sorted(set(ids))])
            for width, ids in sorted(by_width.items())
        ]
    return exp.Paren(this=exp.or_(*parts)) if len(parts) > 1 else parts[0]


def _merge(buckets: Sequence[_Bucket]) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    for b in sorted(buckets, key=lambda x: x.lo):
        if runs and b.lo <= runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], max(runs[-1][1], b.hi))
        else:
            runs.append((b.lo, b.hi))
    return runs


async def _range_diff(run: _Run, leaf: _Leaf) -> bool:
    plan, options, result = run.plan, run.options, run.result

    def bounds(side: Side) -> exp.Expression:
        key = plan.col(side, plan.key[0])
        query = exp.select(exp.Min(this=key).as_("lo"), exp.Max(this=key.copy()).as_("hi")).from_(plan.table(side))
        condition = plan.where(side)
        return query.where(condition) if condition is not None else query

    source_bounds, target_bounds = await run.both(bounds)
    for side in SIDES:
        parts, reason = (options.parallel, "asked for") if options.parallel else await probe_parts(run.sessions[side])
        run.parts[side] = parts
        result.parallel[side] = {"parts": parts, "reason": reason}
    ends = [v for row in (source_bounds[0], target_bounds[0]) for v in row if v is not None]
    if not ends:  # both empty, or every key NULL: the hash strategy counts and compares them
        return False
    lo, hi = min(as_int(v) for v in ends), max(as_int(v) for v in ends)
    if hi - lo >= 2**62:
        return False

    def whole_scan(side: Side) -> Any:
        return run.split_rows(side, lambda condition: _checksum_query(plan, side, None, condition),
                              split_ranges(lo, hi, 1, run.parts[side]), plan.col(side, plan.key[0]), 1)

    # the early exit only where the key bounds agree too (rows added or removed at an end differ there)
    same_bounds = tuple(source_bounds[0]) == tuple(target_bounds[0])
    counts = await _row_counts(run, exact=True) if options.whole_table_first is None and same_bounds else None
    if await _whole_tables_equal(run, counts, whole_scan):
        return True
    result.buckets = first_buckets(plan, options, hi - lo + 1)
    width = _first_width(hi - lo + 1, result.buckets, options.split)
    first = math.ceil((hi - lo + 1) / width)

    def first_scan(side: Side) -> Any:
        return run.split_rows(
            side, lambda condition: _checksum_query(plan, side, _range_bucket(plan, side, lo, width), condition),
            split_ranges(lo, hi, width, run.parts[side]), plan.col(side, plan.key[0]), first,
        )

    source, target = await all_settled(first_scan("source"), first_scan("target"))
    result.levels = 1
    differing = [
        _Bucket(b, lo + b * width, min(hi, lo + (b + 1) * width - 1), s, t, width)
        if b != NULL_BUCKET else _Bucket(b, 0, 0, s, t, 0)  # never split: fetched by `key IS NULL`
        for b, (s, t) in _differing(source, target, result).items()
    ]
    ready: list[_Bucket] = []
    while differing:
        ready += [b for b in differing if b.rows <= options.leaf_rows or b.lo == b.hi]
        to_split = sorted((b for b in differing if b.rows > options.leaf_rows and b.lo < b.hi), key=lambda b: b.lo)
        if not to_split:
            break
        finer = width // options.split if width % options.split == 0 else 1  # nests in the parent buckets
        result.levels += 1
        differing = []
        for start in range(0, len(to_split), options.max_ranges):
            parents = to_split[start : start + options.max_ranges]

            def refine(side: Side, parents: list[_Bucket] = parents, finer: int = finer) -> exp.Expression:
                condition = _buckets_condition(plan, side, parents, lo)
                return _checksum_query(plan, side, _range_bucket(plan, side, lo, finer), condition)

            source, target = await run.both(refine, len(parents) * options.split)
            differing += [
                _Bucket(b, lo + b * finer, min(hi, lo + (b + 1) * finer - 1), s, t, finer)
                for b, (s, t) in _differing(source, target).items()
            ]
        width = finer
    await _fetch_ranges(run, leaf, ready, lo)
    return True


async def _fetch_ranges(run: _Run, leaf: _Leaf, buckets: list[_Bucket], lo: int) -> None:
    for chunk in _chunks(sorted(buckets, key=lambda b: b.lo), run.options.fetch_rows, run.options.max_ranges):

        def condition(side: Side, chunk: list[_Bucket] = chunk) -> exp.Expression:
            return _buckets_condition(run.plan, side, chunk, lo)

        await leaf.compare(run, condition)


def _chunks(buckets: Sequence[_Bucket], max_rows: int, max_items: int) -> list[list[_Bucket]]:
    chunks: list[list[_Bucket]] = []
    current: list[_Bucket] = []
    rows = 0
    for bucket in buckets:
        if current and (rows + bucket.rows > max_rows or len(current) >= max_items):
            chunks.append(current)
            current, rows = [], 0
        current.append(bucket)
        rows += bucket.rows
    if current:
        chunks.append(current)
    return chunks


# --- other keys and keyless tables: buckets are hash residues ------------------------------------------
def _residue(plan: Plan, side: Side, modulus: int) -> exp.Expression:
    hashed = plan.key_hash(side) if plan.key else plan.bucket_hash(side)
    return exp.Mod(this=exp.Paren(this=hashed), expression=exp.Literal.number(modulus))


def _residue_in(plan: Plan, side: Side, modulus: int, ids: Sequence[int]) -> exp.Expression:
    return exp.In(this=_residue(plan, side, modulus), expressions=[exp.Literal.number(i) for i in sorted(ids)])


async def _hash_diff(run: _Run, leaf: _Leaf) -> None:
    plan, options, result = run.plan, run.options, run.result

    counts = await _row_counts(run, exact=options.whole_table_first is None)

    async def whole_scan(side: Side) -> list[tuple[Any, ...]]:
        return await run.rows(side, _checksum_query(plan, side, None, None))

    if await _whole_tables_equal(run, counts, whole_scan):
        return
    # every level of hash buckets is a scan: size the first so that the differing buckets can be
    # fetched at once (about leaf_rows rows each) rather than refined by another scan
    rows = max(counts)
    result.buckets = modulus = max(first_buckets(plan, options, rows), min(MAX_HASH_BUCKETS, math.ceil(rows / options.leaf_rows)))
    source, target = await run.both(lambda side: _checksum_query(plan, side, _residue(plan, side, modulus), None), modulus)
    result.levels = 1
    differing = {b: _Bucket(b, source_rows=s, target_rows=t) for b, (s, t) in _differing(source, target, result).items()}
    level = 1
    while differing and sum(b.rows for b in differing.values()) > options.fetch_rows and level < options.max_levels:
        finer = modulus * options.split
        if finer >= 2**59:
            break
        refined: dict[int, _Bucket] = {}
        ids = sorted(differing)
        for start in range(0, len(ids), options.max_ranges * 8):
            chunk = ids[start : start + options.max_ranges * 8]

            def refine(side: Side, chunk: list[int] = chunk, finer: int = finer, modulus: int = modulus) -> exp.Expression:
                condition = _residue_in(plan, side, modulus, chunk)
                return _checksum_query(plan, side, _residue(plan, side, finer), condition)

            source, target = await run.both(refine, len(chunk) * options.split)
            for b, (s, t) in _differing(source, target).items():
                refined[b] = _Bucket(b, source_rows=s, target_rows=t)
        level += 1
        result.levels = level
        modulus, differing = finer, refined
    for leaf_chunk in _chunks([differing[b] for b in sorted(differing)], options.fetch_rows, options.max_ranges * 8):
        leaf_ids = [b.ident for b in leaf_chunk]

        def leaf_condition(side: Side, leaf_ids: list[int] = leaf_ids) -> exp.Expression:
            return _residue_in(plan, side, modulus, leaf_ids)

        await leaf.compare(run, leaf_condition)
    leaf.flush()


# --- leaf: fetch the rows of a few buckets and compare them ------------------------------------------
class _Leaf:
    """Fetches the rows of a few differing buckets on both sides and compares them column by column.

    Floats are judged on their raw values: equal when within `float_absolute` or within one unit of
    the last kept digit (10^(1-float_digits) relative), so noise that moved a canonical text across a
    rounding boundary (or across the zero snap) is never a difference. Keyless one-sided rows are
    held (at most `pair_rows` per side) and paired at the end (`flush`)."""

    def __init__(self, plan: Plan, result: RowDiffResult, options: RowDiffOptions, writer: DiffWriter | None) -> None:
        self.plan, self.result, self.options, self.writer = plan, result, options, writer
        self.value_columns = [p for p in plan.columns if p not in plan.key] if plan.key else list(plan.columns)
        self.floats = [i for i, p in enumerate(self.value_columns) if p.is_float]
        self.held: dict[Side, list[OneSided]] = {"source": [], "target": []}

    def _query(self, side: Side, condition: exp.Expression) -> exp.Expression:
        plan = self.plan
        floats = [self.value_columns[i] for i in self.floats]
        if plan.key:
            keys = [plan.canonical(side, p).as_(f"k{i}") for i, p in enumerate(plan.key)]
            canon = [plan.canonical(side, p).as_(f"c{i}") for i, p in enumerate(self.value_columns)]
            raws = [plan.raw_float(side, p).as_(f"r{i}") for i, p in enumerate(floats)]
            query = exp.select(*keys, plan.row_hash(side).as_("h"), *canon, *raws)
        else:  # a multiset: one line per distinct row with its number of copies
            canon = [exp.Min(this=plan.canonical(side, p)).as_(f"c{i}") for i, p in enumerate(self.value_columns)]
            raws = [exp.Min(this=plan.raw_float(side, p)).as_(f"r{i}") for i, p in enumerate(floats)]
            query = exp.select(plan.row_hash(side).as_("h"), q.count_star().as_("n"), *canon, *raws)
        query = query.from_(plan.table(side)).where(plan.where(side, condition))
        if not plan.key:
            query = query.group_by(plan.row_hash(side))
        return query

    async def _collect(self, run: _Run, side: Side, condition: exp.Expression) -> dict[Any, list[tuple[Any, ...]]]:
        rows: dict[Any, list[tuple[Any, ...]]] = defaultdict(list)
        width = len(self.plan.key)
        async for batch in run.stream(side, self._query(side, condition)):
            self.result.leaf_rows_fetched += len(batch)
            for row in batch:
                if width:
                    rows[row[:width]].append((as_int(row[width]), *row[width + 1 :]))
                else:
                    rows[as_int(row[0])].append((as_int(row[1]), *row[2:]))
        return rows

    async def compare(self, run: _Run, condition: Callable[[Side], exp.Expression]) -> None:
        source, target = await all_settled(
            self._collect(run, "source", condition("source")), self._collect(run, "target", condition("target"))
        )
        found: list[Difference] = []
        for key in sorted(set(source) | set(target), key=_sort_key):
            if self.plan.key:
                found += self._compare_key(key, source.get(key, []), target.get(key, []))
            else:
                found += self._hold(key, source.get(key, []), target.get(key, []))
        if found:
            self._report(found)

    def _split(self, row: tuple[Any, ...]) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
        """(texts, raw floats by column index) of a fetched row after its hash or copies."""
        n = len(self.value_columns)
        raws: list[Any] = [None] * n
        for j, i in enumerate(self.floats):
            raws[i] = row[1 + n + j]
        return tuple(row[1 : 1 + n]), tuple(raws)

    def _one_sided(self, kind: DifferenceKind, key: dict[str, Any], texts: Sequence[Any], **counts: Any) -> Difference:
        names = [p.name for p in self.value_columns]
        values = {n: (v, None) if kind in SOURCE_KINDS else (None, v) for n, v in zip(names, texts, strict=True)}
        return Difference(kind, key, values, **counts)

    def _hold(self, row_hash: int, source: list[tuple[Any, ...]], target: list[tuple[Any, ...]]) -> list[Difference]:
        """Keyless: the copies in excess on one side are held for pairing (or reported when the
        holding is full)."""
        s_copies = source[0][0] if source else 0
        t_copies = target[0][0] if target else 0
        if s_copies == t_copies:
            return []
        side: Side = "source" if s_copies > t_copies else "target"
        texts, raws = self._split((source if side == "source" else target)[0])
        entry = OneSided(row_hash, texts, raws, abs(s_copies - t_copies), s_copies, t_copies)
        if len(self.held[side]) < self.options.pair_rows:
            self.held[side].append(entry)
            return []
        kind: DifferenceKind = "only_in_source" if side == "source" else "only_in_target"
        return [self._one_sided(kind, {"row_hash": row_hash}, texts, source_count=s_copies, target_count=t_copies)]

    def flush(self) -> None:
        """Keyless: pair the held one-sided rows (equal within tolerance, or changed in at most
        `pair_columns` columns) and report what is left as one-sided."""
        source, target = self.held["source"], self.held["target"]
        self.held = {"source": [], "target": []}

        def same(i: int, a: OneSided, b: OneSided) -> bool:
            return self._same(self.value_columns[i], a.texts[i], b.texts[i], a.raws[i], b.raws[i])

        found: list[Difference] = []
        for s_row, t_row, differing in pair_rows(source, target, max_diff=self.options.pair_columns, same=same):
            if differing:
                found.append(Difference(
                    "changed", {"source_row_hash": s_row.row_hash, "target_row_hash": t_row.row_hash},
                    {self.value_columns[i].name: (s_row.texts[i], t_row.texts[i]) for i in differing},
                ))
        for kind, rows in (("only_in_source", source), ("only_in_target", target)):
            for row in rows:
                if row.copies > 0:
                    found.append(self._one_sided(
                        kind, {"row_hash": row.row_hash}, row.texts,  # type: ignore[arg-type]
                        source_count=row.source_count, target_count=row.target_count, copies=row.copies,
                    ))
        if found:
            self._report(found)

    def _compare_key(self, key: Any, source: list[tuple[Any, ...]], target: list[tuple[Any, ...]]) -> list[Difference]:
        key_dict = {p.name: k for p, k in zip(self.plan.key, key, strict=True)}
        if len(source) == 1 and len(target) == 1:
            if source[0][0] == target[0][0]:
                return []
            changed = self._changed(source[0], target[0])
            return [Difference("changed", key_dict, changed)] if changed else []
        # a key missing on one side, or duplicated: pair equal rows, report the rest
        remaining = list(target)
        unmatched_source = []
        for row in source:
            match = next((i for i, other in enumerate(remaining) if other[0] == row[0]), None)
            if match is None:
                unmatched_source.append(row)
            else:
                remaining.pop(match)
        counts = {"source_count": len(source), "target_count": len(target)} if len(source) > 1 or len(target) > 1 else {}
        found = []
        while unmatched_source and remaining:  # a key on both sides whose rows differ: changed rows
            changed = self._changed(unmatched_source.pop(0), remaining.pop(0))
            if changed:
                found.append(Difference("changed", key_dict, changed, **counts))
        # rows left on one side: duplicates when that side repeats a key the other side has too
        for side_rows, other, kinds in (
            (unmatched_source, target, ("duplicate_in_source", "only_in_source")),
            (remaining, source, ("duplicate_in_target", "only_in_target")),
        ):
            kind: DifferenceKind = kinds[0] if other else kinds[1]  # type: ignore[assignment]
            found += [self._one_sided(kind, key_dict, self._split(row)[0], **counts) for row in side_rows]
        return found

    def _changed(self, source: tuple[Any, ...], target: tuple[Any, ...]) -> dict[str, tuple[Any, Any]]:
        (s_texts, s_raws), (t_texts, t_raws) = self._split(source), self._split(target)
        return {
            p.name: (s_texts[i], t_texts[i])
            for i, p in enumerate(self.value_columns)
            if not self._same(p, s_texts[i], t_texts[i], s_raws[i], t_raws[i])
        }

    def _same(self, pair: ColumnPair, source: Any, target: Any, source_raw: Any = None, target_raw: Any = None) -> bool:
        if source == target:
            return True
        if source is None or target is None or not pair.is_float:
            return False
        try:  # the raw values when fetched, else the canonical texts
            a = float(source_raw if source_raw is not None else source)
            b = float(target_raw if target_raw is not None else target)
        except (TypeError, ValueError):
            return False
        return floats_equal(a, b, self.options.normalize)

    def _report(self, found: list[Difference]) -> None:
        result = self.result
        for difference in found:
            if difference.kind == "changed":
                result.changed += 1
                result.changed_columns.update(list(difference.columns))
            else:
                copies = 1
                if difference.copies is not None:
                    copies = difference.copies
                elif not self.plan.key:
                    copies = abs((difference.source_count or 0) - (difference.target_count or 0))
                if difference.kind == "only_in_source":
                    result.only_in_source += copies
                elif difference.kind == "only_in_target":
                    result.only_in_target += copies
                elif difference.kind == "duplicate_in_source":
                    result.duplicates_in_source += copies
                else:
                    result.duplicates_in_target += copies
            if len(result.sample) < self.options.sample_limit:
                result.sample.append(difference)
        if self.writer is not None:
            self.writer.write(found)


def _sort_key(key: Any) -> Any:
    if isinstance(key, tuple):
        return tuple((0, int(k)) if isinstance(k, str) and k.lstrip("-").isdigit() else (1, str(k)) for k in key)
    return (0, key)


__all__ = ["DiffSide", "RowDiffInputError", "RowDiffOptions", "RowDiffResult", "diff_tables"]
