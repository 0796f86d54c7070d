"""Comparing the small aggregated results that come back from both sides."""

from __future__ import annotations

import datetime
import decimal
import math
from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ombudsman.contracts.pipeline import Tolerance
from ombudsman.engine.normalize import NormalizeOptions, floats_equal
from ombudsman.engine.rowdiff.output import Difference, DiffWriter, open_writer
from ombudsman.engine.validators.base import ValidationInputError, jsonable

FLOAT_NOISE = 1e-9  # relative difference below which two floats are the same number


def normalize(value: Any) -> Any:
    """A comparable form of a value from any driver: integral numbers as int, other numbers as float,
    timestamps as naive UTC datetimes, dates and strings as they are."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, float):
        if math.isnan(value):
            return None
        return int(value) if value.is_integer() and abs(value) < 2**53 else value
    if isinstance(value, datetime.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(datetime.UTC).replace(tzinfo=None)
        return value
    return value


def key_of(row: dict[str, Any], columns: Sequence[str]) -> tuple[Any, ...]:
    """A group's key, comparable across drivers (a DATE key matches the same day as a TIMESTAMP key)."""
    key = []
    for c in columns:
        value = normalize(row.get(c.lower()))
        if isinstance(value, datetime.date) and not isinstance(value, datetime.datetime):
            value = datetime.datetime.combine(value, datetime.time())
        key.append(value)
    return tuple(key)


def values_match(source: Any, target: Any, tolerance: Tolerance, float_rule: NormalizeOptions | None = None) -> bool:
    """Numbers match within the tolerance; anything else must be equal after normalisation.
    `float_rule`: the figures are of float columns, which also match when the canonical rules call
    them the same float (`normalize.floats_equal`: `float_digits` significant digits, as row_hash)."""
    s, t = normalize(source), normalize(target)
    if isinstance(s, int | float) and isinstance(t, int | float):
        if (isinstance(s, float) or isinstance(t, float)) and abs(s - t) <= FLOAT_NOISE * max(abs(s), abs(t)):
            return True  # floating-point arithmetic noise (e.g. a DECIMAL sum returned as DOUBLE)
        if float_rule is not None and floats_equal(float(s), float(t), float_rule):
            return True
        return tolerance.within(s, t)
    if isinstance(s, datetime.datetime) and isinstance(t, datetime.date) and not isinstance(t, datetime.datetime):
        return s == datetime.datetime.combine(t, datetime.time())
    if isinstance(t, datetime.datetime) and isinstance(s, datetime.date) and not isinstance(s, datetime.datetime):
        return t == datetime.datetime.combine(s, datetime.time())
    return bool(s == t)


def difference(source: Any, target: Any) -> dict[str, Any]:
    """Absolute and relative difference of two numbers (empty for other values)."""
    s, t = normalize(source), normalize(target)
    if isinstance(s, int | float) and isinstance(t, int | float):
        diff = float(t) - float(s)
        base = max(abs(float(s)), abs(float(t)))
        return {"difference": diff, "difference_pct": round(abs(diff) / base * 100, 6) if base else 0.0}
    return {}


def percentage(part: float, whole: float) -> float:
    return round(part / whole * 100.0, 4) if whole else 100.0


def count_match(source: float, target: float) -> float:
    """How close two counts are, 0-100 (100 when equal)."""
    hi = max(abs(source), abs(target))
    return round(min(abs(source), abs(target)) / hi * 100.0, 4) if hi else 100.0


@dataclass
class FigureDiff:
    """Scalar figures (name -> value) compared side by side."""

    mismatches: list[dict[str, Any]] = field(default_factory=list)
    compared: int = 0

    @property
    def match_percentage(self) -> float:
        return percentage(self.compared - len(self.mismatches), self.compared)


def compare_figures(
    source: dict[str, Any], target: dict[str, Any], tolerance: Tolerance, names: Iterable[str] | None = None,
    float_rule: NormalizeOptions | None = None,
) -> FigureDiff:
    """Figures compared name by name; `float_rule`: they are figures of a float column (see values_match)."""
    result = FigureDiff()
    for name in names if names is not None else source.keys():
        result.compared += 1
        s, t = source.get(name), target.get(name)
        if not values_match(s, t, tolerance, float_rule):
            result.mismatches.append(
                {"figure": name, "source": jsonable(normalize(s)), "target": jsonable(normalize(t)), **difference(s, t)}
            )
    return result


@dataclass
class GroupDiff:
    """Grouped results (key columns -> measures) compared group by group."""

    missing_in_target: list[dict[str, Any]] = field(default_factory=list)
    extra_in_target: list[dict[str, Any]] = field(default_factory=list)
    mismatched: list[dict[str, Any]] = field(default_factory=list)
    duplicates: list[dict[str, Any]] = field(default_factory=list)  # a key on more than one row of a side
    source_groups: int = 0
    target_groups: int = 0
    matched: int = 0

    @property
    def differing(self) -> int:
        return len(self.missing_in_target) + len(self.extra_in_target) + len(self.mismatched) + len(self.duplicates)

    @property
    def match_percentage(self) -> float:
        return percentage(self.matched, max(self.source_groups, self.target_groups))

    def sample(self, limit: int) -> list[dict[str, Any]]:
        rows = (
            [{"issue": "value differs", **r} for r in self.mismatched]
            + [{"issue": "missing in target", **r} for r in self.missing_in_target]
            + [{"issue": "extra in target", **r} for r in self.extra_in_target]
            + [{"issue": f"duplicate key in {r.pop('side')}", **r} for r in (dict(d) for d in self.duplicates)]
        )
        return [jsonable(r) for r in rows[:limit]]


def compare_groups(
    source_rows: Sequence[dict[str, Any]],
    target_rows: Sequence[dict[str, Any]],
    keys: Sequence[str],
    measures: Sequence[str],
    tolerance: Tolerance,
    carry: Sequence[str] = (),
    floats: Collection[str] = (),
    float_rule: NormalizeOptions | None = None,
) -> GroupDiff:
    """Match groups by key; compare each measure within the tolerance. `carry` columns are shown
    with a group missing on one side, never compared. Measures in `floats` are figures of float
    columns, also equal under the canonical float rule (`float_rule`, default NormalizeOptions())."""
    rule = float_rule or NormalizeOptions()
    source = {key_of(r, keys): r for r in source_rows}
    target = {key_of(r, keys): r for r in target_rows}
    result = GroupDiff(source_groups=len(source), target_groups=len(target))
    for side, rows in (("source", source_rows), ("target", target_rows)):  # keys must name one row
        counts = Counter(key_of(r, keys) for r in rows)
        result.duplicates += [
            {"side": side, **dict(zip(keys, (jsonable(k) for k in key), strict=True)), "rows": n}
            for key, n in counts.items() if n > 1
        ]
    for key, s_row in source.items():
        key_dict = dict(zip(keys, (jsonable(k) for k in key), strict=True))
        t_row = target.get(key)
        if t_row is None:
            result.missing_in_target.append({**key_dict, **{m: jsonable(s_row.get(m.lower())) for m in [*measures, *carry]}})
            continue
        bad = {}
        for m in measures:
            s, t = s_row.get(m.lower()), t_row.get(m.lower())
            if not values_match(s, t, tolerance, rule if m in floats else None):
                bad[m] = {"source": jsonable(normalize(s)), "target": jsonable(normalize(t)), **difference(s, t)}
        if bad:
            result.mismatched.append({**key_dict, **bad})
        else:
            result.matched += 1
    for key, t_row in target.items():
        if key not in source:
            key_dict = dict(zip(keys, (jsonable(k) for k in key), strict=True))
            result.extra_in_target.append({**key_dict, **{m: jsonable(t_row.get(m.lower())) for m in [*measures, *carry]}})
    return result


def group_differences(diff: GroupDiff, keys: Sequence[str]) -> list[Difference]:
    """Every differing group as the row diff's `Difference`s (key: the group key; a changed group's
    differing measures with both values; a one-sided group with its figures), for `write_differences`."""
    found: list[Difference] = []
    for side, rows in (("source", diff.duplicates), ("target", diff.duplicates)):
        for row in (r for r in rows if r["side"] == side):
            key = {k: row.get(k) for k in keys}
            found.append(Difference(f"duplicate_in_{side}", key, {}, **{f"{side}_count": row["rows"]}))  # type: ignore[arg-type]
    for kind, rows in (("changed", diff.mismatched), ("only_in_source", diff.missing_in_target),
                       ("only_in_target", diff.extra_in_target)):
        for row in rows:
            key = {k: row.get(k) for k in keys}
            values = {m: v for m, v in row.items() if m not in keys}
            if kind == "changed":
                columns = {m: (_text(v.get("source")), _text(v.get("target"))) for m, v in values.items()}
            elif kind == "only_in_source":
                columns = {m: (_text(v), None) for m, v in values.items()}
            else:
                columns = {m: (None, _text(v)) for m, v in values.items()}
            found.append(Difference(kind, key, columns))  # type: ignore[arg-type]
    return found


def write_differences(path: str | None, differences: Sequence[Difference]) -> None:
    """Write every difference to `path` (.csv or .parquet: the row diff's writers and line format),
    the full list however short the result's sample is. Nothing when `path` is None."""
    if not path:
        return
    writer = open_output(path)
    try:
        writer.write(differences)
    finally:
        writer.close()


def open_output(path: str) -> DiffWriter:
    """The writer of a validator's `output` file: inside the allowed folders (`OMB_FILE_ROOTS`, see
    connectors.sandbox.check_output_path), .csv or .parquet; ValidationInputError naming the parameter."""
    from ombudsman.contracts.replies import Invalid
    from ombudsman.engine.connectors.sandbox import check_output_path

    try:
        return open_writer(check_output_path(path))
    except Invalid as exc:
        raise ValidationInputError(exc.message) from None
    except (ValueError, OSError) as exc:
        raise ValidationInputError(f"parameters.output: {exc}") from None


def _text(value: Any) -> str | None:
    return None if value is None else str(jsonable(value))
