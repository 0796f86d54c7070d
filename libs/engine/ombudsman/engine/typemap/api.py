"""Reading a catalog column in a dialect, proposing a target type, judging a pair."""

from __future__ import annotations

import re

from ombudsman.contracts.catalog import ColumnInfo
from ombudsman.contracts.replies import Invalid
from ombudsman.engine.typemap.assess import assess
from ombudsman.engine.typemap.dialect import Dialect
from ombudsman.engine.typemap.dialects import DIALECTS
from ombudsman.engine.typemap.fidelity import Fidelity, TypeMapping
from ombudsman.engine.typemap.generic import family_compatibility
from ombudsman.engine.typemap.logical import Logical

_FRACTION_TYPES = frozenset(
    (
        "time",
        "timestamp",
        "timestamptz",
        "timestamp_ntz",
        "timestamp_tz",
        "timestamp_ltz",
        "datetime2",
        "datetimeoffset",
    )
)
_FLOAT_NAMES = frozenset(("float", "real", "double precision", "double", "float4", "float8"))


def dialect(kind: str) -> type[Dialect]:
    """The `Dialect` class of a database kind; `Invalid` naming the known kinds otherwise."""
    found = DIALECTS.get(kind)
    if found is None:
        raise Invalid(f"unknown database kind {kind!r} (known: {', '.join(DIALECTS)})", {"field": "kind"})
    return found


def parse(kind: str, column: ColumnInfo) -> Logical:
    """The logical type of an introspected column of a database of `kind`."""
    read = dialect(kind)
    name = re.sub(r"\(.*\)$", "", column.data_type.strip().lower()).strip()
    return read.parse(name, column.precision, column.scale, column.length)


def render(source: Logical, target_kind: str) -> str:
    """The target type proposed for a source type (the closest faithful one the target has)."""
    return dialect(target_kind).render(source)


def _target_column(target_kind: str, target_type: str) -> ColumnInfo:
    name = target_type.lower()
    base = re.sub(r"\(.*\)$", "", name).strip()
    args = [int(a) for a in re.findall(r"\d+", name[name.find("(") :])] if "(" in name else []
    length = precision = scale = None
    if "max" in name:
        length = -1
    elif base in ("number", "numeric", "decimal"):
        precision, scale = [*args, None, None][:2]
    elif base in _FRACTION_TYPES:
        precision = args[0] if args else None
    elif args:
        length = args[0]
    return ColumnInfo(
        name="target", data_type=base, ordinal=1, length=length, precision=precision, scale=scale
    )


def map_type(source_kind: str, column: ColumnInfo, target_kind: str) -> TypeMapping:
    """The proposed target type for `column` (of a `source_kind` database) and its fidelity."""
    source = parse(source_kind, column)
    target_type = render(source, target_kind)
    if source.family == "other":
        return TypeMapping(
            target_type=target_type, fidelity="incompatible", note=f"unknown type {source.name}"
        )
    target = parse(target_kind, _target_column(target_kind, target_type))
    fidelity, note = assess(source, target, target_kind)
    return TypeMapping(target_type=target_type, fidelity=fidelity, note=note)


def compatible(
    source_col: ColumnInfo, source_kind: str, target_col: ColumnInfo, target_kind: str
) -> TypeMapping:
    """How faithfully an existing target column holds the values of an existing source column."""
    source, target = parse(source_kind, source_col), parse(target_kind, target_col)
    if "other" in (source.family, target.family) and source.name != target.name:
        unknown = source.name if source.family == "other" else target.name
        return TypeMapping(
            target_type=describe(target_col), fidelity="incompatible", note=f"unknown type {unknown}"
        )
    fidelity, note = assess(source, target, target_kind)
    return TypeMapping(target_type=describe(target_col), fidelity=fidelity, note=note)


def describe(column: ColumnInfo) -> str:
    """A column's type spelled with its arguments, e.g. `numeric(12,2)`, `nvarchar(max)`."""
    if column.length is not None:
        return f"{column.data_type}({'max' if column.length < 0 else column.length})"
    if column.precision is not None and column.scale is not None:
        return f"{column.data_type}({column.precision},{column.scale})"
    if column.precision is not None and column.data_type not in _FLOAT_NAMES:
        return f"{column.data_type}({column.precision})"
    return column.data_type


def judge(source_kind: str, source: ColumnInfo, target_kind: str, target: ColumnInfo) -> tuple[Fidelity, str]:
    """(verdict, note) for a column pair: by the dialects' type map (`compatible`), by type family
    only for a database kind that has no dialect (e.g. a generic ODBC source)."""
    if source_kind in DIALECTS and target_kind in DIALECTS:
        verdict = compatible(source, source_kind, target, target_kind)
        return verdict.fidelity, verdict.note
    return family_compatibility(source, target)
