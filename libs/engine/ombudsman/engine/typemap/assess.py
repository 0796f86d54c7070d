"""Judging a pair of logical types: how faithfully the target holds the source's values.

Same-family pairs are judged by one function per family (`SAME_FAMILY`), cross-family pairs by a
table of (source family, target family) -> verdict (`CROSS_FAMILY`), a fixed verdict or a function.
"""

from __future__ import annotations

from collections.abc import Callable

from ombudsman.engine.typemap.fidelity import Fidelity, worst
from ombudsman.engine.typemap.logical import Logical, contains, digits

Verdict = tuple[Fidelity, str]
LOSSLESS: Verdict = ("lossless", "")


def assess(source: Logical, target: Logical, target_kind: str | None = None) -> Verdict:
    """How faithfully a column of type `target` holds the values of a column of type `source`."""
    s, t = source, target
    if s.family == "variant":
        return "incompatible", (
            f"{s.name} has no equivalent: each value carries its own base type; cast the column to one "
            "concrete type before migrating (Snowflake VARIANT keeps the value, not the SQL Server base type)"
        )
    if s.family != t.family:
        return _cross_family(s, t)
    judge = SAME_FAMILY.get(s.family)
    if judge is not None:
        return judge(s, t, target_kind)
    return LOSSLESS if s.name == t.name else ("incompatible", f"{s.name} and {t.name} are not known to match")


def _range(t: Logical) -> str:
    if t.high is None:
        return "unbounded"
    return f"{t.low:,} .. {t.high:,}" if t.scale == 0 else f"{digits(t.high)} integer digits, scale {t.scale}"


def _exact(s: Logical, t: Logical, target_kind: str | None) -> Verdict:
    if contains(t, s):
        note = (
            f"{s.name} is a fixed-point decimal with 4 digits after the point"
            if s.name in ("money", "smallmoney")
            else ""
        )
        return "lossless", note
    if t.scale < s.scale:
        return "lossy", f"rounded from {s.scale} to {t.scale} digits after the point"
    return "lossy", f"range {_range(s)} does not fit {t.name} ({_range(t)}): larger values overflow"


def _float(s: Logical, t: Logical, target_kind: str | None) -> Verdict:
    source_bits, target_bits = s.bits or 53, t.bits or 53
    if target_bits < source_bits:
        return "lossy", "double precision narrowed to single: about 7 significant digits remain"
    if source_bits < target_bits:
        return "lossless", (
            "single precision widened to double: every value is exact, but compare at 7 significant "
            "digits (0.1 as single is 0.100000001490116 as double)"
        )
    return LOSSLESS


def _sized(s: Logical, t: Logical, target_kind: str | None) -> Verdict:
    family = s.family
    notes: list[str] = []
    fidelity: Fidelity = "lossless"
    if s.length is None and t.length is not None:
        fidelity, notes = "lossy", [f"unbounded values are cut to {t.length}"]
    elif s.length is not None and t.length is not None and t.length < s.length:
        fidelity, notes = "lossy", [f"values longer than {t.length} are cut (source holds {s.length})"]
    if family == "string" and s.unicode and not t.unicode:
        fidelity = "lossy"
        notes.append("Unicode characters outside the target's code page are replaced")
    if s.fixed and not t.fixed and family == "string":
        notes.append(
            "the source pads with trailing spaces and the target does not: compare with trailing spaces trimmed"
        )
    if s.length is None and t.length is None and target_kind == "snowflake":
        notes.append(f"Snowflake holds at most {'16 MB' if family == 'string' else '8 MB'} per value")
    return fidelity, "; ".join(notes)


def _fraction(s: Logical, t: Logical, target_kind: str | None = None) -> Verdict:
    sf, tf = s.fraction if s.fraction is not None else 6, t.fraction if t.fraction is not None else 6
    if tf >= sf:
        note = (
            "SQL Server datetime is rounded to 1/300 s (.000/.003/.007): exact at 3 digits"
            if s.name == "datetime"
            else ""
        )
        return "lossless", note
    return "lossy", f"fractional seconds cut from {sf} to {tf} digits"


ZONE_CHANGES: dict[tuple[str, str], str] = {  # (source tz, target tz) -> what is lost
    ("offset", "instant"): "the instant is kept in UTC but the original UTC offset is dropped",
    ("offset", "none"): "the UTC offset is dropped: wall-clock time without its zone",
    ("instant", "none"): "an instant stored without its zone: correct only if loaded in UTC",
    (
        "none",
        "offset",
    ): "wall-clock time read in the loading session's time zone: correct only if loaded in UTC",
    (
        "none",
        "instant",
    ): "wall-clock time read in the loading session's time zone: correct only if loaded in UTC",
}


def _timestamp(s: Logical, t: Logical, target_kind: str | None) -> Verdict:
    zone_note = ZONE_CHANGES.get((s.tz, t.tz))
    return _worst(_fraction(s, t), ("lossy", zone_note) if zone_note else LOSSLESS)


def _spatial(s: Logical, t: Logical, target_kind: str | None) -> Verdict:
    return (
        LOSSLESS if s.name == t.name else ("lossy", f"{s.name} read as {t.name}: coordinates reinterpreted")
    )


def _always_lossless(s: Logical, t: Logical, target_kind: str | None) -> Verdict:
    return LOSSLESS


SAME_FAMILY: dict[str, Callable[[Logical, Logical, str | None], Verdict]] = {
    **dict.fromkeys(
        ("boolean", "date", "uuid", "xml", "json", "interval", "rowversion", "hierarchyid"), _always_lossless
    ),
    "exact": _exact,
    "float": _float,
    "string": _sized,
    "binary": _sized,
    "time": _fraction,
    "timestamp": _timestamp,
    "spatial": _spatial,
}


def _worst(*results: Verdict) -> Verdict:
    return worst(*(r[0] for r in results)), "; ".join(r[1] for r in results if r[1])


# --- across families --------------------------------------------------------------------------


def _exact_to_float(s: Logical, t: Logical) -> Verdict:
    exact_in_double = (
        s.integer and s.high is not None and s.low is not None and max(s.low.copy_abs(), s.high) <= 2**53
    )
    if exact_in_double and (t.bits or 53) == 53:
        return "lossless", "integers up to 2^53 are exact in a double"
    return "lossy", "binary floating point cannot hold every decimal value exactly"


def _uuid_to_string(s: Logical, t: Logical) -> Verdict:
    if t.length is not None and t.length < 36:
        return "lossy", f"36-character UUID text cut to {t.length}"
    return (
        "lossless",
        "as text: SQL Server renders UUIDs upper case, others lower case - compare case-insensitively",
    )


def _rowversion_to_binary(s: Logical, t: Logical) -> Verdict:
    if t.length is not None and t.length < 8:
        return "lossy", "rowversion needs 8 bytes"
    return (
        "lossless",
        "rowversion values are generated by SQL Server: meaningful as data only, not as versions",
    )


def _document_as_text(s: Logical, t: Logical) -> Verdict:
    return "lossless", f"{s.name} kept as text: compare after normalising whitespace"


def _structured_as_text(s: Logical, t: Logical) -> Verdict:
    what = "well-known text (WKT)" if s.family == "spatial" else "its path text (/1/2/)"
    return "lossy", f"{s.name} kept as {what}: spatial / hierarchy operations and ordering are lost"


def _scalar_as_text(s: Logical, t: Logical) -> Verdict:
    return "lossy", f"{s.name} stored as text: compare only after normalising both sides"


CROSS_FAMILY: dict[tuple[str, str], Verdict | Callable[[Logical, Logical], Verdict]] = {
    ("boolean", "exact"): ("lossless", "stored as 0/1"),
    ("exact", "boolean"): ("lossy", "every non-zero value becomes true"),
    ("exact", "float"): _exact_to_float,
    ("float", "exact"): lambda s, t: ("lossy", f"rounded to {t.scale} digits after the point"),
    ("date", "timestamp"): ("lossless", "dates become midnight timestamps"),
    ("timestamp", "date"): ("lossy", "the time of day is dropped"),
    ("uuid", "string"): _uuid_to_string,
    ("string", "uuid"): ("lossy", "only text holding valid UUIDs converts"),
    ("xml", "string"): _document_as_text,
    ("json", "string"): _document_as_text,
    ("json", "variant"): LOSSLESS,
    ("xml", "variant"): (
        "lossy",
        "XML has no Snowflake type: parse with PARSE_XML into VARIANT (or keep as VARCHAR)",
    ),
    ("spatial", "string"): _structured_as_text,
    ("hierarchyid", "string"): _structured_as_text,
    ("rowversion", "binary"): _rowversion_to_binary,
    **{
        (family, "string"): _scalar_as_text
        for family in ("exact", "float", "boolean", "date", "time", "timestamp", "interval")
    },
}


def _cross_family(s: Logical, t: Logical) -> Verdict:
    verdict = CROSS_FAMILY.get((s.family, t.family))
    if verdict is None:
        return "incompatible", f"{s.name} ({s.family}) cannot hold or be compared with {t.name} ({t.family})"
    return verdict(s, t) if callable(verdict) else verdict
