"""Front matter, permalinks, a post's links and a template's formats read in time and memory that
grow with their input, never faster: one post of 64 KB must not hold an invocation for a minute or
build hundreds of megabytes."""

from __future__ import annotations

import contextlib
import datetime as dt
import signal
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from newsdrop import paths, posts
from newsdrop.model import SiteConfig
from newsdrop.posts import Rejected, read_post
from newsdrop.rendering import theme, urls

SPACES = " " * 1_000_000
KEY = "_posts/2024-05-20-x.md"


class _Hung(Exception):
    pass


@contextlib.contextmanager
def linear() -> Iterator[None]:
    """A guard against a hang, not a timing: each reading below takes milliseconds when it is linear
    in its input and hours when it is quadratic; the regular expression engine stops at the alarm."""

    def hung(*_: Any) -> None:
        raise _Hung("still reading after a minute: not linear in the input")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(60)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def test_a_plain_value_with_a_long_run_of_spaces_inside_is_read_once() -> None:
    with linear():
        data = posts._simple_mapping(f"title: x{SPACES}y   \nlayout: post")
    assert data == {"title": f"x{SPACES}y", "layout": "post"}


def test_a_date_padded_with_spaces_is_refused_before_a_pattern_reads_it() -> None:
    with linear(), pytest.raises(Rejected, match="is not a date"):
        posts._parse_date(f"2024-05-20{SPACES}x", dt.UTC)


def test_the_space_before_a_date_s_offset_is_found_from_the_start_of_its_run() -> None:
    with linear():
        assert posts._SPACED_OFFSET.sub(r"\1", f"2024-05-20{SPACES}x") == f"2024-05-20{SPACES}x"
    assert posts._SPACED_OFFSET.sub(r"\1", "2021-12-08 10:40:58   +0800") == "2021-12-08 10:40:58+0800"


def test_a_post_with_a_long_padded_date_is_rejected_by_its_key_and_reason() -> None:
    body = f"---\ntitle: t\ndate: 2024-05-20{' ' * 65_000}x\n---\nbody\n".encode()
    with linear(), pytest.raises(Rejected, match=r"is not a date \(it is 65011 characters long\)"):
        read_post(KEY, body, SiteConfig(), max_bytes=1 << 20)


def test_each_placeholder_of_a_permalink_is_computed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    slugify = paths.slugify_pretty
    monkeypatch.setattr(paths, "slugify_pretty", lambda text: calls.append(text) or slugify(text))
    filled = paths.jekyll_permalink(
        "/:title/:title/:title.html", when=dt.datetime(2024, 5, 20), slug="新闻-x", categories=[]
    )
    assert filled == "/" + "/".join([paths.quote_path("新闻-x")] * 3) + ".html"
    assert calls == ["新闻-x"]


def test_a_permalink_naming_a_long_title_thousands_of_times_is_refused_as_it_fills() -> None:
    with linear(), pytest.raises(paths.PathError, match="once its placeholders are filled"):
        paths.jekyll_permalink(
            "/" + ":title" * 5_000,
            when=dt.datetime(2024, 5, 20),
            slug="x",
            categories=[],
            explicit_slug="é" + "a" * 30_000,
        )


def test_such_a_post_is_rejected_by_its_key_and_reason() -> None:
    front = f'title: t\nslug: "é{"a" * 30_000}"\npermalink: "/{":title" * 5_000}"'
    body = f"---\n{front}\n---\nbody\n".encode()
    with linear(), pytest.raises(Rejected, match="once its placeholders are filled"):
        read_post(KEY, body, SiteConfig(), max_bytes=1 << 20)


def test_a_long_permalink_under_the_limit_still_fills() -> None:
    filled = paths.jekyll_permalink(
        "/:year/" + "/".join([":title"] * 4) + "/", when=dt.datetime(2024, 5, 20), slug="a" * 150, categories=[]
    )
    assert filled == "/2024/" + "/".join(["a" * 150] * 4) + "/"


@pytest.mark.parametrize(
    "html",
    [
        "<a " * 200_000,  # trusted HTML is not sanitised: tags that never close
        '<a "' * 200_000,
        "<a b=" * 200_000,
        "<a " + "b" * 600_000 + ">",  # one attribute name without a value
        "<a" * 300_000,
        "<" + "a" * 600_000,  # one tag name that never ends
    ],
    ids=["unclosed tags", "unclosed quotes", "unclosed values", "a long name", "tags only", "a long tag name"],
)
def test_a_post_s_links_are_moved_under_the_base_in_one_reading(html: str) -> None:
    with linear():
        assert urls.rebase_links(html, "/blog") == html


@given(st.text(alphabet="%()*.0123 -#+ax", max_size=40))
def test_a_template_s_percent_fields_are_those_of_the_whole_pattern(text: str) -> None:
    assert theme.percent_fields(text) == theme._PERCENT_FIELD.findall(text)


def test_a_template_s_percent_fields_are_found_in_one_reading() -> None:
    # `%(` with no `)` after it: the whole pattern read from each one to the end of the text.
    with linear():
        assert theme.percent_fields("%(" * 500_000) == [("", "")] * 500_000
