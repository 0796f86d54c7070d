"""The bus's AsyncAPI 3.0 document: FastStream's, from the services' real handlers, plus the events.

Each service's `create_service()` registers its commands and queries on a `runtime.Service`; its
`build_broker()` (no connection) subscribes them on a FastStream `NatsBroker`, and FastStream's
`AsyncAPI` describes those brokers: one channel per subject with its queue group and the handler's
description. The event registry's document (contracts.asyncapi: one channel per stream type of
`OMB_EVENTS`, one message per event type with its data schema) is merged in. The gateway serves it
at `GET /asyncapi`; `ombudsman events` prints it.
"""

from __future__ import annotations

import importlib
import secrets
import typing
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from faststream.specification import AsyncAPI

from ombudsman.contracts.access import SERVICES
from ombudsman.contracts.asyncapi import asyncapi_document
from ombudsman.eventstore.runtime import Service
from ombudsman.eventstore.settings import Settings

FACTORY = "create_service"  # in ombudsman.<service>.app, as `python -m ombudsman.<service>` uses


def services() -> list[Service]:
    """Every installed service, built (not started) by its own `create_service`, in `SERVICES` order.

    A service package that is not installed is left out. Settings come from no environment: the
    document must not depend on (or reveal) a deployment's configuration."""
    found: list[Service] = []
    for name in SERVICES:
        try:
            module = importlib.import_module(f"ombudsman.{name}.app")
        except ModuleNotFoundError as exc:
            if exc.name and f"ombudsman.{name}".startswith(exc.name):
                continue
            raise
        factory = getattr(module, FACTORY, None)
        if factory is None:  # the gateway is a web app, not a bus service
            continue
        found.append(factory(_blank_settings(factory)))
    return found


def _blank_settings(factory: Callable[..., Service]) -> Settings:
    """Default settings of the class `factory` takes, read from no environment, with a throwaway
    secret (a service refuses to be built without one; this one never leaves the process)."""
    hint = typing.get_type_hints(factory).get("settings", Settings)
    settings_class = next((arg for arg in typing.get_args(hint) if isinstance(arg, type)), hint)
    return typing.cast(Settings, settings_class.model_construct(secret_key=secrets.token_urlsafe(32)))


def bus_document(service_list: list[Service] | None = None) -> dict[str, Any]:
    """AsyncAPI 3.0 of Ombudsman's bus: every service's commands and queries (FastStream, from the
    handlers) and every event type on `OMB_EVENTS` (from the event registry)."""
    try:
        release = version("ombudsman-eventstore")
    except PackageNotFoundError:
        release = "0"
    brokers = [service.build_broker() for service in (services() if service_list is None else service_list)]
    document: dict[str, Any] = AsyncAPI(
        *brokers, title="Ombudsman bus", version=release,
        description="Commands (omb.cmd.<service>.<name>) and queries (omb.qry.<service>.<name>) are "
        "NATS request/reply in the queue group omb-<service>; the body is a JSON object, header "
        "Omb-Metadata carries the request's metadata, Omb-Token the gateway-signed bus token of the "
        "person it acts for, traceparent the W3C trace context; the answer is {ok, result} or "
        "{ok: false, error: {code, message, details}}. Events are published on JetStream stream "
        "OMB_EVENTS and versioned (older schema_version upcast on read).",
    ).to_specification().to_jsonable()
    events = asyncapi_document()
    for section in ("channels", "operations"):
        document.setdefault(section, {}).update(events[section])
    components = document.setdefault("components", {})
    for section in ("messages", "schemas"):
        components.setdefault(section, {}).update(events["components"][section])
    return document
