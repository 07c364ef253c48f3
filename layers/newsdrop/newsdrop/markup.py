"""Markdown with raw HTML in, safe HTML and plain text out.

Posts come from third-party feeds, so the HTML that Markdown lets through is
sanitised with an allow-list: the markup the feed really uses survives, anything
that could run script or restyle the page beyond its box does not.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Collection
from functools import cache
from html.parser import HTMLParser
from typing import Any

import nh3
import pyromark

EXCERPT_CHARS = 160
MAX_HTML_DEPTH = 100  # nested elements in a post's body
# Formatting elements a browser would rebuild in the blocks after them (`TooTangled`); well-formed HTML
# rebuilds none, and a post that leaves one <b> open across every paragraph stays far below it.
MAX_REBUILT = 100_000
# Elements left open by the plainest reading of the tags (`TooManyOpen`): a bound on the depth a
# browser builds that holds whatever the depth gauge's model of the HTML standard misses.
MAX_OPEN_TAGS = 2_000
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


class TooManyOpen(Unbuildable):
    """HTML that leaves more elements open than the limit, counted as a plain stack of tags."""

    def __init__(self, limit: int, what: str = "body") -> None:
        super().__init__(f"{what} HTML leaves more than {limit} elements without their end tags")
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
    {"area", "base", "br", "col", "embed", "hr", "img", "image", "input", "keygen", "link", "meta", "param",
     "source", "track", "wbr"}
)  # fmt: skip
# The HTML standard's "special" elements (its HTML ones): an `li`, `dd` or `dt` closes an earlier one only
# if none of these but address, div and p lies between, so `<li><dd>` repeated nests ever deeper.
_SPECIAL = frozenset(
    {"address", "applet", "area", "article", "aside", "base", "basefont", "bgsound", "blockquote", "body", "br",
     "button", "caption", "center", "col", "colgroup", "dd", "details", "dir", "div", "dl", "dt", "embed",
     "fieldset", "figcaption", "figure", "footer", "form", "frame", "frameset", "h1", "h2", "h3", "h4", "h5", "h6",
     "head", "header", "hgroup", "hr", "html", "iframe", "img", "input", "keygen", "li", "link", "listing", "main",
     "marquee", "menu", "meta", "nav", "noembed", "noframes", "noscript", "object", "ol", "p", "param",
     "plaintext", "pre", "script", "search", "section", "select", "source", "style", "summary", "table", "tbody",
     "td", "template", "textarea", "tfoot", "th", "thead", "title", "tr", "track", "ul", "wbr", "xmp"}
)  # fmt: skip
_ITEM_STOPS = _SPECIAL - {"address", "div", "p"}
# What ends the standard's element scopes: no sibling closes an element on the far side of these.
# `select` too: what its content starts or ends never closes what is open around it, in html5ever.
_SCOPE = frozenset({"applet", "caption", "html", "table", "td", "th", "marquee", "object", "template", "select"})
_TABLE_SCOPE = frozenset({"html", "table", "template", "select"})
_BUTTON_SCOPE = _SCOPE | {"button"}
_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
# Start tags that close a `p` open in button scope first (`<p>a<ul>` makes the list the p's sibling).
_CLOSES_P = frozenset(
    {"address", "article", "aside", "blockquote", "center", "details", "dialog", "dir", "div", "dl", "fieldset",
     "figcaption", "figure", "footer", "header", "hgroup", "main", "menu", "nav", "ol", "p", "search", "section",
     "summary", "ul", "pre", "listing", "form", "li", "dd", "dt", "plaintext", "table", "hr", "xmp", *_HEADINGS}
)  # fmt: skip
# The end tags that close their element wherever it is open within a scope, and that scope (any
# heading's closes any heading). Any other end tag closes its element only if no special element
# lies between (`<noscript><li></noscript>` leaves both open).
_END_SCOPES = (
    dict.fromkeys(
        ("address", "article", "aside", "blockquote", "button", "center", "details", "dialog", "dir", "div", "dl",
         "fieldset", "figcaption", "figure", "footer", "header", "hgroup", "listing", "main", "menu", "nav", "ol",
         "pre", "search", "section", "summary", "ul", "dd", "dt", "applet", "marquee", "object", *_HEADINGS),
        _SCOPE,
    )
    | {"li": _SCOPE | {"ol", "ul"}, "p": _BUTTON_SCOPE, "select": _SCOPE}
    | dict.fromkeys(("table", "tbody", "thead", "tfoot", "tr", "td", "th", "caption"), _TABLE_SCOPE)
)  # fmt: skip
_TABLE_PARTS = frozenset({"caption", "col", "colgroup", "tbody", "td", "tfoot", "th", "thead", "tr"})
# For the plain stack: what an end tag closes above its element, as a browser takes those end tags
# as given (`<ul><li>one<li>two</ul>`). Only elements each of which closes the one before it: were
# the element ending not open in a browser at all (a cell outside a table), those above it would
# still not nest.
_PLAIN_IMPLIED: dict[str, tuple[str, ...]] = (
    dict.fromkeys((name for name, scope in _END_SCOPES.items() if scope is _SCOPE), ("p",))
    | {"li": ("p",), "td": ("p",), "th": ("p",), "ul": ("li", "p"), "ol": ("li", "p"), "dl": ("dd", "dt", "p")}
    | {"tr": ("td", "th", "p")}
    | dict.fromkeys(("tbody", "thead", "tfoot"), ("tr", "td", "th", "p"))
    | {"table": ("caption", "colgroup", "tbody", "thead", "tfoot", "tr", "td", "th", "p")}
)
_SECTIONS = frozenset({"tbody", "thead", "tfoot"})
# Elements a new sibling always closes when it is the current one (and the plain stack's top), as a
# p is by `_CLOSES_P` and a cell by a row.
_SAME_SIBLINGS = {
    "p": ("p",), "li": ("li",), "dd": ("dd", "dt"), "dt": ("dd", "dt"), "option": ("option",), "tr": ("tr",),
    "td": ("td", "th"), "th": ("td", "th"),
}  # fmt: skip
# A table part's start: the open elements it looks for in its table (the nearest found is closed if
# of `_SAME_PART`, else what it holds is), as a browser clears the stack back to a table, section or row.
_TABLE_CONTEXTS = {
    "td": frozenset({"td", "th", "tr"}) | _SECTIONS | {"table"},
    "th": frozenset({"td", "th", "tr"}) | _SECTIONS | {"table"},
    "tr": frozenset({"tr"}) | _SECTIONS | {"table"},
} | dict.fromkeys(("caption", "col", "colgroup", *_SECTIONS), frozenset({"table"}))
_SAME_PART = {"td": frozenset({"td", "th"}), "th": frozenset({"td", "th"}), "tr": frozenset({"tr"})}
# A new sibling's start tag -> (the open elements it closes, the elements its search for one stops at;
# None: it closes only the current element).
_SIBLING_CLOSES: dict[str, tuple[frozenset[str], frozenset[str] | None]] = {
    "li": (frozenset({"li"}), _ITEM_STOPS),
    "dd": (frozenset({"dd", "dt"}), _ITEM_STOPS),
    "dt": (frozenset({"dd", "dt"}), _ITEM_STOPS),
    "button": (frozenset({"button"}), _SCOPE),
    "option": (frozenset({"option"}), None),
    "optgroup": (frozenset({"option"}), None),
}
# Elements whose end tag a browser takes as given when a ruby part starts inside a `ruby`.
_IMPLIED_END = frozenset({"dd", "dt", "li", "optgroup", "option", "p", "rb", "rp", "rt", "rtc"})

_RUBY_PARTS = frozenset({"rb", "rp", "rt", "rtc"})
# The elements whose content html5ever reads as text, not tags (not noscript: how it is read
# depends on scripting, and read as tags it is counted deeper, never shallower).
_RAW_TEXT = frozenset({"script", "style", "xmp", "iframe", "noembed", "noframes", "textarea", "title"})
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
_FONT_BREAKOUT = frozenset({"color", "face", "size"})  # `font` leaves SVG only with one of these
_DOCUMENT = frozenset({"html", "head", "body", "frameset"})
# Every start tag for which `_DepthGauge._close_before` may close something, or open nothing.
_CLOSERS = frozenset(
    _DOCUMENT | _TABLE_PARTS | _CLOSES_P | _SIBLING_CLOSES.keys() | _RUBY_PARTS
    | {"table", "input", "keygen", "textarea", "select", *_HEADINGS}
)  # fmt: skip
_INTEGRATION_POINTS = frozenset({"foreignobject", "desc", "title", "mi", "mo", "mn", "ms", "mtext", "annotation-xml"})


class _DepthGauge(HTMLParser):
    """Tracks the open elements the way a browser would, erring towards deeper; raises `TooDeep` past
    the limit, and `TooManyOpen` when the tags, read as a plain stack, leave too many open.

    Runs on the raw HTML before nh3 sees it: html5ever's tree building is quadratic in nesting depth
    (100,000 nested divs take minutes), so pathological input must be refused first. Neither stack
    grows past its limit, so the cost is linear in the input and bounded in memory.
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
        # The tags as a plain stack: an end tag closes only the element on top, and a p, list item,
        # option, row or cell its own kind's element on top. However a browser reads them, it builds
        # no more than about twice as deep (a table's tbody and tr, a `</p>`'s empty p), so a gap in
        # the model above costs at most a tree `MAX_OPEN_TAGS` deep, not one the size of the post
        # (html5ever's time grows with the square of the depth: 65,000 took 25 s).
        self.unclosed: list[str] = []

    def _closed_a_block(self) -> None:
        self.rebuilt += self.formatting
        if self.rebuilt > MAX_REBUILT:
            raise TooTangled(MAX_REBUILT, self.what)

    def _in_foreign_content(self, tag: str, attrs: list[tuple[str, str | None]]) -> bool:
        """Whether `tag`, starting here, is an SVG or MathML element."""
        if tag in _FOREIGN_ROOTS:
            return True
        if not (self.foreign and self.foreign[-1]):
            return False
        breakout = tag in _BREAKOUT and (tag != "font" or any(name in _FONT_BREAKOUT for name, _ in attrs))
        return self._inside_foreign() and not breakout

    def _inside_foreign(self) -> bool:
        return bool(self.foreign) and self.foreign[-1] and self.open[-1] not in _INTEGRATION_POINTS

    def _leave_foreign(self) -> None:
        while self.foreign and self.foreign[-1] and self._inside_foreign():
            self.formatting -= self.open.pop() in _FORMATTING
            self.foreign.pop()

    def _count_open(self, tag: str) -> None:
        unclosed = self.unclosed
        if unclosed and unclosed[-1] == "p" and tag in _CLOSES_P:
            unclosed.pop()
        if unclosed and tag == "tr" and unclosed[-1] in ("td", "th"):
            unclosed.pop()
        if unclosed and unclosed[-1] in _SAME_SIBLINGS.get(tag, ()):
            unclosed.pop()
        unclosed.append(tag)
        if len(self.unclosed) > MAX_OPEN_TAGS:
            raise TooManyOpen(MAX_OPEN_TAGS, self.what)

    def _count_closed(self, tag: str) -> None:
        """An end tag on the plain stack: it closes the element on top, and any list items, paragraphs,
        cells, rows and options left open on it, whose end tags a browser takes as given."""
        unclosed, implied = self.unclosed, _PLAIN_IMPLIED.get(tag, ())
        at = len(unclosed) - 1
        while at >= 0 and unclosed[at] != tag and unclosed[at] in implied:
            at -= 1
        if at >= 0 and unclosed[at] == tag:
            del unclosed[at:]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _VOID:
            self._count_open(tag)
        foreign = self._in_foreign_content(tag, attrs)
        if not foreign and not self._close_before(tag):
            return
        if tag in _VOID:
            return
        self.open.append(tag)
        self.foreign.append(foreign)
        self.formatting += tag in _FORMATTING
        if len(self.open) > self.limit:
            raise TooDeep(self.limit, self.what)
        if tag in _RAW_TEXT and tag not in self.CDATA_CONTENT_ELEMENTS:
            self.set_cdata_mode(tag)  # this parser knows script and style (after this) alone

    def _close_before(self, tag: str) -> bool:
        """Close what a browser closes before it opens an HTML element `tag`, as the HTML standard's
        tree construction does; False when it opens none. The gauge may count deeper than a browser
        builds, never shallower: an element left open here that a browser had closed would make a
        later end tag close what a browser keeps open."""
        self._leave_foreign()  # an HTML tag takes a browser out of SVG and MathML first
        if tag not in _CLOSERS:
            return True
        if tag in _DOCUMENT:
            return False  # inside a body a browser opens no second one
        if tag in _TABLE_PARTS:
            # A cell closes the cell open in its table; a row the row; every part what a browser
            # clears back to (`<table><tr><pre><td>`: the pre, read in table mode, goes). Found
            # nothing, not even the table, it is outside one: no element.
            context = self._find(_TABLE_CONTEXTS[tag], _TABLE_SCOPE)
            if context is None:
                return False
            self._close(context if self.open[context] in _SAME_PART.get(tag, ()) else context + 1)
        elif tag == "table" and self._table_mode():  # a table straight in a table ends it
            table = self._find(("table",), _TABLE_SCOPE)
            if table is not None:
                self._close(table)
        paragraph = self._find(("p",), _BUTTON_SCOPE) if tag in _CLOSES_P else None
        if paragraph is not None:
            self._close(paragraph)
        if tag in _HEADINGS and self.open and self.open[-1] in _HEADINGS:
            self._close(len(self.open) - 1)
        if tag in ("input", "keygen", "textarea", "select"):
            select = self._find(("select",), _SCOPE)
            if select is not None:
                self._close(select)
                if tag == "select":
                    return False  # a select in a select only ends it
        at = self._sibling_closed_by(tag)
        if at is not None:
            self._close(at)
        if tag in _RUBY_PARTS and self._find(("ruby",), _SCOPE) is not None:
            spared = "rtc" if tag in ("rp", "rt") else None
            while self.open and not self.foreign[-1] and self.open[-1] in _IMPLIED_END and self.open[-1] != spared:
                self._close(len(self.open) - 1)
        return True

    def _table_mode(self) -> bool:
        """Whether a browser reads here as in a table, a table section or a row (where what is no table
        part is set before the table), not as in a cell or a caption (read as a body is)."""
        for name, foreign in zip(reversed(self.open), reversed(self.foreign), strict=True):
            if not foreign and name in ("td", "th", "caption", "template", "html"):
                return False
            if not foreign and name in ("table", "tbody", "thead", "tfoot", "tr"):
                return True
        return False

    def _sibling_closed_by(self, tag: str) -> int | None:
        """Where the open element that starting `tag` closes is, as a browser finds it: None if none."""
        if tag not in _SIBLING_CLOSES or not self.open:
            return None
        closes, stops = _SIBLING_CLOSES[tag]
        if stops is not None:
            return self._find(closes, stops)
        return None if self.open[-1] not in closes or self.foreign[-1] else len(self.open) - 1

    def _closed_by_end_tag(self, tag: str) -> int | None:
        """Where the open element an end tag closes is, as a browser finds it: in SVG and MathML their
        elements by name; then the HTML element, within the scope `_END_SCOPES` gives it."""
        if self.foreign and self.foreign[-1]:
            for at in range(len(self.open) - 1, -1, -1):
                if not self.foreign[at]:
                    break
                if self.open[at] == tag:
                    return at
        return self._find(_HEADINGS if tag in _HEADINGS else (tag,), _END_SCOPES.get(tag, _SPECIAL))

    def _find(self, closes: Collection[str], stops: frozenset[str]) -> int | None:
        """The nearest open HTML element named in `closes`, unless one of `stops` lies between. Of SVG's
        and MathML's elements, those HTML resumes in end every scope but a table's."""
        for at in range(len(self.open) - 1, -1, -1):
            name = self.open[at]
            if self.foreign[at]:
                if name in _INTEGRATION_POINTS and stops is not _TABLE_SCOPE:
                    return None
            elif name in closes:
                return at
            elif name in stops:
                return None
        return None

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _FOREIGN_ROOTS and self._in_foreign_content(tag, attrs):
            if tag not in _VOID:
                self._count_open(tag)  # closed at once only where it is SVG, which the plain stack does not tell
            return  # in SVG and MathML `<path/>` is closed at once
        self.handle_starttag(tag, attrs)  # in HTML a browser ignores the "/" of `<div/>`: it stays open

    # An unclosed comment or processing instruction runs to the end, as in a browser. This parser
    # would look for its end again from each `<!--` or `<?` that follows (quadratic: a quarter of a
    # megabyte of `<!--` took half a minute), before the CPython release that fixed it.
    def parse_comment(self, i: int, report: bool = True) -> int:
        # Where html5ever ends a comment, as the HTML standard does: `<!-->` and `<!--->` are whole,
        # and otherwise the first `-->` or `--!>`. This parser (before Python 3.12.11) looked for
        # `--\s*>` alone, reading `<!-->` and what follows as one long comment: elements html5ever
        # builds that no count here would see.
        raw = self.rawdata
        for whole in ("<!-->", "<!--->"):
            if raw.startswith(whole, i):
                return i + len(whole)
        ends = [at for at in (raw.find("-->", i + 4), raw.find("--!>", i + 4)) if at >= 0]
        if not ends:
            return len(raw)
        end = min(ends)
        return end + (3 if raw.startswith("-->", end) else 4)

    def set_cdata_mode(self, elem: str, *args: Any, **kwargs: Any) -> None:
        if any(self.foreign):
            # In SVG and MathML a style or a title holds elements, as any other; and inside them,
            # where HTML resumes depends on the namespace, which is not tracked here: read as tags.
            return
        super().set_cdata_mode(elem, *args, **kwargs)
        # The text ends at its end tag's name followed by a space, `/` or `>` (`</style x>` too),
        # as in html5ever; this parser would look on for `</style>` alone.
        self.interesting = re.compile(rf"</{re.escape(elem)}(?=[\t\n\f\r />])", re.IGNORECASE)

    def parse_endtag(self, i: int) -> int:
        elem = self.cdata_elem
        if elem is not None and self.rawdata[i + 2 : i + 2 + len(elem)].lower() == elem:
            end = self.rawdata.find(">", i)
            if end < 0:
                return -1
            self.clear_cdata_mode()
            self.handle_endtag(elem)
            return end + 1
        return super().parse_endtag(i)

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

    def _close(self, at: int) -> None:
        """Close the open element at `at` and what it holds; formatting elements are reopened after it."""
        top = len(self.open) - 1
        if at > top:
            return
        if at == top:  # the current element, as most end tags close
            self.open.pop()
            self.foreign.pop()
        else:
            kept = [i for i in range(at + 1, top + 1) if self.open[i] in _FORMATTING]
            self.open[at:] = [self.open[i] for i in kept]
            self.foreign[at:] = [self.foreign[i] for i in kept]
        self._closed_a_block()

    def handle_endtag(self, tag: str) -> None:
        self._count_closed(tag)
        if tag in _DOCUMENT:
            return  # a browser closes nothing for these: what follows goes into the body all the same
        if tag in ("p", "br"):
            self._leave_foreign()  # these end tags too take a browser out of SVG and MathML first
        at = self._find((tag,), _SCOPE) if tag in _FORMATTING else self._closed_by_end_tag(tag)
        if at is None:
            return  # nothing it closes is open where a browser looks: it ignores the tag
        if tag in _FORMATTING:
            # The adoption agency: with no special element inside, the element closes with what it
            # holds (its formatting elements reopened after it); with one, the elements inside stay open.
            self.formatting -= 1
            inside = range(at + 1, len(self.open))
            if inside and not any(self.open[i] in _SPECIAL and not self.foreign[i] for i in inside):
                self._close(at)
            else:
                del self.open[at], self.foreign[at]
        elif tag == "form":
            del self.open[at], self.foreign[at]  # `</form>` takes the form alone off the stack
        else:
            self._close(at)


def check_depth(fragment: str, limit: int = MAX_HTML_DEPTH, *, what: str = "body") -> None:
    """Raise `TooDeep` when `fragment` nests more than `limit` elements, `TooTangled` when a browser
    would rebuild more than MAX_REBUILT formatting elements, `TooManyOpen` when it leaves more than
    MAX_OPEN_TAGS elements open read as a plain stack of tags; stops where it finds any."""
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
    clean = sanitise(source)
    if NOT_XML.search(clean):
        # The sanitiser resolves character references, `&#1;` too, and writes what they stand for:
        # characters XML cannot hold, which go. Their going may join what they kept apart (an href of
        # `java&#1;script:...`, a relative URL to the sanitiser, becomes a script URL), so what is
        # left is sanitised again. It holds no such character then: its text escapes its own `&`.
        clean = sanitise(NOT_XML.sub("", clean))
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
