"""Where each listing lives on the site."""

from __future__ import annotations

import re

from newsdrop import model, paths

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


def month_url(month: str) -> str:
    return "/" + month.replace("-", "/") + "/"


SITEMAPS_PREFIX = "sitemaps/"


def day_sitemap_key(day: str) -> str:
    return f"{SITEMAPS_PREFIX}{day}.xml"


def days_with_posts(keys: list[str]) -> list[str]:
    """The days that have posts, from the keys of the daily sitemaps (one LIST request)."""
    return sorted((k.removeprefix(SITEMAPS_PREFIX).removesuffix(".xml") for k in keys), reverse=True)
