"""Audit log (logs, stats, export, verify, archive, replay as-of) and notifications."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response

from ombudsman.contracts.commands.audit import AlertRuleCreate, ArchiveBase
from ombudsman.contracts.envelope import new_id
from ombudsman.contracts.replies import Invalid
from ombudsman.gateway.bus import Bus
from ombudsman.gateway.deps import Admin, BusDep, CurrentUser, Limit, Offset, Principal, visible_project
from ombudsman.gateway.errors import COMMON_ERRORS
from ombudsman.gateway.routes.runs import FILE_RESPONSES, file_response
from ombudsman.gateway.schemas import Input, Page

router = APIRouter(tags=["audit"], responses=COMMON_ERRORS)

Text = Annotated[str | None, Query(max_length=200)]
MAX_POSITION = 2**63 - 1  # log positions are PostgreSQL bigints


class AlertRuleIn(Input, AlertRuleCreate):
    """Subscribe to notifications: events matching `event_types` (and `project_id`) notify `channel`."""


class ArchiveIn(Input, ArchiveBase):
    """Archive the log rows that occurred before `before` (which must lie beyond the retention period)."""


def _filters(**values: Any) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in values.items() if v is not None}


@router.get("/audit/logs", response_model=Page, summary="Audit log entries, filtered and paged")
async def logs(
    user: CurrentUser, bus: BusDep, offset: Offset = 0, limit: Limit = 50,
    since: datetime | None = None, until: datetime | None = None, actor: Text = None, action: Text = None,
    stream_type: Text = None, stream_id: Text = None, project_id: Text = None,
) -> Any:
    if project_id:
        await visible_project(bus, user, project_id)
    elif not user.is_admin:
        raise Invalid("project_id is required (only an admin reads the whole log)", {"field": "project_id"})
    payload = _filters(since=since, until=until, actor=actor, action=action, stream_type=stream_type,
                       stream_id=stream_id, project_id=project_id, offset=offset, limit=limit)
    return Page.of(await bus.query("audit", "logs", payload, user.actor), offset, limit)


@router.get("/audit/stats", summary="Event counts by type, actor and day (one project's, or the whole log's)")
async def stats(user: CurrentUser, bus: BusDep, since: datetime | None = None, until: datetime | None = None,
                project_id: Text = None) -> Any:
    if project_id:
        await visible_project(bus, user, project_id)
    elif not user.is_admin:
        raise Invalid("project_id is required (only an admin reads the whole log)", {"field": "project_id"})
    return await bus.query("audit", "stats", _filters(since=since, until=until, project_id=project_id), user.actor)


@router.get("/audit/export", response_class=Response, responses=FILE_RESPONSES)
async def export(user: Admin, bus: BusDep, format: Literal["jsonl", "csv"] = "jsonl",
                 since: datetime | None = None, until: datetime | None = None,
                 actor: Text = None, stream_type: Text = None, project_id: Text = None) -> Response:
    payload = _filters(format=format, since=since, until=until, actor=actor, stream_type=stream_type,
                       project_id=project_id)
    return await file_response(bus, await bus.query("audit", "export", payload, user.actor, wait=120), format)


@router.get("/audit/verify", summary="Verify the hash chain")
async def verify(user: Admin, bus: BusDep,
                 from_position: Annotated[int | None, Query(ge=1, le=MAX_POSITION)] = None,
                 to_position: Annotated[int | None, Query(ge=1, le=MAX_POSITION)] = None,
                 include_archives: Annotated[bool, Query(description="Also re-verify every archive segment")] = False,
                 ) -> Any:
    payload = _filters(from_position=from_position, to_position=to_position)
    if include_archives:
        payload["include_archives"] = True
    return await bus.query("audit", "verify", payload, user.actor, wait=300)


@router.post("/audit/archive", summary="Move log rows older than `before` to a signed archive segment (admin)")
async def archive(body: ArchiveIn, user: Admin, bus: BusDep) -> Any:
    return await bus.command("audit", "archive", {"before": body.before.isoformat()}, user.actor, wait=600)


@router.get("/audit/archive-segments", summary="The archive segments (signed manifests) and their public key (admin)")
async def archive_segments(user: Admin, bus: BusDep) -> Any:
    return await bus.query("audit", "archive_segments", {}, user.actor)


@router.get("/audit/as-of", summary="A stream's state replayed as it was at a moment")
async def as_of(user: CurrentUser, bus: BusDep,
                stream_type: Annotated[str, Query(min_length=1, max_length=50)],
                stream_id: Annotated[str, Query(min_length=1, max_length=100)],
                at: datetime) -> Any:
    if stream_type == "project":
        await visible_project(bus, user, stream_id)
    elif not user.is_admin:
        raise Invalid("only an admin replays streams other than projects", {"field": "stream_type"})
    payload = {"stream_type": stream_type, "stream_id": stream_id, "at": at.isoformat()}
    return await bus.query("audit", "as_of", payload, user.actor)


@router.get("/notifications", tags=["notifications"])
async def notifications(user: CurrentUser, bus: BusDep) -> Any:
    """Notifications of the projects you belong to; an admin also sees platform alerts (refused events)."""
    payload: dict[str, Any] = {"user_id": user.id}
    if not user.is_admin:
        payload["project_ids"] = await _member_projects(bus, user)
    return await bus.query("audit", "notifications", payload, user.actor)


async def _member_projects(bus: Bus, user: Principal) -> list[str]:
    ids: list[str] = []
    while True:
        page = await bus.query("projects", "list", {"member": user.id, "offset": len(ids), "limit": 500}, user.actor)
        items = page.get("items") or []
        ids += [str(p["id"]) for p in items]
        if not items or len(ids) >= int(page.get("total", len(ids))):
            return ids


@router.post("/notifications/subscribe", status_code=201, tags=["notifications"])
async def subscribe(body: AlertRuleIn, user: CurrentUser, bus: BusDep) -> Any:
    if body.project_id:
        await visible_project(bus, user, body.project_id)
    elif not user.is_admin:
        raise Invalid("project_id is required (only an admin subscribes to every project)", {"field": "project_id"})
    if body.channel == "webhook" and not user.is_admin:
        raise Invalid("only an admin adds webhook alerts", {"field": "channel"})
    # the audit service's rule: an id of its own, `inapp` for in-app notifications, `url` for a webhook
    payload = body.command(new_id()).model_dump(mode="json", exclude_none=True)
    return await bus.command("audit", "add_alert_rule", payload, user.actor)


@router.post("/notifications/{notification_id}/dismiss", tags=["notifications"])
async def dismiss(notification_id: Annotated[str, Path(min_length=1, max_length=100)],
                  user: CurrentUser, bus: BusDep) -> Any:
    """Mark a notification read: one of a project you belong to (an admin: any)."""
    payload: dict[str, Any] = {"id": notification_id}
    if not user.is_admin:
        payload["project_ids"] = await _member_projects(bus, user)
    return await bus.command("audit", "dismiss_notification", payload, user.actor)
