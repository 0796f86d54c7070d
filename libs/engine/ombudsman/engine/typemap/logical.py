"""The logical type every dialect's column types are read into: a family and the facts bounding its values."""

from __future__ import annotations

import decimal
from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class Logical:
    """A column type reduced to what decides which values it can hold."""

    family: str  # boolean exact float string binary date time timestamp uuid json xml variant spatial hierarchyid rowversion interval other
    name: str  # the database's own spelling, lower case
    low: Decimal | None = None  # exact numbers: smallest / largest value
    high: Decimal | None = None
    scale: int = 0  # exact numbers: digits after the point
    bits: int | None = None  # floats: mantissa bits (24 single, 53 double)
    length: int | None = None  # strings / binary: max length; None = unbounded
    fixed: bool = False  # char / binary(n): padded to length
    unicode: bool = True
    fraction: int | None = None  # time / timestamp: fractional second digits
    tz: str = "none"  # timestamps: none | offset (keeps the offset) | instant (UTC instant, offset dropped)
    integer: bool = False


_EXACT = decimal.Context(prec=4000)  # range arithmetic must not round (the default context keeps 28 digits)


def exact(name: str, precision: int, scale: int = 0, integer: bool = False) -> Logical:
    """A decimal of `precision` digits, `scale` of them after the point."""
    high = _EXACT.subtract(_EXACT.power(10, precision - scale), Decimal(1).scaleb(-scale, _EXACT))
    return Logical("exact", name, high.copy_negate(), high, scale, integer=integer)


def integer(name: str, bits: int, unsigned: bool = False) -> Logical:
    """A two's-complement (or unsigned) integer of `bits` bits."""
    low = Decimal(0) if unsigned else Decimal(-(2 ** (bits - 1)))
    high = Decimal(2**bits - 1 if unsigned else 2 ** (bits - 1) - 1)
    return Logical("exact", name, low, high, 0, integer=True)


def string(name: str, length: int | None, *, fixed: bool = False, unicode: bool = True) -> Logical:
    """Text of at most `length` characters (None or negative: unbounded)."""
    return Logical(
        "string", name, length=None if length is None or length < 0 else length, fixed=fixed, unicode=unicode
    )


def binary(name: str, length: int | None, *, fixed: bool = False) -> Logical:
    """Bytes, at most `length` of them (None or negative: unbounded)."""
    return Logical("binary", name, length=None if length is None or length < 0 else length, fixed=fixed)


def timestamp(name: str, fraction: int | None, tz: str = "none") -> Logical:
    """A date and time of day with `fraction` fractional second digits."""
    return Logical("timestamp", name, fraction=fraction, tz=tz)


UNBOUNDED_NUMERIC = Logical("exact", "numeric", None, None, 16383)


def digits(value: Decimal | None) -> int:
    """Integer digits of a bound (0 for an unbounded one)."""
    return 0 if value is None else len(str(int(value.copy_abs())))


def contains(target: Logical, source: Logical) -> bool:
    """Whether every exact value of `source` fits `target` (range and scale)."""
    if target.high is None:
        return True
    if source.high is None:
        return False
    return (
        target.scale >= source.scale
        and target.low is not None
        and source.low is not None
        and target.low <= source.low
        and target.high >= source.high
    )
