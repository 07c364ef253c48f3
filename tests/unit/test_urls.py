"""Post links under a site's `baseurl` (`rendering.urls.rebase_links`)."""

from __future__ import annotations

import pytest

from newsdrop.rendering import urls


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        ('<img src="/images/x.png">', '<img src="/blog/images/x.png">'),
        ('<a href="/">home</a>', '<a href="/blog/">home</a>'),
        ("<a href='/s'>s</a>", "<a href='/blog/s'>s</a>"),
        ('<a href="/blogger">g</a>', '<a href="/blog/blogger">g</a>'),  # only the folder is the base
        ('<a href="/blog/ok">k</a>', '<a href="/blog/ok">k</a>'),  # already under it
        ('<a href="/blog">b</a>', '<a href="/blog">b</a>'),
        ('<a href="//cdn.example.com/y">c</a>', '<a href="//cdn.example.com/y">c</a>'),  # another host
        ('<a href="/\\evil.example/y">b</a>', '<a href="/\\evil.example/y">b</a>'),  # browsers read it as //
        ('<a href="https://example.com/">e</a>', '<a href="https://example.com/">e</a>'),
        ('<a href="x.html">r</a>', '<a href="x.html">r</a>'),  # relative: the browser resolves it
        ("<p>a href=/x in text</p>", "<p>a href=/x in text</p>"),  # text, not an attribute
    ],
)
def test_root_relative_links_of_a_post_move_under_the_base(html: str, expected: str) -> None:
    assert urls.rebase_links(html, "/blog") == expected
    assert urls.rebase_links(html, "") == html


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Markets", "/markets/"),  # lower-cased, as Jekyll's `:categories` is
        ("A股", "/a股/"),
        # Names that would land on the site's own folders, date archives or files move under /categories/.
        ("tags", "/categories/tags/"),
        ("Search", "/categories/search/"),
        ("2024", "/categories/2024/"),
        ("feed.xml", "/categories/feed.xml/"),
    ],
)
def test_a_category_named_like_a_site_path_moves_under_categories(name: str, expected: str) -> None:
    assert urls.category_url(name) == expected
    assert urls.list_url(f"cat:{name}") == expected


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        # What an attribute's value holds is text, whatever it reads like.
        ('<a title=" href=/x" href="/y">t</a>', '<a title=" href=/x" href="/blog/y">t</a>'),
        ("<img alt=\"src='/z'\" src='/z'>", "<img alt=\"src='/z'\" src='/blog/z'>"),
        # A `>` inside a quoted value does not end the tag.
        ('<a title="a > b" href="/c">c</a>', '<a title="a > b" href="/blog/c">c</a>'),
        # Unquoted values, other case, space around `=`, and attributes without a value.
        ("<a data-x HREF = /u>u</a>", "<a data-x HREF = /blog/u>u</a>"),
        ("<img src=/v alt=v>", "<img src=/blog/v alt=v>"),
        ('<a title=/w href="/blog/w">w</a>', '<a title=/w href="/blog/w">w</a>'),
        # Only href and src: an id or a class that starts with a slash stays.
        ('<span id="/s" class="/t">s</span>', '<span id="/s" class="/t">s</span>'),
        ('<a href="/blog?x=1">q</a><a href="/blog#f">f</a>', '<a href="/blog?x=1">q</a><a href="/blog#f">f</a>'),
    ],
)
def test_only_the_href_and_src_attributes_of_a_tag_move(html: str, expected: str) -> None:
    assert urls.rebase_links(html, "/blog") == expected
