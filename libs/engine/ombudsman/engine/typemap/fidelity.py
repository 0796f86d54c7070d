"""The one compatibility vocabulary of the platform: how faithfully a target column holds a source's values.

  - lossless: every source value has exactly one target value and compares equal after normalisation;
  - lossy: values load but some lose something - why, in a `LossReason` and a note;
  - incompatible: no faithful target; values must be converted by hand before they can be compared.

The engine's type map and the metadata service (`ombudsman.metadata.types`) both answer in these words.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

Fidelity = Literal["lossless", "lossy", "incompatible"]
# What a lossy conversion loses: significant digits, digits after the point, the range of values
# (numbers that overflow, text or bytes cut), or exactness (a decimal read as binary floating point).
LossReason = Literal["precision", "scale", "range", "exactness"]
FIDELITY_RANK: dict[Fidelity, int] = {"lossless": 0, "lossy": 1, "incompatible": 2}


class TypeMapping(BaseModel):
    """A target type for a source column and how faithfully it holds the source's values."""

    target_type: str
    fidelity: Fidelity
    note: str = ""


def worst(*fidelities: Fidelity) -> Fidelity:
    """The least faithful of several verdicts (lossless when there are none)."""
    return max(fidelities, key=FIDELITY_RANK.__getitem__, default="lossless")
