"""Request/reply over NATS: payload JSON in the body, `Metadata` JSON in header `Omb-Metadata`, a
`Reply` JSON back. Requests go through libs/eventstore's `rpc.request`; `serve` answers a subject
prefix (INTERIM: the executor does not use libs/eventstore's Service runtime yet)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from pydantic import ValidationError

from ombudsman.contracts.envelope import Metadata
from ombudsman.contracts.replies import Invalid, OmbudsmanError, Reply
from ombudsman.eventstore import rpc as eventstore_rpc

META_HEADER = "Omb-Metadata"
log = logging.getLogger("ombudsman.executor.rpc")
Handler = Callable[[dict[str, Any], Metadata], Awaitable[Any]]


async def request(nc: NATS, subject: str, payload: dict[str, Any], *, meta: Metadata | None = None,
                  timeout: float = 30.0) -> Any:  # noqa: ASYNC109
    """Send a command or query (libs/eventstore's request/reply); the result, or the OmbudsmanError replied."""
    return await eventstore_rpc.request(nc, subject, payload, meta=meta, timeout=timeout)


async def serve(nc: NATS, prefix: str, handlers: dict[str, Handler], queue: str) -> None:
    """Answer `<prefix>.<name>` for every handler, each request in its own task."""
    tasks: set[asyncio.Task[None]] = set()

    async def answer(msg: Msg) -> None:
        name = msg.subject.rsplit(".", 1)[-1]
        try:
            handler = handlers.get(name)
            if handler is None:
                raise Invalid(f"unknown operation {msg.subject}", {"subject": msg.subject})
            try:
                payload = json.loads(msg.data or b"{}")
            except json.JSONDecodeError as exc:
                raise Invalid(f"payload is not JSON: {exc.msg}") from None
            if not isinstance(payload, dict):
                raise Invalid("payload must be a JSON object")
            raw_meta = (msg.headers or {}).get(META_HEADER)
            meta = Metadata.model_validate_json(raw_meta) if raw_meta else Metadata()
            reply = Reply.success(await handler(payload, meta))
        except OmbudsmanError as exc:
            reply = Reply.failure(exc)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            reply = Reply.failure(Invalid(f"{where}: {first['msg']}", {"errors": json.loads(exc.json())}))
        except Exception as exc:  # never a traceback on the wire
            log.exception("%s failed", msg.subject)
            reply = Reply.failure(OmbudsmanError(f"internal error: {type(exc).__name__}"))
        if msg.reply:
            await msg.respond(reply.model_dump_json().encode())

    async def dispatch(msg: Msg) -> None:
        task = asyncio.create_task(answer(msg))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    await nc.subscribe(f"{prefix}.*", queue=queue, cb=dispatch)
