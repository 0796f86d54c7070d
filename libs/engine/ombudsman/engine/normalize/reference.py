"""The canonical text and row hash computed in Python: the specification the SQL renderings must meet
(tests compare every dialect against it) and the way the row diff reads canonical float text back."""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import math
import uuid
from collections.abc import Sequence
from typing import Any

from ombudsman.engine.normalize.sql import NULL_MARKER, SEPARATOR, NormalizeOptions
from ombudsman.engine.normalize.types import LogicalType


def canonical_text(value: Any, logical_type: LogicalType, options: NormalizeOptions | None = None) -> str | None:
    """The canonical text of one Python value (None for NULL), as the SQL renderings produce it."""
    if value is None:
        return None
    options = options or NormalizeOptions()
    kind = logical_type.kind
    if kind == "integer":
        return str(int(value))
    if kind == "decimal":
        scale = logical_type.scale if logical_type.scale is not None else 6
        d = decimal.Decimal(str(value)).quantize(decimal.Decimal(1).scaleb(-scale), rounding=decimal.ROUND_HALF_UP)
        return f"{abs(d) if d == 0 else d:f}"
    if kind == "float":
        return float_text(float(value), options.float_digits, options.float_absolute)
    if kind == "boolean":
        return "1" if value else "0"
    if kind == "string":
        text = str(value)
        if options.trim_strings or logical_type.fixed_length:
            text = text.rstrip(" ")
        return text.lower() if options.casefold_strings else text
    if kind == "date":
        return (value.date() if isinstance(value, dt.datetime) else value).isoformat()
    if kind == "time":
        return value.strftime("%H:%M:%S.%f")
    if kind in ("timestamp", "timestamp_tz"):
        if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            value = dt.datetime(value.year, value.month, value.day)
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")
    if kind == "binary":
        return bytes(value).hex()
    if kind == "uuid":
        return str(value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))).lower()
    return str(value)


def float_text(x: float, digits: int, zero: float = 0.0) -> str:
    """`[-]<m>e<exp>`: |x| rounded half up to `digits` significant digits (see normalize.sql);
    `0` when |x| < `zero` (the absolute tolerance)."""
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if x == 0 or abs(x) < zero:
        return "0"
    a = abs(x)

    def mantissa(e: int) -> float:
        k = digits - 1 - e
        return math.floor((a * 10.0**k if k >= 0 else a / 10.0**-k) + 0.5)

    e = math.floor(math.log10(a))
    m = mantissa(e)
    if m >= 10**digits:  # rounding carried into a new digit
        e, m = e + 1, 10 ** (digits - 1)
    return f"{'-' if x < 0 else ''}{int(m)}e{e - digits + 1}"


def floats_equal(a: float, b: float, options: NormalizeOptions | None = None) -> bool:
    """Two floats are the same value under the canonical rules: within `float_absolute`, or within one
    unit of the last kept digit (10^(1-float_digits) relative). Judged on the values, not their texts,
    so noise that moves a canonical text across a rounding boundary is never a difference."""
    options = options or NormalizeOptions()
    if a == b:
        return True
    if not (math.isfinite(a) and math.isfinite(b)):
        return False
    relative = 10.0 ** (1 - options.float_digits)
    return abs(a - b) <= max(options.float_absolute, relative * max(abs(a), abs(b))) * (1 + 1e-9)


def canonical_value(text: str | None, logical_type: LogicalType) -> Any:
    """A canonical text read back as the value people expect to see (reports): numbers as numbers
    (`123457e-2` -> 1234.57, `12.50` -> Decimal('12.50')), booleans as bool, the rest as the text."""
    if text is None:
        return None
    try:
        if logical_type.kind == "integer":
            return int(text)
        if logical_type.kind == "decimal":
            return decimal.Decimal(text)
        if logical_type.kind == "float":
            return float_value(text)
    except (ValueError, ArithmeticError):
        return text
    if logical_type.kind == "boolean" and text in ("0", "1"):
        return text == "1"
    return text


def float_value(text: str) -> float:
    """A canonical float text back as a float (`nan`, `inf` included)."""
    return float(text)


def row_text(values: Sequence[Any], types: Sequence[LogicalType], options: NormalizeOptions | None = None) -> str:
    """The canonical row text: canonical texts joined by U+001F, NULL as U+001E."""
    return SEPARATOR.join(
        NULL_MARKER if (t := canonical_text(v, lt, options)) is None else t for v, lt in zip(values, types, strict=True)
    )


def hash_text(text: str) -> int:
    """The first 15 hex digits of MD5(UTF-8 text) as an integer in [0, 2^60)."""
    return int(hashlib.md5(text.encode("utf-8")).hexdigest()[:15], 16)


def row_hash(values: Sequence[Any], types: Sequence[LogicalType], options: NormalizeOptions | None = None) -> int:
    """The 60-bit row hash of one row of Python values, equal to `row_hash_expr` in every dialect."""
    return hash_text(row_text(values, types, options))
