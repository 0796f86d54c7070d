"""The one compatibility vocabulary of the platform: how faithfully a target column holds a source's values.

  - lossless: every source value has exactly one target value and compares equal after normalisation;
  - lossy: values load but some lose something - the note says what, `loss_reason` names it;
  - incompatible: no faithful target; values must be converted by hand before they can be compared.

The engine's type map and the metadata service (`ombudsman.metadata.types`) both answer in these words.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

Fidelity = Literal["lossless", "lossy", "incompatible"]
# What a type change loses; `type` for an incompatible or unexplained change, `conversion` otherwise.
LossReason = Literal[
    "scale", "range", "exactness", "precision", "length", "time zone", "encoding", "type", "conversion"
]
FIDELITY_RANK: dict[Fidelity, int] = {"lossless": 0, "lossy": 1, "incompatible": 2}


class TypeMapping(BaseModel):
    """A target type for a source column and how faithfully it holds the source's values."""

    target_type: str
    fidelity: Fidelity
    note: str = ""


def worst(*fidelities: Fidelity) -> Fidelity:
    """The least faithful of several verdicts (lossless when there are none)."""
    return max(fidelities, key=FIDELITY_RANK.__getitem__, default="lossless")


# what a lossy or incompatible type change loses, from the type map's note (first match wins)
_REASONS: tuple[tuple[LossReason, tuple[str, ...]], ...] = (
    ("scale", ("digits after the point",)),
    ("range", ("does not fit", "overflow", "needs 8 bytes")),
    ("exactness", ("binary floating point", "exact")),
    ("precision", ("significant digits", "fractional seconds", "single precision")),
    ("length", ("cut", "longer than")),
    ("time zone", ("utc", "time zone", "wall-clock")),
    ("encoding", ("unicode", "code page")),
)


def loss_reason(verdict: str, note: str) -> LossReason:
    """The kind of loss of a type change (precision, scale, range, exactness, length, time zone,
    encoding; `type` for an incompatible or otherwise unexplained change)."""
    text = note.lower()
    for reason, words in _REASONS:
        if any(w in text for w in words):
            return reason
    return "type" if verdict == "incompatible" or not text else "conversion"
