"""Default pipeline templates offered to the UI and CLI (plain data)."""

from __future__ import annotations

from typing import Any

_BASIC = """name: {name}
connections:
  source: ${{SOURCE_URL}}
  target: ${{TARGET_URL}}
steps:
  - id: row_count
    validator: row_count
    table: {table}
  - id: schema
    validator: schema_match
    table: {table}
  - id: row_diff
    validator: row_diff
    table: {table}
    depends_on: [row_count]
"""

TEMPLATES: list[dict[str, Any]] = [
    {
        "id": "table-basic",
        "name": "One table: counts, schema, row diff",
        "description": "Row count and schema comparison, then a row-level diff when the counts match.",
        "parameters": ["name", "table"],
        "yaml": _BASIC,
    },
]
