"""Markdown with raw HTML: what the feed really uses survives, anything that runs script does not."""

from __future__ import annotations

import os
import re
from html.parser import HTMLParser
from urllib.parse import quote

import nh3
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from newsdrop import markup
from tests.support.processes import in_a_new_process


def tags_in(html: str) -> set[str]:
    return {name.lower() for name in re.findall(r"<\s*([a-zA-Z][a-zA-Z0-9]*)", html)}


@pytest.mark.parametrize(
    ("source", "gone"),
    [
        ("Hi <script>alert(1)</script> there", "<script"),
        ("<SCRIPT SRC=http://evil.com/x.js></SCRIPT>", "<script"),
        ('<img src="https://a.com/x.png" onerror="alert(1)">', "onerror"),
        ('<p onclick="alert(1)">x</p>', "onclick"),
        ('<a href="javascript:alert(1)">x</a>', "javascript:"),
        ('<a href="JaVaScRiPt:alert(1)">x</a>', "alert(1)"),
        ('<a href=" javascript:alert(1)">x</a>', "javascript"),
        ('<img src="data:image/svg+xml;base64,PHN2Zz4=">', "data:"),
        ('<iframe src="https://evil.com"></iframe>', "<iframe"),
        ('<form action="https://evil.com"><input name="q"><button>go</button></form>', "<form"),
        ('<form action="https://evil.com"><input name="q"></form>', "<input"),
        ('<base href="https://evil.com/">', "<base"),
        ('<object data="x.swf"></object><embed src="x.swf">', "<object"),
        ('<object data="x.swf"></object><embed src="x.swf">', "<embed"),
        ("<style>body{display:none}</style>", "<style"),
        ('<meta http-equiv="refresh" content="0;url=https://evil.com">', "<meta"),
        ('<link rel="stylesheet" href="https://evil.com/x.css">', "<link"),
        ("<svg><script>alert(1)</script></svg>", "<svg"),
        ('<p style="position:fixed;top:0">x</p>', "position"),
        ('<p style="background-image:url(javascript:alert(1))">x</p>', "url("),
        ("<!-- a comment -->text", "<!--"),
        ("[x](javascript:alert(1))", 'href="javascript'),
        # A control character's reference keeps a scheme apart for the sanitiser; XML cannot hold
        # the character, and taking it out must not join the scheme together again.
        ('<a href="java&#1;script:alert(1)">x</a>', "javascript:"),
        ('<a href="java&#x1f;script:alert(1)">x</a>', "javascript:"),
        ('<a href="data&#1;:text/html,x">x</a>', "data:"),
        ('<img src="java&#1;script:alert(1)">', "javascript:"),
    ],
)
def test_dangerous_markup_is_removed(source: str, gone: str) -> None:
    html = markup.render_markdown(source)
    assert gone.lower() not in html.lower()


def test_script_contents_are_dropped_not_shown() -> None:
    html = markup.render_markdown("Before <script>steal()</script> after")
    assert "steal()" not in html
    assert "Before" in html
    assert "after" in html


def test_only_allow_listed_tags_remain_in_hostile_input() -> None:
    source = (
        "<script>x</script><iframe></iframe><form><input></form><base href=x><object></object>"
        '<p>ok <a href="https://a.com">a</a> <img src="https://a.com/i.png"></p>'
    )
    assert tags_in(markup.render_markdown(source)) <= markup.ALLOWED_TAGS


def test_feed_markup_survives() -> None:
    source = (
        '<p style="text-align:center"><a href="http://quote.eastmoney.com/unify/r/106.NIO" class="EmImageRemark" '
        'data-code="NIO|106|7" target="_blank"><img src="https://webquoteklinepic.eastmoney.com/GetPic.aspx?x=1" '
        'alt="K图 NIO_0" style="border:#d1d1d1 1px solid;" width="578" height="276" /></a></p>'
        '<p>国内<span id="bk_90.BK0493"><a href="http://quote.eastmoney.com/unify/r/90.BK0493" class="keytip">'
        "新能源</a></span>汽车<br /></p>"
        '<span web="1" class="em_stock_key_common" data-code="90,BK0493">锂电池</span>'
    )
    html = markup.render_markdown(source)
    assert re.search(r'<p style="text-align: ?center;?"', html)
    assert 'href="http://quote.eastmoney.com/unify/r/106.NIO"' in html
    assert 'src="https://webquoteklinepic.eastmoney.com/GetPic.aspx?x=1"' in html
    assert 'width="578"' in html
    assert 'height="276"' in html
    assert re.search(r'style="border: ?#d1d1d1 1px solid;?"', html)
    assert 'class="keytip"' in html
    assert 'class="em_stock_key_common"' in html
    assert 'data-code="90,BK0493"' in html
    assert "<br" in html
    assert "新能源" in html
    assert "锂电池" in html


def test_tables_and_blockquotes_survive() -> None:
    source = (
        "> quoted news\n\n"
        "| a | b |\n|---|---|\n| 1 | 2 |\n\n"
        '<table border="1"><tr><td colspan="2">cell</td></tr></table>\n'
    )
    html = markup.render_markdown(source)
    assert "<blockquote>" in html
    assert "quoted news" in html
    assert {"table", "thead", "tbody", "tr", "th", "td"} <= tags_in(html)
    assert 'colspan="2"' in html
    assert "cell" in html


def test_markdown_basics() -> None:
    html = markup.render_markdown("# Head\n\nSome *em* and **strong** and ~~gone~~ and [link](https://a.com/x).")
    assert "<h1>Head</h1>" in html
    assert "<em>em</em>" in html
    assert "<strong>strong</strong>" in html
    assert "<s>gone</s>" in html or "<del>gone</del>" in html
    assert 'href="https://a.com/x"' in html


@pytest.mark.parametrize(
    ("source", "href"),
    [
        # Each non-ASCII character as its UTF-8 bytes, percent-encoded: a browser reads the host's back
        # into the name it looks up (the URL standard's host parsing), the path's as they are sent.
        ("[a](https://例子.测试/路径)", "https://" + quote("例子.测试/路径")),
        ("[a](https://A.com/x y)", None),  # a space ends the destination: not a link
        ("[a](<https://a.com/x y>)", "https://a.com/x%20y"),
        ('[a](https://a.com/?q=1&r="2")', "https://a.com/?q=1&amp;r=%222%22"),  # the attribute stays closed
        ("[a](HTTPS://A.COM/X)", "HTTPS://A.COM/X"),
    ],
)
def test_link_destinations_are_written_as_urls(source: str, href: str | None) -> None:
    html = markup.render_markdown(source)
    if href is None:
        assert "href" not in html
    else:
        assert f'href="{href}"' in html


def test_links_get_rel_noopener() -> None:
    html = markup.render_markdown('<a href="https://a.com" target="_blank">x</a>')
    rel = re.search(r'rel="([^"]*)"', html)
    assert rel is not None
    assert "noopener" in rel.group(1).split()


def test_mailto_links_survive() -> None:
    assert 'href="mailto:a@b.com"' in markup.render_markdown('<a href="mailto:a@b.com">mail</a>')


def test_plain_text_drops_markup_and_unescapes_entities() -> None:
    text = markup.plain_text("<p>A &amp; B</p>\n<p>  C&lt;D  </p><script>x</script>")
    assert text == "A & B C<D"


def test_plain_text_keeps_table_cells_apart() -> None:
    html = markup.render_markdown("| 代码 | Price |\n|---|---|\n| 600519 | 1,800 |\n")
    assert markup.plain_text(html) == "代码 Price 600519 1,800"
    assert markup.plain_text("<table><tr><td>a</td ><TD>b</TD></tr></table>") == "a b"


def test_excerpt_is_bounded() -> None:
    text = "字" * 500
    short = markup.excerpt(text)
    assert len(short) == markup.EXCERPT_CHARS
    assert short.endswith("…")
    assert markup.excerpt("short") == "short"
    exact = "x" * markup.EXCERPT_CHARS
    assert markup.excerpt(exact) == exact


# --- nesting depth: refused before nh3 sees it (html5ever's tree building is quadratic in depth)


@pytest.mark.parametrize("depth", [1, 50, markup.MAX_HTML_DEPTH])
def test_nesting_up_to_the_limit_is_kept(depth: int) -> None:
    html = markup.render_markdown("<div>" * depth + "deep" + "</div>" * depth)
    assert html.count("<div>") == depth
    assert "deep" in html


@pytest.mark.parametrize(
    "unit",
    [
        "<div>",  # plain nesting
        "<span>",  # unclosed inline elements
        "<b>",  # unclosed formatting elements
        "<li><ul>",  # nested lists
        "<table><td>",  # nested tables
        "<b><div></b>",  # misnested: the browser keeps each div open inside a reopened <b>
        "<a><div></a>",
        "<div><b>x</div>",  # formatting elements reopened after each block
        # A new li, dd or dt closes an earlier one only if no other list item or block lies between.
        "<li><dd>",
        "<dt><li>",
        "<optgroup><option>",  # an optgroup closes an option, never an optgroup
        "<rp><rt>",  # ...and these each other only inside a ruby
        "<th><address><optgroup>x<th><span>",  # a table cell outside a table is no element
        "<p><ul></p>",  # the list closed the paragraph: the end tag has nothing to close
        "<rb><ul></rb>",  # an end tag does not close past a block
        "<noscript><li></noscript>",
        "<svg></p><optgroup>",  # `</p>` leaves the SVG as an HTML tag does
        "<ruby></form><form>",  # `</form>` takes the form alone off the stack
    ],
)
def test_nesting_past_the_limit_is_refused(unit: str) -> None:
    depth = markup.MAX_HTML_DEPTH + 1
    with pytest.raises(markup.TooDeep, match="nests deeper than 100 elements"):
        markup.render_markdown("<div>" + unit * depth + "x")


def test_a_long_flat_table_is_measured_at_a_glance(monkeypatch: pytest.MonkeyPatch) -> None:
    # 90 cells: 186 "<" in all, but only 93 can open an element; the end tags' "</" cannot.
    table = "<table><tr>" + "<td>1</td>" * 45 + "</tr><tr>" + "<td>2</td>" * 45 + "</tr></table>"
    assert table.count("<") > markup.MAX_HTML_DEPTH

    def no_parser(limit: int, **options: str) -> None:
        raise AssertionError("the HTML parser ran on a fragment that cannot nest past the limit")

    monkeypatch.setattr(markup, "_DepthGauge", no_parser)
    markup.check_depth(table)
    with pytest.raises(AssertionError):  # one start tag more than the limit allows: the gauge decides
        markup.check_depth("<div>" * (markup.MAX_HTML_DEPTH + 1) + "</div>" * 200)


def test_end_tags_do_not_hide_nesting_past_the_limit() -> None:
    deep = "<div>" * (markup.MAX_HTML_DEPTH + 1) + "x" + "</div>" * (markup.MAX_HTML_DEPTH + 1)
    with pytest.raises(markup.TooDeep):
        markup.check_depth(deep)


def test_the_limit_applies_to_trusted_html_too() -> None:
    with pytest.raises(markup.TooDeep):
        markup.render_markdown("<div>" * 101, trusted=True)


@pytest.mark.parametrize(
    "unit", ["<div>", "<span>", "<b><div></b>", "<li><ul>", "<li><dd>", "<optgroup><option>", "<p><ul>"]
)
def test_pathological_nesting_fails_fast(unit: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # 100,000 nested elements would take nh3 minutes; the gauge stops at the 101st open element.
    source = "<div>" + unit * 100_000
    seen: list[str] = []
    gauge = markup._DepthGauge.handle_starttag
    monkeypatch.setattr(
        markup._DepthGauge, "handle_starttag", lambda self, tag, attrs: seen.append(tag) or gauge(self, tag, attrs)
    )
    with pytest.raises(markup.TooDeep):
        markup.check_depth(source)
    assert len(seen) <= 2 * (markup.MAX_HTML_DEPTH + 2)  # it stopped there, not at the end of the input


@pytest.mark.parametrize(
    "source",
    [
        "<svg>" + "<div/>" * 101,  # an HTML tag takes a browser out of SVG, and there "/" is ignored
        "<svg><div/>" + "<x-y/>" * 101,  # ...so what follows nests as HTML
        "<svg><foreignObject>" + "<x-y/>" * 101,  # inside foreignObject content is HTML
        "<math><mi>" + "<x-y/>" * 101,  # ...and inside MathML's text elements
    ],
)
def test_self_closing_tags_nest_wherever_a_browser_reads_html(source: str) -> None:
    with pytest.raises(markup.TooDeep):
        markup.check_depth(source)


# Elements whose start and end tags a browser reads by the HTML standard's special rules (implied
# closes, scopes, tables, SVG), with a few plain and formatting ones. Not the raw-text elements
# (noscript, textarea, title...): the sanitiser writes what they hold back out as text, which no
# parser reading its output could measure.
_TREE_TAGS = (
    "li", "dd", "dt", "p", "option", "optgroup", "rb", "rp", "rt", "rtc", "ruby", "tr", "td", "th", "table",
    "tbody", "caption", "colgroup", "div", "span", "b", "i", "a", "em", "nobr", "font", "ul", "ol", "dl", "select",
    "address", "button", "form", "pre", "section", "blockquote", "h1", "h2", "svg", "math", "mi",
    "foreignObject", "path", "desc", "details", "summary", "object", "marquee", "template", "hr", "br", "img",
)  # fmt: skip
_TREE_PIECES = (
    *(f"<{t}>" for t in _TREE_TAGS), *(f"</{t}>" for t in _TREE_TAGS), "x", "<path/>", "<div/>", "<image>",
    # Where comments and text-only elements end, which parsers have read differently.
    "<!-->", "<!--", "-->", "--!>", "<style>", "</style x>", "<xmp>", "</xmp/>", "<title>", "</title x>",
    "<![CDATA[", "]]>", "<noscript>", "</noscript>", "<plaintext>",
)  # fmt: skip


class _Depth(HTMLParser):
    """The deepest nesting in HTML the sanitiser wrote (well-formed: every element it opens, it closes)."""

    def __init__(self) -> None:
        super().__init__()
        self.depth = self.deepest = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in markup._VOID:
            self.depth += 1
            self.deepest = max(self.deepest, self.depth)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.deepest = max(self.deepest, self.depth + 1)

    def handle_endtag(self, tag: str) -> None:
        if tag not in markup._VOID:
            self.depth -= 1


class _DeepestGauge(markup._DepthGauge):
    deepest = 0  # of the gauge's model of a browser
    most_unclosed = 0  # of the plain stack of tags

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        super().handle_starttag(tag, attrs)
        self.deepest = max(self.deepest, len(self.open))
        self.most_unclosed = max(self.most_unclosed, len(self.unclosed))


def _measured(source: str) -> tuple[int, _DeepestGauge]:
    """The depth of the tree html5ever built for `source` (every element kept), and the gauge that read it."""
    gauge = _DeepestGauge(100_000)
    gauge.feed(source)
    gauge.close()
    built = _Depth()
    built.feed(_KEEP_ALL.clean(source))
    built.close()
    return built.deepest, gauge


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(_TREE_PIECES), min_size=1, max_size=30), st.integers(1, 40))
@example(["<li>", "<dd>"], 40)  # each an element of the standard's special kind: neither closes the other
@example(["<th>", "<address>", "<optgroup>", "x", "<th>", "<span>"], 40)
@example(["<p>", "<ul>", "</p>"], 40)
@example(["<ruby>", "<li>", "<rb>"], 40)
def test_a_browser_builds_at_most_twice_as_deep_as_the_plain_stack_of_tags(pieces: list[str], times: int) -> None:
    # What keeps html5ever from a quadratic tree whatever the gauge's model of the standard gets
    # wrong: a pattern counted as flat while the tree grew with each repetition would let a 256 KB
    # post nest 60,000 deep and take the parse function past its timeout. Every element the
    # sanitiser may write is allowed here, so the tree it writes is the tree html5ever built.
    built, gauge = _measured("<div>" + "".join(pieces) * times)
    assert built <= 2 * gauge.most_unclosed + 3


@pytest.mark.parametrize(
    "pieces",
    [
        ["<li>", "<dd>"],
        ["<optgroup>", "<option>"],
        ["<rp>", "<rt>"],
        ["<th>", "<address>", "<optgroup>", "x", "<th>", "<span>"],
        ["<p>", "<ul>", "</p>"],
        ["<rb>", "<ul>", "</rb>"],
        ["<svg>", "</p>", "<optgroup>", "<p>", "</p>"],
        ["<ruby>", "</form>", "<form>"],
        ["<object>", "<li>", "<svg>", "<tr>", "</svg>"],
        ["<li>", "<select>", "<dd>"],
        ["<svg>", "<font>", "</font>"],
    ],
)
def test_the_gauge_counts_as_deep_as_the_tree_grows(pieces: list[str]) -> None:
    # Patterns whose trees grow with each repetition, each of which a simpler model counted as flat.
    built, gauge = _measured("<div>" + "".join(pieces) * 60)
    assert built > 60
    assert built <= 2 * gauge.deepest + 3


def test_elements_left_open_past_the_limit_are_refused_whatever_the_model(monkeypatch: pytest.MonkeyPatch) -> None:
    # A model that closed everything before each tag would count every post as flat: the plain stack still refuses.
    monkeypatch.setattr(markup._DepthGauge, "_close_before", lambda self, tag: self.open.clear() or True)
    deep = "<div>" + "<li><dd>" * (markup.MAX_OPEN_TAGS // 2 + 1)
    with pytest.raises(markup.TooManyOpen, match="leaves more than 2000 elements without their end tags"):
        markup.check_depth(deep)


@pytest.mark.parametrize(
    "prefix",
    [
        "<!-->",  # a whole, empty comment
        "<!--->",
        "<!--x--!>",  # `--!>` ends a comment too
        "<style></style x>",  # a text-only element ends at its name and a space, `/` or `>`
        "<style></style/>",
        "<title></title x>",
        "<xmp></xmp/>",
        "<svg><style>",  # in SVG a style holds elements (and `<ul>` takes the browser back to HTML)
        "<math><title><style>",  # so does a MathML title, which is no way back to HTML for a style
    ],
)
def test_what_ends_a_comment_or_a_text_only_element_for_html5ever_ends_it_here(prefix: str) -> None:
    # Python's parser (before 3.12.11) read each of these as going on to the end of the post, so
    # the gauge saw no element after it, while html5ever nested them all: 65,000 took it 12 s.
    built, _ = _measured(prefix + "<ul>" * 150)
    assert built >= 150
    with pytest.raises(markup.TooDeep):
        markup.check_depth(prefix + "<ul>" * 150)


def test_the_plain_stack_takes_what_a_browser_always_closes() -> None:
    # End tags that close what a browser takes as ended with them: 2,000 and more of each pass.
    markup.check_depth("<table>\n" + "<tr><td><p>Team</td><td><p>12</td></tr>\n" * 1001 + "</table>\n")
    markup.check_depth("<ul><li>one<li>two</ul>\n" * 2001 + "<dl><dt>term<dd>definition</dl>\n" * 2001)
    markup.check_depth('<div class="entry"><p>Paragraph text.</div>\n' * 2001)
    # A paragraph closes the one before it, a list item, row or cell the one before it: 3,000 of each left open pass.
    markup.check_depth("<p>x<b>y</b>" * 3000 + "<ul>" + "<li>x" * 3000 + "</ul><dl>" + "<dt>x<dd>y" * 3000 + "</dl>")
    markup.check_depth("<table>" + "<tr><td>a<td>b" * 3000 + "</table>")
    # A browser closes each span with its paragraph (no deeper than 2); the plain stack keeps them:
    # the price of a bound that needs no model, paid only by a post with 2,000 such elements.
    markup.check_depth("<p>x<span>y" * (markup.MAX_OPEN_TAGS // 2 - 1))
    with pytest.raises(markup.TooManyOpen):
        markup.check_depth("<p>x<span>y" * (markup.MAX_OPEN_TAGS // 2 + 1))


_KEEP_ALL = nh3.Cleaner(tags={t.lower() for t in _TREE_TAGS} | {"thead", "tfoot", "col"}, attributes={})


_FORMATTING_TAGS = ("b", "i", "u", "s", "em", "strong", "font", "nobr", "code", "small", "big", "tt", "strike")


def _left_open(count: int) -> str:
    """`count` formatting elements, each with its own class: a browser keeps (and rebuilds) every one."""
    return "".join(f"<{_FORMATTING_TAGS[n % len(_FORMATTING_TAGS)]} class=c{n}>" for n in range(count))


@pytest.mark.parametrize(
    "source",
    [
        "<div>" + _left_open(97) + "</div>" + "<p>x" * 1100,  # nests 98 deep at most
        "<ul>" + _left_open(90) + "<li>x" * 1200,
        _left_open(50) + "<p>x</p>" * 2100,
        "<div>" + _left_open(97) + "</div>" + "<p>x" * 65_000,  # 6 million elements in a browser
    ],
)
def test_formatting_left_open_across_many_blocks_is_refused(source: str) -> None:
    with pytest.raises(markup.TooTangled, match="would rebuild more than 100000"):
        markup.check_depth(source)
    with pytest.raises(markup.TooTangled):  # before the sanitiser builds anything
        markup.render_html(source)


@pytest.mark.parametrize(
    ("left_open", "blocks"),
    [(0, 5000), (1, 5000), (3, 400), (12, 300), (97, 150)],
)
def test_the_rebuilt_elements_counted_are_at_least_those_the_sanitiser_builds(left_open: int, blocks: int) -> None:
    source = "<div>" + _left_open(left_open) + "</div>" + "<p>x" * blocks
    gauge = markup._DepthGauge(markup.MAX_HTML_DEPTH)
    gauge.feed(source)
    gauge.close()
    clean = markup.sanitise(source)
    built = clean.count("<") - clean.count("</")
    written = source.count("<") - source.count("</")
    assert built <= written + gauge.rebuilt
    assert built >= written + gauge.rebuilt // 2  # and not far more: a well-formed post is not refused


def test_one_element_left_open_across_every_paragraph_of_a_long_post_is_accepted() -> None:
    source = "<div><b></div>" + "<p>paragraph" * 20_000  # the <b> is rebuilt in every paragraph
    markup.check_depth(source)
    assert markup.render_html(source).count("<b>") >= 20_000


@pytest.mark.parametrize(
    ("unit", "tail", "parser_method"),
    [
        ("<!--", "<div>>", "parse_comment"),
        ("<!--x>", "", "parse_comment"),
        ("<?", "", "parse_pi"),  # no ">" after them: nothing there can open an element
        ("</a", "", "parse_endtag"),
    ],
)
def test_unclosed_comments_are_read_once_not_once_each(
    unit: str, tail: str, parser_method: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An unclosed comment runs to the end of the text, as in a browser. Python's parser (before the
    # CPython release that fixed it) looked for its end again from each one that followed: quadratic.
    calls: list[int] = []
    original = getattr(markup._DepthGauge, parser_method)
    monkeypatch.setattr(
        markup._DepthGauge, parser_method, lambda self, i, *rest: calls.append(i) or original(self, i, *rest)
    )
    markup.check_depth("<div>" + unit * 20_000 + tail)
    assert len(calls) <= 1


@pytest.mark.parametrize(
    "source",
    [
        "<svg>" + "<path/>" * 500 + "</svg>",  # SVG's own elements close at once
        "<p>one<p>two" * 200,  # unclosed paragraphs are siblings, not nesting
        "<ul>" + "<li>item" * 500 + "</ul>",
        "<table>" + "<tr><td>a<td>b" * 300 + "</table>",
        '<p><span style="color:red">x</p>' * 300,  # a block end closes the spans it holds
        "<p><span>x" * 300,  # ...and so does the next paragraph
        "<dl>" + "<dt>term<dd>definition" * 300 + "</dl>",
        "<ul>" + "<li><p>one<p>two" * 300 + "</ul>",
        "<ruby>" + "漢<rp>(<rt>kan<rp>)" * 300 + "</ruby>",
        "<h1>a<h2>b" * 300,  # a heading closes the heading it would open in
        "</div>" * 500 + "<br><img src=https://a.com/x.png>" * 500,  # stray end tags and void elements
    ],
)
def test_long_but_shallow_html_is_accepted(source: str) -> None:
    markup.check_depth(source)
    assert markup.render_markdown(source)


def test_trusted_html_is_published_as_written() -> None:
    source = '<div onclick="go()"><script src="/x.js"></script><iframe src="https://a.com/v"></iframe></div>'
    trusted = markup.render_markdown(source, trusted=True)
    assert "<script" in trusted and "onclick" in trusted and "<iframe" in trusted
    untrusted = markup.render_markdown(source)
    assert "<script" not in untrusted and "onclick" not in untrusted and "<iframe" not in untrusted


@pytest.mark.parametrize(
    "style",
    [
        "width: expression(alert(1))",
        "width: expr/**/ession(alert(1))",
        "width: \\65xpression(alert(1))",
        "width: expression (alert(1))",  # CSS reads a function name and its bracket apart
        "color: red; background-color: url(javascript:alert(1))",
        "background-color: url(https://tracker.example/pixel.png)",  # loads from anywhere, with no script
        "border: 1px solid; color: JavaScript:alert(1)",
    ],
)
def test_style_values_that_run_or_load_something_are_dropped(style: str) -> None:
    html = markup.sanitise(f'<div style="{style}">x</div>')
    assert html == "<div>x</div>"


def test_feed_styles_keep_their_values() -> None:
    source = '<img src="https://a.com/x.jpg" style="border:#d1d1d1 1px solid;padding:3px;margin:5px 0;">'
    assert 'style="border:#d1d1d1 1px solid;padding:3px;margin:5px 0"' in markup.sanitise(source)


# Text without markup (the fragments the shortcut takes), and text with a little of everything
# that could make it render otherwise: the shortcut must then agree with rendering, or not be taken.
_PLAIN_CHARS = [*"ab 中文，。\n\n\t\r  0123456789.):", "\u00a0", "\u3000", "\x0b", "\x0c", "\x1f", "    "]
_MARKUP_CHARS = ["1. ", "2) ", "-", "*", "_", "#", ">", "=", "+", "|", "~", "`", "[", "]", "!", "<", "&", "\\"]
_MARKUP_CHARS += ["\x00", "\ufeff", "\r1. ", "&amp;", "<b>", "\n<div", "(http://x.cn)", "\n[a]: /b\n", "---", "==="]
_FRAGMENTS = st.one_of(
    st.lists(st.sampled_from(_PLAIN_CHARS), max_size=40).map("".join),
    st.lists(st.sampled_from(_PLAIN_CHARS + _MARKUP_CHARS), max_size=40).map("".join),
)


@settings(max_examples=2000, deadline=None, derandomize=True)
@given(_FRAGMENTS)
@example("a\\\nb")
@example("a\n===")
@example("a\n---")
@example("1. a")
@example("2) a")
@example("+ a")
@example("- a")
@example("* a")
@example("# a")
@example("> a")
@example("`a`")
@example("*a*")
@example("_a_")
@example("~~a~~")
@example("[a](http://x.cn)")
@example("![a](b)")
@example("<div\na")
@example("<b>a</b>")
@example("&amp;")
@example("a\x00b")
@example("| a |\n|---|")
@example("a\r1. b")
@example("\r0.")
@example("\ufeffIntro")
def test_a_fragment_without_markup_has_the_text_its_rendering_shows(source: str) -> None:
    rendered: list[str] = []

    def render(text: str) -> str:
        rendered.append(text)
        return markup.render_markdown(text)

    shown = markup.fragment_text(source, render)
    assert shown == markup.plain_text(markup.render_markdown(source))
    if not rendered:  # the shortcut: an HTML post's fragment shows the same text
        assert shown == markup.plain_text(markup.render_html(source))


def test_a_plain_paragraph_is_not_rendered_and_markup_is() -> None:
    calls: list[str] = []
    assert markup.fragment_text("北向资金\n  净流入 ", lambda s: calls.append(s) or "") == "北向资金 净流入"
    assert calls == []
    assert markup.fragment_text("1. 第一", lambda s: calls.append(s) or "<ol><li>第一</li></ol>") == "第一"
    assert calls == ["1. 第一"]


def _memory_growth_over_renders() -> int:
    """KB the process's resident memory grows by from the 500th render of a 9 KB post to the 4,500th."""
    paragraph = "央行开展逆回购操作，**利率**维持不变，市场资金面总体平稳。" * 4
    body = "\n\n".join(f"{paragraph} [公告{i}](https://example.com/{i}.html)" for i in range(25))

    def resident_kb() -> int:
        with open("/proc/self/status", encoding="ascii") as status:
            return int(status.read().split("VmRSS:")[1].split()[0])

    for _ in range(500):
        markup.render_markdown(body)
    before = resident_kb()
    for _ in range(4_000):
        markup.render_markdown(body)
    return resident_kb() - before


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads the resident memory from /proc (Linux)")
def test_rendering_thousands_of_posts_holds_no_memory() -> None:
    # A parse function's environment and a build's workers render thousands of posts each: a Markdown
    # binding that kept what its library allocates (cmarkgfm's keeps about 300 KB a render) would grow
    # by a gigabyte here.
    assert in_a_new_process(_memory_growth_over_renders) < 20_000  # KB
