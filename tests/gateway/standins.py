"""STAND-IN for the executor's run queries, used only where a test needs exact control of event
timing: the WebSocket tests publish synthetic run events (and the schemathesis run reads a run
that exists), which the real executor cannot know about. Every other service behind the gateway in
these tests is the real one (projects, metadata, workload, audit; the real executor and a worker
process in test_gateway_e2e_run.py and test_gateway_full_flow.py).

It answers its real NATS subjects (omb.qry.executor.<name> / omb.cmd.executor.<name>) with the
reply shape of contracts.replies.Reply, keeping state in memory.
"""

from __future__ import annotations

import json
from typing import Any

import nats

from ombudsman.contracts.envelope import Metadata
from ombudsman.contracts.replies import Invalid, NotFound, OmbudsmanError, Reply
from ombudsman.eventstore.rpc import META_HEADER


class StandIn:
    """A responder for one service's subjects; `handlers` maps 'qry.name' / 'cmd.name' to functions."""

    service = ""

    def __init__(self) -> None:
        self.nc: Any = None
        self.calls: list[tuple[str, dict[str, Any], Metadata]] = []

    async def start(self, nats_url: str) -> StandIn:
        self.nc = await nats.connect(nats_url)
        for kind in ("qry", "cmd"):
            await self.nc.subscribe(f"omb.{kind}.{self.service}.*", cb=self._dispatch)
        await self.nc.flush()
        return self

    async def stop(self) -> None:
        if self.nc:
            await self.nc.close()

    async def _dispatch(self, msg: Any) -> None:
        _, kind, _, name = msg.subject.split(".", 3)
        if kind == "qry" and name == "health":
            reply = Reply.success({"service": self.service, "status": "ok"})
        else:
            reply = self._handle(kind, name, msg)
        await msg.respond(reply.model_dump_json().encode())

    def _handle(self, kind: str, name: str, msg: Any) -> Reply:
        try:
            payload = json.loads(msg.data or b"{}")
            meta = Metadata.model_validate_json((msg.headers or {}).get(META_HEADER, "{}"))
        except ValueError as exc:
            return Reply.failure(Invalid(f"bad request: {exc}"))
        self.calls.append((f"{kind}.{name}", payload, meta))
        handler = getattr(self, f"on_{kind}_{name}", None)
        try:
            if handler is None:  # what the stand-in does not model: nothing there
                raise NotFound(f"{self.service} stand-in: nothing found for {name}")
            return Reply.success(handler(payload, meta))
        except OmbudsmanError as exc:
            return Reply.failure(exc)
        except (KeyError, TypeError) as exc:
            return Reply.failure(Invalid(f"bad request: missing {exc}"))


class ExecutorTimingStandIn(StandIn):
    """STAND-IN for services/executor's run queries in the event-timing tests: answers `run` and `runs`
    for the runs a test put in `runs` (everything else: the real executor, `served_with_executor`)."""

    service = "executor"

    def __init__(self) -> None:
        super().__init__()
        self.runs: dict[str, dict[str, Any]] = {}

    def on_qry_run(self, p: dict[str, Any], meta: Metadata) -> Any:
        run = self.runs.get(p["run_id"])
        if run is None:
            raise NotFound(f"run {p['run_id']!r} not found")
        return run

    def on_qry_runs(self, p: dict[str, Any], meta: Metadata) -> Any:
        items = [r for r in self.runs.values() if r.get("project_id") == p.get("project_id")]
        return {"items": items, "total": len(items)}

