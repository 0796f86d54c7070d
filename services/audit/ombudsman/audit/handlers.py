"""Queries and commands of the audit service."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import text

from ombudsman.audit import queries, retention
from ombudsman.audit.log import SCHEMA, archived_head
from ombudsman.contracts import events as ev
from ombudsman.contracts.commands.audit import AddAlertRule, ArchiveLog
from ombudsman.contracts.envelope import Metadata
from ombudsman.contracts.replies import Forbidden, Invalid, NotFound, validated
from ombudsman.eventstore.files import file_reply
from ombudsman.eventstore.runtime import ServiceContext


async def logs(payload: dict[str, Any], meta: Metadata, ctx: ServiceContext) -> dict[str, Any]:
    f = queries.LogFilter.model_validate(payload)
    async with ctx.engine.connect() as conn:
        return await queries.search(conn, f)


async def stats(payload: dict[str, Any], meta: Metadata, ctx: ServiceContext) -> dict[str, Any]:
    f = queries.LogFilter.model_validate(payload)
    async with ctx.engine.connect() as conn:
        return await queries.stats(conn, f)


class ExportRequest(queries.LogFilter):
    format: Literal["jsonl", "csv"] = "jsonl"
    limit: int = Field(default=100_000, ge=1, le=100_000)


async def export(payload: dict[str, Any], meta: Metadata, ctx: ServiceContext) -> dict[str, Any]:
    req = ExportRequest.model_validate(payload)
    async with ctx.engine.connect() as conn:
        content = await queries.export(conn, req, req.format)
    reply = await file_reply(ctx.js, content.encode(), filename=f"audit.{req.format}",
                             content_type="application/x-ndjson" if req.format == "jsonl" else "text/csv",
                             replicas=ctx.settings.events_replicas)
    if reply.pop("content_b64", None) is not None:
        reply["content"] = content  # text formats stay readable inline; large ones: `object` in OMB_FILES
    return {"format": req.format, **reply}


class VerifyRequest(BaseModel):
    from_position: int = Field(default=1, ge=1, le=2**63 - 1)
    to_position: int | None = Field(default=None, ge=1, le=2**63 - 1)
    include_archives: bool = False  # also re-verify every archive segment's file and signature


async def verify(payload: dict[str, Any], meta: Metadata, ctx: ServiceContext) -> dict[str, Any]:
    """The chain over the live log (from the last archive head); with include_archives, the segments first."""
    req = VerifyRequest.model_validate(payload)
    async with ctx.engine.connect() as conn:
        archived_through, _ = await archived_head(conn)
        gaps = await queries.gaps(conn)
        extra = {"gaps": gaps, "archived_through": archived_through}
        if req.include_archives:
            archived, _ = await retention.verify_segments(conn, ctx.settings)
            if not archived.ok:
                return {**archived.model_dump(), **extra}
        report = await queries.verify(conn, req.from_position, req.to_position)
    if req.include_archives:
        report = report.model_copy(update={
            "checked": report.checked + archived.checked,
            "first_position": archived.first_position or report.first_position,
            "last_position": report.last_position or archived.last_position,
            "head_hash": report.head_hash if report.checked else archived.head_hash,
        })
    return {**report.model_dump(), **extra}


async def archive(payload: dict[str, Any], meta: Metadata, ctx: ServiceContext) -> dict[str, Any]:
    """Move log rows older than `before` (beyond the retention period) to a signed segment, then remove them."""
    if meta.actor.role not in ("admin", "service", "system"):
        raise Forbidden("only admins archive the audit log")
    req = validated(ArchiveLog, payload)
    return await retention.archive(ctx, req.before, meta)


async def archive_segments(payload: dict[str, Any], meta: Metadata, ctx: ServiceContext) -> dict[str, Any]:
    """The recorded segments (signed manifests) and the public key that verifies them offline."""
    async with ctx.engine.connect() as conn:
        manifests = await retention.segments(conn)
    return {"items": [m.model_dump(mode="json") for m in manifests],
            "public_key": retention.archive_public_key(ctx.settings),
            "retention_days": retention.RetentionSettings().retention_days,
            "archive_dir": str(retention.archive_dir(ctx.settings))}


class AsOfRequest(BaseModel):
    stream_type: str = Field(min_length=1)
    stream_id: str = Field(min_length=1)
    at: datetime


async def as_of(payload: dict[str, Any], meta: Metadata, ctx: ServiceContext) -> dict[str, Any]:
    req = AsOfRequest.model_validate(payload)
    async with ctx.engine.connect() as conn:
        result = await queries.as_of(conn, req.stream_type, req.stream_id, req.at)
    if result["events"] == 0:
        raise NotFound(f"no events of {req.stream_type} {req.stream_id!r} up to {req.at.isoformat()}")
    return result


async def add_alert_rule(payload: dict[str, Any], meta: Metadata, ctx: ServiceContext) -> dict[str, Any]:
    """Add a rule. Admins add any; a member subscribes to in-app notifications of one project only
    (the gateway checked that they belong to it: only it sends commands on behalf of people)."""
    rule = validated(AddAlertRule, payload)
    if meta.actor.role not in ("admin", "service", "system") and (rule.channel != "inapp" or not rule.project_id):
        raise Forbidden("only admins add webhook rules or rules on every project; "
                        "a member subscribes to in-app notifications of one project")
    if rule.channel == "webhook" and not rule.url:
        raise Invalid("a webhook rule needs a url", {"field": "url"})
    async with ctx.uow() as uow:
        version = await uow.version(f"rule-{rule.id}")
        await uow.emit(f"rule-{rule.id}", [ev.AlertRuleAdded(rule_id=rule.id, rule=rule.model_dump(mode="json"))],
                       meta, expected_version=version)
    return rule.model_dump(mode="json")


class RuleRef(BaseModel):
    id: str


async def remove_alert_rule(payload: dict[str, Any], meta: Metadata, ctx: ServiceContext) -> dict[str, Any]:
    if meta.actor.role not in ("admin", "service", "system"):
        raise Forbidden("only admins manage alert rules")
    ref = RuleRef.model_validate(payload)
    async with ctx.uow() as uow:
        version = await uow.version(f"rule-{ref.id}")
        if version == 0:
            raise NotFound(f"alert rule {ref.id!r} not found")
        await uow.emit(f"rule-{ref.id}", [ev.AlertRuleRemoved(rule_id=ref.id)], meta, expected_version=version)
    return {"id": ref.id, "removed": True}


async def alert_rules(payload: dict[str, Any], meta: Metadata, ctx: ServiceContext) -> dict[str, Any]:
    async with ctx.engine.connect() as conn:
        rows = (await conn.execute(text(f"SELECT rule FROM {SCHEMA}.alert_rules ORDER BY id"))).scalars().all()
    return {"items": list(rows)}


class NotificationsRequest(BaseModel):
    project_ids: list[str] | None = None
    include_dismissed: bool = False
    offset: int = Field(default=0, ge=0)
    limit: int = Field(default=50, ge=1, le=500)


async def notifications(payload: dict[str, Any], meta: Metadata, ctx: ServiceContext) -> dict[str, Any]:
    req = NotificationsRequest.model_validate(payload)
    if req.project_ids is None and meta.actor.role not in ("admin", "service", "system"):
        raise Forbidden("only an admin reads every notification; give project_ids")
    clauses: list[str] = []
    params: dict[str, Any] = {"limit": req.limit, "offset": req.offset}
    if not req.include_dismissed:
        clauses.append("dismissed_at IS NULL")
    if req.project_ids is not None:
        clauses.append("(project_id = ANY(:projects))")
        params["projects"] = req.project_ids
    where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
    async with ctx.engine.connect() as conn:
        total = (await conn.execute(text(f"SELECT count(*) FROM {SCHEMA}.notifications {where}"), params)).scalar_one()
        rows = (
            await conn.execute(
                text(
                    f"""SELECT id, rule_id, event_id, project_id, severity, summary, created_at, dismissed_at
                        FROM {SCHEMA}.notifications {where} ORDER BY id DESC LIMIT :limit OFFSET :offset"""
                ),
                params,
            )
        ).mappings().all()
    items = [{**r, "created_at": r["created_at"].isoformat(),
              "dismissed_at": r["dismissed_at"].isoformat() if r["dismissed_at"] else None} for r in rows]
    return {"items": items, "total": int(total)}


class DismissRequest(BaseModel):
    id: int
    project_ids: list[str] | None = None  # only a notification of these projects (None: an admin's, any)


async def dismiss_notification(payload: dict[str, Any], meta: Metadata, ctx: ServiceContext) -> dict[str, Any]:
    req = DismissRequest.model_validate(payload)
    if req.project_ids is None and meta.actor.role not in ("admin", "service", "system"):
        raise Forbidden("only an admin dismisses any notification; give project_ids")
    scope = "" if req.project_ids is None else " AND project_id = ANY(:projects)"
    async with ctx.uow() as uow:
        row = (
            await uow.conn.execute(
                text(f"UPDATE {SCHEMA}.notifications SET dismissed_at = now() WHERE id = :id{scope} RETURNING rule_id"),
                {"id": req.id, **({} if req.project_ids is None else {"projects": req.project_ids})},
            )
        ).first()
        if row is None:
            raise NotFound(f"notification {req.id} not found")
        stream = f"notification-{req.id}"
        await uow.emit(stream, [ev.NotificationDismissed(notification_id=req.id, rule_id=row[0])], meta,
                       expected_version=await uow.version(stream))
    return {"id": req.id, "dismissed": True}


COMMANDS = {
    "add_alert_rule": add_alert_rule,
    "remove_alert_rule": remove_alert_rule,
    "dismiss_notification": dismiss_notification,
    "archive": archive,
}
QUERIES = {
    "logs": logs,
    "stats": stats,
    "export": export,
    "verify": verify,
    "as_of": as_of,
    "alert_rules": alert_rules,
    "notifications": notifications,
    "archive_segments": archive_segments,
}
