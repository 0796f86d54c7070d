"""A step worker's answer to `omb.qry.worker.plan_run` (only the executor may ask, design note 19):
the price of a pipeline before running it (engine.pipeline.estimate), with the project's connections
resolved as for a run; nothing is run or recorded."""

from __future__ import annotations

import json
import logging
from typing import Any

from nats.aio.msg import Msg

from ombudsman.contracts.envelope import Metadata
from ombudsman.contracts.replies import Invalid, OmbudsmanError, Reply

log = logging.getLogger("ombudsman.executor.pricing")


async def price_pipeline(nc: Any, payload: dict[str, Any], meta: Metadata) -> dict[str, Any]:
    """The PipelinePlan (as JSON) of the pipeline in `payload` (pipeline_yaml, project_id,
    inline_connections, only)."""
    from ombudsman.engine.pipeline.estimate import plan_pipeline
    from ombudsman.executor.domain import parse_spec
    from ombudsman.executor.worker import check_step_connections, resolve_connections

    if not isinstance(payload.get("pipeline_yaml"), str):
        raise Invalid("pipeline_yaml: required", {"field": "pipeline_yaml"})
    spec = await resolve_connections(nc, parse_spec(payload["pipeline_yaml"]), payload.get("project_id"), meta,
                                     inline_allowed=bool(payload.get("inline_connections")))
    only = payload.get("only") or None
    for step in spec.steps:
        if only is None or step.id in only:
            check_step_connections(spec, step.id)
    return (await plan_pipeline(spec, only=only)).model_dump(mode="json")


async def answer_plan(nc: Any, msg: Msg, meta: Metadata) -> None:
    """Reply to one plan request (errors as the bus's error reply, never a crash)."""
    try:
        reply = Reply.success(await price_pipeline(nc, json.loads(msg.data or b"{}"), meta))
    except OmbudsmanError as exc:
        reply = Reply.failure(exc)
    except Exception as exc:  # a database that cannot be reached, a bad URL ...
        log.warning("plan failed: %s", exc)
        reply = Reply.failure(OmbudsmanError(f"the plan could not be made: {type(exc).__name__}: {exc}"))
    if msg.reply:
        await msg.respond(reply.model_dump_json().encode())
