"""Finding qmark (`?`) placeholders in SQL text, outside string literals, quoted identifiers,
comments and dollar-quoted bodies, and rewriting them to a driver's own style (asyncpg: `$1`)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from ombudsman.contracts.replies import Invalid

_DOLLAR_TAG = re.compile(r"\$([A-Za-z_][A-Za-z_0-9]*)?\$")


def placeholder_positions(sql: str) -> list[int]:
    """Offsets of every `?` placeholder in `sql` that is real SQL (not inside a literal or comment)."""
    positions: list[int] = []
    i, n = 0, len(sql)
    while i < n:
        ch = sql[i]
        if ch == "'":
            backslash_escapes = (
                i > 0 and sql[i - 1] in "eE" and (i < 2 or not (sql[i - 2].isalnum() or sql[i - 2] == "_"))
            )
            i = _skip_quoted(sql, i, "'", backslash_escapes)
        elif ch == '"':
            i = _skip_quoted(sql, i, '"', False)
        elif ch == "`":
            i = _skip_quoted(sql, i, "`", False)
        elif ch == "-" and sql.startswith("--", i):
            end = sql.find("\n", i)
            i = n if end < 0 else end + 1
        elif ch == "/" and sql.startswith("/*", i):
            i = _skip_block_comment(sql, i)
        elif ch == "$" and (match := _DOLLAR_TAG.match(sql, i)) and not _is_identifier_char(sql, i - 1):
            tag = match.group(0)
            end = sql.find(tag, match.end())
            i = n if end < 0 else end + len(tag)
        elif ch == "?":
            positions.append(i)
            i += 1
        else:
            i += 1
    return positions


def _is_identifier_char(sql: str, i: int) -> bool:
    return i >= 0 and (sql[i].isalnum() or sql[i] == "_")


def _skip_quoted(sql: str, start: int, quote: str, backslash_escapes: bool) -> int:
    i, n = start + 1, len(sql)
    while i < n:
        ch = sql[i]
        if backslash_escapes and ch == "\\":
            i += 2
            continue
        if ch == quote:
            if i + 1 < n and sql[i + 1] == quote:  # doubled quote: an escaped quote
                i += 2
                continue
            return i + 1
        i += 1
    return n


def _skip_block_comment(sql: str, start: int) -> int:
    depth, i, n = 0, start, len(sql)
    while i < n:
        if sql.startswith("/*", i):
            depth += 1
            i += 2
        elif sql.startswith("*/", i):
            depth -= 1
            i += 2
            if depth == 0:
                return i
        else:
            i += 1
    return n


def check_param_count(sql: str, params: Sequence[Any]) -> list[int]:
    """The placeholder offsets; `Invalid` when their number differs from the number of values."""
    positions = placeholder_positions(sql)
    if len(positions) != len(params):
        raise Invalid(
            f"the query has {len(positions)} '?' placeholder(s) but {len(params)} parameter value(s) were given",
            {"placeholders": len(positions), "parameters": len(params)},
        )
    return positions


def qmark_to_numbered(sql: str, params: Sequence[Any] = (), prefix: str = "$") -> str:
    """Rewrite `?` placeholders as `$1, $2, ...` (PostgreSQL / asyncpg style)."""
    positions = check_param_count(sql, params)
    if not positions:
        return sql
    pieces: list[str] = []
    last = 0
    for number, position in enumerate(positions, start=1):
        pieces.append(sql[last:position])
        pieces.append(f"{prefix}{number}")
        last = position + 1
    pieces.append(sql[last:])
    return "".join(pieces)


# `INSERT ... VALUES (?, ?, ...)` ending the statement: group 1 is the parenthesised row
_SINGLE_ROW_VALUES = re.compile(r"\bVALUES\s*(\(\s*\?(?:\s*,\s*\?)*\s*\))\s*;?\s*$", re.IGNORECASE)


def multi_row_chunks(
    sql: str, rows: Sequence[Sequence[Any]], rows_per_statement: int
) -> list[tuple[str, list[Any]]] | None:
    """`INSERT ... VALUES (?, ...)` with many parameter rows as a few multi-row INSERTs, every value
    still bound: [(sql with N row groups, the N rows' values flattened), ...]. None when `sql` is
    not a single-row VALUES insert."""
    values = _SINGLE_ROW_VALUES.search(sql)
    if values is None:
        return None
    chunks: list[tuple[str, list[Any]]] = []
    for start in range(0, len(rows), rows_per_statement):
        chunk = rows[start : start + rows_per_statement]
        text = sql[: values.start(1)] + ", ".join([values.group(1)] * len(chunk)) + sql[values.end(1) :]
        chunks.append((text, [v for row in chunk for v in row]))
    return chunks
