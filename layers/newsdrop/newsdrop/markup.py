"""Markdown with raw HTML in, safe HTML and plain text out.

Posts come from third-party feeds, so the HTML that Markdown lets through is
sanitised with an allow-list: the markup the feed really uses survives, anything
that could run script or restyle the page beyond its box does not.
"""

from __future__ import annotations

import html
import re
from functools import cache

import nh3
from markdown_it import MarkdownIt

EXCERPT_CHARS = 160

ALLOWED_TAGS = frozenset(
    {
        "a", "abbr", "b", "blockquote", "br", "caption", "center", "cite", "code", "col", "colgroup", "dd",
        "del", "details", "div", "dl", "dt", "em", "figcaption", "figure", "font", "h1", "h2", "h3", "h4",
        "h5", "h6", "hr", "i", "img", "ins", "kbd", "li", "mark", "ol", "p", "pre", "q", "s", "small",
        "span", "strike", "strong", "sub", "summary", "sup", "table", "tbody", "td", "tfoot", "th", "thead",
        "time", "tr", "u", "ul",
    }
)  # fmt: skip
_COMMON = {"class", "style", "title", "id", "lang", "dir", "align"}
ALLOWED_ATTRIBUTES: dict[str, set[str]] = {
    "*": _COMMON,
    "a": {"href", "name", "target", "data-code", "data-code2"},
    "img": {"src", "alt", "width", "height", "border", "loading", "data-code", "data-code2"},
    "span": {"data-code", "web"},
    "td": {"colspan", "rowspan", "valign", "width"},
    "th": {"colspan", "rowspan", "valign", "width", "scope"},
    "table": {"border", "cellpadding", "cellspacing", "width"},
    "col": {"span", "width"},
    "font": {"color", "size", "face"},
    "ol": {"start", "type"},
    "time": {"datetime"},
}
ALLOWED_STYLES = frozenset(
    {
        "text-align", "text-indent", "font-weight", "font-style", "font-size", "color", "background-color",
        "border", "border-collapse", "margin", "margin-left", "margin-right", "padding", "width", "height",
        "max-width", "vertical-align", "text-decoration", "line-height", "display", "overflow",
    }
)  # fmt: skip
URL_SCHEMES = frozenset({"http", "https", "mailto"})
_SPACE = re.compile(r"\s+")


@cache
def _markdown() -> MarkdownIt:
    # CommonMark (autolinks, blockquotes, raw HTML) plus the GFM tables and strikethrough Jekyll's kramdown knows.
    return MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])


def sanitise(fragment: str) -> str:
    """Keep the allow-listed markup; drop scripts, handlers, frames, forms, `<base>`, `javascript:` and `data:` URLs."""
    return nh3.clean(
        fragment,
        tags=set(ALLOWED_TAGS),
        attributes={k: set(v) for k, v in ALLOWED_ATTRIBUTES.items()},
        url_schemes=set(URL_SCHEMES),
        filter_style_properties=set(ALLOWED_STYLES),
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )


def render_markdown(source: str) -> str:
    """Markdown with raw HTML to sanitised HTML."""
    return sanitise(_markdown().render(source))


def plain_text(fragment: str) -> str:
    """The visible text of an HTML fragment, whitespace collapsed."""
    return _SPACE.sub(" ", html.unescape(nh3.clean(fragment, tags=set()))).strip()


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    if len(text) <= limit:
        return text
    return text[: limit - 1].rstrip() + "…"
