"""Catalog introspection per database, as queries run through the connector itself.

Each dialect has its own queries but returns the same row shapes, assembled by one function:

- tables:  (schema, table, kind 'table'|'view', approximate row count or None)
- columns: (schema, table, column, ordinal, data type, length, precision, scale, nullable, default)
- keys:    (schema, table, constraint name, 'p' primary | 'u' unique, column, position)
- foreign: (schema, table, constraint name, column, ref schema, ref table, ref column, position)

Column facts are made comparable across databases: `data_type` is the database's own type name in
lower case without its arguments; `precision`/`scale` are kept for exact decimals, `precision` is the
fractional-second digits of time types and the mantissa bits (24 / 53) of floating types; `length` is
the declared character / binary length (-1: max). Integer types carry no precision.

SQL Server's queries are held here as T-SQL text (parsed back by sqlglot's tsql dialect in tests).
Snowflake keys come from SHOW PRIMARY / UNIQUE / IMPORTED KEYS; fakesnow 0.12 answers SHOW UNIQUE
KEYS with nothing and SHOW IMPORTED KEYS with wrong rows, so against fakesnow (only) unique and
foreign keys are read from the DuckDB underneath it (`duckdb_constraints()`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from ombudsman.contracts.catalog import Catalog, ColumnInfo, ForeignKey, TableInfo
from ombudsman.engine.connectors.base import Connector

TableRow = tuple[str, str, str, int | None]
ColumnRow = tuple[str, str, str, int, str, int | None, int | None, int | None, bool, str | None]
KeyRow = tuple[str, str, str, str, str, int]
ForeignRow = tuple[str, str, str, str, str, str, str, int]

FLOAT_BITS = {"real": 24, "float4": 24, "float": 53, "float8": 53, "double": 53, "double precision": 53}
TEMPORAL = ("time", "timestamp", "datetime", "datetime2", "datetimeoffset", "timestamptz", "timetz")
DECIMALS = ("numeric", "decimal", "number", "money", "smallmoney")


def _in_list(values: Sequence[str]) -> str:
    return "(" + ", ".join("?" for _ in values) + ")"


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def _yes(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().upper() in ("YES", "Y", "TRUE", "1")
    return bool(value)


def column_facts(
    data_type: str,
    length: Any,
    precision: Any,
    scale: Any,
    datetime_precision: Any = None,
) -> tuple[str, int | None, int | None, int | None]:
    """(type name, length, precision, scale) normalised as the module docstring says."""
    name = re.sub(r"\(.*\)$", "", data_type.strip().lower()).strip()
    args = re.findall(r"\d+", data_type[data_type.find("(") :]) if "(" in data_type else []
    if name in DECIMALS:
        p = _int(precision) if precision is not None else (int(args[0]) if args else None)
        s = _int(scale) if scale is not None else (int(args[1]) if len(args) > 1 else 0 if args else None)
        return name, None, p, s
    if name in FLOAT_BITS:
        bits = _int(precision) if name == "float" and precision is not None else FLOAT_BITS[name]
        return name, None, bits, None
    if name.startswith(TEMPORAL) and name != "date":
        digits = _int(datetime_precision)
        if digits is None and args:
            digits = int(args[0])
        return name, None, digits, None
    length_value = _int(length)
    if length_value is None and args and name not in ("int", "integer", "bigint", "smallint", "tinyint"):
        length_value = int(args[0])
    return name, length_value, None, None


def assemble(
    kind: str,
    database: str | None,
    server_version: str | None,
    schemas: Iterable[str],
    tables: Iterable[TableRow],
    columns: Iterable[ColumnRow],
    keys: Iterable[KeyRow] = (),
    foreign: Iterable[ForeignRow] = (),
) -> Catalog:
    """A Catalog from the normalised rows (see the module docstring)."""
    by_name: dict[tuple[str, str], TableInfo] = {}
    for schema, name, table_kind, row_count in tables:
        by_name[(schema, name)] = TableInfo(
            schema_name=schema,
            name=name,
            kind="view" if table_kind == "view" else "table",
            row_count=None if row_count is None or row_count < 0 else int(row_count),
        )
    for schema, table, column, ordinal, data_type, length, precision, scale, nullable, default in columns:
        info = by_name.get((schema, table))
        if info is not None:
            info.columns.append(
                ColumnInfo(
                    name=column,
                    data_type=data_type,
                    ordinal=ordinal,
                    nullable=nullable,
                    length=length,
                    precision=precision,
                    scale=scale,
                    default=default,
                )
            )
    constraints: dict[tuple[str, str, str, str], list[tuple[int, str]]] = {}
    for schema, table, name, key_type, column, position in keys:
        constraints.setdefault((schema, table, name, key_type), []).append((position, column))
    for (schema, table, _name, key_type), members in sorted(constraints.items()):
        info = by_name.get((schema, table))
        if info is None:
            continue
        # stable on ties: fakesnow numbers every key column 1, in the right order
        ordered = [column for _, column in sorted(members, key=lambda m: m[0])]
        if key_type == "p":
            info.primary_key = ordered
        elif ordered not in info.unique_constraints:
            info.unique_constraints.append(ordered)
    links: dict[tuple[str, str, str], list[tuple[int, str, str, str, str]]] = {}
    for schema, table, name, column, ref_schema, ref_table, ref_column, position in foreign:
        links.setdefault((schema, table, name), []).append(
            (position, column, ref_schema, ref_table, ref_column)
        )
    for (schema, table, name), parts in sorted(links.items()):
        info = by_name.get((schema, table))
        if info is None:
            continue
        parts.sort(key=lambda m: m[0])
        info.foreign_keys.append(
            ForeignKey(
                name=name,
                columns=[m[1] for m in parts],
                ref_schema=parts[0][2],
                ref_table=parts[0][3],
                ref_columns=[m[4] for m in parts],
            )
        )
    for info in by_name.values():
        info.columns.sort(key=lambda c: c.ordinal)
    ordered_tables = sorted(by_name.values(), key=lambda t: (t.schema_name, t.name))
    return Catalog(
        kind=kind,
        database=database,
        server_version=server_version,
        schemas=sorted(set(schemas)),
        tables=ordered_tables,
    )


# --- PostgreSQL -------------------------------------------------------------------------------

PG_SYSTEM_SCHEMA = "nspname NOT IN ('pg_catalog', 'information_schema') AND nspname NOT LIKE 'pg\\_%'"
PG_TYPE_NAMES = {
    "character varying": "varchar",
    "character": "char",
    "timestamp without time zone": "timestamp",
    "timestamp with time zone": "timestamptz",
    "time without time zone": "time",
    "time with time zone": "timetz",
    "bit varying": "varbit",
}


def postgres_queries(schemas: Sequence[str]) -> dict[str, str]:
    """PostgreSQL's introspection queries for the given schemas (qmark parameters: the schemas)."""
    within = _in_list(schemas)
    return {
        "about": "SELECT current_database(), current_setting('server_version')",
        "schemas": f"SELECT nspname FROM pg_catalog.pg_namespace WHERE {PG_SYSTEM_SCHEMA} ORDER BY nspname",
        "tables": f"""
            SELECT n.nspname, c.relname, CASE WHEN c.relkind IN ('v', 'm') THEN 'view' ELSE 'table' END,
                   CASE WHEN c.relkind IN ('v', 'm') THEN NULL
                        WHEN c.reltuples >= 0 THEN CAST(c.reltuples AS bigint)
                        ELSE s.n_live_tup END
            FROM pg_catalog.pg_class c
            JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
            LEFT JOIN pg_catalog.pg_stat_user_tables s ON s.relid = c.oid
            WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND n.nspname IN {within}""",
        "columns": f"""
            SELECT table_schema, table_name, column_name, ordinal_position, data_type, udt_name,
                   character_maximum_length, numeric_precision, numeric_scale, datetime_precision,
                   is_nullable, column_default
            FROM information_schema.columns WHERE table_schema IN {within}""",
        "keys": f"""
            SELECT n.nspname, t.relname, c.conname, c.contype, a.attname, CAST(k.ord AS integer)
            FROM pg_catalog.pg_constraint c
            JOIN pg_catalog.pg_class t ON t.oid = c.conrelid
            JOIN pg_catalog.pg_namespace n ON n.oid = t.relnamespace
            CROSS JOIN LATERAL unnest(c.conkey) WITH ORDINALITY AS k(attnum, ord)
            JOIN pg_catalog.pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum
            WHERE c.contype IN ('p', 'u') AND n.nspname IN {within}
            UNION ALL
            SELECT n.nspname, t.relname, i.relname, 'u', a.attname, CAST(k.ord AS integer)
            FROM pg_catalog.pg_index x
            JOIN pg_catalog.pg_class i ON i.oid = x.indexrelid
            JOIN pg_catalog.pg_class t ON t.oid = x.indrelid
            JOIN pg_catalog.pg_namespace n ON n.oid = t.relnamespace
            CROSS JOIN LATERAL unnest(CAST(x.indkey AS int2[])) WITH ORDINALITY AS k(attnum, ord)
            JOIN pg_catalog.pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
            WHERE x.indisunique AND NOT x.indisprimary AND x.indpred IS NULL AND x.indexprs IS NULL
              AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint c WHERE c.conindid = x.indexrelid)
              AND n.nspname IN {within}""",
        "foreign": f"""
            SELECT n.nspname, t.relname, c.conname, a.attname, rn.nspname, rt.relname, ra.attname,
                   CAST(k.ord AS integer)
            FROM pg_catalog.pg_constraint c
            JOIN pg_catalog.pg_class t ON t.oid = c.conrelid
            JOIN pg_catalog.pg_namespace n ON n.oid = t.relnamespace
            JOIN pg_catalog.pg_class rt ON rt.oid = c.confrelid
            JOIN pg_catalog.pg_namespace rn ON rn.oid = rt.relnamespace
            CROSS JOIN LATERAL unnest(c.conkey) WITH ORDINALITY AS k(attnum, ord)
            JOIN pg_catalog.pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum
            JOIN pg_catalog.pg_attribute ra ON ra.attrelid = c.confrelid AND ra.attnum = c.confkey[k.ord]
            WHERE c.contype = 'f' AND n.nspname IN {within}""",
    }


async def introspect_postgres(db: Connector, schemas: Sequence[str] | None = None) -> Catalog:
    """PostgreSQL's catalog (pg_catalog + information_schema; row counts from reltuples)."""
    about = (await db.fetch_rows(postgres_queries(["x"])["about"]))[0]
    all_schemas = [r[0] for r in await db.fetch_rows(postgres_queries(["x"])["schemas"])]
    wanted = list(schemas) if schemas else all_schemas
    if not wanted:
        return assemble("postgres", about[0], f"PostgreSQL {about[1]}", [], [], [])
    queries = postgres_queries(wanted)
    tables = [(r[0], r[1], r[2], _int(r[3])) for r in await db.fetch_rows(queries["tables"], wanted)]
    columns: list[ColumnRow] = []
    for (
        schema,
        table,
        column,
        ordinal,
        data_type,
        udt,
        length,
        precision,
        scale,
        dt_precision,
        nullable,
        default,
    ) in await db.fetch_rows(queries["columns"], wanted):
        spelled = PG_TYPE_NAMES.get(data_type, udt if data_type in ("USER-DEFINED", "ARRAY") else data_type)
        name, length, precision, scale = column_facts(spelled, length, precision, scale, dt_precision)
        columns.append(
            (schema, table, column, int(ordinal), name, length, precision, scale, _yes(nullable), default)
        )
    keys = [
        (r[0], r[1], r[2], str(r[3]), r[4], int(r[5]))
        for r in await db.fetch_rows(queries["keys"], wanted * 2)
    ]
    foreign = [
        (r[0], r[1], r[2], r[3], r[4], r[5], r[6], int(r[7]))
        for r in await db.fetch_rows(queries["foreign"], wanted)
    ]
    return assemble("postgres", about[0], f"PostgreSQL {about[1]}", wanted, tables, columns, keys, foreign)  # type: ignore[arg-type]


# --- DuckDB -----------------------------------------------------------------------------------

DUCKDB_TIME_DIGITS = {
    "timestamp": 6,
    "timestamp with time zone": 6,
    "timestamptz": 6,
    "timestamp_ns": 9,
    "timestamp_ms": 3,
    "timestamp_s": 0,
    "time": 6,
    "time with time zone": 6,
}


def duckdb_queries(schemas: Sequence[str]) -> dict[str, str]:
    within = _in_list(schemas)
    here = "database_name = current_database()"
    return {
        "about": "SELECT current_database(), version()",
        "schemas": f"SELECT schema_name FROM duckdb_schemas() WHERE {here} "
        "AND schema_name NOT IN ('information_schema', 'pg_catalog') ORDER BY schema_name",
        "tables": f"""
            SELECT schema_name, table_name, 'table', estimated_size FROM duckdb_tables()
            WHERE {here} AND schema_name IN {within}
            UNION ALL
            SELECT schema_name, view_name, 'view', NULL FROM duckdb_views()
            WHERE {here} AND NOT internal AND schema_name IN {within}""",
        "columns": f"""
            SELECT schema_name, table_name, column_name, column_index, data_type,
                   character_maximum_length, numeric_precision, numeric_scale, is_nullable, column_default
            FROM duckdb_columns() WHERE {here} AND schema_name IN {within}""",
        "constraints": f"""
            SELECT schema_name, table_name, constraint_name, constraint_type, constraint_column_names,
                   referenced_table, referenced_column_names
            FROM duckdb_constraints()
            WHERE {here} AND constraint_type IN ('PRIMARY KEY', 'UNIQUE', 'FOREIGN KEY')
              AND schema_name IN {within}""",
    }


async def introspect_duckdb(db: Connector, schemas: Sequence[str] | None = None) -> Catalog:
    """DuckDB's catalog (duckdb_tables/columns/constraints; row counts are DuckDB's estimates)."""
    base = duckdb_queries(["x"])
    database, version = (await db.fetch_rows(base["about"]))[0]
    wanted = list(schemas) if schemas else [r[0] for r in await db.fetch_rows(base["schemas"])]
    queries = duckdb_queries(wanted or ["-"])
    tables = [
        (r[0], r[1], r[2], _int(r[3]))
        for r in await db.fetch_rows(queries["tables"], wanted * 2 or ["-"] * 2)
    ]
    columns: list[ColumnRow] = []
    for (
        schema,
        table,
        column,
        index,
        data_type,
        length,
        precision,
        scale,
        nullable,
        default,
    ) in await db.fetch_rows(queries["columns"], wanted or ["-"]):
        lowered = str(data_type).lower()
        digits = DUCKDB_TIME_DIGITS.get(lowered)
        name, length, precision, scale = column_facts(lowered, length, precision, scale, digits)
        columns.append(
            (schema, table, column, int(index), name, length, precision, scale, bool(nullable), default)
        )
    keys: list[KeyRow] = []
    foreign: list[ForeignRow] = []
    for schema, table, name, kind, cols, ref_table, ref_cols in await db.fetch_rows(
        queries["constraints"], wanted or ["-"]
    ):
        if kind == "FOREIGN KEY":
            for i, (col, ref_col) in enumerate(zip(cols, ref_cols, strict=True), start=1):
                foreign.append((schema, table, name, col, schema, ref_table, ref_col, i))
        else:
            for i, col in enumerate(cols, start=1):
                keys.append((schema, table, name, "p" if kind == "PRIMARY KEY" else "u", col, i))
    return assemble("duckdb", database, f"DuckDB {version}", wanted, tables, columns, keys, foreign)


# --- Snowflake --------------------------------------------------------------------------------


def snowflake_queries(database: str, schemas: Sequence[str]) -> dict[str, str]:
    from ombudsman.engine.dialects import quote_ident

    db = quote_ident(database, "snowflake")
    within = _in_list(schemas)
    return {
        "schemas": f"SELECT SCHEMA_NAME FROM {db}.INFORMATION_SCHEMA.SCHEMATA "
        "WHERE SCHEMA_NAME <> 'INFORMATION_SCHEMA' ORDER BY SCHEMA_NAME",
        # SELECT *: the columns present differ between Snowflake and fakesnow (DATETIME_PRECISION)
        "tables": f"SELECT * FROM {db}.INFORMATION_SCHEMA.TABLES WHERE TABLE_SCHEMA IN {within}",
        "columns": f"SELECT * FROM {db}.INFORMATION_SCHEMA.COLUMNS WHERE TABLE_SCHEMA IN {within}",
        # Snowflake lists views in TABLES too; fakesnow only in VIEWS
        "views": f"SELECT TABLE_SCHEMA, TABLE_NAME FROM {db}.INFORMATION_SCHEMA.VIEWS WHERE TABLE_SCHEMA IN {within}",
        "fakesnow_constraints": f"""
            SELECT schema_name, table_name, constraint_name, constraint_type,
                   array_to_string(constraint_column_names, chr(31)) AS cols, referenced_table,
                   array_to_string(referenced_column_names, chr(31)) AS ref_cols
            FROM duckdb_constraints()
            WHERE database_name = ? AND constraint_type IN ('UNIQUE', 'FOREIGN KEY')
              AND schema_name IN {within}""",
    }


def _rows_as_dicts(table: Any) -> list[dict[str, Any]]:
    return [{k.upper(): v for k, v in row.items()} for row in table.to_pylist()]


async def introspect_snowflake(db: Any, schemas: Sequence[str] | None = None) -> Catalog:
    """Snowflake's catalog (INFORMATION_SCHEMA; keys from SHOW PRIMARY / UNIQUE / IMPORTED KEYS)."""
    from ombudsman.engine.dialects import quote_ident

    database = getattr(db, "database", None) or (await db.fetch_rows("SELECT CURRENT_DATABASE()"))[0][0]
    version = await db.server_version()
    base = snowflake_queries(database, ["x"])
    wanted = list(schemas) if schemas else [r[0] for r in await db.fetch_rows(base["schemas"])]
    if not wanted:
        return assemble("snowflake", database, version, [], [], [])
    queries = snowflake_queries(database, wanted)
    tables: list[TableRow] = []
    for row in _rows_as_dicts(await db.fetch(queries["tables"], wanted)):
        kind = "view" if "VIEW" in str(row.get("TABLE_TYPE", "")).upper() else "table"
        tables.append((row["TABLE_SCHEMA"], row["TABLE_NAME"], kind, _int(row.get("ROW_COUNT"))))
    listed = {(t[0], t[1]) for t in tables}
    for schema, view in await db.fetch_rows(queries["views"], wanted):
        if (schema, view) not in listed:
            tables.append((schema, view, "view", None))
    columns: list[ColumnRow] = []
    for row in _rows_as_dicts(await db.fetch(queries["columns"], wanted)):
        name, length, precision, scale = column_facts(
            str(row["DATA_TYPE"]),
            row.get("CHARACTER_MAXIMUM_LENGTH"),
            row.get("NUMERIC_PRECISION"),
            row.get("NUMERIC_SCALE"),
            row.get("DATETIME_PRECISION"),
        )
        columns.append(
            (
                row["TABLE_SCHEMA"],
                row["TABLE_NAME"],
                row["COLUMN_NAME"],
                int(row["ORDINAL_POSITION"]),
                name,
                length,
                precision,
                scale,
                _yes(row.get("IS_NULLABLE")),
                row.get("COLUMN_DEFAULT"),
            )
        )
    keys: list[KeyRow] = []
    foreign: list[ForeignRow] = []
    for schema in wanted:
        where = f"{quote_ident(database, 'snowflake')}.{quote_ident(schema, 'snowflake')}"
        for key_type, show in (("p", "PRIMARY"), ("u", "UNIQUE")):
            for row in _rows_as_dicts(await db.fetch(f"SHOW {show} KEYS IN SCHEMA {where}")):
                keys.append(
                    (
                        row["SCHEMA_NAME"],
                        row["TABLE_NAME"],
                        row["CONSTRAINT_NAME"],
                        key_type,
                        row["COLUMN_NAME"],
                        int(row["KEY_SEQUENCE"]),
                    )
                )
        for row in _rows_as_dicts(await db.fetch(f"SHOW IMPORTED KEYS IN SCHEMA {where}")):
            if not row.get("PK_TABLE_NAME"):  # fakesnow lists primary keys here, with no referenced table
                continue
            foreign.append(
                (
                    row["FK_SCHEMA_NAME"],
                    row["FK_TABLE_NAME"],
                    row["FK_NAME"],
                    row["FK_COLUMN_NAME"],
                    row["PK_SCHEMA_NAME"],
                    row["PK_TABLE_NAME"],
                    row["PK_COLUMN_NAME"],
                    int(row["KEY_SEQUENCE"]),
                )
            )
    if getattr(db, "is_fakesnow", False):
        for schema, table, name, kind, cols, ref_table, ref_cols in await db.fetch_rows(
            queries["fakesnow_constraints"], [database, *wanted]
        ):
            members = str(cols).split("\x1f")
            if kind == "UNIQUE":
                keys.extend((schema, table, name, "u", col, i) for i, col in enumerate(members, start=1))
            else:
                refs = str(ref_cols).split("\x1f")
                foreign.extend(
                    (schema, table, name, col, schema, ref_table, ref, i)
                    for i, (col, ref) in enumerate(zip(members, refs, strict=True), start=1)
                )
    return assemble("snowflake", database, version, wanted, tables, columns, keys, foreign)


# --- SQL Server -------------------------------------------------------------------------------


def sqlserver_queries(schemas: Sequence[str]) -> dict[str, str]:
    """SQL Server's introspection queries (T-SQL, qmark parameters: the schemas)."""
    within = _in_list(schemas)
    return {
        "about": "SELECT DB_NAME(), CAST(SERVERPROPERTY('ProductVersion') AS NVARCHAR(128))",
        "schemas": """
            SELECT s.name FROM sys.schemas AS s
            WHERE s.name NOT IN ('sys', 'INFORMATION_SCHEMA', 'guest') AND s.principal_id < 16384
            ORDER BY s.name""",
        "tables": f"""
            SELECT t.TABLE_SCHEMA, t.TABLE_NAME, CASE WHEN t.TABLE_TYPE = 'VIEW' THEN 'view' ELSE 'table' END,
                   (SELECT SUM(p.rows) FROM sys.partitions AS p
                    WHERE p.object_id = OBJECT_ID(QUOTENAME(t.TABLE_SCHEMA) + '.' + QUOTENAME(t.TABLE_NAME))
                      AND p.index_id IN (0, 1))
            FROM INFORMATION_SCHEMA.TABLES AS t WHERE t.TABLE_SCHEMA IN {within}""",
        "columns": f"""
            SELECT c.TABLE_SCHEMA, c.TABLE_NAME, c.COLUMN_NAME, c.ORDINAL_POSITION, c.DATA_TYPE,
                   c.CHARACTER_MAXIMUM_LENGTH, c.NUMERIC_PRECISION, c.NUMERIC_SCALE, c.DATETIME_PRECISION,
                   c.IS_NULLABLE, c.COLUMN_DEFAULT
            FROM INFORMATION_SCHEMA.COLUMNS AS c WHERE c.TABLE_SCHEMA IN {within}""",
        "keys": f"""
            SELECT s.name, t.name, kc.name, CASE WHEN kc.type = 'PK' THEN 'p' ELSE 'u' END, c.name,
                   ic.key_ordinal
            FROM sys.key_constraints AS kc
            JOIN sys.tables AS t ON t.object_id = kc.parent_object_id
            JOIN sys.schemas AS s ON s.schema_id = t.schema_id
            JOIN sys.index_columns AS ic ON ic.object_id = kc.parent_object_id AND ic.index_id = kc.unique_index_id
            JOIN sys.columns AS c ON c.object_id = ic.object_id AND c.column_id = ic.column_id
            WHERE s.name IN {within}""",
        "foreign": f"""
            SELECT fs.name, ft.name, fk.name, fc.name, rs.name, rt.name, rc.name, fkc.constraint_column_id
            FROM sys.foreign_keys AS fk
            JOIN sys.foreign_key_columns AS fkc ON fkc.constraint_object_id = fk.object_id
            JOIN sys.tables AS ft ON ft.object_id = fk.parent_object_id
            JOIN sys.schemas AS fs ON fs.schema_id = ft.schema_id
            JOIN sys.columns AS fc ON fc.object_id = fkc.parent_object_id AND fc.column_id = fkc.parent_column_id
            JOIN sys.tables AS rt ON rt.object_id = fk.referenced_object_id
            JOIN sys.schemas AS rs ON rs.schema_id = rt.schema_id
            JOIN sys.columns AS rc ON rc.object_id = fkc.referenced_object_id AND rc.column_id = fkc.referenced_column_id
            WHERE fs.name IN {within}""",
    }


async def introspect_sqlserver(db: Connector, schemas: Sequence[str] | None = None) -> Catalog:
    """SQL Server's catalog (INFORMATION_SCHEMA + sys.key_constraints / sys.foreign_keys; row counts
    from sys.partitions)."""
    base = sqlserver_queries(["x"])
    database, version = (await db.fetch_rows(base["about"]))[0]
    wanted = list(schemas) if schemas else [r[0] for r in await db.fetch_rows(base["schemas"])]
    if not wanted:
        return assemble("sqlserver", database, f"SQL Server {version}", [], [], [])
    queries = sqlserver_queries(wanted)
    tables = [(r[0], r[1], r[2], _int(r[3])) for r in await db.fetch_rows(queries["tables"], wanted)]
    columns: list[ColumnRow] = []
    for (
        schema,
        table,
        column,
        ordinal,
        data_type,
        length,
        precision,
        scale,
        dt_precision,
        nullable,
        default,
    ) in await db.fetch_rows(queries["columns"], wanted):
        name, length, precision, scale = column_facts(str(data_type), length, precision, scale, dt_precision)
        if name in ("int", "bigint", "smallint", "tinyint", "bit"):
            precision, scale = None, None
        columns.append(
            (schema, table, column, int(ordinal), name, length, precision, scale, _yes(nullable), default)
        )
    keys = [(r[0], r[1], r[2], r[3], r[4], int(r[5])) for r in await db.fetch_rows(queries["keys"], wanted)]
    foreign = [
        (r[0], r[1], r[2], r[3], r[4], r[5], r[6], int(r[7]))
        for r in await db.fetch_rows(queries["foreign"], wanted)
    ]
    return assemble("sqlserver", database, f"SQL Server {version}", wanted, tables, columns, keys, foreign)  # type: ignore[arg-type]


async def introspect_for_dialect(db: Connector, schemas: Sequence[str] | None = None) -> Catalog:
    """Introspection chosen by the connector's SQL dialect (for generic ODBC connectors)."""
    by_dialect = {
        "postgres": introspect_postgres,
        "duckdb": introspect_duckdb,
        "snowflake": introspect_snowflake,
        "tsql": introspect_sqlserver,
    }
    if db.dialect not in by_dialect:
        from ombudsman.contracts.replies import Invalid

        raise Invalid(f"no catalog introspection for dialect {db.dialect!r}", {"dialect": db.dialect})
    catalog = await by_dialect[db.dialect](db, schemas)
    return catalog.model_copy(update={"kind": db.kind}) if db.kind != "odbc" else catalog
