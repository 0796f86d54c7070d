"""The audit chain: canonical JSON, row hashes, verification, and alert rule matching. Pure.

Shared by the audit service (which writes and verifies the log) and the command line
(`ombudsman audit verify FILE` re-verifies an exported log offline).

Each row of `audit.event_log` carries `prev_hash` and `hash = sha256(prev_hash || canonical_json(envelope))`,
so one altered, inserted or missing row breaks the chain at that position.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, Field

GENESIS = "0" * 64


def canonical_json(value: Any) -> str:
    """Deterministic JSON: sorted keys, no spaces, UTF-8 kept, no floats re-rendered differently."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def chain_hash(prev_hash: str, envelope: dict[str, Any]) -> str:
    """`sha256(prev_hash || canonical_json(envelope))` as hex."""
    return hashlib.sha256((prev_hash + canonical_json(envelope)).encode()).hexdigest()


@dataclass(frozen=True)
class ChainRow:
    """One row of the log as verification sees it."""

    position: int
    prev_hash: str
    hash: str
    envelope: dict[str, Any]


class VerifyReport(BaseModel):
    ok: bool
    checked: int
    first_position: int | None = None
    last_position: int | None = None
    broken_at: int | None = None
    reason: str | None = None
    head_hash: str | None = None


def verify_chain(rows: Iterable[ChainRow], *, expected_prev: str | None = None) -> VerifyReport:
    """Recompute the chain over `rows` (in position order); report the first broken position and why.

    `expected_prev` is the hash of the row before the first one (GENESIS when starting at the first row);
    None trusts the first row's stored prev_hash (verifying a range in the middle of the log).
    """
    checked = 0
    first = last = None
    prev = expected_prev
    last_position: int | None = None
    for row in rows:
        if first is None:
            first = row.position
        if last_position is not None and row.position != last_position + 1:
            return VerifyReport(
                ok=False, checked=checked, first_position=first, last_position=last, broken_at=last_position + 1,
                reason=f"row {last_position + 1} is missing (next row is {row.position})",
            )
        if prev is not None and row.prev_hash != prev:
            return VerifyReport(
                ok=False, checked=checked, first_position=first, last_position=last, broken_at=row.position,
                reason="prev_hash does not match the previous row's hash (a row before it was removed or altered)",
            )
        recomputed = chain_hash(row.prev_hash, row.envelope)
        if recomputed != row.hash:
            return VerifyReport(
                ok=False, checked=checked, first_position=first, last_position=last, broken_at=row.position,
                reason="hash does not match the row's content (the row was altered)",
            )
        prev = row.hash
        last = last_position = row.position
        checked += 1
    return VerifyReport(ok=True, checked=checked, first_position=first, last_position=last, head_hash=prev)


class AlertRule(BaseModel):
    """When an event matches, fire on a channel (`webhook` with a URL, or `inapp`)."""

    id: str
    name: str = ""
    event_types: list[str] = Field(default_factory=list)  # empty = every type
    project_id: str | None = None
    condition: dict[str, Any] = Field(default_factory=dict)  # field -> {op: value}, ops gt/gte/lt/lte/eq/ne/in
    channel: str = "inapp"  # inapp | webhook
    url: str | None = None
    severity: str = "warning"
    enabled: bool = True


_OPS = {
    "gt": lambda a, b: a is not None and a > b,
    "gte": lambda a, b: a is not None and a >= b,
    "lt": lambda a, b: a is not None and a < b,
    "lte": lambda a, b: a is not None and a <= b,
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "in": lambda a, b: a in b,
}


def project_of(envelope: dict[str, Any]) -> str | None:
    """The project an event belongs to, when it says."""
    data = envelope.get("data") or {}
    if data.get("project_id"):
        return str(data["project_id"])
    if envelope.get("stream_type") == "project":
        return str(envelope.get("stream_id"))
    return None


def rule_matches(rule: AlertRule, envelope: dict[str, Any]) -> bool:
    """Does this event fire the rule?"""
    if not rule.enabled:
        return False
    if rule.event_types and envelope.get("event_type") not in rule.event_types:
        return False
    if rule.project_id and project_of(envelope) != rule.project_id:
        return False
    data = envelope.get("data") or {}
    for field, test in rule.condition.items():
        value = data.get(field)
        tests = test if isinstance(test, dict) else {"eq": test}
        for op, operand in tests.items():
            check = _OPS.get(op)
            if check is None:
                raise ValueError(f"unknown operator {op!r} in rule {rule.id}")
            try:
                if not check(value, operand):
                    return False
            except TypeError:
                return False
    return True


def verify_export(lines: Iterable[str]) -> VerifyReport:
    """Re-verify an exported log (JSON Lines of {position, prev_hash, hash, envelope}) offline.

    An export of the whole log starts at position 1 and is checked against the genesis hash; a
    partial export is checked from its first row's stored prev_hash.
    """
    rows = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            rows.append(ChainRow(int(item["position"]), str(item["prev_hash"]), str(item["hash"]), item["envelope"]))
        except (ValueError, KeyError, TypeError) as exc:
            return VerifyReport(ok=False, checked=len(rows), broken_at=None, reason=f"line {number} is not a log row: {exc}")
    start = GENESIS if rows and rows[0].position == 1 else None
    return verify_chain(rows, expected_prev=start)
