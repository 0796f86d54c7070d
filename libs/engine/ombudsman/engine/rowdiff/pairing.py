"""Keyless tables: pair rows found on one side only with rows found on the other side only that
agree on all but a few columns, so that a changed value is reported as a changed row naming its
column rather than as one row "only in source" and another "only in target".

Blocking keeps it bounded: with at most `k` differing columns allowed, the columns are dealt into
`k + 1` groups, and two rows that differ in at most `k` columns agree on every column of at least one
group (pigeonhole). Target rows are indexed by (group, values of that group); a source row looks only
at the rows sharing one of its group values, at most `candidates` per group.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass
class OneSided:
    """A distinct row present on one side only: its hash, canonical texts, raw float values and the
    number of copies not yet matched (`copies`) of `total` copies in excess on its side."""

    row_hash: int
    texts: tuple[Any, ...]
    raws: tuple[Any, ...]
    copies: int
    source_count: int
    target_count: int


Same = Callable[[int, OneSided, OneSided], bool]


def pair_rows(
    source: Sequence[OneSided], target: Sequence[OneSided], *, max_diff: int, same: Same, candidates: int = 64
) -> list[tuple[OneSided, OneSided, list[int]]]:
    """Greedy pairs (source row, target row, differing column indexes) with at most `max_diff`
    differing columns, fewest first per source row; `same(i, a, b)` judges column i (tolerances).
    Pairs with no differing column are rows equal within tolerance. Decrements `copies` of both."""
    if not source or not target:
        return []
    width = len(source[0].texts)
    max_diff = min(max_diff, width - 1) if width > 1 else 0
    groups = [list(range(g, width, max_diff + 1)) for g in range(max_diff + 1)]
    index: dict[tuple[int, tuple[Any, ...]], list[OneSided]] = defaultdict(list)
    for row in target:
        for g, columns in enumerate(groups):
            index[(g, tuple(row.texts[i] for i in columns))].append(row)
    pairs: list[tuple[OneSided, OneSided, list[int]]] = []
    for row in source:
        while row.copies > 0:
            best: tuple[OneSided, list[int]] | None = None
            seen: set[int] = set()
            for g, columns in enumerate(groups):
                looked = 0
                for other in index.get((g, tuple(row.texts[i] for i in columns)), []):
                    if other.copies <= 0 or id(other) in seen:
                        continue
                    if looked >= candidates:
                        break
                    looked += 1
                    seen.add(id(other))
                    differing = [i for i in range(width) if row.texts[i] != other.texts[i] and not same(i, row, other)]
                    if len(differing) <= max_diff and (best is None or len(differing) < len(best[1])):
                        best = (other, differing)
                if best is not None and not best[1]:
                    break
            if best is None:
                break
            other, differing = best
            row.copies -= 1
            other.copies -= 1
            pairs.append((row, other, differing))
    return pairs
