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
# A start tag, a quoted value holding `>` included; then each of its attributes in turn, its value
# quoted or not, so that what a value holds (`title=" href=/x"`) is never read as an attribute. No
# `<` outside quotes, and nothing read twice (possessive): from each `<` of a long run of unclosed
# tags (trusted HTML is not sanitised), the pattern would otherwise read to the end of the post.
_START_TAG = re.compile(r"""(<[a-zA-Z][^\s/<>"']*+)((?:[^<>"']++|"[^"]*+"|'[^']*+')*+>)""")
# A name starts where a run of name characters does, and every run is read once (possessive): tried
# from inside a long run, the pattern would read the rest of it again from each of its characters.
_ATTRIBUTE = re.compile(r"""(?<![^\s"'>/=])([^\s"'>/=]++)(\s*+=\s*+)("[^"]*+"|'[^']*+'|[^\s"'>]++)?""")
_LINKS = frozenset({"href", "src"})


def rebase_links(body_html: str, base: str) -> str:
    """A post's root-relative links under the site's `baseurl` (`/images/x.png` -> `/blog/images/x.png`):
    the README tells authors to link a file as `/images/...`, and a post has no `{{ site.baseurl }}`
    to write, as a Jekyll post has. A link already under the base, or to another host (`//host`,
    `/\\host`, which browsers read as `//host`), is left as it is."""
    base = base.rstrip("/")
    if not base:
        return body_html

    def rebased(attribute: re.Match[str]) -> str:
        name, equals, value = attribute.groups()
        if name.lower() not in _LINKS or not value:
            return attribute.group(0)
        quote = value[0] if value[0] in "\"'" else ""
        link = value[len(quote) :]
        if not link.startswith("/") or link[1:2] in ("/", "\\") or _under(link, base):
            return attribute.group(0)
        return f"{name}{equals}{quote}{base}{link}"

    def in_tag(tag: re.Match[str]) -> str:
        name, attributes = tag.groups()
        return name + _ATTRIBUTE.sub(rebased, attributes)

    return _START_TAG.sub(in_tag, body_html)  # attributes only: never text that reads like one


def _under(link: str, base: str) -> bool:
    """`link` (root-relative, its closing quote perhaps after it) is the base or under it."""
    rest = link.removeprefix(base)
    return rest != link and (not rest or rest[0] in "/\"'?#")
