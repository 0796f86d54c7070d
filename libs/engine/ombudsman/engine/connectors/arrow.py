"""Turning driver rows (tuples of Python values) into Arrow tables, column by column.

A column's Arrow type comes from the driver's type when it is known; otherwise it is inferred from
the values, and a column Arrow cannot represent (e.g. NaN decimals, mixed types) becomes text.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from ombudsman.engine.normalize.types import FIXED_LENGTH_METADATA


def to_array(values: Sequence[Any], hint: pa.DataType | None = None) -> pa.Array:
    """An Arrow array of `values`, of type `hint` when it fits, else inferred, else text."""
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
            [pa.array([], type=f.type) for f in table.schema], schema=table.schema
        )
    )


def unify_batches(batches: Sequence[pa.RecordBatch]) -> pa.Table:
    """One table from batches whose inferred types may differ (e.g. a column all NULL in one batch)."""
    tables = [pa.Table.from_batches([b]) for b in batches]
    if not tables:
        raise ValueError("no batches")
    try:
        return pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowException, TypeError):
        as_text = [
            pa.Table.from_arrays(
                [
                    to_array([None if v is None else str(v) for v in c.to_pylist()], pa.string())
                    for c in t.columns
                ],
                names=t.column_names,
            )
            for t in tables
        ]
        return pa.concat_tables(as_text)
