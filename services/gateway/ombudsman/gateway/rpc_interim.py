"""INTERIM request/reply until libs/eventstore's `rpc.request` lands (same signature); delete then.

Payload JSON in the body, the Metadata as JSON in header `Omb-Metadata`, a `Reply` JSON back.
"""

from __future__ import annotations

import json
from typing import Any

from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout

from ombudsman.contracts.envelope import Metadata
from ombudsman.contracts.replies import OmbudsmanError, Reply, Timeout, Unavailable

META_HEADER = "Omb-Metadata"


async def request(nc: Any, subject: str, payload: dict[str, Any], *, meta: Metadata | None = None,
                  timeout: float = 10.0) -> Any:  # noqa: ASYNC109 - the planned eventstore signature
    headers = {META_HEADER: (meta or Metadata()).model_dump_json()}
    try:
        msg = await nc.request(subject, json.dumps(payload).encode(), timeout=timeout, headers=headers)
    except NoRespondersError:
        raise Unavailable(f"no service answers {subject}", {"subject": subject}) from None
    except NatsTimeout:
        raise Timeout(f"no reply on {subject} within {timeout}s", {"subject": subject}) from None
    reply = Reply.model_validate_json(msg.data)
    if not reply.ok:
        assert reply.error is not None
        raise OmbudsmanError.from_info(reply.error)
    return reply.result
