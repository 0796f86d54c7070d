"""Normalisation: one canonical text per value and a 60-bit row hash, identical in every dialect.

`canonical_expr` / `row_hash_expr` build the SQL (sqlglot); `reference` computes the same in Python
(tests, and the documentation of what the SQL must produce); `types` maps database types to logical
types and decides how a column pair of different types is rendered.
"""

from ombudsman.engine.normalize.reference import (
    canonical_text,
    canonical_value,
    floats_equal,
    row_hash,
    row_text,
)
from ombudsman.engine.normalize.sql import (
    DIALECTS,
    NULL_MARKER,
    SEPARATOR,
    NormalizeOptions,
    canonical_expr,
    hash_sum_expr,
    hash_text_expr,
    row_hash_expr,
    row_text_expr,
)
from ombudsman.engine.normalize.types import (
    LogicalType,
    logical_type,
    logical_type_from_arrow,
    logical_type_of_field,
    pair_types,
)

__all__ = [
    "DIALECTS",
    "NULL_MARKER",
    "SEPARATOR",
    "LogicalType",
    "NormalizeOptions",
    "canonical_expr",
    "canonical_text",
    "canonical_value",
    "floats_equal",
    "hash_sum_expr",
    "hash_text_expr",
    "logical_type",
    "logical_type_from_arrow",
    "logical_type_of_field",
    "pair_types",
    "row_hash",
    "row_hash_expr",
    "row_text",
    "row_text_expr",
]
