"""One `Dialect` class per database kind the type map knows: the four the engine connects to
(`KINDS`) and the targets of generated DDL it only reads and writes types for (`DDL_KINDS`)."""

from __future__ import annotations

from ombudsman.engine.typemap.dialect import Dialect
from ombudsman.engine.typemap.dialects.bigquery import BigQuery
from ombudsman.engine.typemap.dialects.databricks import Databricks
from ombudsman.engine.typemap.dialects.duckdb import DuckDB
from ombudsman.engine.typemap.dialects.postgres import Postgres
from ombudsman.engine.typemap.dialects.snowflake import Snowflake
from ombudsman.engine.typemap.dialects.sqlserver import SqlServer

DIALECTS: dict[str, type[Dialect]] = {d.KIND: d for d in (SqlServer, Snowflake, Postgres, DuckDB, BigQuery, Databricks)}
KINDS = ("sqlserver", "snowflake", "postgres", "duckdb")  # with a connector; the documented mapping table
DDL_KINDS = ("bigquery", "databricks")

__all__ = ["DDL_KINDS", "DIALECTS", "KINDS", "BigQuery", "Databricks", "Dialect", "DuckDB", "Postgres", "Snowflake",
           "SqlServer"]
