"""Read models of the audit service fed by its own events: the alert rules.

The event log itself (log.py) is written by the ordered writer (writer.py), not by a projection:
it is the record, not a view of one.
"""

from __future__ import annotations

import json

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from ombudsman.audit.log import SCHEMA
from ombudsman.contracts.envelope import EventEnvelope
from ombudsman.eventstore.projections import Projection


class AlertRules(Projection):
    name = "alert_rules"
    event_types = frozenset({"AlertRuleAdded", "AlertRuleRemoved"})

    async def setup(self, conn: AsyncConnection) -> None:
        await conn.execute(
            text(
                f"""CREATE TABLE IF NOT EXISTS {SCHEMA}.alert_rules (
                    id text PRIMARY KEY, rule jsonb NOT NULL, created_at timestamptz NOT NULL DEFAULT now())"""
            )
        )

    async def reset(self, conn: AsyncConnection) -> None:
        await conn.execute(text(f"DELETE FROM {SCHEMA}.alert_rules"))

    async def apply(self, conn: AsyncConnection, envelope: EventEnvelope) -> None:
        if envelope.event_type == "AlertRuleAdded":
            await conn.execute(
                text(
                    f"""INSERT INTO {SCHEMA}.alert_rules (id, rule, created_at) VALUES (:id, CAST(:rule AS jsonb), :at)
                        ON CONFLICT (id) DO UPDATE SET rule = EXCLUDED.rule"""
                ),
                {"id": envelope.data["rule_id"], "rule": json.dumps(envelope.data["rule"]), "at": envelope.occurred_at},
            )
        elif envelope.event_type == "AlertRuleRemoved":
            await conn.execute(text(f"DELETE FROM {SCHEMA}.alert_rules WHERE id = :id"), {"id": envelope.data["rule_id"]})


def all_projections() -> list[Projection]:
    return [AlertRules()]
