"""The validators a pipeline step may name, as the engine's registry describes them (name, category,
description, whether a step needs a table, the parameters' JSON Schema): what the Studio's pipeline
builder generates its step forms from. The projects service answers it because it checks saved
pipelines against the same registry."""

from __future__ import annotations

from typing import Any

from ombudsman.contracts.envelope import Metadata
from ombudsman.engine.validators.base import load_errors, validators
from ombudsman.eventstore.runtime import ServiceContext


def catalogue() -> dict[str, Any]:
    """Every registered validator's catalogue entry, by name (a plug-in registered under a second
    name is listed under both, `alias_of` naming the first), and the plug-ins that failed to load."""
    items = [{**v.describe(), "name": name, "needs_table": v.needs_table,
              **({"alias_of": v.name} if v.name != name else {})} for name, v in validators().items()]
    return {"items": items, "total": len(items), "load_errors": load_errors()}


async def validator_catalogue(payload: dict[str, Any], meta: Metadata, ctx: ServiceContext) -> dict[str, Any]:
    """Query `validators`: the catalogue (the same for every project)."""
    return catalogue()
