"""The AWS ports, built from the settings on first use and kept for the life of the execution environment."""

from __future__ import annotations

from functools import cache

from newsdrop.adapters.aws import CloudFrontCdn, DynamoCatalog, EventBridgeBus, EventBridgeScheduler, S3Store
from newsdrop.ports import NoCdn, NoScheduler, Ports, Scheduler
from newsdrop.settings import settings


@cache
def aws_ports() -> Ports:
    config = settings()
    return Ports(
        source=S3Store(config.source_bucket),
        site=S3Store(config.site_bucket),
        artifacts=S3Store(config.artifact_bucket),
        catalog=DynamoCatalog(config.catalog_table),
        bus=EventBridgeBus(config.event_bus),
        max_post_bytes=config.max_post_bytes,
        io_workers=config.io_concurrency,
        cdn=CloudFrontCdn(config.distribution_id) if config.distribution_id else NoCdn(),
        scheduler=_scheduler(),
    )


def _scheduler() -> Scheduler:
    config = settings()
    if not config.schedule_group:
        return NoScheduler()  # only Parse schedules; the other functions are not given a group
    return EventBridgeScheduler(
        config.schedule_group, config.event_bus_arn, config.scheduler_role_arn, config.schedule_dead_letter_arn
    )
