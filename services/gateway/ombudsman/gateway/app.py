"""The gateway's FastAPI app: REST under /api/v1, WebSockets under /ws, NATS and PostgreSQL in the lifespan."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ombudsman.eventstore import metrics, tracing
from ombudsman.eventstore.db import create_engine
from ombudsman.eventstore.outbox import OutboxRelay
from ombudsman.eventstore.runtime import connect_nats
from ombudsman.eventstore.streams import ensure_streams
from ombudsman.gateway import errors
from ombudsman.gateway.auth import LoginRateLimiter, TokenService
from ombudsman.gateway.bus import Bus
from ombudsman.gateway.docs import router as docs_router
from ombudsman.gateway.handlers import UserService
from ombudsman.gateway.livecache import Invalidator
from ombudsman.gateway.migrations import SCHEMA, migrate
from ombudsman.gateway.oidc import OidcClient
from ombudsman.gateway.routes import (
    assist,
    audit,
    auth,
    automate,
    catalog,
    codegen,
    connections,
    health,
    keys,
    mappings,
    pipelines,
    project_results,
    project_workloads,
    projects,
    relationships,
    results,
    runs,
    sso,
    workloads,
)
from ombudsman.gateway.runwatch import RunFeeds
from ombudsman.gateway.settings import GatewaySettings, get_settings
from ombudsman.gateway.tracing import Traced
from ombudsman.gateway.ui import router as ui_router
from ombudsman.gateway.ws import router as ws_router

log = logging.getLogger("ombudsman.gateway")
API = "/api/v1"

SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
    (b"strict-transport-security", b"max-age=63072000; includeSubDomains"),
]
# The docs page loads Swagger UI from a CDN; every other reply is JSON or a file.
_API_CSP = b"default-src 'none'; frame-ancestors 'none'"
# the docs' assets come from the gateway itself (docs.py): nothing from outside
_DOCS_CSP = (b"default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
             b"img-src 'self' data:; worker-src 'self' blob:; frame-ancestors 'none'")


class Hardening:
    """Pure ASGI middleware: security headers on every reply, and a last-resort catch that turns
    any exception escaping the app into the error shape (code internal, no details, no traceback)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    @staticmethod
    def _with_headers(send: Send, docs: bool) -> Send:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [h for h in message.get("headers", []) if h[0].lower() != b"server"]
                present = {h[0].lower() for h in headers}
                headers += [h for h in SECURITY_HEADERS if h[0] not in present]
                if b"content-security-policy" not in present:
                    headers.append((b"content-security-policy", _DOCS_CSP if docs else _API_CSP))
                if b"cache-control" not in present:
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        return send_with_headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False
        docs = scope.get("path", "") in ("/docs", "/redoc")
        raw = (scope.get("raw_path") or b"") + b"?" + (scope.get("query_string") or b"")
        if b"%00" in raw or b"\x00" in raw or "\x00" in scope.get("path", ""):
            # NUL is never valid input (PostgreSQL cannot store it); refuse it before any route runs.
            response = errors.error_response(422, "invalid", "the URL must not contain NUL characters",
                                              {"fields": [{"field": "url", "in": "query", "message": "NUL character"}]})
            await response(scope, receive, self._with_headers(send, docs))
            return

        secured = self._with_headers(send, docs)
        status = 500
        began = time.perf_counter()

        async def send_with_headers(message: Message) -> None:
            nonlocal started, status
            if message["type"] == "http.response.start":
                started = True
                status = message["status"]
            await secured(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception as exc:
            if started:
                log.error("unhandled %s on %s %s after the answer began", type(exc).__name__, scope.get("method"),
                          scope.get("path"), exc_info=exc)
                return
            response = errors.unhandled_response(exc, scope.get("method", ""), scope.get("path", ""))
            await response(scope, receive, send_with_headers)
        finally:
            # the router leaves the matched route in the scope: label by its template, never the path
            # (an API route's own path lacks the prefix its router was included under)
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            if route.startswith("/") and scope.get("path", "").startswith(f"{API}/") and not route.startswith(API):
                route = API + route
            metrics.observe_http(scope.get("method", ""), route, status, time.perf_counter() - began)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: GatewaySettings = app.state.settings
    if not settings.database_url:
        raise RuntimeError("OMB_DATABASE_URL is not set")
    engine = create_engine(settings.database_url, pool_size=10, max_overflow=10)
    await migrate(engine)
    metrics.serve("gateway", settings.metrics_port, engine, settings.metrics_addr)
    nc = await connect_nats(settings.nats_url, name="ombudsman-gateway", user=settings.nats_user,
                            password=settings.nats_password)
    js = nc.jetstream()
    await ensure_streams(js, replicas=settings.events_replicas)
    relay = OutboxRelay(engine, SCHEMA, js)
    await relay.start()
    app.state.nc = nc
    app.state.bus = Bus(nc, settings.request_timeout)
    app.state.run_feeds = RunFeeds(nc)
    app.state.users = users = UserService(engine, app.state.tokens, settings, on_commit=relay.notify)
    # token, membership and project-list answers are served from memory; user and project events invalidate them
    invalidator = Invalidator(nc, {"user": users.auth_cache,
                                   "project": (app.state.bus.members, app.state.bus.project_lists)})
    await invalidator.start()
    try:
        yield
    finally:
        await invalidator.stop()
        await app.state.oidc.close()
        await relay.stop()
        await nc.drain()
        metrics.forget("gateway")
        await engine.dispose()


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    """The gateway app; its lifespan connects to NATS and PostgreSQL and migrates schema `gateway`."""
    settings = settings or get_settings()
    app = FastAPI(
        title="Ombudsman API",
        version="1.0.0",
        description="Data-migration validation: projects, connections, metadata, mappings, pipelines, runs, "
        "batches, results and exports, workload analysis, audit. Authenticate with POST /api/v1/auth/login "
        "and send `Authorization: Bearer <access_token>`. Every error is `{error: {code, message, details}}`.",
        lifespan=lifespan,
        openapi_url=f"{API}/openapi.json",
        docs_url=None,  # served by docs.py, with assets from the package instead of a CDN
        redoc_url=None,
        # FastAPI's own OpenTelemetry spans, metrics and logs per request would nest inside the one
        # span `Traced` opens (and cost as much again): the gateway keeps only its own.
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    app.state.settings = settings
    if settings.bcrypt_rounds < 12:
        log.warning("OMB_BCRYPT_ROUNDS=%d: below the production cost of 12 (tests only)", settings.bcrypt_rounds)
    app.state.tokens = TokenService(settings)
    app.state.login_limiter = LoginRateLimiter(settings.login_rate_per_minute)
    app.state.oidc = OidcClient(settings)  # single sign-on; its routes answer 404 unless configured
    errors.install(app)
    # the routes under /projects/{project_id}: one module per backing service
    project_routes = (projects, connections, catalog, relationships, automate, mappings, project_results,
                      project_workloads, codegen)
    for module in (auth, sso, health, *project_routes, keys, assist, pipelines, runs, results, workloads, audit):
        app.include_router(module.router, prefix=API)
    app.include_router(ws_router)
    app.include_router(docs_router)  # /docs, /redoc and their assets
    app.include_router(ui_router)  # the web UI at / and /ui/...
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_credentials="*" not in settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type"],
            max_age=600,
        )
    app.add_middleware(Hardening)
    app.add_middleware(Traced)  # outermost: the request's span covers everything below it
    tracing.setup_tracing("gateway")
    return app


def app_factory() -> Any:
    """For `uvicorn --factory ombudsman.gateway.app:app_factory`."""
    return create_app()
