"""The audit chain: canonical JSON, row hashes, verification, and alert rule matching. Pure.

Shared by the audit service (which writes and verifies the log) and the command line
(`ombudsman audit verify FILE` re-verifies an exported log offline).

Each row of `audit.event_log` carries `prev_hash` and `hash = sha256(prev_hash || canonical_json(envelope))`,
so one altered, inserted or missing row breaks the chain at that position.
"""

from __future__ import annotations

import csv
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


def rule_matches(rule: AlertRule, envelope: dict[str, Any], project: str | None = None) -> bool:
    """Does this event fire the rule? `project`: the event's project when the caller knows it
    better than the event says (a run's end names no project; its stream's first event does)."""
    if not rule.enabled:
        return False
    if rule.event_types and envelope.get("event_type") not in rule.event_types:
        return False
    if rule.project_id and (project or project_of(envelope)) != rule.project_id:
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


# The CSV export's columns; `envelope` is the hashed JSON, the others are for people reading the
# sheet and are checked against the envelope so a forged display column cannot pass unseen.
CSV_COLUMNS = ("position", "occurred_at", "event_type", "stream_type", "stream_id", "actor", "prev_hash", "hash",
               "envelope")
_CSV_DISPLAYED = {"event_type": ("event_type",), "stream_type": ("stream_type",), "stream_id": ("stream_id",),
                  "actor": ("actor", "name")}
_CSV_FIELD_LIMIT = 64 * 1024 * 1024  # one envelope per cell: a run's bounded StepResult fits easily


def _displayed_mismatch(record: dict[str, str], envelope: dict[str, Any]) -> str | None:
    for column, path in _CSV_DISPLAYED.items():
        value: Any = envelope
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if value is not None and record.get(column) != str(value):
            return f"column {column} says {record.get(column)!r} but the hashed envelope says {value!r}"
    return None


def verify_export_csv(lines: Iterable[str]) -> VerifyReport:
    """Re-verify a CSV export of the log offline: the chain over its `envelope` column, and every
    displayed column (event_type, stream_type, stream_id, actor) against the hashed envelope.
    ValueError when the header is not the export's."""
    csv.field_size_limit(max(csv.field_size_limit(), _CSV_FIELD_LIMIT))
    reader = csv.DictReader(lines)
    missing = [c for c in ("position", "prev_hash", "hash", "envelope") if c not in (reader.fieldnames or [])]
    if missing:
        raise ValueError(f"not an audit CSV export: no column {', '.join(missing)}")
    rows: list[ChainRow] = []
    forged: tuple[int, str] | None = None
    try:
        for record in reader:
            envelope = json.loads(record["envelope"])
            row = ChainRow(int(record["position"]), str(record["prev_hash"]), str(record["hash"]), envelope)
            mismatch = _displayed_mismatch(record, envelope) if isinstance(envelope, dict) else "envelope is not an object"
            if forged is None and mismatch:
                forged = (row.position, mismatch)
            rows.append(row)
    except (ValueError, TypeError, csv.Error) as exc:
        return VerifyReport(ok=False, checked=len(rows), reason=f"CSV line {reader.line_num} is not a log row: {exc}")
    report = verify_chain(rows, expected_prev=GENESIS if rows and rows[0].position == 1 else None)
    if forged is not None and (report.ok or (report.broken_at is not None and forged[0] < report.broken_at)):
        position, why = forged
        checked = sum(1 for r in rows if r.position < position)
        return VerifyReport(ok=False, checked=checked, first_position=report.first_position,
                            broken_at=position, reason=why)
    return report


# --- archive segments ------------------------------------------------------------------------
#
# Rows beyond the retention period leave the live log as a segment: a gzip'd JSON Lines file
# (one {position, stream_seq, prev_hash, hash, envelope} per line, the export format) plus a
# manifest naming the segment's first/last position, the chain hash before it (`prev_hash`), the
# chain head at its end (`head_hash`), the row count and the file's sha256, signed with Ed25519.
# Anyone holding the public key can re-verify a segment offline; the live log (or the next
# segment) continues the chain from `head_hash`.

SEGMENT_FORMAT = "ombudsman-audit-segment/1"


class SegmentManifest(BaseModel):
    """What a segment holds; `signature` is Ed25519 over the canonical JSON of every other field."""

    format: str = SEGMENT_FORMAT
    segment: int
    file: str
    first_position: int
    last_position: int
    first_stream_seq: int
    last_stream_seq: int
    row_count: int
    prev_hash: str
    head_hash: str
    before: str
    created_at: str
    sha256: str
    public_key: str = ""  # raw Ed25519 public key, hex
    signature: str = ""  # hex

    def signed_bytes(self) -> bytes:
        """The bytes the signature covers."""
        return canonical_json(self.model_dump(exclude={"signature"})).encode()


def segment_manifest_name(segment_file: str) -> str:
    """`segment-000001.jsonl.gz` -> `segment-000001.manifest.json`."""
    base = segment_file[: -len(".jsonl.gz")] if segment_file.endswith(".jsonl.gz") else segment_file
    return base + ".manifest.json"


def signing_seed(secret: str) -> bytes:
    """The 32-byte Ed25519 seed of archive signatures, derived from the service's secret key."""
    return hashlib.sha256(f"audit-archive:{secret}".encode()).digest()


def public_key_of(seed: bytes) -> str:
    """The hex raw public key of a signing seed."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    key = Ed25519PrivateKey.from_private_bytes(seed).public_key()
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw).hex()


def sign_manifest(manifest: SegmentManifest, seed: bytes) -> SegmentManifest:
    """The manifest with `public_key` and `signature` filled in."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    unsigned = manifest.model_copy(update={"public_key": public_key_of(seed), "signature": ""})
    signature = Ed25519PrivateKey.from_private_bytes(seed).sign(unsigned.signed_bytes()).hex()
    return unsigned.model_copy(update={"signature": signature})


def signature_valid(manifest: SegmentManifest) -> bool:
    """Does the manifest's signature verify under the public key it names?"""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(manifest.public_key))
        key.verify(bytes.fromhex(manifest.signature), manifest.signed_bytes())
    except (InvalidSignature, ValueError):
        return False
    return True


def segment_line(row: ChainRow, stream_seq: int) -> str:
    """One line of a segment file."""
    return json.dumps({"position": row.position, "stream_seq": stream_seq, "prev_hash": row.prev_hash,
                       "hash": row.hash, "envelope": row.envelope}, sort_keys=True) + "\n"


class UnreadableSegment(Exception):
    """The segment file cannot be read at all (missing, not gzip)."""


def verify_segment(
    path: Any, manifest: SegmentManifest, *, public_key: str | None = None, expected_prev: str | None = None
) -> VerifyReport:
    """Re-verify one archive segment file (a `pathlib.Path`) against its manifest, streaming.

    Checks, in order: the signature (and, when `public_key` is given, that the manifest was signed
    with it), that the segment continues the chain (`expected_prev`: the previous segment's head,
    GENESIS for the first, None to skip), the chain inside the file, that its rows, count and head
    are the manifest's, and the file's sha256. The first failure is reported with a position.
    Raises `UnreadableSegment` when the file is missing or not gzip.
    """
    import gzip
    import zlib

    first = manifest.first_position

    def broken(reason: str, at: int | None = first, checked: int = 0) -> VerifyReport:
        return VerifyReport(ok=False, checked=checked, first_position=first, broken_at=at,
                            reason=f"segment {manifest.segment} ({manifest.file}): {reason}")

    if not manifest.signature or not signature_valid(manifest):
        return broken("the manifest's signature does not verify (the manifest was altered or is unsigned)")
    if public_key is not None and manifest.public_key != public_key:
        return broken(f"signed by key {manifest.public_key[:16]}..., not the trusted key {public_key[:16]}...")
    if expected_prev is not None and manifest.prev_hash != expected_prev:
        return broken("its prev_hash does not continue the chain from the previous segment (a segment is missing "
                      "or was replaced)")
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as raw:
            for chunk in iter(lambda: raw.read(1 << 20), b""):
                digest.update(chunk)
    except OSError as exc:
        raise UnreadableSegment(f"cannot read {path}: {exc}") from exc
    parse_error: list[str] = []

    def rows() -> Any:
        try:
            with gzip.open(path, "rt", encoding="utf-8") as lines:
                for number, line in enumerate(lines, start=1):
                    if not line.strip():
                        continue
                    try:
                        item = json.loads(line)
                        yield ChainRow(int(item["position"]), str(item["prev_hash"]), str(item["hash"]),
                                       item["envelope"])
                    except (ValueError, KeyError, TypeError) as exc:
                        parse_error.append(f"line {number} is not a log row: {exc}")
                        return
        except (OSError, EOFError, zlib.error, UnicodeDecodeError) as exc:
            parse_error.append(f"the file is not a readable gzip segment: {exc}")

    report = verify_chain(rows(), expected_prev=manifest.prev_hash)
    altered = digest.hexdigest() != manifest.sha256
    if not report.ok:
        prefix = "the file was altered: " if altered else ""
        return broken(prefix + str(report.reason), report.broken_at, report.checked)
    if parse_error:
        at = (report.last_position or first - 1) + 1
        return broken(parse_error[0], at, report.checked)
    if report.first_position is not None and report.first_position != first:
        return broken(f"the file starts at position {report.first_position}, the manifest says {first}",
                      first, report.checked)
    if report.last_position != manifest.last_position or report.checked != manifest.row_count:
        end = (report.last_position or first - 1) + 1
        return broken(f"the file holds {report.checked} rows ending at {report.last_position}, the manifest says "
                      f"{manifest.row_count} ending at {manifest.last_position} (rows were removed)", end,
                      report.checked)
    if report.head_hash != manifest.head_hash:
        return broken("the chain head of the file differs from the signed head_hash", manifest.last_position,
                      report.checked)
    if altered:
        return broken("the file's sha256 differs from the signed manifest (the file was rewritten)", None,
                      report.checked)
    return report
