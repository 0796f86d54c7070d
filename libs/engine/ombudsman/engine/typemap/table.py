"""The documented SQL Server -> Snowflake / PostgreSQL / DuckDB table (engine README; a test keeps them equal)."""

from __future__ import annotations

from ombudsman.contracts.catalog import ColumnInfo
from ombudsman.engine.typemap.api import map_type

SQLSERVER_EXAMPLES: list[ColumnInfo] = [
    ColumnInfo(name=spelled, data_type=base, ordinal=1, length=length, precision=precision, scale=scale)
    for spelled, base, length, precision, scale in [
        ("bit", "bit", None, None, None),
        ("tinyint", "tinyint", None, None, None),
        ("smallint", "smallint", None, None, None),
        ("int", "int", None, None, None),
        ("bigint", "bigint", None, None, None),
        ("decimal(18,4)", "decimal", None, 18, 4),
        ("decimal(38,10)", "decimal", None, 38, 10),
        ("money", "money", None, None, None),
        ("smallmoney", "smallmoney", None, None, None),
        ("float(53)", "float", None, 53, None),
        ("float(24) / real", "real", None, 24, None),
        ("char(10)", "char", 10, None, None),
        ("varchar(100)", "varchar", 100, None, None),
        ("varchar(max)", "varchar", -1, None, None),
        ("nchar(10)", "nchar", 10, None, None),
        ("nvarchar(200)", "nvarchar", 200, None, None),
        ("nvarchar(max)", "nvarchar", -1, None, None),
        ("text / ntext", "ntext", None, None, None),
        ("binary(16)", "binary", 16, None, None),
        ("varbinary(max) / image", "varbinary", -1, None, None),
        ("date", "date", None, None, None),
        ("time(7)", "time", None, 7, None),
        ("time(3)", "time", None, 3, None),
        ("smalldatetime", "smalldatetime", None, None, None),
        ("datetime", "datetime", None, None, None),
        ("datetime2(7)", "datetime2", None, 7, None),
        ("datetime2(3)", "datetime2", None, 3, None),
        ("datetimeoffset(7)", "datetimeoffset", None, 7, None),
        ("uniqueidentifier", "uniqueidentifier", None, None, None),
        ("xml", "xml", None, None, None),
        ("rowversion", "rowversion", None, None, None),
        ("hierarchyid", "hierarchyid", None, None, None),
        ("geography", "geography", None, None, None),
        ("sql_variant", "sql_variant", None, None, None),
    ]
]
_TARGET_NAMES = {"snowflake": "Snowflake", "postgres": "PostgreSQL", "duckdb": "DuckDB"}


def mapping_table_markdown() -> str:
    """The SQL Server -> Snowflake / PostgreSQL / DuckDB table, as documented in the engine README."""
    lines = ["| SQL Server | Snowflake | PostgreSQL | DuckDB | Notes |", "|---|---|---|---|---|"]
    for column in SQLSERVER_EXAMPLES:
        cells = [f"`{column.name}`"]
        notes: dict[str, list[str]] = {}  # note -> the targets it applies to
        for target, target_name in _TARGET_NAMES.items():
            mapping = map_type("sqlserver", column, target)
            cells.append(f"`{mapping.target_type}` {mapping.fidelity}")
            for note in filter(None, mapping.note.split("; ")):
                notes.setdefault(note, []).append(target_name)
        text = "; ".join(
            note if len(targets) == 3 else f"{', '.join(targets)}: {note}" for note, targets in notes.items()
        )
        cells.append(text.replace("|", "\\|"))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
