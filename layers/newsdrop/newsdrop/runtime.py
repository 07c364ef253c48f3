"""The AWS ports, built from the settings on first use and kept for the life of the execution environment."""

from __future__ import annotations

from functools import cache

from newsdrop.adapters.aws import CloudFrontCdn, DynamoCatalog, EventBridgeBus, S3Store
from newsdrop.ports import NoCdn, Ports
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
        cdn=CloudFrontCdn(config.distribution_id) if config.distribution_id else NoCdn(),
    )
