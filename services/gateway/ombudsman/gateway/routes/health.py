"""Health of the gateway and of every service behind it."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from ombudsman.gateway.deps import Admin, BusDep
from ombudsman.gateway.errors import COMMON_ERRORS
from ombudsman.gateway.schemas import Health

router = APIRouter(tags=["health"])

SERVICES = ["projects", "metadata", "executor", "workload", "audit"]


@router.get("/health", response_model=Health,
            responses={503: {"model": Health, "description": "A service is not answering (strict=true)"}})
async def health(request: Request, strict: Annotated[bool, Query(description="503 unless every service is ok")] = False) -> Any:
    bus = request.app.state.bus
    timeout = request.app.state.settings.health_timeout
    answers = await asyncio.gather(*(bus.health(service, timeout) for service in SERVICES))
    services = dict(zip(SERVICES, answers, strict=True))
    ok = all(a.get("status") == "ok" for a in answers)
    body: dict[str, Any] = {"status": "ok" if ok else "degraded", "gateway": "ok", "services": services}
    if strict and not ok:
        return JSONResponse(Health.model_validate(body).model_dump(), status_code=503)
    return body


@router.get("/workers", summary="The step workers answering now, with their connection pools (admins)",
            responses=COMMON_ERRORS)
async def workers(user: Admin, bus: BusDep) -> Any:
    """Each step worker that answers within half a second: its name, concurrency, steps done since
    it started, and the database connections it keeps open (per project connection: pool size,
    open, in use, idle). No URL or secret is ever part of it."""
    found = await bus.worker_stats({}, user.actor)
    return {"workers": found, "total": len(found), "steps_done": sum(int(w.get("steps_done") or 0) for w in found)}
