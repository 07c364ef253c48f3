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

DEFAULT_IO_CONCURRENCY = 8
# botocore keeps ten connections a client: more threads would wait for one.
MAX_IO_CONCURRENCY = 10


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
    # Requests a function makes at once where none waits for another's answer (render's listings:
    # a query and a PUT each, round trips that threads overlap).
    io_concurrency: int = DEFAULT_IO_CONCURRENCY
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

        return cls(
            source_bucket=need("SOURCE_BUCKET"),
            site_bucket=need("SITE_BUCKET"),
            artifact_bucket=need("ARTIFACT_BUCKET"),
            catalog_table=need("CATALOG_TABLE"),
            event_bus=need("EVENT_BUS_NAME"),
            max_post_bytes=_integer(env, "MAX_POST_BYTES", DEFAULT_MAX_POST_BYTES, 1, None),
            io_concurrency=_integer(env, "IO_CONCURRENCY", DEFAULT_IO_CONCURRENCY, 1, MAX_IO_CONCURRENCY),
            distribution_id=env.get("DISTRIBUTION_ID", "").strip(),
            **_scheduler(env),
        )


def _integer(env: Mapping[str, str], name: str, default: int, least: int, most: int | None) -> int:
    raw = env.get(name, "").strip() or str(default)
    try:
        value = int(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from exc
    if value < least or (most is not None and value > most):
        bounds = f"at least {least}" if most is None else f"from {least} to {most}"
        raise SettingsError(f"{name} must be {bounds}, got {value}")
    return value


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
