"""Commands of the audit service: alert rules and archiving. The gateway's bodies are
`AlertRuleCreate` and `ArchiveBase` (it adds only its refusal of unknown fields and NUL).

An alert rule's REST body names its channel for people (`notification`, and the webhook's
`target`); the bus command names it as the rule is stored (`inapp`, `url`), with an id of its own."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from ombudsman.contracts.chain import AlertRule

RULE_ID = r"^[A-Za-z0-9_-]{1,64}$"


class AlertRuleBase(BaseModel):
    """What a rule matches: events of `event_types` (of `project_id`, or of every project)."""

    name: str = Field(min_length=1, max_length=200)
    event_types: list[str] = Field(min_length=1, max_length=100)
    project_id: str | None = Field(default=None, max_length=100)


class AlertRuleCreate(AlertRuleBase):
    """The body subscribing to notifications: events matching `event_types` (and `project_id`) notify `channel`."""

    channel: Literal["notification", "webhook", "log"] = "notification"
    target: str | None = Field(default=None, max_length=2000, description="Webhook URL for channel webhook")

    def command(self, rule_id: str) -> AddAlertRule:
        """The bus command adding this rule under `rule_id`."""
        return AddAlertRule(id=rule_id, name=self.name, event_types=self.event_types, project_id=self.project_id,
                            channel="inapp" if self.channel == "notification" else self.channel, url=self.target)


class AddAlertRule(AlertRuleBase, AlertRule):
    """Command `audit.add_alert_rule` (its model dump is the rule as stored and matched)."""

    id: str = Field(pattern=RULE_ID)
    channel: Literal["inapp", "webhook", "log"] = "inapp"
    url: str | None = Field(default=None, max_length=2000)


class ArchiveBase(BaseModel):
    """Archive the log rows that occurred before `before` (which must lie beyond the retention period)."""

    before: datetime


class ArchiveLog(ArchiveBase):
    """Command `audit.archive`."""
