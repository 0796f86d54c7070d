"""Reading the audit log: search, statistics, export, verification and replay as-of."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from ombudsman.audit.domain import VerifyReport, verify_chain
from ombudsman.audit.log import SCHEMA, archived_head, chain_rows
from ombudsman.contracts.chain import CSV_COLUMNS
from ombudsman.contracts.envelope import EventEnvelope
from ombudsman.eventstore.aggregate import fold, registered, state_json

MAX_PAGE = 1000


class LogFilter(BaseModel):
    since: datetime | None = None
    until: datetime | None = None
    actor: str | None = None  # actor id or name
    action: str | None = None  # event type
    stream_type: str | None = None
    stream_id: str | None = None
    project_id: str | None = None
    status: str | None = None  # data.status (runs, steps)
    offset: int = Field(default=0, ge=0)
    limit: int = Field(default=100, ge=1, le=MAX_PAGE)


def _where(f: LogFilter) -> tuple[str, dict[str, Any]]:
    clauses: list[str] = []
    params: dict[str, Any] = {}
    if f.since:
        clauses.append("occurred_at >= :since")
        params["since"] = f.since
    if f.until:
        clauses.append("occurred_at <= :until")
        params["until"] = f.until
    if f.actor:
        clauses.append("(actor_id = :actor OR actor_name = :actor)")
        params["actor"] = f.actor
    if f.action:
        clauses.append("event_type = :action")
        params["action"] = f.action
    if f.stream_type:
        clauses.append("stream_type = :stream_type")
        params["stream_type"] = f.stream_type
    if f.stream_id:
        clauses.append("stream_id = :stream_id")
        params["stream_id"] = f.stream_id
    if f.project_id:
        clauses.append("project_id = :project_id")
        params["project_id"] = f.project_id
    if f.status:
        clauses.append("envelope->'data'->>'status' = :status")
        params["status"] = f.status
    return ("WHERE " + " AND ".join(clauses)) if clauses else "", params


def _row(r: Any) -> dict[str, Any]:
    return {
        "position": r.position,
        "event_id": r.event_id,
        "event_type": r.event_type,
        "stream_type": r.stream_type,
        "stream_id": r.stream_id,
        "project_id": r.project_id,
        "actor": {"id": r.actor_id, "name": r.actor_name},
        "occurred_at": r.occurred_at.isoformat(),
        "recorded_at": r.recorded_at.isoformat(),
        "envelope": json.loads(r.body),
        "prev_hash": r.prev_hash,
        "hash": r.hash,
    }


async def search(conn: AsyncConnection, f: LogFilter) -> dict[str, Any]:
    """A page of log rows matching the filter, oldest first, with the total."""
    where, params = _where(f)
    total = (await conn.execute(text(f"SELECT count(*) FROM {SCHEMA}.event_log {where}"), params)).scalar_one()
    rows = (
        await conn.execute(
            text(
                f"""SELECT position, event_id, event_type, stream_type, stream_id, project_id, actor_id, actor_name,
                    occurred_at, recorded_at, body, prev_hash, hash FROM {SCHEMA}.event_log {where}
                    ORDER BY position LIMIT :limit OFFSET :offset"""
            ),
            {**params, "limit": f.limit, "offset": f.offset},
        )
    ).all()
    return {"items": [_row(r) for r in rows], "total": int(total), "offset": f.offset, "limit": f.limit}


async def stats(conn: AsyncConnection, f: LogFilter) -> dict[str, Any]:
    """Counts by action, by actor and by day."""
    where, params = _where(f)

    async def grouped(expr: str) -> dict[str, int]:
        rows = await conn.execute(
            text(f"SELECT {expr} AS k, count(*) FROM {SCHEMA}.event_log {where} GROUP BY 1 ORDER BY 1"), params
        )
        return {str(k): int(n) for k, n in rows.all()}

    total = (await conn.execute(text(f"SELECT count(*) FROM {SCHEMA}.event_log {where}"), params)).scalar_one()
    return {
        "total": int(total),
        "by_action": await grouped("event_type"),
        "by_actor": await grouped("coalesce(actor_name, actor_id)"),
        "by_day": await grouped("to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')"),
        "gaps": await gaps(conn),
    }


async def gaps(conn: AsyncConnection) -> list[dict[str, int]]:
    rows = await conn.execute(text(f"SELECT expected_seq, received_seq FROM {SCHEMA}.gaps ORDER BY expected_seq"))
    return [{"expected_sequence": int(e), "received_sequence": int(r)} for e, r in rows.all()]


async def export(conn: AsyncConnection, f: LogFilter, fmt: Literal["jsonl", "csv"]) -> str:
    """Rows with their hashes, as JSON Lines or CSV, so an auditor can re-verify offline."""
    page = await search(conn, f)
    if fmt == "jsonl":
        return "".join(
            json.dumps({"position": r["position"], "prev_hash": r["prev_hash"], "hash": r["hash"],
                        "envelope": r["envelope"]}, sort_keys=True) + "\n"
            for r in page["items"]
        )
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for r in page["items"]:
        writer.writerow([r["position"], r["occurred_at"], r["event_type"], r["stream_type"], r["stream_id"],
                         r["actor"]["name"], r["prev_hash"], r["hash"], json.dumps(r["envelope"], sort_keys=True)])
    return out.getvalue()


async def verify(conn: AsyncConnection, from_position: int = 1, to_position: int | None = None) -> VerifyReport:
    """Recompute the chain over a range of positions of the live log.

    Archived positions are skipped: the live log's first row must continue from the last archive
    segment's head hash (`verify_segments` re-checks the segments' files themselves).
    """
    archived_through, archived_hash = await archived_head(conn)
    start = max(from_position, archived_through + 1)
    expected_prev: str | None
    if start == archived_through + 1:
        expected_prev = archived_hash
    else:
        expected_prev = (
            await conn.execute(text(f"SELECT hash FROM {SCHEMA}.event_log WHERE position = :p"), {"p": start - 1})
        ).scalar_one_or_none()
    rows = [r async for r in chain_rows(conn, from_position=start, to_position=to_position)]
    report = verify_chain(rows, expected_prev=expected_prev)
    if report.ok and rows and start == archived_through + 1 and rows[0].position != start:
        return VerifyReport(ok=False, checked=0, broken_at=start,
                            reason=f"row {start} is missing (first row is {rows[0].position})")
    return report


async def as_of(conn: AsyncConnection, stream_type: str, stream_id: str, at: datetime) -> dict[str, Any]:
    """The state of a stream at an instant, rebuilt only from logged events up to that instant: folded by
    the aggregate registered for its stream type (eventstore.aggregate), else the events themselves."""
    rows = (
        await conn.execute(
            text(
                f"""SELECT body FROM {SCHEMA}.event_log WHERE stream_type = :t AND stream_id = :i AND occurred_at <= :at
                    ORDER BY position"""
            ),
            {"t": stream_type, "i": stream_id, "at": at},
        )
    ).all()
    envelopes = [EventEnvelope.model_validate_json(r[0]) for r in rows]
    result: dict[str, Any] = {
        "stream_type": stream_type,
        "stream_id": stream_id,
        "at": at.isoformat(),
        "events": len(envelopes),
        "version": envelopes[-1].version if envelopes else 0,
    }
    aggregate = registered().get(stream_type)
    if aggregate is not None:
        result["state"] = state_json(fold(aggregate, stream_id, envelopes))
    else:
        result["history"] = [e.model_dump(mode="json") for e in envelopes]
    return result
