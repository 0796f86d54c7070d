"""Row-level diff across databases: which rows differ, and in which columns (see `engine`)."""

from ombudsman.engine.rowdiff.engine import RowDiffOptions, RowDiffResult, diff_tables
from ombudsman.engine.rowdiff.output import (
    CsvDiffWriter,
    Difference,
    DiffWriter,
    ParquetDiffWriter,
    open_writer,
)
from ombudsman.engine.rowdiff.plan import DiffSide, RowDiffInputError

__all__ = [
    "CsvDiffWriter",
    "DiffSide",
    "DiffWriter",
    "Difference",
    "ParquetDiffWriter",
    "RowDiffInputError",
    "RowDiffOptions",
    "RowDiffResult",
    "diff_tables",
    "open_writer",
]
