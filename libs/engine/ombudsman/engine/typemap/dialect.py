"""A database's types as data, in sqlglot's style: one `Dialect` subclass per database kind.

A dialect is three tables:
  - `TYPES`: type name -> how to read it into a `Logical` type (from precision, scale, length);
  - `ALIASES`: other spellings of those names;
  - `RENDER`: logical family -> the type it proposes for values of that family (a name, or a
    function of the logical type when the arguments matter), `FALLBACK` for the rest;
and, for exact numbers, `INTEGERS` (narrowest first), `DECIMAL` and `MAX_PRECISION`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from ombudsman.engine.typemap.logical import (
    Logical,
    binary,
    contains,
    digits,
    exact,
    integer,
    string,
    timestamp,
)

Reader = Callable[[str, int | None, int | None, int | None], Logical]  # (name, precision, scale, length)
Renderer = Callable[[Logical], str]


class Dialect:
    """The types of one database kind: how its names read, and what it proposes per family."""

    KIND: ClassVar[str]
    TYPES: ClassVar[dict[str, Reader]]
    ALIASES: ClassVar[dict[str, str]] = {}
    RENDER: ClassVar[dict[str, str | Renderer]]
    FALLBACK: ClassVar[str]
    INTEGERS: ClassVar[tuple[tuple[str, int, bool], ...]] = ()  # (name, bits, unsigned), narrowest first
    DECIMAL: ClassVar[str]  # format with {p} and {s}
    MAX_PRECISION: ClassVar[int] = 38
    UNBOUNDED_DECIMAL: ClassVar[str | None] = None  # the type for a numeric without bounds, if any

    @classmethod
    def parse(cls, name: str, precision: int | None, scale: int | None, length: int | None) -> Logical:
        """The logical type of the type `name` (lower case, no arguments) with its arguments."""
        name = cls.ALIASES.get(name, name)
        read = cls.TYPES.get(name)
        return read(name, precision, scale, length) if read else Logical("other", name)

    @classmethod
    def render(cls, source: Logical) -> str:
        """The type this dialect proposes for the values of `source`."""
        if source.family == "exact":
            return cls.render_exact(source)
        rule = cls.RENDER.get(source.family, cls.FALLBACK)
        return rule if isinstance(rule, str) else rule(source)

    @classmethod
    def render_exact(cls, t: Logical) -> str:
        """The narrowest integer type that holds `t`, else a decimal of its digits."""
        if t.integer and t.low is not None and t.high is not None:
            for name, bits, unsigned in cls.INTEGERS:
                if contains(integer(name, bits, unsigned), t):
                    return name
        if t.high is None and cls.UNBOUNDED_DECIMAL:
            return cls.UNBOUNDED_DECIMAL
        p, s = exact_args(t, cls.MAX_PRECISION)
        return cls.DECIMAL.format(p=p, s=s)


def exact_args(source: Logical, max_precision: int) -> tuple[int, int]:
    """(precision, scale) of a decimal holding `source`, capped at `max_precision`."""
    if source.high is None:  # unbounded numeric
        return max_precision, min(source.scale, max_precision // 2) if source.scale < 1000 else 10
    precision = max(digits(source.high), digits(source.low)) + source.scale
    return min(max(precision, 1), max_precision), min(source.scale, max_precision)


# --- readers: the entries of a dialect's TYPES table ------------------------------------------


def of(family: str, **facts: object) -> Reader:
    """A type whose values do not depend on its arguments."""
    return lambda name, p, s, n: Logical(family, name, **facts)  # type: ignore[arg-type]


def integer_of(bits: int, unsigned: bool = False) -> Reader:
    """An integer type of `bits` bits."""
    return lambda name, p, s, n: integer(name, bits, unsigned)


def fixed_decimal(precision: int, scale: int) -> Reader:
    """A decimal whose precision and scale are part of the type (money)."""
    return lambda name, p, s, n: exact(name, precision, scale)


def decimal_of(default_precision: int, *, integer_when_scale_0: bool = False) -> Reader:
    """A decimal(p, s), `default_precision` when p is not given, scale 0 when s is not."""
    return lambda name, p, s, n: exact(
        name, p or default_precision, s or 0, integer=integer_when_scale_0 and (s or 0) == 0
    )


def text(*, fixed: bool = False, unicode: bool = True, limit: int | None = None) -> Reader:
    """A string of the column's length (unbounded without one, or at / above `limit`)."""
    return lambda name, p, s, n: string(name, _within(n, limit), fixed=fixed, unicode=unicode)


def unbounded_text(*, unicode: bool = True) -> Reader:
    """A string type without a length (text, ntext)."""
    return lambda name, p, s, n: string(name, None, unicode=unicode)


def bytes_of(*, fixed: bool = False, limit: int | None = None, unbounded: bool = False) -> Reader:
    """A binary of the column's length (unbounded without one, at / above `limit`, or always)."""
    return lambda name, p, s, n: binary(name, None if unbounded else _within(n, limit), fixed=fixed)


def time_of(default_fraction: int) -> Reader:
    """A time of day, `default_fraction` fractional second digits unless the precision says."""
    return lambda name, p, s, n: Logical("time", name, fraction=default_fraction if p is None else p)


def timestamp_of(default_fraction: int, tz: str = "none", *, fixed_fraction: bool = False) -> Reader:
    """A timestamp, `default_fraction` digits unless the precision says (always, when fixed)."""
    return lambda name, p, s, n: timestamp(name, default_fraction if p is None or fixed_fraction else p, tz)


def _within(length: int | None, limit: int | None) -> int | None:
    return None if length is None or (limit is not None and length >= limit) else length


def fraction_or(t: Logical, default: int) -> int:
    """The fractional second digits of `t`, `default` when it has none."""
    return t.fraction if t.fraction is not None else default
