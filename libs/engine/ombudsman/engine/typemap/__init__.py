"""Type mapping between SQL Server, Snowflake, PostgreSQL and DuckDB, with how faithful it is.

Every column type is read into a `Logical` type (family + the facts that bound its values) by its
database's `Dialect` class (one per kind, in `dialects/`: tables of type name -> logical type and
family -> proposed type, in sqlglot's style), then
  - `map_type(source_kind, column, target_kind)` proposes the target type for a source column, and
  - `compatible(source_col, source_kind, target_col, target_kind)` judges an existing pair,
both answering `TypeMapping(target_type, fidelity, note)` in the platform's one compatibility
vocabulary (`fidelity.py`: lossless / lossy / incompatible).
The documented table (engine README) is `mapping_table_markdown()`; a test keeps the two equal.
"""

from __future__ import annotations

from ombudsman.engine.typemap.api import (
    _target_column,
    compatible,
    describe,
    dialect,
    judge,
    map_type,
    parse,
    render,
)
from ombudsman.engine.typemap.assess import assess
from ombudsman.engine.typemap.dialect import Dialect
from ombudsman.engine.typemap.dialects import DDL_KINDS, DIALECTS, KINDS
from ombudsman.engine.typemap.dialects.snowflake import SNOWFLAKE_BINARY_MAX, SNOWFLAKE_VARCHAR_MAX
from ombudsman.engine.typemap.fidelity import (
    FIDELITY_RANK,
    Fidelity,
    LossReason,
    TypeMapping,
    loss_reason,
    worst,
)
from ombudsman.engine.typemap.logical import UNBOUNDED_NUMERIC, Logical
from ombudsman.engine.typemap.table import SQLSERVER_EXAMPLES, mapping_table_markdown

__all__ = [
    "DDL_KINDS",
    "DIALECTS",
    "FIDELITY_RANK",
    "KINDS",
    "SNOWFLAKE_BINARY_MAX",
    "SNOWFLAKE_VARCHAR_MAX",
    "SQLSERVER_EXAMPLES",
    "UNBOUNDED_NUMERIC",
    "Dialect",
    "Fidelity",
    "Logical",
    "LossReason",
    "TypeMapping",
    "_target_column",
    "assess",
    "compatible",
    "describe",
    "dialect",
    "judge",
    "loss_reason",
    "map_type",
    "mapping_table_markdown",
    "parse",
    "render",
    "worst",
]
