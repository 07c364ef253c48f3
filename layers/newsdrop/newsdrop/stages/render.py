"""Render: post pages, listings, archives, feed and sitemap, from catalog state; and the files the
site serves as they are (images, PDFs), copied from the source bucket.

Post pages are rendered per record, so one broken record fails alone. Aggregates
(home, category, tag, archive pages, feed, sitemaps) are rewritten once per batch,
whatever the number of posts in it.

Each object is written only if it is still as this batch found it (see `SiteWriter`), so a
render from older catalog state loses to one that wrote from newer state. A render from newer
state that finds an object already right, or rightly absent, writes nothing, though, and so
leaves no change for an older write still in flight to fail on: that write would land last. So
a batch reads the catalog's count of changes before it reads anything else, and again once its
writes are done; if the catalog changed in between, it derives what it wrote again (`settle`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

from newsdrop import events, model, paths
from newsdrop.model import SiteConfig
from newsdrop.ports import Catalog, ConfigRecord, Ports, Reads
from newsdrop.rendering import files, pages, theme, urls
from newsdrop.rendering.writer import FILE_CACHE, LISTING_CACHE, PAGE_TYPE, Compute, SiteWriter, invalidation_paths
from newsdrop.stages.common import Artifacts, Message, Outcome, messages, or_defaults, process_batch, run_all

log = logging.getLogger(__name__)
T = TypeVar("T")

THEME_STAMP = "theme"
STATIC_TRUSTED = 300.0  # seconds a remembered head of 404.html answers for the static pages
# Rounds of deriving again while the catalog keeps changing under a batch. One is the usual need;
# on a site taking posts many a second a listing may still be changing after three, and the
# renders of those changes derive it again: a render must not chase an import for ever.
MAX_SETTLES = 3


@dataclass
class RenderBatch:
    ports: Ports
    config: SiteConfig
    writer: SiteWriter
    generation: int = 0  # of the settings `config` is
    lists: set[str] = field(default_factory=set)
    rendered: set[tuple[str, str]] = field(default_factory=set)
    configured: bool = False
    retried: bool = False  # a record of the batch was delivered before: an earlier attempt failed
    bulk: bool = False  # a record came in the lane of a site-wide refresh or an import
    # Each derived object's key -> how to derive it (and any object derived together with it) again.
    recipes: dict[str, Callable[[], object]] = field(default_factory=dict)
    sitemaps: set[str] = field(default_factory=set)  # the daily sitemaps of the batch's days
    artifacts: Artifacts = field(init=False)

    def __post_init__(self) -> None:
        self.artifacts = Artifacts(self.ports.artifacts)

    def handle(self, record: Message) -> None:
        self.retried |= record.receive_count > 1
        event = events.publishing_event(record.json_body)
        self.bulk |= event.bulk
        if event.detail_type == events.SITE_CONFIGURED:
            self.configured = True
            return
        if event.detail_type == events.FILE_CHANGED:
            self.copy_file(paths.file_key(event.key))
            return
        self.artifacts.carry(event)
        self.render_post(event)
        self.lists.update(event.lists)

    def render_post(self, event: events.PublishingEvent) -> None:
        # The event names the URLs involved; what each one shows is decided by the catalog now,
        # so each URL is derived once per batch, whichever of the post's events named it.
        # A post its commit made live (a new one, usually) has no page yet: the page is written without
        # reading its head first. A retried batch may have written it already.
        first = event.created and not self.retried
        for url in dict.fromkeys(u for u in (event.url, event.previous_url, *event.aliases, *event.released) if u):
            if (event.key, url) in self.rendered:
                continue
            self.derive(
                paths.key_for_url(url),
                self.under_settings(pages.post_page, url, event.key, self.ports.catalog, self.artifacts.read),
                # A page, whatever its name ends in: `/v1.2` is no download, `/x.js` no script.
                media=PAGE_TYPE,
                new=first and url == event.url,
            )
            self.rendered.add((event.key, url))

    def copy_file(self, key: str) -> None:
        """Copy a file from the source bucket; once a copy is written, again for as long as the
        source changed meanwhile (`files.Copy`)."""
        copy = files.Copy(key, self.ports.source)
        for _ in range(MAX_SETTLES):
            written = len(self.writer.counts.changed_keys)
            self.derive(key, lambda: copy, cache=FILE_CACHE)
            wrote = len(self.writer.counts.changed_keys) > written
            if not (wrote or copy.relabel) or not copy.moved():
                return
        # The newer events' renders may have found their copy already right: this record is tried again.
        raise RuntimeError(f"{key} kept changing while it was copied")

    def under_settings(self, make: Callable[..., T], *args: Any) -> Callable[[], T]:
        """`make(*args, settings)`, made when called, with the batch's settings then: a derivation
        after the settings changed under the batch uses the new ones (see `settle`)."""
        return lambda: make(*args, self.config)

    def derive(
        self,
        key: str,
        make: Callable[[], Compute],
        *,
        cache: str | None = None,
        media: str | None = None,
        new: bool = False,
    ) -> None:
        """Derive `key` with the compute `make` gives for the batch's settings (`make` is called again
        for each derivation, so one after a change of settings uses the new ones)."""
        self.writer.derive(key, make(), cache=cache, media=media, new=new)
        # Derived again (`settle`) from the head this writer then knows.
        self.recipes[key] = lambda: self.writer.derive(key, make(), cache=cache, media=media)

    def derive_together(self, make: Callable[[], Mapping[str, Compute]]) -> None:
        """Listings (every caller's): what a publish rewrites, kept fresh by their short lifetime."""
        # make() only names what it reads
        self._keep(tuple(make()), lambda: self.writer.derive_together(make, cache=LISTING_CACHE))

    def _keep(self, keys: tuple[str, ...], recipe: Callable[[], object]) -> None:
        recipe()
        self.recipes.update(dict.fromkeys(keys, recipe))

    def settle(self, seen: int) -> None:
        """Derive again what this batch wrote or deleted, from the catalog as it is now, for as long
        as the catalog changed since `seen` (its count of changes before the batch read anything).

        The settings count as catalog state: a batch that read them before they changed has written
        pages (and maybe static pages) for the old ones, perhaps over what a render under the new
        ones had written, so it reads them again and derives with the new ones."""
        counts = self.writer.counts
        done = 0
        for _ in range(MAX_SETTLES):
            changed = counts.changed_keys[done:]
            done = len(counts.changed_keys)
            if not changed:
                return  # nothing written: nothing this batch did can be older than what a newer render left
            now = self.ports.catalog.read(Reads(changes=True))
            if now.changes == seen:
                return
            seen = now.changes
            reconfigured = now.counted_settings > self.generation
            if reconfigured:
                settings = current_settings(self.ports.catalog, now.counted_settings)
                self.config, self.generation = settings.config, settings.generation
            turned = len(counts.created_keys), len(counts.deleted_keys)
            for recipe in dict.fromkeys(self.recipes[key] for key in changed if key in self.recipes):
                recipe()
            self.day_indexes(counts.created_keys[turned[0] :] + counts.deleted_keys[turned[1] :])
            if reconfigured:
                self.ensure_static()
        log.warning("the catalog changed before each of %d rounds of deriving again; stopped", MAX_SETTLES)

    def finish(self) -> None:
        catalog, derive = self.ports.catalog, self.derive
        lists = set(self.lists)
        if self.configured:
            lists.update((model.ALL, model.HOME))
        under_settings = self.under_settings
        # Each listing reads and writes objects of its own: they are derived side by side.
        tasks: list[Callable[[], None]] = []
        for list_id in sorted(lists):
            kind, _, value = list_id.partition(":")
            if list_id == model.HOME:
                key, make = "index.html", under_settings(pages.home_page, catalog)
            elif list_id == model.ALL:
                key, make = "feed.xml", under_settings(pages.feed, catalog)
            elif kind in ("cat", "tag"):
                key, make = (
                    paths.key_for_url(urls.list_url(list_id)),
                    under_settings(pages.listing_page, list_id, catalog),
                )
            elif kind == "day":
                self.sitemaps.add(urls.day_sitemap_key(value))
                tasks.append(partial(self.derive_together, under_settings(pages.day_pages, value, catalog)))
                continue
            else:
                continue
            tasks.append(partial(derive, key, make, cache=LISTING_CACHE))
        run_all(tasks, self.ports.io_workers)
        counts = self.writer.counts
        self.day_indexes([*counts.created_keys, *counts.deleted_keys], always=self.configured or self.retried)
        self.ensure_static()

    def day_indexes(self, turned: list[str], *, always: bool = False) -> None:
        """The sitemap index and the archive list the days that have a daily sitemap, read with a
        LIST after this batch's daily sitemaps are written. They change only when a daily sitemap
        appears or goes (`turned`: the keys the batch created or deleted), so only a batch that made
        one appear or go derives them (a publish into a day that has posts reads no list of days,
        however old the archive); so does a retried batch (`always`), whose first attempt may have
        made one appear and failed before deriving them."""
        if always or self.sitemaps.intersection(turned):
            self.derive_together(self.under_settings(pages.day_indexes, self.ports.site))

    def ensure_static(self) -> None:
        """Theme files and static pages, rewritten only when the theme or the settings change.

        404.html, written last, carries the stamp of the theme and settings it was made with. Its head
        as this execution environment last wrote or read it, within the last `STATIC_TRUSTED` seconds,
        answers without a request while the settings are the ones it was stamped with. A batch
        holding a change of settings (each reaches render as an event of its own), or retried, reads
        it again, and so does any batch once that while has passed: static pages another environment
        wrote meanwhile, or someone deleted, are seen within minutes, at one HEAD per while."""
        stamp = theme.stamp(self.config)
        known = self.writer.known.get("404.html", within=STATIC_TRUSTED)
        head = None if self.configured or self.retried else known
        if head is None or head.metadata.get(THEME_STAMP) != stamp:
            head = self.ports.site.head("404.html")
            self.writer.known.remember("404.html", head)
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


def current_settings(catalog: Catalog, counted: int) -> ConfigRecord:
    """The settings, read again until they are at least the generation the count of changes counted
    (written before it was counted, so one read usually does)."""
    for _ in range(MAX_SETTLES):
        settings = or_defaults(catalog.get_config())
        if settings.generation >= counted:
            return settings
    raise RuntimeError(f"the settings read are older than generation {counted}, which the catalog counted")


def _constant(body: bytes) -> Compute:
    return lambda: body


def run(event: dict[str, Any], ports: Ports) -> Outcome:
    # The count of changes before the batch reads anything else, and the settings with it (one request).
    start = ports.catalog.read(Reads(changes=True, config=True))
    seen = start.changes
    writer = SiteWriter(ports.site, known=ports.site_heads)  # what earlier batches here wrote saves their HEADs
    settings = or_defaults(start.config)
    if start.counted_settings > settings.generation:  # read apart from the count, and older than it
        settings = current_settings(ports.catalog, start.counted_settings)
    batch = RenderBatch(ports=ports, config=settings.config, writer=writer, generation=settings.generation)
    response = process_batch(messages(event), batch.handle)
    batch.finish()
    batch.settle(seen)
    # The recipes hold the batch (and each its post's artifact reader): let go, it is freed as this
    # returns, not left as a cycle for the collector's next full pass over the environment's heap.
    batch.recipes.clear()
    counts = batch.writer.counts
    # One invalidation per batch, of the objects that changed and that the CDN may hold for longer
    # than a listing lives (post pages, static pages); new objects and listings need none. Bulk
    # work invalidates nothing: a site-wide refresh changes every post's page, which would cost a
    # path each (CloudFront bills $0.005 a path, and refuses more than 3,000 in progress), and
    # `s-maxage=300` already bounds how long the edge keeps the page before.
    invalidate = [] if batch.bulk else invalidation_paths(counts.stale_keys)
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
