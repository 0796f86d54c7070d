"""One `Dialect` class per database kind the type map knows."""

from __future__ import annotations

from ombudsman.engine.typemap.dialect import Dialect
from ombudsman.engine.typemap.dialects.duckdb import DuckDB
from ombudsman.engine.typemap.dialects.postgres import Postgres
from ombudsman.engine.typemap.dialects.snowflake import Snowflake
from ombudsman.engine.typemap.dialects.sqlserver import SqlServer

DIALECTS: dict[str, type[Dialect]] = {d.KIND: d for d in (SqlServer, Snowflake, Postgres, DuckDB)}
KINDS = tuple(DIALECTS)  # ("sqlserver", "snowflake", "postgres", "duckdb")

__all__ = ["DIALECTS", "KINDS", "Dialect", "DuckDB", "Postgres", "Snowflake", "SqlServer"]
