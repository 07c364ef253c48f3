"""Markdown with raw HTML: what the feed really uses survives, anything that runs script does not."""

from __future__ import annotations

import re

import pytest

from newsdrop import markup


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


def test_excerpt_is_bounded() -> None:
    text = "字" * 500
    short = markup.excerpt(text)
    assert len(short) == markup.EXCERPT_CHARS
    assert short.endswith("…")
    assert markup.excerpt("short") == "short"
    exact = "x" * markup.EXCERPT_CHARS
    assert markup.excerpt(exact) == exact
