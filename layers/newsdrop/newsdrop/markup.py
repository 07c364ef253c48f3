"""Markdown with raw HTML in, safe HTML and plain text out.

Posts come from third-party feeds, so the HTML that Markdown lets through is
sanitised with an allow-list: the markup the feed really uses survives, anything
that could run script or restyle the page beyond its box does not.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from functools import cache
from html.parser import HTMLParser

import nh3
import pyromark

EXCERPT_CHARS = 160
MAX_HTML_DEPTH = 100  # nested elements in a post's body
# Formatting elements a browser would rebuild in the blocks after them (`TooTangled`); well-formed HTML
# rebuilds none, and a post that leaves one <b> open across every paragraph stays far below it.
MAX_REBUILT = 100_000
# The body's HTML, in characters: a post's page must stay under the theme's (theme.MAX_OUTPUT_CHARS).
# Markdown's HTML stays within a few dozen times its source (`>` repeated, a blockquote in each
# other, is the most), and a reference link's URL is written out again for at most about the
# source's length in all (pulldown-cmark's limit; the uses past it stay text): at the post size
# limit the HTML is never more than a few MB before this limit refuses it.
MAX_BODY_HTML_CHARS = 2_000_000
# CommonMark (autolinks, blockquotes, raw HTML) plus the GFM tables and strikethrough Jekyll's kramdown
# knows. pulldown-cmark reads in time linear in its input, whatever the shape: 256 KB of the
# slowest (`[`, `*![`, nested blockquotes) take about 25 ms on the benchmarks' machine.
_MARKDOWN_OPTIONS = pyromark.Options.ENABLE_TABLES | pyromark.Options.ENABLE_STRIKETHROUGH
_LINE_END = re.compile(r"\r\n?")

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
# nh3 keeps an allowed property's value as written: refuse values that load or run something
# (old IE's expression(), url(), script URLs), also when hidden by CSS comments or escapes.
_STYLE_TRICKS = ("expression(", "url(", "javascript:", "vbscript:", "behavior:", "-moz-binding", "@import", "\\")
_CSS_COMMENT = re.compile(r"/\*.*?(?:\*/|\Z)", re.S)
_SPACE = re.compile(r"\s+")
# What XML 1.0 cannot hold (control characters, lone surrogates, U+FFFE, U+FFFF): feeds and sitemaps are XML.
NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


class Unbuildable(ValueError):
    """HTML that would take a browser, and the sanitiser, too much memory or time to build."""


class TooLarge(Unbuildable):
    """Markdown whose HTML would be larger than the limit."""

    def __init__(self, limit: int, what: str = "body") -> None:
        super().__init__(f"{what} HTML would be longer than {limit} characters")
        self.limit = limit


def sanitise(fragment: str) -> str:
    """Keep the allow-listed markup; drop scripts, handlers, frames, forms, `<base>`, `javascript:` and `data:` URLs."""
    return _cleaner().clean(fragment)


@cache
def _cleaner() -> nh3.Cleaner:
    # Built once: the allow-lists become the sanitiser's own sets once, not once per post.
    return nh3.Cleaner(
        tags=set(ALLOWED_TAGS),
        attributes={k: set(v) for k, v in ALLOWED_ATTRIBUTES.items()},
        url_schemes=set(URL_SCHEMES),
        filter_style_properties=set(ALLOWED_STYLES),
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
        attribute_filter=_filter_attribute,
    )


def _filter_attribute(tag: str, name: str, value: str) -> str | None:
    if name == "style":
        squeezed = _SPACE.sub("", _CSS_COMMENT.sub("", value)).lower()
        if any(trick in squeezed for trick in _STYLE_TRICKS):
            return None
    return value


class TooDeep(Unbuildable):
    """HTML that nests more elements than the limit."""

    def __init__(self, limit: int, what: str = "body") -> None:
        super().__init__(f"{what} HTML nests deeper than {limit} elements")
        self.limit = limit


class TooTangled(Unbuildable):
    """HTML that leaves formatting elements open across many blocks. A browser rebuilds every open
    formatting element in each block that follows (the HTML standard's reconstruction of the active
    formatting elements): 97 `<b class=n>` left open before 65,000 `<p>x` make six million elements,
    gigabytes in the sanitiser, from a quarter of a megabyte of HTML nested 98 deep."""

    def __init__(self, limit: int, what: str = "body") -> None:
        super().__init__(
            f"{what} HTML leaves formatting elements open across its blocks: a browser would rebuild more than {limit}"
        )
        self.limit = limit


# Elements a browser never opens (no end tag), ones a new sibling closes (`<p>a<p>b`), and the formatting
# elements a browser reopens after a misnested end tag (`<b><div></b>` keeps the div inside a new <b>).
_VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "keygen", "link", "meta", "param", "source",
     "track", "wbr"}
)  # fmt: skip
_SIBLING_CLOSES = frozenset({"p", "li", "dt", "dd", "tr", "td", "th", "option", "optgroup", "rp", "rt"})
_FORMATTING = frozenset(
    {"a", "b", "big", "code", "em", "font", "i", "nobr", "s", "small", "strike", "strong", "tt", "u"}
)  # fmt: skip
# Inside SVG and MathML `<x/>` closes at once, but these start tags take a browser back to HTML (the
# HTML standard's list; `font` only with some attributes, counted always), and inside these
# elements' content is HTML again, where the "/" of `<div/>` is ignored and the element stays open.
_FOREIGN_ROOTS = frozenset({"svg", "math"})
_BREAKOUT = frozenset(
    {"b", "big", "blockquote", "body", "br", "center", "code", "dd", "div", "dl", "dt", "em", "embed", "font",
     "h1", "h2", "h3", "h4", "h5", "h6", "head", "hr", "i", "img", "li", "listing", "menu", "meta", "nobr", "ol",
     "p", "pre", "ruby", "s", "small", "span", "strong", "strike", "sub", "sup", "table", "tt", "u", "ul", "var"}
)  # fmt: skip
_INTEGRATION_POINTS = frozenset({"foreignobject", "desc", "title", "mi", "mo", "mn", "ms", "mtext", "annotation-xml"})


class _DepthGauge(HTMLParser):
    """Tracks the open elements the way a browser would, erring towards deeper; raises `TooDeep` past the limit.

    Runs on the raw HTML before nh3 sees it: html5ever's tree building is quadratic in nesting depth
    (100,000 nested divs take minutes), so pathological input must be refused first. The stack never
    grows past the limit, so the cost is linear in the input and bounded in memory.
    """

    def __init__(self, limit: int, what: str = "body") -> None:
        super().__init__(convert_charrefs=False)
        self.limit = limit
        self.what = what  # the part of the post, in the errors
        self.open: list[str] = []
        self.foreign: list[bool] = []  # per open element: SVG or MathML (kept in step with `open`)
        self.formatting = 0  # of `open`, the formatting elements
        # Each time an element other than a formatting one closes, a browser may rebuild every
        # formatting element still open in the block that follows: counted, erring towards more.
        self.rebuilt = 0

    def _closed_a_block(self) -> None:
        self.rebuilt += self.formatting
        if self.rebuilt > MAX_REBUILT:
            raise TooTangled(MAX_REBUILT, self.what)

    def _in_foreign_content(self, tag: str) -> bool:
        """Whether `tag`, starting here, is an SVG or MathML element. A breakout tag is counted as an
        HTML element opened inside, where a browser would first close the SVG: never shallower."""
        inside = bool(self.foreign) and self.foreign[-1] and self.open[-1] not in _INTEGRATION_POINTS
        return tag in _FOREIGN_ROOTS or (inside and tag not in _BREAKOUT)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _VOID:
            return
        foreign = self._in_foreign_content(tag)
        if tag in _SIBLING_CLOSES and tag in self.open:
            at = len(self.open) - 1 - self.open[::-1].index(tag)
            del self.open[at], self.foreign[at]
            self._closed_a_block()
        self.open.append(tag)
        self.foreign.append(foreign)
        self.formatting += tag in _FORMATTING
        if len(self.open) > self.limit:
            raise TooDeep(self.limit, self.what)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _FOREIGN_ROOTS and self._in_foreign_content(tag):
            return  # in SVG and MathML `<path/>` is closed at once
        self.handle_starttag(tag, attrs)  # in HTML a browser ignores the "/" of `<div/>`: it stays open

    # An unclosed comment or processing instruction runs to the end, as in a browser. This parser
    # would look for its end again from each `<!--` or `<?` that follows (quadratic: a quarter of a
    # megabyte of `<!--` took half a minute), before the CPython release that fixed it.
    def parse_comment(self, i: int, report: bool = True) -> int:
        end = super().parse_comment(i, report)
        return len(self.rawdata) if end < 0 else end

    def parse_pi(self, i: int) -> int:
        end = super().parse_pi(i)
        return len(self.rawdata) if end < 0 else end

    def parse_html_declaration(self, i: int) -> int:
        # `<![CDATA[` in HTML opens a bogus comment that the next `>` ends, as a browser reads it;
        # this parser would read on to `]]>`, past the elements a browser opens meanwhile.
        if self.rawdata.startswith("<![", i):
            end = self.rawdata.find(">", i + 3)
            return -1 if end < 0 else end + 1
        return super().parse_html_declaration(i)

    def handle_endtag(self, tag: str) -> None:
        if tag not in self.open:
            return  # a stray end tag: browsers ignore it
        at = len(self.open) - 1 - self.open[::-1].index(tag)
        if tag in _FORMATTING:
            del self.open[at], self.foreign[at]  # the elements inside stay open (the adoption agency moves them)
            self.formatting -= 1
        else:
            # Closing a block closes what it holds, but formatting elements are reopened after it.
            kept = [i for i in range(at + 1, len(self.open)) if self.open[i] in _FORMATTING]
            self.open[at:] = [self.open[i] for i in kept]
            self.foreign[at:] = [self.foreign[i] for i in kept]
            self._closed_a_block()


def check_depth(fragment: str, limit: int = MAX_HTML_DEPTH, *, what: str = "body") -> None:
    """Raise `TooDeep` when `fragment` nests more than `limit` elements, `TooTangled` when a browser
    would rebuild more than MAX_REBUILT formatting elements; stops where it finds either."""
    if fragment.count("<") - fragment.count("</") <= limit:
        # Every element opens with a "<" that is not an end tag's "</": too few to nest that deep
        # (nearly every post, at a glance; the gauge is an HTML parser in Python, ~3 ms a table).
        # Nor to rebuild many: each of at most `limit` blocks closes once, over at most `limit`
        # formatting elements (an end tag with nothing to close makes at most an empty element).
        return
    gauge = _DepthGauge(limit, what=what)
    # Nothing after the last ">" can open an element (a tag cut off at the end is dropped), and each
    # construct the parser then meets has an end to find.
    gauge.feed(fragment[: fragment.rfind(">") + 1])
    gauge.close()


def render_markdown(source: str, *, trusted: bool = False, max_depth: int = MAX_HTML_DEPTH) -> str:
    """Markdown with raw HTML to HTML: sanitised, unless the site trusts its authors' HTML.

    Raises `TooDeep` when the HTML nests more than `max_depth` elements, `TooTangled` when a
    browser would rebuild too many formatting elements, and `TooLarge` when it would be longer
    than `MAX_BODY_HTML_CHARS` (trusted or not).
    """
    if "\r" in source:
        # Every line end as "\n", as CommonMark reads them all: pulldown-cmark loses a lone "\r"
        # that ends a line of an indented code block.
        source = _LINE_END.sub("\n", source)
    return render_html(pyromark.html(source, options=_MARKDOWN_OPTIONS), trusted=trusted, max_depth=max_depth)


def check(source: str, max_depth: int = MAX_HTML_DEPTH, *, what: str = "body") -> None:
    """Raise `Unbuildable` for HTML too large, too deep or too tangled to build (see each error);
    `what` names the part of the post in the error."""
    if len(source) > MAX_BODY_HTML_CHARS:
        raise TooLarge(MAX_BODY_HTML_CHARS, what)
    check_depth(source, max_depth, what=what)


def render_html(source: str, *, trusted: bool = False, max_depth: int = MAX_HTML_DEPTH) -> str:
    """HTML as a post's body: a `.html` post's as it is written (Jekyll reads no Markdown in it), or
    what Markdown rendered. Checked (`check`), and sanitised unless the site trusts its authors'
    HTML; raises `Unbuildable` as `render_markdown` does."""
    check(source, max_depth)
    if trusted:
        return source
    # The sanitiser resolves character references, `&#1;` too, and writes what they stand for.
    clean = NOT_XML.sub("", sanitise(source))
    if len(clean) > MAX_BODY_HTML_CHARS:  # the sanitiser closes every element and adds `rel` to links
        raise TooLarge(MAX_BODY_HTML_CHARS)
    return clean


# A table cell's end: a browser shows cells apart, Markdown's tables write them with nothing between.
_CELL_END = re.compile(r"</t[dh]\s*>", re.IGNORECASE)


def plain_text(fragment: str) -> str:
    """The visible text of an HTML fragment, whitespace collapsed, with only characters XML can hold
    (a character reference such as `&#1;` is a control character once read)."""
    return _collapsed(html.unescape(_text_only().clean(_CELL_END.sub(" ", fragment))))


@cache
def _text_only() -> nh3.Cleaner:
    # Built once, as `_cleaner` is: `nh3.clean(..., tags=set())` builds a sanitiser on every call.
    return nh3.Cleaner(tags=set())


def _collapsed(text: str) -> str:
    return _SPACE.sub(" ", NOT_XML.sub("", text)).strip()


# What may make a fragment's Markdown (or HTML) anything but a paragraph of its own text: inline
# syntax, character references, HTML, the characters that open or underline a block, a line (after
# a "\n" or a lone "\r", both line ends to Markdown) that may start an ordered list, NUL (which
# Markdown reads as U+FFFD) and a byte order mark (which the HTML parser drops).
_MARKUP = re.compile(r"[\\`*_~\[\]!<>&#|=+\-\x00\ufeff]|(?:^|(?<=\r))[ \t]*\d+[.)]", re.MULTILINE)


def fragment_text(source: str, render: Callable[[str], str]) -> str:
    """plain_text(render(source)) for a fragment of a post (its excerpt), without rendering one that
    holds no markup at all: its text, whitespace collapsed, is what the rendering shows."""
    if _MARKUP.search(source) is None:
        return _collapsed(source)
    return plain_text(render(source))


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    if len(text) <= limit:
        return text
    return text[: limit - 1].rstrip() + "…"
