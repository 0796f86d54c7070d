"""Turning driver rows (tuples of Python values) into Arrow tables, column by column.

A column's Arrow type comes from the driver's type when it is known; otherwise it is inferred from
the values, and a column Arrow cannot represent (e.g. NaN decimals, mixed types) becomes text.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from ombudsman.engine.normalize.types import FIXED_LENGTH_METADATA

# Python types an Arrow round trip gives back unchanged (bool before int: a bool is an int)
_PLAIN_TYPES = (bool, int, float, str, bytes, datetime.date)
_INT64 = (-(2**63), 2**63 - 1)


def to_array(values: Sequence[Any], hint: pa.DataType | None = None) -> pa.Array:
    """An Arrow array of `values`, of type `hint` when it fits, else inferred, else text."""
    if not values:  # pa.array would import pandas (pyarrow probes every sequence for a pandas type)
        return pa.nulls(0, type=hint or pa.null())
    if hint is not None:
        try:
            return pa.array(values, type=hint)
        except (pa.ArrowException, TypeError, ValueError, OverflowError):
            if pa.types.is_integer(hint):  # integers past the hinted width stay exact as decimals
                try:
                    return pa.array(values, type=pa.decimal128(38, 0))
                except (pa.ArrowException, TypeError, ValueError, OverflowError):
                    pass
    if any(isinstance(v, uuid.UUID) for v in values):
        return pa.array([None if v is None else str(v) for v in values], type=pa.string())
    try:
        return pa.array(values)
    except (pa.ArrowException, TypeError, ValueError, OverflowError):
        return pa.array([None if v is None else str(v) for v in values], type=pa.string())


def rows_to_table(
    names: Sequence[str], rows: Sequence[Sequence[Any]], hints: Sequence[pa.DataType | None] | None = None
) -> pa.Table:
    """An Arrow table from row tuples; `hints` gives an Arrow type (or None) per column."""
    hints = hints or [None] * len(names)
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in names]
    arrays = [to_array(list(values), hint) for values, hint in zip(columns, hints, strict=True)]
    return pa.Table.from_arrays(arrays, names=list(names))


def _plain_type(hint: pa.DataType | None) -> type | None:
    """The one Python type whose values an Arrow array of type `hint` gives back unchanged (None:
    no such type, e.g. timestamps, whose time zone objects differ)."""
    for check, kind in ((pa.types.is_string, str), (pa.types.is_binary, bytes), (pa.types.is_boolean, bool),
                        (pa.types.is_integer, int), (pa.types.is_floating, float), (pa.types.is_date32, datetime.date)):
        if check(hint):
            return kind
    return None


def plain_rows(rows: Sequence[Sequence[Any]], hints: Sequence[pa.DataType | None] | None = None) -> bool:
    """True when every column of `rows` holds only NULLs and values of one plain Python type (bool,
    int within BIGINT, float, str, bytes, date) that its Arrow type hint keeps as it is: then
    `rows_to_table` followed by `to_pylist` would give the same values back, and a caller wanting
    tuples can skip Arrow (whose conversion from Python objects imports pandas, ~45 MB, the first
    time it runs)."""
    if not rows:
        return True
    for index, column in enumerate(zip(*rows, strict=True)):
        hint = hints[index] if hints else None
        wanted = None if hint is None else _plain_type(hint)
        if hint is not None and wanted is None:
            return False
        kind: type | None = wanted
        for value in column:
            if value is None:
                continue
            if kind is None:
                kind = type(value)
                if kind not in _PLAIN_TYPES:
                    return False
            if type(value) is not kind:
                return False
            if kind is int and not _INT64[0] <= value <= _INT64[1]:
                return False
    return True


def rows_as_tuples(
    names: Sequence[str], rows: Sequence[Sequence[Any]], hints: Sequence[pa.DataType | None] | None = None
) -> list[tuple[Any, ...]]:
    """Driver rows as the tuples an Arrow round trip gives (`rows_to_table`, then each column's
    `to_pylist`): the rows themselves when they are plain (`plain_rows`), else through Arrow (UUIDs
    and mixed columns become text, decimals take one scale per column ...)."""
    if plain_rows(rows, hints):
        return [tuple(r) for r in rows]
    table = rows_to_table(names, rows, hints)
    columns = [table.column(i).to_pylist() for i in range(table.num_columns)]
    return list(zip(*columns, strict=True)) if columns else []


def mark_fixed_length(table: pa.Table, flags: Sequence[bool]) -> pa.Table:
    """`table` with the columns flagged as CHAR(n) marked in their field metadata (`FIXED_LENGTH_METADATA`), so
    that a comparison of query results trims their padding as row_hash does for CHAR columns."""
    if not any(flags):
        return table
    fields = [f.with_metadata({FIXED_LENGTH_METADATA: b"1"}) if flag else f for f, flag in zip(table.schema, flags, strict=True)]
    return pa.Table.from_arrays(table.columns, schema=pa.schema(fields))


def rows_to_batch(
    names: Sequence[str], rows: Sequence[Sequence[Any]], hints: Sequence[pa.DataType | None] | None = None
) -> pa.RecordBatch:
    """One Arrow record batch from row tuples (see `rows_to_table`)."""
    table = rows_to_table(names, rows, hints)
    batches = table.combine_chunks().to_batches()
    return (
        batches[0]
        if batches
        else pa.RecordBatch.from_arrays(
            [pa.nulls(0, type=f.type) for f in table.schema], schema=table.schema
        )
    )


