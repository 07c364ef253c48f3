"""Every site object, as a function of catalog state.

Each `*_page` function returns a compute callable for `SiteWriter.derive`: it reads
the catalog when called (after the writer has read the object's ETag), never before.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import json
from collections.abc import Callable

from newsdrop import model, paths
from newsdrop.model import Entry, Post, SiteConfig
from newsdrop.ports import Catalog, ObjectStore, PostRecord, Reads
from newsdrop.rendering import theme, urls
from newsdrop.rendering.writer import KEEP, Compute, Fingerprinted, Keep

# How many recent posts the home page looks at to pick its per-tag sections: a fixed
# read per publish, whatever the archive size.
HOME_WINDOW = 200
# Tag sections on the home page, most recently used first: posts with many long tags would
# otherwise give thousands of sections (and a page past the theme's size limit, which fails
# every render of the home page).
MAX_HOME_SECTIONS = 40
MAX_DAY_ENTRIES = 5000


def _labels(names: list[str], make_url: Callable[[str], str]) -> list[tuple[str, str]]:
    return [(name, make_url(name)) for name in names]


def post_body(post: Post, config: SiteConfig) -> bytes:
    if config.baseurl:
        post = dataclasses.replace(post, body_html=urls.rebase_links(post.body_html, paths.href(config.baseurl)))
    return theme.render(
        "post.html",
        config,
        post=post,
        categories=_labels(post.categories, urls.category_url),
        tags=_labels(post.tags, urls.tag_url),
        day_url=urls.day_url(post.date),
    )


def post_page(
    url: str, key: str, catalog: Catalog, read_artifact: Callable[[str], bytes | None], config: SiteConfig
) -> Compute:
    """The page at `url`: the post `key`'s, as long as it holds that URL; where no post holds it, a
    redirect to the post that lists it among its earlier URLs (`Catalog.redirect_claimant`, whichever
    post's event asks); absent otherwise."""

    def compute() -> bytes | Keep | None:
        found = catalog.read(Reads(urls=(url,), posts=(key,)))  # one request: the URL's holder is usually `key`
        owner = found.owners[url]
        if owner is None:
            return _redirect(url, key, found.posts[key], catalog, config)
        record = found.posts[key]
        if owner != key or record is None or not record.live:
            return KEEP  # another post holds this URL now (or `key` again, since this read): its event renders it
        if paths.key_for_url(record.url) != paths.key_for_url(url):
            return KEEP
        body = read_artifact(record.artifact)
        if body is None:
            raise RuntimeError(f"artifact {record.artifact} of {key} is missing")
        return post_body(Post.from_json(json.loads(body)), config)

    return compute


def _redirect(
    url: str, key: str, record: PostRecord | None, catalog: Catalog, config: SiteConfig
) -> bytes | Keep | None:
    """The page at `url`, which no post holds: a redirect, or nothing. A post's own URL is held by
    the post, so only its earlier URLs, and the one it leaves (deleted, unpublished), ask here."""
    claimant = catalog.redirect_claimant(url)
    if claimant is None:
        return None
    target = record if claimant == key else catalog.get_post(claimant)
    if target is None or not target.live or paths.key_for_url(target.url) == paths.key_for_url(url):
        return KEEP  # read between two commits: the later one's event derives this URL again
    # Not over one of the site's own pages: parse checks every URL it records, and this
    # guards against records older than a check.
    return redirect_page(url, target.url, config) if paths.may_hold_post(url) else KEEP


def redirect_page(url: str, target: str, config: SiteConfig) -> bytes:
    """An earlier URL of a post: sends readers (meta refresh, no script) and crawlers (canonical) on."""
    return theme.render("redirect.html", config, url=url, target=target)


def _display_name(entries: list[Entry], list_id: str) -> str:
    kind, _, value = list_id.partition(":")
    if kind == "cat":
        for entry in entries:
            for name in entry.categories:
                if name.lower() == value:
                    return name
    return value


def home_page(catalog: Catalog, config: SiteConfig) -> Compute:
    def compute() -> bytes:
        recent = catalog.entries(model.HOME, limit=HOME_WINDOW)
        sections: dict[str, list[Entry]] = {}
        for entry in recent:  # newest first, so sections come in order of their latest post
            for tag in entry.tags:
                if tag not in sections and len(sections) == MAX_HOME_SECTIONS:
                    continue
                bucket = sections.setdefault(tag, [])
                if len(bucket) < config.home_per_tag:
                    bucket.append(entry)
        return theme.render(
            "home.html",
            config,
            canonical="/",
            latest=recent[: config.feed_size],
            sections=[(tag, urls.tag_url(tag), items) for tag, items in sections.items()],
        )

    return compute


def listing_page(list_id: str, catalog: Catalog, config: SiteConfig) -> Compute:
    """Category and tag front pages: the newest `page_size` posts; older ones live in the date archives."""

    def compute() -> bytes | None:
        entries = catalog.entries(list_id, limit=config.page_size + 1)
        if not entries:
            return None
        kind = list_id.partition(":")[0]
        name = _display_name(entries, list_id)
        heading = f"分类：{name}" if kind == "cat" else f"标签：{name}"
        more = urls.ARCHIVE_URL if len(entries) > config.page_size else None
        return theme.render(
            "listing.html",
            config,
            canonical=urls.list_url(list_id),
            heading=heading,
            note="",
            entries=entries[: config.page_size],
            more_url=more,
            more_anchor="",
        )

    return compute


def day_pages(day: str, catalog: Catalog, config: SiteConfig) -> dict[str, Compute]:
    """The day's page and its sitemap for `SiteWriter.derive_together`: one read of the day's
    entries for both, made after both objects' ETags are read (and again on each attempt)."""
    entries = functools.cache(lambda: catalog.entries(model.DAY_PREFIX + day, limit=MAX_DAY_ENTRIES))
    return {
        paths.key_for_url(urls.list_url(model.DAY_PREFIX + day)): lambda: _day_page(day, entries(), config),
        urls.day_sitemap_key(day): lambda: _day_sitemap(entries(), config),
    }


def _day_page(day: str, entries: list[Entry], config: SiteConfig) -> bytes | None:
    if not entries:
        return None
    when = dt.date.fromisoformat(day)
    return theme.render(
        "listing.html",
        config,
        canonical=urls.list_url(model.DAY_PREFIX + day),
        heading=f"{when.year}年{when.month}月{when.day}日",
        note=f"{len(entries)} 篇",
        entries=entries,
        more_url=urls.ARCHIVE_URL,
        more_anchor=urls.month_anchor(day),
    )


def _day_sitemap(entries: list[Entry], config: SiteConfig) -> bytes | None:
    return theme.render("sitemap.xml", config, entries=entries) if entries else None


SITEMAPS_PER_INDEX = 50_000  # the sitemaps protocol's limit


def day_indexes(site: ObjectStore, config: SiteConfig) -> dict[str, Compute]:
    """The sitemap index and the archive page: both list the daily sitemaps that exist, read once
    (one LIST per thousand days) for both. They change only when a day opens or closes, so each is
    rendered only when the days (or the theme, or the settings) are not what it was made from."""
    days = functools.cache(lambda: urls.days_with_posts(site))

    def inputs(kind: str) -> str:
        return hashlib.sha256(json.dumps([kind, theme.stamp(config), days()]).encode()).hexdigest()[:32]

    def sitemap_index() -> bytes:
        # The newest days a sitemap index may list (an archive reaching back more than 137 years
        # of daily posts has more): search engines know the older pages from the archive's links.
        newest = days()[:SITEMAPS_PER_INDEX]
        return theme.render("sitemap_index.xml", config, sitemaps=["/" + urls.day_sitemap_key(d) for d in newest])

    def archive_page() -> bytes:
        months: dict[str, list[tuple[str, str]]] = {}
        for day in days():  # newest first
            months.setdefault(day[:7], []).append((f"{int(day[8:10])}日", urls.day_url(day)))
        items = [(f"{m[:4]}年{int(m[5:7])}月", urls.month_anchor(m), listed) for m, listed in months.items()]
        return theme.render("archive.html", config, canonical=urls.ARCHIVE_URL, months=items)

    return {
        # A sitemap index lists at least one sitemap (the protocol's schema): a site with no posts has none.
        "sitemap.xml": lambda: Fingerprinted(inputs("sitemap"), sitemap_index) if days() else None,
        "archive/index.html": lambda: Fingerprinted(inputs("archive"), archive_page),
    }


def feed(catalog: Catalog, config: SiteConfig) -> Compute:
    def compute() -> bytes:
        entries = catalog.entries(model.ALL, limit=config.feed_size)
        changed = [e.updated or e.date for e in entries]  # a correction is news to the feed too
        updated = max(changed, key=dt.datetime.fromisoformat) if changed else "1970-01-01T00:00:00+00:00"
        return theme.render("feed.xml", config, entries=entries, updated=updated)

    return compute


def static_pages(config: SiteConfig) -> dict[str, bytes]:
    """Pages and files that depend only on the theme and the site settings."""
    return {
        "404.html": theme.render("404.html", config),
        "search/index.html": theme.render("search.html", config, canonical="/search/"),
        "robots.txt": theme.render("robots.txt", config),
    }
