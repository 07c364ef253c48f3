"""Render: post pages, listings, archives, feed and sitemap, from catalog state.

Post pages are rendered per record, so one broken record fails alone. Aggregates
(home, category, tag, archive pages, feed, sitemaps) are rewritten once per batch,
whatever the number of posts in it.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from newsdrop import events, model, paths
from newsdrop.model import SiteConfig
from newsdrop.ports import Ports
from newsdrop.rendering import pages, theme, urls
from newsdrop.rendering.writer import Compute, SiteWriter, invalidation_paths
from newsdrop.stages.common import Outcome, process_batch, site_config

log = logging.getLogger(__name__)

THEME_STAMP = "theme"


@dataclass
class RenderBatch:
    ports: Ports
    config: SiteConfig
    writer: SiteWriter
    lists: set[str] = field(default_factory=set)
    rendered: set[tuple[str, str]] = field(default_factory=set)
    configured: bool = False
    retried: bool = False  # a record of the batch was delivered before: an earlier attempt failed

    def handle(self, record: SQSRecord) -> None:
        self.retried |= int(record.attributes.approximate_receive_count or 1) > 1
        event = events.publishing_event(record.json_body)
        if event.detail_type == events.SITE_CONFIGURED:
            self.configured = True
            return
        self.render_post(event)
        self.lists.update(event.lists)

    def render_post(self, event: events.PublishingEvent) -> None:
        # The event names the URLs involved; what each one shows is decided by the catalog now,
        # so each URL is derived once per batch, whichever of the post's events named it.
        for url in dict.fromkeys(u for u in (event.url, event.previous_url, *event.aliases) if u):
            if (event.key, url) in self.rendered:
                continue
            self.writer.derive(
                paths.key_for_url(url),
                pages.post_page(url, event.key, self.ports.catalog, self.ports.artifacts, self.config),
            )
            self.rendered.add((event.key, url))

    def finish(self) -> None:
        catalog, config, derive = self.ports.catalog, self.config, self.writer.derive
        lists = set(self.lists)
        if self.configured:
            lists.update((model.ALL, model.HOME))
        sitemaps: set[str] = set()
        for list_id in sorted(lists):
            kind, _, value = list_id.partition(":")
            if list_id == model.HOME:
                derive("index.html", pages.home_page(catalog, config))
            elif list_id == model.ALL:
                derive("feed.xml", pages.feed(catalog, config))
            elif kind in ("cat", "tag"):
                derive(paths.key_for_url(urls.list_url(list_id)), pages.listing_page(list_id, catalog, config))
            elif kind == "day":
                sitemaps.add(urls.day_sitemap_key(value))
                self.writer.derive_together(functools.partial(pages.day_pages, value, catalog, config))
        # The sitemap index and the archive list the days that have a daily sitemap, read with a
        # LIST after this batch's daily sitemaps are written. They change only when a daily sitemap
        # appears or goes, so only a batch that made one appear or go derives them (a publish into
        # a day that has posts reads no list of days, however old the archive); so does a retried
        # batch, whose first attempt may have made one appear and failed before deriving them.
        counts = self.writer.counts
        opened_or_closed = sitemaps.intersection([*counts.created_keys, *counts.deleted_keys])
        if opened_or_closed or self.configured or self.retried:
            self.writer.derive_together(lambda: pages.day_indexes(self.ports.site, config))
        self.ensure_static()

    def ensure_static(self) -> None:
        """Theme files and static pages, rewritten only when the theme or the settings change (one HEAD)."""
        stamp = theme.stamp(self.config)
        head = self.ports.site.head("404.html")
        if head is not None and head.metadata.get(THEME_STAMP) == stamp:
            return
        for name in theme.STATIC_FILES:
            self.writer.put_immutable(theme.asset_key(name), theme.static_source(name))
        static = pages.static_pages(self.config)
        body_404 = static.pop("404.html")
        for key, body in static.items():
            self.writer.derive(key, _constant(body))
        # 404.html last: its stamp says every other static file is in place.
        self.writer.derive("404.html", _constant(body_404), extra={THEME_STAMP: stamp})


def _constant(body: bytes) -> Compute:
    return lambda: body


def run(event: dict[str, Any], ports: Ports) -> Outcome:
    batch = RenderBatch(ports=ports, config=site_config(ports.catalog), writer=SiteWriter(ports.site))
    response = process_batch(event, batch.handle)
    batch.finish()
    counts = batch.writer.counts
    # One invalidation per batch, of exactly the objects whose content changed.
    invalidate = invalidation_paths(counts.changed_keys)
    if invalidate:
        ports.cdn.invalidate(invalidate)
    return Outcome(
        response=response,
        counts={
            "pages_written": counts.written,
            "pages_deleted": counts.deleted,
            "pages_unchanged": counts.unchanged,
            "invalidation_paths": len(invalidate),
        },
        changed_keys=list(counts.changed_keys),
    )
