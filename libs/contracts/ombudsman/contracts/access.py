"""Who may do what on the bus (ARCHITECTURE.md §7): the one table of bus principals, the event
streams each owns, the requests each may send, and the NATS permissions derived from them.

Identity on the bus is the authenticated NATS user, never a header. Each service connects as its
own user; the server enforces the permissions below, so:
- an event on `omb.evt.<stream_type>.…` can only come from the owner of `stream_type`;
- a request on a subject can only come from the principals allowed to publish it, which is how a
  service knows that a call without a user token comes from another service (`SERVICE_ONLY`);
- replies and JetStream deliveries go to per-user inboxes (`_INBOX_<user>.…`), so no service reads
  another's replies (a `connection_secret` answer included).

`nats_authorization()` renders the `authorization` block of a nats-server config from this table;
the embedded launcher writes it with generated passwords and deploy/nats/*.conf is checked against it.
"""

from __future__ import annotations

from typing import Any

from ombudsman.contracts.subjects import (
    EVENTS_PREFIX,
    EVENTS_STREAM,
    WORK_LOST_STREAM,
    WORK_PREFIX,
    WORK_STREAM,
    command_subject,
    health_subject,
    query_subject,
    worker_plan_subject,
    worker_stats_subject,
)

FILES_STREAM = "OBJ_OMB_FILES"  # the JetStream object store `OMB_FILES` (libs/eventstore/files.py)

# stream_type -> the service whose NATS user alone may publish events of it
STREAM_OWNERS: dict[str, str] = {
    "project": "projects",
    "metadata": "metadata",
    "mapping": "metadata",
    "automate": "metadata",
    "run": "executor",
    "batch": "executor",
    "schedule": "executor",
    "discrepancy": "executor",
    "workload": "workload",
    "user": "gateway",
    "alert": "audit",
    "audit": "audit",
}

# Requests only another service may send (no user token; the gateway may not publish them).
SERVICE_ONLY: dict[str, tuple[str, ...]] = {
    query_subject("projects", "connection_secret"): ("metadata", "worker"),
    query_subject("executor", "step_task"): ("worker",),
    command_subject("executor", "record_step_started"): ("worker",),
    command_subject("executor", "record_step_result"): ("worker",),
    command_subject("executor", "record_differences"): ("worker",),
    command_subject("executor", "record_run_snapshots"): ("worker",),
    command_subject("executor", "record_file_checkpoint"): ("worker",),
    query_subject("executor", "file_loads"): ("worker",),
    worker_plan_subject(): ("executor",),
}

# Requests a service may also send on its own behalf, without a user token (scheduled runs, workers).
SERVICE_CALLABLE: dict[str, tuple[str, ...]] = {
    query_subject("projects", "pipeline"): ("executor",),
    query_subject("projects", "connections"): ("executor",),  # names only: which URLs of a run are inline
    query_subject("projects", "get"): ("metadata", "workload"),
    # each service's own health query: the container probes (python -m ombudsman.eventstore.healthcheck)
    # ask it with the service's own credentials
    **{health_subject(s): (s,) for s in ("projects", "metadata", "executor", "workload", "audit")},
}

# Requests each service sends on behalf of the user whose token it forwards.
ON_BEHALF: dict[str, tuple[str, ...]] = {
    "metadata": (command_subject("projects", "save_pipelines"),),
    "workload": (query_subject("metadata", "catalog"), command_subject("projects", "save_pipeline")),
    "executor": (),
    "worker": (),
    "projects": (),
    "audit": (),
}

SERVICES = ("projects", "metadata", "executor", "workload", "audit", "gateway")
# Bus principals: the services, the executor's step workers, and `admin` (operators' tools:
# `ombudsman up` health checks, `admin create`, replay), which has every permission.
PRINCIPALS = (*SERVICES, "worker", "admin")


def owner_of(stream_type: str) -> str | None:
    """The service that owns events of `stream_type` (None for an unknown stream type)."""
    return STREAM_OWNERS.get(stream_type)


def owned_stream_types(service: str) -> list[str]:
    return sorted(t for t, owner in STREAM_OWNERS.items() if owner == service)


def inbox_prefix(principal: str) -> str:
    """The reply inbox prefix of a principal: only it may subscribe there."""
    return f"_INBOX_{principal}"


def event_origin_error(subject: str, envelope: dict[str, Any]) -> str | None:
    """Why an event message cannot be trusted, or None when its subject and envelope agree.

    Only the owner of a stream type can publish on `omb.evt.<stream_type>.…` (server permissions);
    this check makes sure the envelope inside claims the same stream type, stream and event type,
    so a service cannot pass off an event of a stream it does not own.
    """
    parts = subject.split(".")
    if len(parts) != 5 or ".".join(parts[:2]) != EVENTS_PREFIX:
        return f"subject {subject!r} is not an event subject"
    _, _, stream_type, stream_id, event_type = parts
    claimed = (envelope.get("stream_type"), envelope.get("stream_id"), envelope.get("event_type"))
    if claimed != (stream_type, stream_id, event_type):
        return (f"envelope claims {claimed[0]}/{claimed[1]}/{claimed[2]} but was published on {subject!r} "
                f"(which only {owner_of(stream_type) or 'an operator'} may publish)")
    return None


def request_access(subject: str) -> str:
    """How a request on `subject` must be authenticated: `service` (no user token; only the
    services of SERVICE_ONLY can publish it), `either` (a user token, or a service on its own behalf),
    or `user` (a user token the gateway signed)."""
    if subject in SERVICE_ONLY:
        return "service"
    if subject in SERVICE_CALLABLE:
        return "either"
    return "user"


def _requests_of(principal: str) -> list[str]:
    if principal == "gateway":
        return ["omb.cmd.>", "omb.qry.>", worker_stats_subject()]
    found = [s for table in (SERVICE_ONLY, SERVICE_CALLABLE) for s, who in table.items() if principal in who]
    return sorted({*found, *ON_BEHALF.get(principal, ())})


def _jetstream(streams: list[str], create: list[str], purge: list[str], delete_messages: list[str]) -> list[str]:
    """The JetStream API a principal needs: read stream info, create the platform's streams if missing,
    run consumers, ack, read messages; never delete/update streams, and delete messages only from the
    streams in `delete_messages`."""
    allowed = ["$JS.API.INFO", "$JS.API.STREAM.NAMES", "$JS.API.STREAM.LIST", "$JS.API.STREAM.INFO.*"]
    for stream in streams:
        allowed += [f"$JS.API.CONSUMER.*.{stream}", f"$JS.API.CONSUMER.*.*.{stream}.>", f"$JS.API.CONSUMER.*.{stream}.>",
                    f"$JS.API.STREAM.MSG.GET.{stream}", f"$JS.API.DIRECT.GET.{stream}", f"$JS.API.DIRECT.GET.{stream}.>",
                    f"$JS.ACK.{stream}.>"]
    allowed += [f"$JS.API.STREAM.CREATE.{s}" for s in create]
    allowed += [f"$JS.API.STREAM.PURGE.{s}" for s in purge]
    allowed += [f"$JS.API.STREAM.MSG.DELETE.{s}" for s in delete_messages]
    return [*allowed, "$JS.FC.>"]


def nats_permissions(principal: str) -> dict[str, Any]:
    """The NATS `permissions` block of a principal (publish/subscribe allow and deny lists)."""
    if principal not in PRINCIPALS:
        raise ValueError(f"unknown bus principal {principal!r}")
    if principal == "admin":
        return {"publish": {"allow": [">"]}, "subscribe": {"allow": [">"]}}
    publish = [f"{EVENTS_PREFIX}.{t}.>" for t in owned_stream_types(principal)]
    publish += _requests_of(principal)
    subscribe = [f"{inbox_prefix(principal)}.>"]
    if principal in SERVICES and principal != "gateway":
        subscribe += [f"omb.cmd.{principal}.>", f"omb.qry.{principal}.>"]
    streams = [EVENTS_STREAM]
    create = [EVENTS_STREAM, WORK_STREAM]
    purge: list[str] = []
    delete_messages: list[str] = []
    if principal in ("executor", "worker"):
        streams.append(WORK_STREAM)
    if principal == "executor":
        publish.append(f"{WORK_PREFIX}.>")
        # the max-deliveries advisories reach the leader through a stream of their own (kept while no
        # replica leads), never on a plain subscription
        streams.append(WORK_LOST_STREAM)
        create.append(WORK_LOST_STREAM)
        # a work message that ran out of deliveries stays in the work queue: the executor, having
        # ended its step as `worker lost`, deletes it
        delete_messages.append(WORK_STREAM)
    if principal == "gateway":  # live events for WebSocket watchers
        subscribe.append(f"{EVENTS_PREFIX}.>")
    if principal == "worker":
        subscribe += [worker_stats_subject(), worker_plan_subject()]
    if principal in ("executor", "audit", "gateway"):  # exports travel through the object store
        streams.append(FILES_STREAM)
        create.append(FILES_STREAM)
        purge.append(FILES_STREAM)
        publish.append("$O.OMB_FILES.>")
    publish += _jetstream(streams, create, purge, delete_messages)
    permissions: dict[str, Any] = {"publish": {"allow": publish}, "subscribe": {"allow": subscribe},
                                   "allow_responses": True}
    if principal == "gateway":  # the gateway relays people's requests: never the services-only ones
        permissions["publish"]["deny"] = sorted(SERVICE_ONLY)
    return permissions


def nats_authorization(passwords: dict[str, str]) -> dict[str, Any]:
    """The nats-server `authorization` block: one user per principal with its permissions.

    `passwords` maps each principal to its password as the server should store it (a bcrypt hash,
    or `$VAR` of an environment variable in deploy configs)."""
    missing = [p for p in PRINCIPALS if p not in passwords]
    if missing:
        raise ValueError(f"no password for bus principal(s): {', '.join(missing)}")
    return {"users": [{"user": p, "password": passwords[p], "permissions": nats_permissions(p)} for p in PRINCIPALS]}
