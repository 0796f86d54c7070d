"""A first file config from a sample of the file: DuckDB's CSV sniffer (delimiter, quoting, header,
column names and types) or the Parquet schema; the first DATE column becomes the date column."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ombudsman.contracts.replies import invalid_fields
from ombudsman.engine.files.scan import ScanSettings, close_scanner, open_scanner, query


def suggest_spec(path: Path, *, sample_size: int = 20_480) -> dict[str, Any]:
    """A file spec (as YAML-ready data) for `path`, guessed from its first `sample_size` lines."""
    if not path.is_file():
        raise invalid_fields(f"no such file: {path}", {"file": "not found"})
    con = open_scanner(ScanSettings(memory_limit="256MB", threads=1))
    try:
        if path.suffix.lower() == ".parquet":
            rows = query(con, "SELECT name, type FROM parquet_schema($file) WHERE num_children IS NULL", file=str(path))
            columns = {name: str(kind) for name, kind in rows}
            spec: dict[str, Any] = {"format": "parquet"}
        else:
            sniff = con.execute(f"SELECT Delimiter, Quote, HasHeader, Columns FROM sniff_csv($file, sample_size = {int(sample_size)})",
                                {"file": str(path)}).fetchone()
            if sniff is None:
                raise invalid_fields(f"cannot sniff {path}", {"file": "unreadable"})
            delimiter, quote, header, found = sniff
            columns = {c["name"]: str(c["type"]) for c in found}
            spec = {"format": "tsv" if delimiter == "\t" else "csv", "header": bool(header)}
            if delimiter not in ("\t", ","):
                spec["delimiter"] = delimiter
            if quote not in ('"', "(empty)", "\x00") and spec["format"] == "csv":
                spec["quote"] = quote
    finally:
        close_scanner(con)
    dates = [name for name, kind in columns.items() if kind == "DATE"]
    name = "".join(ch if ch.isalnum() or ch in "_.-" else "_" for ch in path.stem)[:64] or "file"
    return {"name": name, "pattern": path.name, **spec, "columns": columns,
            **({"date_column": dates[0]} if dates else {})}
