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


# (Here, not in newsdrop.markup: render imports no Markdown library.)
# A root-relative link or image in a post (`/images/x.png`, `/`), in quotes or not; not `//host`.
_START_TAG = re.compile(r"<[a-zA-Z][^>]*>")
_ROOT_LINK = re.compile(r"""(\s(?:href|src)\s*=\s*["']?)/(?![/\\])""", re.IGNORECASE)


def rebase_links(body_html: str, base: str) -> str:
    """A post's root-relative links under the site's `baseurl` (`/images/x.png` -> `/blog/images/x.png`):
    the README tells authors to link a file as `/images/...`, and a post has no `{{ site.baseurl }}`
    to write, as a Jekyll post has. A link already under the base is left as it is."""
    base = base.rstrip("/")
    if not base:
        return body_html
    under = re.compile(re.escape(base[1:]) + r"""(?:[/"'\s?#>]|\Z)""")

    def in_tag(tag: re.Match[str]) -> str:
        text = tag.group(0)

        def rebased(match: re.Match[str]) -> str:
            return match.group(0) if under.match(text, match.end()) else match.group(1) + base + "/"

        return _ROOT_LINK.sub(rebased, text)

    return _START_TAG.sub(in_tag, body_html)  # attributes only: never text that reads like one
