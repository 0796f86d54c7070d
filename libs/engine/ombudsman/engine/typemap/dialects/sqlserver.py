"""SQL Server's types as data."""

from __future__ import annotations

from ombudsman.engine.typemap.dialect import (
    Dialect,
    bytes_of,
    decimal_of,
    fixed_decimal,
    fraction_or,
    integer_of,
    of,
    text,
    time_of,
    timestamp_of,
    unbounded_text,
)
from ombudsman.engine.typemap.logical import Logical


def _float(name: str, p: int | None, s: int | None, n: int | None) -> Logical:
    return Logical("float", name, bits=24 if p is not None and p <= 24 else 53)


def _string(t: Logical) -> str:
    if t.length is None or t.length > 4000:
        return "nvarchar(max)"
    return f"nchar({t.length})" if t.fixed else f"nvarchar({t.length})"


class SqlServer(Dialect):
    KIND = "sqlserver"
    TYPES = {
        "bit": of("boolean"),
        "tinyint": integer_of(8, unsigned=True),
        "smallint": integer_of(16),
        "int": integer_of(32),
        "bigint": integer_of(64),
        "decimal": decimal_of(18),
        "numeric": decimal_of(18),
        "money": fixed_decimal(19, 4),
        "smallmoney": fixed_decimal(10, 4),
        "real": of("float", bits=24),
        "float": _float,
        "char": text(fixed=True, unicode=False),
        "varchar": text(unicode=False),
        "nchar": text(fixed=True),
        "nvarchar": text(),
        "text": unbounded_text(unicode=False),
        "ntext": unbounded_text(),
        "binary": bytes_of(fixed=True),
        "varbinary": bytes_of(),
        "image": bytes_of(unbounded=True),
        "date": of("date"),
        "time": time_of(7),
        "datetime": timestamp_of(3, fixed_fraction=True),
        "smalldatetime": timestamp_of(0, fixed_fraction=True),
        "datetime2": timestamp_of(7),
        "datetimeoffset": timestamp_of(7, tz="offset"),
        "uniqueidentifier": of("uuid"),
        "xml": of("xml"),
        "sql_variant": of("variant"),
        "timestamp": of("rowversion", length=8),
        "rowversion": of("rowversion", length=8),
        "hierarchyid": of("hierarchyid"),
        "geography": of("spatial"),
        "geometry": of("spatial"),
    }
    INTEGERS = (("tinyint", 8, True), ("smallint", 16, False), ("int", 32, False), ("bigint", 64, False))
    DECIMAL = "decimal({p},{s})"
    RENDER = {
        "boolean": "bit",
        "float": lambda t: "real" if t.bits == 24 else "float",
        "string": _string,
        "binary": lambda t: (
            "varbinary(max)" if t.length is None or t.length > 8000 else f"varbinary({t.length})"
        ),
        "date": "date",
        "time": lambda t: f"time({min(fraction_or(t, 7), 7)})",
        "timestamp": lambda t: (
            f"{'datetime2' if t.tz == 'none' else 'datetimeoffset'}({min(fraction_or(t, 7), 7)})"
        ),
        "uuid": "uniqueidentifier",
        "xml": "xml",
        "variant": "sql_variant",
        "spatial": lambda t: (
            t.name if t.name in ("geography", "geometry", "hierarchyid") else "nvarchar(max)"
        ),
    }
    RENDER["rowversion"] = RENDER["binary"]
    RENDER["hierarchyid"] = RENDER["spatial"]
    FALLBACK = "nvarchar(max)"
