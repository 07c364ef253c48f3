"""Where each listing lives on the site."""

from __future__ import annotations

import re

from newsdrop import model, paths
from newsdrop.ports import ObjectStore

_YEARISH = re.compile(r"\A\d+\Z")


def category_url(name: str) -> str:
    # Jekyll sites link categories at /<category>/ (the reference site does); names that would
    # collide with the site's own folders or with date archives move under /categories/.
    seg = paths.segment(name.lower())
    if seg in paths.RESERVED_DIRS or _YEARISH.match(seg) or "." in seg:
        return f"/categories/{seg}/"
    return f"/{seg}/"


def tag_url(name: str) -> str:
    return f"/tags/{paths.segment(name)}/"


def list_url(list_id: str) -> str:
    kind, _, value = list_id.partition(":")
    if list_id in (model.ALL, model.HOME):
        return "/"
    if kind == "cat":
        return category_url(value)
    if kind == "tag":
        return tag_url(value)
    if kind == "day":
        return "/" + value.replace("-", "/") + "/"
    raise ValueError(f"unknown listing {list_id!r}")


def day_url(date_iso: str) -> str:
    return "/" + date_iso[:10].replace("-", "/") + "/"


ARCHIVE_URL = "/archive/"


def month_anchor(date_iso: str) -> str:
    """A month's place on the archive page (the archive lists every day, grouped by month)."""
    return "m" + date_iso[:7]


SITEMAPS_PREFIX = "sitemaps/"


def day_sitemap_key(day: str) -> str:
    return f"{SITEMAPS_PREFIX}{day}.xml"


def days_with_posts(site: ObjectStore) -> list[str]:
    """The days that have posts, newest first, from the keys of the daily sitemaps: one LIST
    request per thousand days of archive, so no page that lists days reads the catalog."""
    keys = site.list_keys(SITEMAPS_PREFIX)
    return sorted((k.removeprefix(SITEMAPS_PREFIX).removesuffix(".xml") for k in keys), reverse=True)
