"""The content model: site configuration, normalised posts and listing entries.

Everything here is plain data that survives a JSON round trip, because it travels
between functions as catalog items, artifact objects and events.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any
from zoneinfo import ZoneInfo

DEFAULT_TIMEZONE = "UTC"


@dataclass(frozen=True, slots=True)
class SiteConfig:
    """The subset of Jekyll's `_config.yml` that shapes the site."""

    title: str = "newsdrop"
    description: str = ""
    url: str = "http://localhost:8080"
    baseurl: str = ""
    lang: str = "zh-CN"
    timezone: str = DEFAULT_TIMEZONE
    author: str = ""
    # How many entries listing pages, the home page sections and the feed show.
    page_size: int = 50
    home_per_tag: int = 5
    feed_size: int = 20
    # Publish post bodies' HTML as written, unsanitised: only for sites whose authors are all trusted.
    trust_html: bool = False
    # Days a post stays on the home and section front pages before it moves to the date archives
    # only (0: it stays until newer posts push it off).
    front_page_days: int = 0
    # Jekyll's site-wide `permalink:` (a template or a built-in style name); empty: Jekyll's default.
    permalink: str = ""
    # Template overrides uploaded under `_templates/`: (theme template name, Jinja source), sorted.
    templates: tuple[tuple[str, str], ...] = ()

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def with_templates(self, templates: tuple[tuple[str, str], ...]) -> SiteConfig:
        return replace(self, templates=templates)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def to_text(self) -> str:
        """As the catalog stores it (one DynamoDB attribute): its size is what the item's limit counts."""
        return json.dumps(self.to_json(), ensure_ascii=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SiteConfig:
        names = set(cls.__dataclass_fields__)
        values = {k: v for k, v in data.items() if k in names}
        if "templates" in values:  # JSON has no tuples
            values["templates"] = tuple((str(name), str(source)) for name, source in values["templates"])
        return cls(**values)


@dataclass(frozen=True, slots=True)
class Post:
    """A post after parsing: what render and index need, and nothing they must re-parse."""

    key: str
    title: str
    date: str  # ISO 8601 with the site's UTC offset
    slug: str
    url: str  # site path, starts with "/", percent-decoded
    categories: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    body_html: str = ""
    text: str = ""  # the body as plain text, for excerpts and search
    excerpt: str = ""
    published: bool = True  # front matter `published: false` makes it a draft
    expires: str = ""  # ISO 8601: when it leaves the front pages (front matter `expires:`), if set
    redirect_from: list[str] = field(default_factory=list)  # earlier URLs that redirect here
    updated: str = ""  # ISO 8601: when it was last corrected (front matter `last_modified_at`), if set

    @property
    def when(self) -> dt.datetime:
        return dt.datetime.fromisoformat(self.date)

    def to_json(self) -> dict[str, Any]:
        # Fields are strings, booleans and lists of strings: asdict's deep copy, in a build once
        # per post, takes longer than encoding the JSON.
        values = ((f.name, getattr(self, f.name)) for f in fields(self))
        return {name: list(value) if isinstance(value, list) else value for name, value in values}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Post:
        return cls(**data)


@dataclass(frozen=True, slots=True)
class Entry:
    """One post as a listing shows it (home, category, tag, archive, feed, sitemap)."""

    key: str
    title: str
    url: str
    date: str
    excerpt: str = ""
    categories: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    updated: str = ""  # the post's `updated`: the feed's <updated> and the sitemap's <lastmod> when set

    @property
    def when(self) -> dt.datetime:
        return dt.datetime.fromisoformat(self.date)

    def to_json(self) -> dict[str, Any]:
        # Without an empty `updated`: the catalog's items stay as they were for posts never corrected.
        return {k: v for k, v in asdict(self).items() if v or k != "updated"}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Entry:
        names = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in names})

    @classmethod
    def of(cls, post: Post) -> Entry:
        return cls(
            key=post.key,
            title=post.title,
            url=post.url,
            date=post.date,
            excerpt=post.excerpt,
            categories=list(post.categories),
            tags=list(post.tags),
            updated=post.updated,
        )


def sort_key(entry_date: str, key: str) -> str:
    """Listing order: by instant (UTC, so offsets never reorder posts), then by source key."""
    when = dt.datetime.fromisoformat(entry_date).astimezone(dt.UTC)
    # The year padded: a post of 1000-01-01 05:00 +08:00 is in 999 in UTC, and `%Y` would write
    # "999-12-31", which sorts as text after every later year: newest for ever.
    return f"{when.year:04d}-{when:%m-%dT%H:%M:%S}Z#{key}"


# Listing identifiers. A post belongs to a fixed, small set of listings; render and
# index turn each listing into the pages and files that show it.
ALL = "all"  # every published post: the feed
HOME = "home"  # posts still on the front pages: the home page


def category_list(name: str) -> str:
    return f"cat:{name.lower()}"


def tag_list(name: str) -> str:
    return f"tag:{name}"


DAY_PREFIX = "day:"


def day_list(when: dt.datetime) -> str:
    return f"{DAY_PREFIX}{when:%Y-%m-%d}"


def lists_of(post: Post, *, front: bool = True) -> list[str]:
    """Every listing the post appears on, in a stable order; off the front pages (home,
    categories, tags) once it has expired."""
    # Month archives, sitemaps and search shards are per day and listed from the site
    # bucket, so no month listing is needed: a publish never reads a whole month.
    ids = [ALL, day_list(post.when)]
    if front:
        ids.append(HOME)
        ids += [category_list(c) for c in post.categories]
        ids += [tag_list(t) for t in post.tags]
    return list(dict.fromkeys(ids))
