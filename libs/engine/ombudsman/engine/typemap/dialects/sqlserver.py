"""SQL Server's types as data."""

from __future__ import annotations

from ombudsman.engine.typemap import dialect as d
from ombudsman.engine.typemap.logical import Logical


def _float(name: str, p: int | None, s: int | None, n: int | None) -> Logical:
    return Logical("float", name, bits=24 if p is not None and p <= 24 else 53)


def _string(t: Logical) -> str:
    if t.length is None or t.length > 4000:
        return "nvarchar(max)"
    return f"nchar({t.length})" if t.fixed else f"nvarchar({t.length})"


class SqlServer(d.Dialect):
    KIND = "sqlserver"
    TYPES = {
        "bit": d.of("boolean"),
        "tinyint": d.integer_of(8, unsigned=True),
        "smallint": d.integer_of(16),
        "int": d.integer_of(32),
        "bigint": d.integer_of(64),
        "decimal": d.decimal_of(18),
        "numeric": d.decimal_of(18),
        "money": d.fixed_decimal(19, 4),
        "smallmoney": d.fixed_decimal(10, 4),
        "real": d.of("float", bits=24),
        "float": _float,
        "char": d.text(fixed=True, unicode=False),
        "varchar": d.text(unicode=False),
        "nchar": d.text(fixed=True),
        "nvarchar": d.text(),
        "text": d.unbounded_text(unicode=False),
        "ntext": d.unbounded_text(),
        "binary": d.bytes_of(fixed=True),
        "varbinary": d.bytes_of(),
        "image": d.bytes_of(unbounded=True),
        "date": d.of("date"),
        "time": d.time_of(7),
        "datetime": d.timestamp_of(3, fixed_fraction=True),
        "smalldatetime": d.timestamp_of(0, fixed_fraction=True),
        "datetime2": d.timestamp_of(7),
        "datetimeoffset": d.timestamp_of(7, tz="offset"),
        "uniqueidentifier": d.of("uuid"),
        "xml": d.of("xml"),
        "sql_variant": d.of("variant"),
        "timestamp": d.of("rowversion", length=8),
        "rowversion": d.of("rowversion", length=8),
        "hierarchyid": d.of("hierarchyid"),
        "geography": d.of("spatial"),
        "geometry": d.of("spatial"),
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
        "time": lambda t: f"time({min(d.fraction_or(t, 7), 7)})",
        "timestamp": lambda t: (
            f"{'datetime2' if t.tz == 'none' else 'datetimeoffset'}({min(d.fraction_or(t, 7), 7)})"
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
