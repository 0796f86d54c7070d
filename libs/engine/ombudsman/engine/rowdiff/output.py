"""What the row diff reports: differences, a bounded sample, and writers that stream the full list
to CSV or Parquet (one line per differing column, so a file of millions of differences is fine)."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import pyarrow as pa

DifferenceKind = Literal["only_in_source", "only_in_target", "changed", "duplicate_in_source", "duplicate_in_target"]
SOURCE_KINDS = ("only_in_source", "duplicate_in_source")  # a row held by the source side only


@dataclass
class Difference:
    """One differing row. `key` holds the key columns' canonical text (keyless tables: the row hash).
    `columns` maps a (source) column name to (source value, target value) in canonical text: the
    differing columns of a changed row, every column of a row present on one side only.
    `duplicate_in_<side>`: an extra row of a key that side holds more than once while the other
    side has the key too (a row loaded twice), not a row missing from the other side."""

    kind: DifferenceKind
    key: dict[str, Any]
    columns: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)
    source_count: int | None = None  # keyless tables and duplicate keys: copies on each side
    target_count: int | None = None
    copies: int | None = None  # keyless one-sided rows: copies left unmatched (default |source - target|)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-friendly form (StepResult samples)."""
        out: dict[str, Any] = {"kind": self.kind, "key": self.key}
        if self.kind == "changed":
            out["columns"] = {c: {"source": s, "target": t} for c, (s, t) in self.columns.items()}
        else:
            side = 0 if self.kind in SOURCE_KINDS else 1
            out["row"] = {c: v[side] for c, v in self.columns.items()}
        if self.source_count is not None or self.target_count is not None:
            out["source_count"], out["target_count"] = self.source_count, self.target_count
        return out

    def lines(self) -> list[dict[str, Any]]:
        """Flat lines for files: one per differing column of a changed row, one per one-sided row."""
        base = {"kind": self.kind, "key": json.dumps(self.key, ensure_ascii=False),
                "source_count": self.source_count, "target_count": self.target_count}
        if self.kind == "changed":
            return [{**base, "column": c, "source_value": s, "target_value": t} for c, (s, t) in self.columns.items()]
        side = 0 if self.kind in SOURCE_KINDS else 1
        row = json.dumps({c: v[side] for c, v in self.columns.items()}, ensure_ascii=False)
        return [{**base, "column": None, "source_value": row if side == 0 else None, "target_value": row if side == 1 else None}]


LINE_SCHEMA = pa.schema([
    ("kind", pa.string()), ("key", pa.string()), ("column", pa.string()),
    ("source_value", pa.string()), ("target_value", pa.string()),
    ("source_count", pa.int64()), ("target_count", pa.int64()),
])


class DiffWriter(Protocol):
    def write(self, differences: Sequence[Difference]) -> None: ...
    def close(self) -> None: ...


class CsvDiffWriter:
    """Differences as CSV lines, written as they are found."""

    def __init__(self, path: str | Path) -> None:
        self._file = open(path, "w", newline="", encoding="utf-8")
        self._writer = csv.DictWriter(self._file, fieldnames=LINE_SCHEMA.names)
        self._writer.writeheader()

    def write(self, differences: Sequence[Difference]) -> None:
        for difference in differences:
            self._writer.writerows(difference.lines())

    def close(self) -> None:
        self._file.close()


class ParquetDiffWriter:
    """Differences as a Parquet file, one row group per batch of differences."""

    def __init__(self, path: str | Path) -> None:
        import pyarrow.parquet as pq  # only when asked for: ~4 MB a row diff writing CSV or nothing never needs

        self._writer = pq.ParquetWriter(str(path), LINE_SCHEMA)

    def write(self, differences: Sequence[Difference]) -> None:
        lines = [line for d in differences for line in d.lines()]
        if lines:
            self._writer.write_table(pa.Table.from_pylist(lines, schema=LINE_SCHEMA))

    def close(self) -> None:
        self._writer.close()


def open_writer(path: str | Path) -> DiffWriter:
    """A writer chosen by the file's suffix: .csv or .parquet."""
    suffix = Path(path).suffix.lower()
    if suffix == ".csv":
        return CsvDiffWriter(path)
    if suffix in (".parquet", ".pq"):
        return ParquetDiffWriter(path)
    raise ValueError(f"differences file must end in .csv or .parquet, got {Path(path).name!r}")
