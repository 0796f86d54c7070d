"""Container health probe of a bus service: `python -m ombudsman.eventstore.healthcheck [SERVICE]`.

Asks the service's health query over NATS with the process's own credentials (`OMB_NATS_URL`,
`OMB_NATS_USER`, `OMB_NATS_PASSWORD`; SERVICE defaults to the NATS user, which is the service's
name) and exits 0 when a replica answers ok, 1 otherwise, printing one line without secrets. Used by
the Dockerfile's HEALTHCHECK, compose and the Kubernetes exec probes.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys

from ombudsman.contracts.subjects import health_subject
from ombudsman.eventstore.runtime import connect_nats


async def check(service: str, nats_url: str, user: str | None, password: str | None,
                timeout: float = 3.0) -> tuple[bool, str]:  # noqa: ASYNC109
    """(ok, message) of one health request to `service` within `timeout` seconds."""
    try:
        nc = await connect_nats(nats_url, name=f"omb-healthcheck-{service}", timeout=timeout,
                                user=user, password=password, reconnect=False)
    except (ConnectionError, PermissionError) as exc:
        return False, str(exc)
    try:
        reply = await nc.request(health_subject(service), b"{}", timeout=timeout)
        body = json.loads(reply.data)
    except Exception as exc:  # no responder, timeout, garbage: all mean "not healthy"
        return False, f"{service}: no healthy answer ({type(exc).__name__})"
    finally:
        await nc.close()
    ok = bool(body.get("ok")) if isinstance(body, dict) else False
    return ok, f"{service}: {'ok' if ok else 'unhealthy'}"


def main(argv: list[str] | None = None) -> int:
    """Exit code 0 healthy, 1 unhealthy, 2 when it cannot tell which service to ask."""
    args = sys.argv[1:] if argv is None else argv
    user = os.environ.get("OMB_NATS_USER")
    service = args[0] if args else user
    if not service:
        print("healthcheck: name the service (argument) or set OMB_NATS_USER", file=sys.stderr)
        return 2
    ok, message = asyncio.run(check(service, os.environ.get("OMB_NATS_URL", "nats://127.0.0.1:4222"),
                                    user, os.environ.get("OMB_NATS_PASSWORD")))
    print(message)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
