"""Grouped comparisons that stay exact at scale, or say at which grain they are exact.

A grouped check (`GROUP BY` dimensions in each database, groups compared in Python) fetches at most
`max_groups` groups per side, in a deterministic order (ORDER BY the group key), and checks for
overflow. Past the limit it never truncates and never errors: it compares at a coarser grain.

- **group**: both sides have at most `max_groups` groups: every group is compared.
- **bucket:N**: each group goes to bucket `key_hash MOD N`, where key_hash is the row diff's 60-bit
  hash of the group key's canonical text (`normalize.row_text_expr` + `hash_text_expr`, the same in
  every dialect). Each side answers one line per bucket, aggregated in its database: number of
  groups, the exact SUM of key hashes (a missing, extra or renamed group changes it), and per
  measure its SUM and a hash-weighted SUM (so compensating changes in one bucket still show). Only
  buckets that differ are refined: their groups are fetched (at most `max_groups` per query) and
  compared group by group, so a changed group is still found and named. Memory holds N bucket lines
  and one chunk of groups per side, never the whole grouped result.

`GrainedDiff.grain` and `.note` say which grain was used and whether anything was left unrefined.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlglot import exp

from ombudsman.contracts.pipeline import Tolerance
from ombudsman.engine.normalize import (
    LogicalType,
    NormalizeOptions,
    canonical_value,
    hash_sum_expr,
    hash_text_expr,
    logical_type_from_arrow,
    pair_types,
    row_text_expr,
)
from ombudsman.engine.rowdiff.capabilities import uses_fakesnow_hash
from ombudsman.engine.validators import sql as q
from ombudsman.engine.validators.base import SIDES, Side, Sides, ValidationContext, jsonable, to_rows
from ombudsman.engine.validators.compare import GroupDiff, compare_groups, normalize, values_match

DEFAULT_BUCKETS = 1024
WEIGHT_MODULUS = 1009  # bucket sums also weight each group's measure by 1 + key_hash MOD this
MAX_REFINED_FACTOR = 4  # refine at most this many times max_groups groups per side in all

HASH = "omb_h"
BUCKET = "omb_b"


@dataclass
class GrainedDiff:
    """A GroupDiff plus the grain it was computed at and per-measure totals over all groups."""

    diff: GroupDiff
    grain: str = "group"
    exact: bool = True
    note: str = ""
    totals: Sides[dict[str, Any]] = field(default_factory=lambda: Sides({}, {}))
    buckets: int = 0
    differing_buckets: int = 0
    unrefined_buckets: int = 0

    def details(self) -> dict[str, Any]:
        """What a StepResult's details say about the grain."""
        out: dict[str, Any] = {"grain": self.grain, "exact": self.exact}
        if self.grain.startswith("bucket"):
            out.update(differing_buckets=self.differing_buckets, unrefined_buckets=self.unrefined_buckets)
        if self.note:
            out["grain_note"] = self.note
        return out


def _sub(query: exp.Expr, alias: str) -> exp.Subquery:
    return exp.Subquery(this=query, alias=exp.TableAlias(this=q.ident(alias)))


def _ordered(inner: exp.Expr, keys: Sequence[str], limit: int) -> exp.Expr:
    """SELECT * FROM (inner) g ORDER BY <keys> LIMIT limit: a deterministic first `limit` groups."""
    select = exp.select(exp.Star()).from_(_sub(inner, "g"))
    if keys:
        select = select.order_by(*[exp.Ordered(this=q.col(k, "g")) for k in keys])
    return select.limit(limit)


def _totals(rows: Sequence[dict[str, Any]], measures: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for m in measures:
        values = [normalize(r.get(m.lower())) for r in rows]
        numbers = [v for v in values if isinstance(v, int | float)]
        out[m] = sum(numbers) if numbers else None
    return out


async def compare_grouped(
    ctx: ValidationContext,
    build: Callable[[Side], exp.Expr],
    keys: Sequence[str],
    measures: Sequence[str],
    *,
    max_groups: int,
    buckets: int = DEFAULT_BUCKETS,
    tolerance: Tolerance | None = None,
    carry: Sequence[str] = (),
    floats: Sequence[str] = (),
    key_types: Sequence[LogicalType] | None = None,
) -> GrainedDiff:
    """Compare the grouped query `build(side)` (SELECT <keys as aliases>, <measures as aliases> ...
    GROUP BY ...) between the sides: per group when both have at most `max_groups` groups, else per
    hash bucket of the group key with the differing buckets refined to their groups. `carry`: columns
    shown with a group missing on one side, not compared. Group keys should be canonical texts
    (`ctx.canonical`), so that keys equal under the row_hash normalisation are the same group;
    `floats`: measures of float columns, equal under the canonical float rule too. `key_types`: the
    logical types of canonical keys, read back as values in the reported groups (`canonical_value`)."""
    grained = await _compare_grouped(
        ctx, build, keys, measures, max_groups=max_groups, buckets=buckets, tolerance=tolerance, carry=carry,
        floats=floats,
    )
    if key_types is not None:
        diff = grained.diff
        for row in (*diff.missing_in_target, *diff.extra_in_target, *diff.mismatched, *diff.duplicates):
            for k, logical in zip(keys, key_types, strict=True):
                row[k] = jsonable(canonical_value(row.get(k), logical))
    return grained


async def _compare_grouped(
    ctx: ValidationContext, build: Callable[[Side], exp.Expr], keys: Sequence[str], measures: Sequence[str], *,
    max_groups: int, buckets: int, tolerance: Tolerance | None, carry: Sequence[str], floats: Sequence[str],
) -> GrainedDiff:
    tolerance = tolerance or ctx.tolerance
    compare = {"floats": floats, "float_rule": ctx.normalize_options}
    inner = Sides(build("source"), build("target"))
    if not keys:  # one group: nothing to bound
        rows = await ctx.rows_both(lambda side: inner[side])
        diff = compare_groups(rows.source, rows.target, keys, measures, tolerance, carry, **compare)
        return GrainedDiff(diff, totals=Sides(_totals(rows.source, measures), _totals(rows.target, measures)))
    rows = await ctx.rows_both(lambda side: _ordered(inner[side], keys, max_groups + 1))
    if len(rows.source) <= max_groups and len(rows.target) <= max_groups:
        diff = compare_groups(rows.source, rows.target, keys, measures, tolerance, carry, **compare)
        return GrainedDiff(diff, totals=Sides(_totals(rows.source, measures), _totals(rows.target, measures)))
    del rows  # past the limit: compare per bucket instead of holding (and truncating) the groups
    return await _bucketed(
        ctx, inner, keys, measures, max_groups=max_groups, buckets=buckets, tolerance=tolerance, carry=carry,
        floats=floats,
    )


async def bucketed_queries(
    ctx: ValidationContext, inner: Sides[exp.Expr] | dict[Side, exp.Expr], keys: Sequence[str], buckets: int
) -> Sides[exp.Expr]:
    """Per side: SELECT g.*, key_hash AS omb_h, key_hash MOD buckets AS omb_b FROM (inner) g."""
    empty = Sides(*(
        exp.select(exp.Star()).from_(_sub(inner[side], "g")).where(exp.false()) for side in SIDES
    ))
    schemas = await asyncio.gather(*(ctx.query(side, empty[side]) for side in SIDES))
    fakesnow = await asyncio.gather(*(uses_fakesnow_hash(ctx.connector(side)) for side in SIDES))
    types: dict[Side, list[Any]] = {"source": [], "target": []}
    for k in keys:
        s_type, t_type = pair_types(*(logical_type_from_arrow(_field(schemas[i], k).type) for i in range(2)))
        types["source"].append(s_type)
        types["target"].append(t_type)
    out = []
    for i, side in enumerate(SIDES):
        dialect = ctx.dialect(side)
        text = row_text_expr([(q.col(k, "g"), t) for k, t in zip(keys, types[side], strict=True)], dialect)
        hashed = hash_text_expr(text, dialect, fakesnow=fakesnow[i])
        bucket = exp.Mod(this=exp.Paren(this=hashed.copy()), expression=q.lit(buckets))
        out.append(
            exp.select(exp.Column(this=exp.Star(), table=q.ident("g")), hashed.as_(HASH), bucket.as_(BUCKET))
            .from_(_sub(inner[side], "g"))
        )
    return Sides(out[0], out[1])


def _field(table: Any, name: str) -> Any:
    for f in table.schema:
        if f.name.lower() == name.lower():
            return f
    raise KeyError(name)


def _summary(ctx: ValidationContext, side: Side, bucketed: exp.Expr, measures: Sequence[str]) -> exp.Expr:
    """One line per bucket: groups, exact key-hash sum, per measure SUM and weighted SUM."""
    dialect = ctx.dialect(side)
    weight = exp.Paren(this=exp.Add(
        this=exp.Mod(this=q.col(HASH, "x"), expression=q.lit(WEIGHT_MODULUS)), expression=q.lit(1)
    ))
    projections: list[exp.Expr] = [
        q.col(BUCKET, "x").as_("b"), q.count_star().as_("groups"), hash_sum_expr(q.col(HASH, "x"), dialect).as_("key_sum"),
    ]
    for i, m in enumerate(measures):
        value = q.as_float(q.col(m, "x"))
        projections.append(exp.Sum(this=value).as_(f"m{i}"))
        projections.append(exp.Sum(this=exp.Mul(this=value.copy(), expression=weight.copy())).as_(f"w{i}"))
    return exp.select(*projections).from_(_sub(bucketed, "x")).group_by(q.col(BUCKET, "x"))


def _bucket_differs(
    s: dict[str, Any] | None, t: dict[str, Any] | None, measures: Sequence[str], tolerance: Tolerance,
    floats: Sequence[str], float_rule: NormalizeOptions,
) -> bool:
    if s is None or t is None:
        return True
    if int(s["groups"]) != int(t["groups"]) or int(s["key_sum"]) != int(t["key_sum"]):
        return True
    groups = max(int(s["groups"]), 1)
    scaled = Tolerance(absolute=tolerance.absolute * groups, percentage=tolerance.percentage)
    weighted = Tolerance(absolute=tolerance.absolute * groups * WEIGHT_MODULUS, percentage=tolerance.percentage)
    for i, m in enumerate(measures):
        rule = float_rule if m in floats else None
        if not values_match(s[f"m{i}"], t[f"m{i}"], scaled, rule) or not values_match(s[f"w{i}"], t[f"w{i}"], weighted, rule):
            return True
    return False


def _chunks(ids: Sequence[int], sizes: dict[int, int], max_groups: int) -> list[list[int]]:
    chunks: list[list[int]] = []
    current: list[int] = []
    total = 0
    for b in ids:
        if current and total + sizes[b] > max_groups:
            chunks.append(current)
            current, total = [], 0
        current.append(b)
        total += sizes[b]
    if current:
        chunks.append(current)
    return chunks


async def _bucketed(
    ctx: ValidationContext, inner: Sides[exp.Expr], keys: Sequence[str], measures: Sequence[str], *,
    max_groups: int, buckets: int, tolerance: Tolerance, carry: Sequence[str], floats: Sequence[str],
) -> GrainedDiff:
    bucketed = await bucketed_queries(ctx, inner, keys, buckets)
    lines = await ctx.rows_both(lambda side: _summary(ctx, side, bucketed[side], measures))
    by_bucket = Sides({int(r["b"]): r for r in lines.source}, {int(r["b"]): r for r in lines.target})
    totals = Sides(*({m: sum(float(normalize(r[f"m{i}"]) or 0) for r in lines[side])
                      for i, m in enumerate(measures)} for side in SIDES))
    s_groups = sum(int(r["groups"]) for r in lines.source)
    t_groups = sum(int(r["groups"]) for r in lines.target)
    ids = sorted(set(by_bucket.source) | set(by_bucket.target))
    rule = ctx.normalize_options
    differing = [b for b in ids if _bucket_differs(
        by_bucket.source.get(b), by_bucket.target.get(b), measures, tolerance, floats, rule)]
    sizes = {b: max(int((by_bucket.source.get(b) or {"groups": 0})["groups"]), int((by_bucket.target.get(b) or {"groups": 0})["groups"]))
             for b in differing}
    diff = GroupDiff(source_groups=s_groups, target_groups=t_groups)
    refined_groups = 0
    unrefined: list[int] = []
    for chunk in _chunks(differing, sizes, max_groups):
        size = sum(sizes[b] for b in chunk)
        if refined_groups + size > max_groups * MAX_REFINED_FACTOR or size > max_groups:
            unrefined.extend(chunk)
            continue
        refined_groups += size

        def refine(side: Side, chunk: list[int] = chunk) -> exp.Expr:
            where = exp.In(this=q.col(BUCKET, "r"), expressions=[q.lit(b) for b in chunk])
            return exp.select(exp.Star()).from_(_sub(bucketed[side], "r")).where(where)

        rows = await ctx.rows_both(refine)
        part = compare_groups(rows.source, rows.target, keys, measures, tolerance, carry, floats, rule)
        diff.missing_in_target += part.missing_in_target
        diff.extra_in_target += part.extra_in_target
        diff.mismatched += part.mismatched
        diff.duplicates += part.duplicates
    unrefined_groups = sum(sizes[b] for b in unrefined)
    diff.matched = max(min(s_groups, t_groups) - diff.differing - unrefined_groups, 0)
    grain = f"bucket:{buckets}"
    note = (
        f"more than {max_groups} groups: compared per {buckets} buckets of a hash of the group key; "
        f"{len(differing)} buckets differ"
    )
    if unrefined:
        note += f", {len(unrefined)} of them ({unrefined_groups} groups) too large to list group by group"
    else:
        note += ", every one refined to its groups"
    return GrainedDiff(
        diff, grain=grain, exact=not unrefined, note=note, totals=totals, buckets=buckets,
        differing_buckets=len(differing), unrefined_buckets=len(unrefined),
    )


__all__ = ["DEFAULT_BUCKETS", "GrainedDiff", "bucketed_queries", "compare_grouped", "to_rows"]
