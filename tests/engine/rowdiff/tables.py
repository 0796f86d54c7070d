"""A test table with one column of each type, loaded alike into any dialect, and the changes the row
diff tests inject into the target copy (with the differences they must produce)."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from ombudsman.engine.connectors import Connector
from tests.engine.normalize.sqlvalues import literal

TZ = dt.timezone(dt.timedelta(hours=2))
COLUMNS: dict[str, dict[str, str]] = {  # column -> dialect -> type
    "id": {"postgres": "INTEGER", "duckdb": "INTEGER", "snowflake": "NUMBER(38,0)"},
    "sku": {"postgres": "VARCHAR(20)", "duckdb": "VARCHAR(20)", "snowflake": "VARCHAR(20)"},
    "uid": {"postgres": "UUID", "duckdb": "UUID", "snowflake": "VARCHAR(36)"},
    "amount": {"postgres": "NUMERIC(12,2)", "duckdb": "DECIMAL(12,2)", "snowflake": "NUMBER(12,2)"},
    "ratio": {"postgres": "DOUBLE PRECISION", "duckdb": "DOUBLE", "snowflake": "FLOAT"},
    "qty": {"postgres": "INTEGER", "duckdb": "INTEGER", "snowflake": "NUMBER(38,0)"},
    "flag": {"postgres": "BOOLEAN", "duckdb": "BOOLEAN", "snowflake": "BOOLEAN"},
    "created": {"postgres": "DATE", "duckdb": "DATE", "snowflake": "DATE"},
    "updated": {"postgres": "TIMESTAMP", "duckdb": "TIMESTAMP", "snowflake": "TIMESTAMP_NTZ"},
    "updated_tz": {"postgres": "TIMESTAMPTZ", "duckdb": "TIMESTAMPTZ", "snowflake": "TIMESTAMP_TZ"},
    "payload": {"postgres": "BYTEA", "duckdb": "BLOB", "snowflake": "BINARY"},
    "note": {"postgres": "VARCHAR(50)", "duckdb": "VARCHAR(50)", "snowflake": "VARCHAR(50)"},
}


def row(i: int) -> dict[str, Any]:
    return {
        "id": i,
        "sku": f"SKU-{i:05d}",
        "uid": uuid.uuid5(uuid.NAMESPACE_OID, str(i)),
        "amount": Decimal(i * 7 % 100000) / 100,
        "ratio": i * 1.37 + 0.123,
        "qty": i % 17,
        "flag": i % 2 == 0,
        "created": dt.date(2020, 1, 1) + dt.timedelta(days=i),
        "updated": dt.datetime(2021, 1, 1) + dt.timedelta(minutes=i, microseconds=i),
        "updated_tz": dt.datetime(2021, 6, 1, tzinfo=TZ) + dt.timedelta(seconds=i * 61, microseconds=i * 3),
        "payload": i.to_bytes(4, "big"),
        "note": None if i % 5 == 0 else ("" if i % 7 == 0 else f"note {i}"),
    }


# the target's changes: id -> (column, new value); ids 23 (float noise) must NOT be reported
UPDATES: dict[int, tuple[str, Any]] = {
    11: ("amount", Decimal("999.99")),
    12: ("ratio", row(12)["ratio"] * 1.001),
    13: ("qty", 999),
    14: ("flag", not row(14)["flag"]),
    15: ("created", dt.date(1999, 1, 1)),
    16: ("updated", dt.datetime(2021, 1, 1, 0, 16, 0, 17)),  # one microsecond later
    17: ("updated_tz", dt.datetime(2021, 6, 1, 3, 0, tzinfo=dt.UTC)),
    18: ("payload", b"\xff"),
    20: ("note", "was null"),  # NULL -> value
    21: ("note", None),  # '' -> NULL
    22: ("note", None),  # value -> NULL
    24: ("note", "note 24 "),  # a trailing space
    23: ("ratio", row(23)["ratio"] * (1 + 1e-7)),  # noise below the tolerance
}
NOISE = {23}
DELETES = (3, 50)
ROWS = 400
INSERTS = (ROWS + 1, ROWS + 2)
EXPECTED_CHANGED = {i: column for i, (column, _) in UPDATES.items() if i not in NOISE}


async def create(db: Connector, table: str, ids: range | list[int], *, rename: dict[str, str] | None = None) -> None:
    """Create `table` in `db` with the rows of `ids` (column names renamed as given)."""
    dialect = db.dialect
    rename = rename or {}
    columns = ", ".join(f"{rename.get(c, c)} {types[dialect]}" for c, types in COLUMNS.items())
    await db.execute(f"CREATE TABLE {table} ({columns})")
    await insert(db, table, [row(i) for i in ids])


async def insert(db: Connector, table: str, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), 200):
        values = ", ".join(
            "(" + ", ".join(literal(r[c], COLUMNS[c][db.dialect], db.dialect) for c in COLUMNS) + ")"
            for r in rows[start : start + 200]
        )
        await db.execute(f"INSERT INTO {table} VALUES {values}")


async def apply_changes(db: Connector, table: str, *, rename: dict[str, str] | None = None) -> None:
    """Deletes, inserts and one update per column type (plus float noise) in `table`."""
    rename = rename or {}
    for i, (column, value) in UPDATES.items():
        sql_type = COLUMNS[column][db.dialect]
        await db.execute(f"UPDATE {table} SET {rename.get(column, column)} = {literal(value, sql_type, db.dialect)} WHERE id = {i}")
    await db.execute(f"DELETE FROM {table} WHERE id IN ({', '.join(map(str, DELETES))})")
    await insert(db, table, [row(i) for i in INSERTS])
