"""The file config: which files (pattern), how they are written (format, delimiter, header, quoting,
encoding, compression), their columns and types, the date column and the period they must cover.

```yaml
files:
  - name: sales
    pattern: extracts/sales_*.tsv
    format: tsv                 # tsv | csv | parquet
    header: true
    columns: {sale_id: BIGINT, sold_on: DATE, amount: DECIMAL(12,2), note: VARCHAR}
    date_column: sold_on
    period: {start: 2026-01-01, end: 2026-01-31, grain: day, business_days: false, holidays: []}
    key: [sale_id]
    anomaly: {window: 7, threshold: 3.0}
```
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ombudsman.contracts.replies import invalid, invalid_fields

# DuckDB types a column may be declared as (the config is written into SQL: nothing else passes)
_TYPE = re.compile(
    r"^(BOOLEAN|TINYINT|SMALLINT|INTEGER|INT|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|REAL|FLOAT|DOUBLE"
    r"|DECIMAL\(\s*\d{1,2}\s*,\s*\d{1,2}\s*\)|NUMERIC\(\s*\d{1,2}\s*,\s*\d{1,2}\s*\)|VARCHAR|TEXT|DATE|TIME"
    r"|TIMESTAMP|TIMESTAMPTZ|TIMESTAMP WITH TIME ZONE|UUID|BLOB)$",
    re.IGNORECASE,
)
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_ $#-]{0,127}$")


class Period(BaseModel):
    """The dates the files must cover, both ends included."""

    model_config = ConfigDict(extra="forbid")
    start: dt.date
    end: dt.date
    grain: Literal["day", "month"] = "day"
    business_days: bool = Field(default=False, description="only Monday to Friday are expected")
    holidays: list[dt.date] = Field(default_factory=list, description="days not expected")

    @model_validator(mode="after")
    def _ordered(self) -> Period:
        if self.end < self.start:
            raise ValueError("period end is before its start")
        return self

    def expected(self) -> list[dt.date]:
        """Every day (or first of month) the period expects."""
        days: list[dt.date] = []
        current = self.start if self.grain == "day" else self.start.replace(day=1)
        holidays = set(self.holidays)
        while current <= self.end:
            if self.grain == "month":
                days.append(current)
                current = (current.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
                continue
            if not (self.business_days and current.weekday() >= 5) and current not in holidays:
                days.append(current)
            current += dt.timedelta(days=1)
        return days


class Anomaly(BaseModel):
    """A day whose row count is more than `threshold` standard deviations from the mean of the
    `window` days before it is an anomaly."""

    model_config = ConfigDict(extra="forbid")
    window: int = Field(default=7, ge=3, le=366)
    threshold: float = Field(default=3.0, gt=0)


class FileSpec(BaseModel):
    """One family of files and what they must hold."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    pattern: str = Field(min_length=1, description="path or glob, relative to the config file's folder")
    format: Literal["tsv", "csv", "parquet"] = "tsv"
    delimiter: str | None = Field(default=None, min_length=1, max_length=1)
    header: bool = True
    quote: str | None = Field(default=None, max_length=1, description="'' for none; default: none for tsv, \" for csv")
    encoding: Literal["utf-8", "utf-16", "latin-1"] = "utf-8"
    compression: Literal["auto", "none", "gzip", "zstd"] = "auto"
    columns: dict[str, str] = Field(min_length=1)
    date_column: str | None = None
    period: Period | None = None
    key: list[str] = Field(default_factory=list)
    anomaly: Anomaly | None = None
    table: str | None = Field(default=None, description="the table these files are loaded into")

    @field_validator("columns")
    @classmethod
    def _columns(cls, columns: dict[str, str]) -> dict[str, str]:
        for name, kind in columns.items():
            if not _NAME.match(name):
                raise ValueError(f"column name {name!r} is not a plain name")
            if not _TYPE.match(str(kind).strip()):
                raise ValueError(f"column {name!r}: type {kind!r} is not a DuckDB type this check knows")
        return {name: str(kind).strip().upper() for name, kind in columns.items()}

    @model_validator(mode="after")
    def _references(self) -> FileSpec:
        for column in [*self.key, *([self.date_column] if self.date_column else [])]:
            if column not in self.columns:
                raise ValueError(f"{column!r} is not one of the columns ({', '.join(self.columns)})")
        if self.period and not self.date_column:
            raise ValueError("a period needs a date_column")
        if self.anomaly and not self.date_column:
            raise ValueError("anomaly detection needs a date_column")
        return self

    @property
    def separator(self) -> str:
        return self.delimiter or ("\t" if self.format == "tsv" else ",")

    @property
    def quote_char(self) -> str:
        return self.quote if self.quote is not None else ("" if self.format == "tsv" else '"')


class FileConfig(BaseModel):
    """A file config: its file families, with paths relative to `base` (the config's folder)."""

    model_config = ConfigDict(extra="forbid")
    files: list[FileSpec] = Field(min_length=1)
    base: Path = Path(".")

    @model_validator(mode="after")
    def _unique(self) -> FileConfig:
        names = [f.name for f in self.files]
        if len(names) != len(set(names)):
            raise ValueError("file names must be unique")
        return self


def parse_config(data: Any, base: Path = Path(".")) -> FileConfig:
    """A `FileConfig` from parsed YAML; `Invalid` naming every bad field (`details.fields`)."""
    if not isinstance(data, dict):
        raise invalid_fields("a file config is a mapping with a `files:` list", {"files": "missing"})
    try:
        return FileConfig.model_validate({**data, "base": base})
    except ValidationError as error:
        raise invalid(error, "invalid file config: ") from None


def load_config(path: Path) -> FileConfig:
    """Read and check a file config YAML; `Invalid` for unreadable YAML or a bad field."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise invalid_fields(f"cannot read file config {path}: {error}", {"file": str(error)}) from None
    return parse_config(data, path.resolve().parent)
