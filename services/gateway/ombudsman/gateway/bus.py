"""Commands and queries to the services, as the acting user, with one error vocabulary."""

from __future__ import annotations

from typing import Any

from nats.aio.client import Client as NATS

from ombudsman.contracts.envelope import Actor, Metadata
from ombudsman.contracts.replies import OmbudsmanError, Timeout, Unavailable
from ombudsman.contracts.subjects import command_subject, health_subject, query_subject, worker_stats_subject
from ombudsman.eventstore import rpc
from ombudsman.gateway.livecache import LiveCache, WholeCache

# Kept pages of GET /projects: at most this many, each at most this size (a bigger page is asked
# every time), so the cache stays under ~128 MiB whatever the callers page through.
PROJECT_LIST_PAGES = 1_000
PROJECT_LIST_PAGE_BYTES = 128 * 1024


class Bus:
    """The gateway's side of request/reply: every call names a service and carries the actor."""

    def __init__(self, nc: NATS, default_wait: float):
        self.nc = nc
        self.default_wait = default_wait
        # project id -> its member ids, kept current by project events; see deps.require_member
        self.members = LiveCache(lambda: False)  # answers kept 2 s until the app's Invalidator is live
        # (user or admin, page, filter) -> the encoded page of GET /projects; any project event forgets
        # them all, and so does any project command sent from here (see routes.projects.list_projects)
        self.project_lists = WholeCache(lambda: False, max_entries=PROJECT_LIST_PAGES)

    async def command(self, service: str, name: str, payload: dict[str, Any], actor: Actor,
                      wait: float | None = None) -> Any:
        try:
            return await self._call(service, command_subject(service, name), payload, actor, wait)
        finally:
            if service == "projects":
                # the change is committed when the reply comes (its event may still be on its way
                # back): this replica's next list is asked again; others hear the event
                self.project_lists.forget()

    async def query(self, service: str, name: str, payload: dict[str, Any], actor: Actor,
                    wait: float | None = None) -> Any:
        return await self._call(service, query_subject(service, name), payload, actor, wait)

    async def _call(self, service: str, subject: str, payload: dict[str, Any], actor: Actor,
                    wait: float | None) -> Any:
        try:
            return await rpc.request(self.nc, subject, payload, meta=Metadata(actor=actor),
                                     timeout=wait or self.default_wait)
        except (Unavailable, Timeout) as exc:
            # A service that does not answer (no responder, or no reply in time) is a 503.
            raise Unavailable(f"service {service!r} did not answer", {"service": service, "reason": exc.message}) from None
        except OmbudsmanError:
            raise
        except TimeoutError:
            raise Unavailable(f"service {service!r} did not answer", {"service": service, "reason": "timeout"}) from None

    async def worker_stats(self, payload: dict[str, Any], actor: Actor, wait: float = 0.5) -> list[dict[str, Any]]:
        """Every step worker's figures and connection pools (those answering within `wait` seconds)."""
        found = await rpc.gather(self.nc, worker_stats_subject(), payload, meta=Metadata(actor=actor), wait=wait)
        return sorted((w for w in found if isinstance(w, dict)), key=lambda w: str(w.get("worker")))

    async def health(self, service: str, wait: float) -> dict[str, Any]:
        try:
            result = await rpc.request(self.nc, health_subject(service), {},
                                       meta=Metadata(actor=Actor.service("gateway")), timeout=wait)
            status = result.get("status", "ok") if isinstance(result, dict) else "ok"
            return {"status": status}
        except OmbudsmanError as exc:
            return {"status": "unavailable", "error": exc.message}
        except Exception as exc:  # any transport failure counts as "not answering"
            return {"status": "unavailable", "error": type(exc).__name__}
