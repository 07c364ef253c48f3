"""Deployment settings, read once from the environment into a typed object.

Every function reads the same variables (template.yaml sets them); a missing one
is a configuration error that must stop the cold start, not surface later as a
KeyError in the middle of a batch.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache

from newsdrop.ports import DEFAULT_MAX_POST_BYTES


class SettingsError(RuntimeError):
    """A required setting is missing or malformed."""


@dataclass(frozen=True, slots=True)
class Settings:
    source_bucket: str
    site_bucket: str
    artifact_bucket: str
    catalog_table: str
    event_bus: str
    max_post_bytes: int = DEFAULT_MAX_POST_BYTES
    distribution_id: str = ""
    # Parse's one-time schedules (scheduled posts, front-page expiry): EventBridge Scheduler's
    # group, the role it assumes to put events on the bus, the bus's ARN and a dead-letter queue.
    schedule_group: str = ""
    scheduler_role_arn: str = ""
    event_bus_arn: str = ""
    schedule_dead_letter_arn: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        def need(name: str) -> str:
            value = env.get(name, "").strip()
            if not value:
                raise SettingsError(f"environment variable {name} is required")
            return value

        raw_max = env.get("MAX_POST_BYTES", str(DEFAULT_MAX_POST_BYTES))
        try:
            max_post_bytes = int(raw_max)
        except ValueError as exc:
            raise SettingsError(f"MAX_POST_BYTES must be an integer, got {raw_max!r}") from exc
        if max_post_bytes <= 0:
            raise SettingsError("MAX_POST_BYTES must be positive")
        return cls(
            source_bucket=need("SOURCE_BUCKET"),
            site_bucket=need("SITE_BUCKET"),
            artifact_bucket=need("ARTIFACT_BUCKET"),
            catalog_table=need("CATALOG_TABLE"),
            event_bus=need("EVENT_BUS_NAME"),
            max_post_bytes=max_post_bytes,
            distribution_id=env.get("DISTRIBUTION_ID", "").strip(),
            **_scheduler(env),
        )


def _scheduler(env: Mapping[str, str]) -> dict[str, str]:
    values = {
        "schedule_group": env.get("SCHEDULE_GROUP", "").strip(),
        "scheduler_role_arn": env.get("SCHEDULER_ROLE_ARN", "").strip(),
        "event_bus_arn": env.get("EVENT_BUS_ARN", "").strip(),
        "schedule_dead_letter_arn": env.get("SCHEDULE_DLQ_ARN", "").strip(),
    }
    if values["schedule_group"] and not (values["scheduler_role_arn"] and values["event_bus_arn"]):
        raise SettingsError("SCHEDULE_GROUP needs SCHEDULER_ROLE_ARN and EVENT_BUS_ARN")
    return values


@cache
def settings() -> Settings:
    """The process-wide settings, read on first use."""
    return Settings.from_env(os.environ)
