"""read_post: Jekyll's rules for `_posts/` files, every rejection reason, and hostile input."""

from __future__ import annotations

import datetime as dt
import json
import os
import re

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from newsdrop import markup, posts, source_keys
from newsdrop.model import Post, SiteConfig
from newsdrop.posts import Rejected, read_post
from newsdrop.rendering.pages import post_body
from tests.conftest import SAMPLES

SHANGHAI = SiteConfig(timezone="Asia/Shanghai")
LIMIT = 100_000
KEY = "_posts/2021-12-08-hello.md"


def source(front_matter: str, body: str = "Body text.") -> bytes:
    return f"---\n{front_matter.strip()}\n---\n{body}\n".encode()


def read(front_matter: str, *, key: str = KEY, body: str = "Body text.", config: SiteConfig = SHANGHAI) -> Post:
    return read_post(key, source(front_matter, body), config, max_bytes=LIMIT)


def rejection(data: bytes, *, key: str = KEY, max_bytes: int = LIMIT) -> str:
    with pytest.raises(Rejected) as caught:
        read_post(key, data, SHANGHAI, max_bytes=max_bytes)
    reason = caught.value.reason
    assert reason and reason == str(caught.value)
    return reason


# --- dates and time zones


def test_a_quoted_date_without_offset_is_in_the_site_time_zone() -> None:
    for quoted in ('"2021-12-08 22:06:07"', "'2021-12-08 22:06:07'", "2021-12-08 22:06"):  # the last: no seconds, text
        post = read(f"title: T\ncategories: news\ndate: {quoted}")
        assert post.when == dt.datetime(2021, 12, 8, 22, 6, 7 if ":07" in quoted else 0, tzinfo=SHANGHAI.tz), quoted
        assert post.url == "/news/2021/12/08/hello.html"


def test_an_unquoted_time_without_offset_is_utc_as_jekyll_reads_it() -> None:
    # Jekyll's YAML reader (Ruby's Psych) makes `2021-12-08 22:06:07` a time in UTC: 06:06 the next
    # morning in Shanghai, so Jekyll publishes the post under the 9th, and so does newsdrop.
    post = read("title: T\ncategories: news\ndate: 2021-12-08 22:06:07")
    assert post.when == dt.datetime(2021, 12, 8, 22, 6, 7, tzinfo=dt.UTC)
    assert post.when.utcoffset() == dt.timedelta(hours=8)
    assert post.url == "/news/2021/12/09/hello.html"
    # In a zone behind UTC the day can move back: 02:00 UTC is the evening before in New York.
    new_york = SiteConfig(timezone="America/New_York")
    early = read_post(KEY, source("title: T\ncategories: news\ndate: 2021-12-08 02:00:00"), new_york, max_bytes=LIMIT)
    assert early.url == "/news/2021/12/07/hello.html"


def test_null_and_boolean_names_read_as_jekyll_prints_them() -> None:
    # Ruby's YAML gives nil, true and false; Jekyll drops a nil label and prints the others in lower case.
    post = read("title: yes\ncategories: [news, ~]\ntags: [~, no, 快讯]\ndate: 2021-12-08 10:00:00 +0800")
    assert post.title == "true"
    assert post.categories == ["news"]
    assert post.url == "/news/2021/12/08/hello.html"
    assert post.tags == ["false", "快讯"]
    assert "title is missing or empty" in rejection(source("title: ~\ndate: 2021-12-08 10:00:00 +0800"))


def test_a_html_post_is_published_as_written_not_read_as_markdown() -> None:
    body = "<p>第一段 first.</p>\n\n    <p>缩进的段落 indented.</p>\n\n"
    body += "# not a heading *nor emphasis*\n<script>alert(1)</script>"
    html_post = read("title: T\ndate: 2021-12-08 10:00:00 +0800", key="_posts/2021-12-08-wp.html", body=body)
    assert "<p>缩进的段落 indented.</p>" in html_post.body_html
    assert "# not a heading *nor emphasis*" in html_post.body_html
    assert "<pre>" not in html_post.body_html and "<h1>" not in html_post.body_html
    assert "<script" not in html_post.body_html and "alert" not in html_post.body_html  # sanitised all the same
    # The same body in a Markdown post is Markdown.
    markdown_post = read("title: T\ndate: 2021-12-08 10:00:00 +0800", body=body)
    assert "<pre><code>&lt;p&gt;缩进的段落" in markdown_post.body_html and "<h1>" in markdown_post.body_html
    assert "nests deeper than 100 elements" in rejection(
        source("title: T", body="<div>" * 200), key="_posts/2021-12-08-d.html"
    )


def test_a_post_named_in_upper_case_html_is_html_too() -> None:
    # The extension is read as Jekyll (and `source_keys.is_post_key`) reads it: case aside.
    body = "<p>first</p>\n\n    <p>indented</p>\n\n# not a heading"
    post = read("title: T", key="_posts/2021-12-08-wp.HTML", body=body)
    assert "<p>indented</p>" in post.body_html and "# not a heading" in post.body_html
    assert "<pre>" not in post.body_html and "<h1>" not in post.body_html


def test_a_trusted_body_loses_the_characters_xml_cannot_hold() -> None:
    # Trusted HTML skips the sanitiser, but a control character would still break the feed's XML.
    trusted = SiteConfig(timezone="Asia/Shanghai", trust_html=True)
    post = read("title: T", key="_posts/2021-12-08-wp.html", body="<p>行情\x01快讯\x1b。</p>", config=trusted)
    assert post.body_html == "<p>行情快讯。</p>"  # the front matter reader strips the line end
    assert post.text == "行情快讯。" and post.excerpt == "行情快讯。"


def test_pages_give_html_valid_times_and_ids_for_fractional_seconds_and_names_with_spaces() -> None:
    from newsdrop.local.inprocess import InProcessPipeline

    pipeline = InProcessPipeline()
    front = "title: T\ndate: 2021-12-08 10:40:58.456789 +0800\ntags: [Hong Kong, 港股]"
    pipeline.upload("_config.yml", b"timezone: Asia/Shanghai\n")  # pages print times in the site's zone
    pipeline.upload("_posts/2021-12-08-frac.md", source(front))
    pipeline.drain()
    assert pipeline.rejections == []
    # HTML's date and time string: at most three digits of a second's fraction (none here).
    valid = re.compile(r"\A\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:?\d{2})\Z")
    pages = {k: o.body.decode() for k, o in pipeline.site.objects.items() if k.endswith(".html")}
    times = {k: re.findall(r'<time datetime="([^"]*)"', text) for k, text in pages.items()}
    assert times["2021/12/08/frac.html"] == ["2021-12-08T10:40:58+08:00"]
    assert times["index.html"] and all(valid.match(t) for found in times.values() for t in found), times
    ids = [i for text in pages.values() for i in re.findall(r' id="([^"]*)"', text)]
    assert "Hong-Kong" in ids and not [i for i in ids if re.search(r"\s", i) or not i], ids


def test_date_with_the_site_offset_keeps_its_wall_clock() -> None:
    post = read("title: T\ncategories: news\ndate: 2021-12-08 10:40:58 +0800")
    assert post.when.utcoffset() == dt.timedelta(hours=8)
    assert (post.when.hour, post.when.minute, post.when.second) == (10, 40, 58)


@pytest.mark.parametrize(
    "date",
    ["2021-12-08 20:00:00 +0000", "2021-12-08 20:00:00 +00:00", "2021-12-08T20:00:00Z", "2021-12-08 15:00:00 -0500"],
)
def test_date_in_another_zone_is_converted_and_the_permalink_uses_the_local_day(date: str) -> None:
    # 20:00 UTC on the 8th is 04:00 on the 9th in Shanghai (UTC+8).
    post = read(f"title: T\ncategories: news\ndate: {date}")
    assert post.when == dt.datetime(2021, 12, 9, 4, 0, tzinfo=SHANGHAI.tz)
    assert post.when.utcoffset() == dt.timedelta(hours=8)
    assert post.url == "/news/2021/12/09/hello.html"


def test_date_and_slug_come_from_the_file_name_without_front_matter_date() -> None:
    post = read("title: T\ncategories: news", key="_posts/2020-02-29-leap-day.md")
    assert post.when == dt.datetime(2020, 2, 29, tzinfo=SHANGHAI.tz)
    assert post.slug == "leap-day"
    assert post.url == "/news/2020/02/29/leap-day.html"


def test_front_matter_date_overrides_the_file_name_date() -> None:
    post = read("title: T\ncategories: news\ndate: 2022-01-02 03:04:05", key="_posts/2020-02-29-x.md")
    assert post.url == "/news/2022/01/02/x.html"


def test_date_only_front_matter_is_midnight_in_the_site_zone() -> None:
    post = read("title: T\ncategories: news\ndate: 2021-06-01")
    assert post.when == dt.datetime(2021, 6, 1, tzinfo=SHANGHAI.tz)


def test_default_site_zone_is_utc() -> None:
    post = read("title: T\ncategories: news\ndate: 2021-12-08 20:00:00 +0800", config=SiteConfig())
    assert post.when.utcoffset() == dt.timedelta(0)
    assert post.url == "/news/2021/12/08/hello.html"


# --- categories, tags and permalinks


def test_reference_site_permalink() -> None:
    post = read("title: T\ncategories: emnews\ntags: 东财滚动新闻", key="_posts/2021-12-08-202112082206742097.md")
    assert post.url == "/emnews/2021/12/08/202112082206742097.html"
    assert post.categories == ["emnews"]
    assert post.tags == ["东财滚动新闻"]


def test_categories_are_lower_cased_in_the_url_but_kept_in_the_post() -> None:
    post = read("title: T\ncategories: [EmNews, Markets]")
    assert post.categories == ["EmNews", "Markets"]
    assert post.url == "/emnews/markets/2021/12/08/hello.html"


def test_categories_and_tags_as_space_separated_strings() -> None:
    post = read("title: T\ncategories: news markets\ntags: 红 绿 blue")
    assert post.categories == ["news", "markets"]
    assert post.tags == ["红", "绿", "blue"]


def test_categories_and_tags_as_lists() -> None:
    post = read("title: T\ncategories:\n  - news\n  - markets\ntags: [a b, c]")
    assert post.categories == ["news", "markets"]
    assert post.tags == ["a b", "c"]


def test_singular_category_and_tag() -> None:
    post = read("title: T\ncategory: Opinion\ntag: solo")
    assert post.categories == ["Opinion"]
    assert post.tags == ["solo"]
    assert post.url == "/opinion/2021/12/08/hello.html"


def test_an_empty_or_false_singular_leaves_the_plural_in_force() -> None:
    # As Jekyll: `tag:` with no value does not hide `tags:`.
    assert read("title: T\ntag:\ntags: t1 t2").tags == ["t1", "t2"]
    assert read("title: T\ntag: false\ntags: [t1]").tags == ["t1"]
    assert read("title: T\ncategory:\ncategories: [a, b]").categories == ["a", "b"]
    assert read("title: T\ntag: Hong Kong\ntags: t1").tags == ["Hong Kong"]  # a given singular wins


def test_duplicate_labels_are_dropped() -> None:
    post = read("title: T\ncategories: news\ntags: a b a")
    assert post.tags == ["a", "b"]


def test_post_without_categories_gets_the_date_permalink() -> None:
    # Jekyll: /:categories/ is empty, so the URL starts at the year.
    post = read("title: T")
    assert post.url == "/2021/12/08/hello.html"


def test_slug_with_spaces_follows_jekyll_pretty_mode() -> None:
    post = read("title: T\ncategories: news", key="_posts/2021-12-08-red flower.md")
    assert post.slug == "red flower"
    assert post.url == "/news/2021/12/08/red-flower.html"


def test_front_matter_permalink_overrides_the_default() -> None:
    post = read("title: T\ncategories: news\npermalink: /special/:year/:title/")
    assert post.url == "/special/2021/hello/"


def test_literal_front_matter_permalink() -> None:
    post = read("title: T\ncategories: news\npermalink: /about-this.html")
    assert post.url == "/about-this.html"


def test_front_matter_slug_replaces_the_file_slug() -> None:
    post = read("title: T\ncategories: news\nslug: other name")
    assert post.url == "/news/2021/12/08/other-name.html"


@pytest.mark.parametrize("prefix", ["\ufeff", "\n\n", "\ufeff\n  \n", "\r\n"])
def test_bom_and_blank_lines_before_front_matter_are_forgiven(prefix: str) -> None:
    data = (prefix + "---\ntitle: T\ncategories: news\n---\nBody\n").encode()
    post = read_post(KEY, data, SHANGHAI, max_bytes=LIMIT)
    assert post.title == "T"
    assert post.url == "/news/2021/12/08/hello.html"


def test_crlf_front_matter() -> None:
    data = b"---\r\ntitle: T\r\ncategories: news\r\n---\r\nBody\r\n"
    assert read_post(KEY, data, SHANGHAI, max_bytes=LIMIT).title == "T"


def test_body_becomes_html_text_and_excerpt() -> None:
    post = read("title: T\ncategories: news", body="Hello **world**.\n\n<p>Second</p>")
    assert "<strong>world</strong>" in post.body_html
    assert post.text == "Hello world. Second"
    assert post.excerpt == "Hello world."  # the first paragraph, as Jekyll's post.excerpt


@pytest.mark.parametrize(
    ("front", "body", "expected"),
    [
        # The front matter's own excerpt, as text.
        ("excerpt: 'Custom <b>summary</b> &amp; more'", "First.\n\nSecond.", "Custom summary & more"),
        # Another separator, named in the front matter.
        ("excerpt_separator: <!--more-->", "One.\n\nTwo.<!--more-->Three.", "One. Two."),
        # A first paragraph without text (an image) leaves the body's text.
        ("", "![chart](/c.png)\n\nThe text.", "The text."),
        # One paragraph: all of it.
        ("", "Only **one**.", "Only one."),
        # The first paragraph is cut as the body's text was.
        ("", "长" * 300 + "\n\nSecond.", "长" * 159 + "…"),
    ],
)
def test_the_excerpt_is_read_as_jekyll_reads_it(front: str, body: str, expected: str) -> None:
    assert read(f"title: T\ncategories: news\n{front}", body=body).excerpt == expected


def test_an_excerpt_flag_is_not_the_excerpt_s_text() -> None:
    # `excerpt: true` names no text (YAML reads a boolean): the first paragraph is the excerpt.
    assert read("title: T\nexcerpt: true", body="First.\n\nSecond.").excerpt == "First."


def test_a_blank_line_before_the_body_does_not_make_the_whole_body_the_excerpt() -> None:
    # The front matter reader strips the body, but not a control character; dropped after that (XML
    # cannot hold it), it leaves the body starting with a blank line. That is not the first
    # separator: the first paragraph, "First.", is still the excerpt.
    assert read("title: T", body="\x01\n\nFirst.\n\nSecond.").excerpt == "First."


def test_title_is_stripped_and_numbers_are_titles() -> None:
    assert read("title: '  spaced  '\ncategories: a").title == "spaced"
    assert read("title: 2021\ncategories: a").title == "2021"


# --- rejections: the reason names the problem


@pytest.mark.parametrize("title", ["", "title: ''", "title:", "title: '   '", "title: [a, b]"])
def test_missing_or_empty_title(title: str) -> None:
    reason = rejection(source(f"{title}\ncategories: news"))
    assert "title" in reason
    assert "missing or empty" in reason


def test_title_too_long() -> None:
    reason = rejection(source(f"title: {'x' * (posts.MAX_TITLE_CHARS + 1)}"))
    assert "title" in reason
    assert str(posts.MAX_TITLE_CHARS) in reason


@pytest.mark.parametrize("date", ["yesterday", "2021-13-45", "2021-12-08 25:61", "08/12/2021"])
def test_unparseable_date(date: str) -> None:
    reason = rejection(source(f"title: T\ndate: '{date}'"))
    assert "date" in reason
    assert date in reason


def test_no_date_anywhere() -> None:
    reason = rejection(source("title: T"), key="_posts/undated.md")
    assert "no date" in reason


def test_several_problems_are_reported_together() -> None:
    reason = rejection(source("date: nonsense"))
    assert "title" in reason
    assert "nonsense" in reason


def file_line(data: bytes, text: bytes) -> int:
    return data.split(b"\n").index(text) + 1


def test_broken_yaml_names_yaml_and_the_line() -> None:
    # The flow sequence opened on the categories line is broken by the mapping on the next line.
    data = b"---\ntitle: T\ncategories: [a, b\ntags: x\n---\nBody\n"
    reason = rejection(data)
    assert "YAML" in reason
    assert f"line {file_line(data, b'tags: x')}," in reason


def test_bad_indentation_names_its_line() -> None:
    data = b"---\ntitle: T\ndate: 2021-12-08\n  oops: x\n---\nBody\n"
    reason = rejection(data)
    assert "YAML" in reason
    assert f"line {file_line(data, b'  oops: x')}," in reason


@pytest.mark.parametrize("front_matter", ["- a\n- b", "just a sentence", "42"])
def test_front_matter_that_is_not_a_mapping(front_matter: str) -> None:
    reason = rejection(f"---\n{front_matter}\n---\nBody\n".encode())
    assert "mapping" in reason


@pytest.mark.parametrize(
    "data",
    [b"", b"Just text, no front matter.\n", b"title: T\n---\nBody\n", b"text\n---\ntitle: T\n---\n"],
)
def test_no_front_matter(data: bytes) -> None:
    reason = rejection(data)
    assert "front matter" in reason


@pytest.mark.parametrize("data", [b"--- \n", b"---\ntitle: T\ncategories: a\nBody, but the fence is never closed\n"])
def test_unclosed_front_matter_says_so(data: bytes) -> None:
    # Without a closing '---' there is no front matter (Jekyll would not treat the file as a post at all).
    reason = rejection(data)
    assert "front matter" in reason


def test_not_utf8_names_the_byte() -> None:
    data = source("title: T\ncategories: a") + b"caf\xe9\n"
    offset = data.index(b"\xe9")
    reason = rejection(data)
    assert "UTF-8" in reason
    assert "0xe9" in reason
    assert f"offset {offset}" in reason


def test_gb18030_file_is_not_utf8() -> None:
    data = "---\ntitle: 红花\n---\n".encode("gb18030")
    assert "UTF-8" in rejection(data)


def test_binary_file_names_the_nul_byte() -> None:
    data = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
    offset = data.index(b"\x00")
    reason = rejection(data)
    assert "binary" in reason
    assert "NUL" in reason
    assert f"offset {offset}" in reason


def test_too_large_names_size_and_limit() -> None:
    data = source("title: T\ncategories: a", body="x" * 500)
    reason = rejection(data, max_bytes=100)
    assert str(len(data)) in reason
    assert "100" in reason


def test_exactly_max_bytes_is_accepted() -> None:
    data = source("title: T\ncategories: a")
    assert read_post(KEY, data, SHANGHAI, max_bytes=len(data)).title == "T"


def test_yaml_alias_bomb_is_rejected_quickly(monkeypatch: pytest.MonkeyPatch) -> None:
    layers = ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i, name in enumerate("bcdefghi"):
        prev = "abcdefghi"[i]
        layers.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]")
    data = source("title: T\n" + "\n".join(layers))
    built: list[str] = []
    construct = posts.yaml.load
    monkeypatch.setattr(posts.yaml, "load", lambda *a, **k: built.append("load") or construct(*a, **k))
    reason = rejection(data)
    assert "alias" in reason
    assert built == []  # refused from the event stream, before anything was built (expanded)


def test_a_few_aliases_are_fine() -> None:
    post = read("base: &b news\ntitle: T\ncategories: [*b]")
    assert post.categories == ["news"]


def test_nesting_too_deep() -> None:
    depth = posts.MAX_YAML_DEPTH + 5
    reason = rejection(source("title: T\ndeep: " + "[" * depth + "]" * depth))
    assert "nest" in reason
    assert str(posts.MAX_YAML_DEPTH) in reason


_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=6))
_TREES = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=4), inner, max_size=3)),
    max_leaves=12,
)


def _walked(text: str) -> tuple[int, int]:
    """Aliases and the deepest nesting in the text's YAML events."""
    aliases = depth = deepest = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        aliases += isinstance(event, yaml.AliasEvent)
        depth += isinstance(event, yaml.CollectionStartEvent) - isinstance(event, yaml.CollectionEndEvent)
        deepest = max(deepest, depth)
    return aliases, deepest


@settings(max_examples=400)
@given(
    tree=_TREES,
    wrappers=st.lists(st.tuples(st.sampled_from(["list", "dict"]), st.integers(1, 25)), max_size=3),
    shared=st.integers(0, 14),
    flow=st.sampled_from([True, False, None]),
)
def test_front_matter_let_through_at_a_glance_is_within_the_limits(
    tree: object, wrappers: list[tuple[str, int]], shared: int, flow: bool | None
) -> None:
    # GIVEN front matter of any shape: in runs of lists or mappings, and with a list it refers to `shared` times
    for kind, count in wrappers:
        for _ in range(count):
            tree = [tree] if kind == "list" else {"k": tree}
    common = ["x"]
    text = yaml.safe_dump({"title": "T", "tree": tree, "refs": [common] * shared}, default_flow_style=flow)

    # WHEN the glance lets it through without walking its events (the sample posts' front matter
    # always is: see the test below, without which this property could hold of nothing)
    if not posts.within_yaml_limits_at_a_glance(text):
        return

    # THEN its events hold no more aliases and no deeper nesting than the limits
    aliases, deepest = _walked(text)
    assert aliases <= posts.MAX_YAML_ALIASES
    assert deepest <= posts.MAX_YAML_DEPTH


def test_the_glance_lets_the_sample_posts_front_matter_through() -> None:
    fronts = [path.read_text(encoding="utf-8").split("---")[1] for path in (SAMPLES / "site" / "_posts").glob("*.md")]
    assert len(fronts) >= 5
    assert all(posts.within_yaml_limits_at_a_glance(front) for front in fronts if "title:" in front)


def test_flow_mappings_nested_without_a_colon_are_refused_for_their_nesting() -> None:
    # `{a, {b}}` is a mapping of keys without values: its nesting shows in braces alone
    depth = posts.MAX_YAML_DEPTH + 2
    reason = rejection(source("title: T\ndeep: " + "{a, " * depth + "b" + "}" * depth))
    assert f"nests deeper than {posts.MAX_YAML_DEPTH}" in reason


def test_front_matter_too_large() -> None:
    filler = "x: " + "y" * (posts.MAX_FRONT_MATTER_BYTES + 10)
    reason = rejection(source("title: T\n" + filler), max_bytes=10 * posts.MAX_FRONT_MATTER_BYTES)
    assert "front matter" in reason
    assert str(posts.MAX_FRONT_MATTER_BYTES) in reason


def test_too_many_tags() -> None:
    count = posts.MAX_LABELS + 1
    reason = rejection(source("title: T\ntags: " + " ".join(f"t{i}" for i in range(count))))
    assert "tags" in reason
    assert str(count) in reason
    assert str(posts.MAX_LABELS) in reason


def test_too_many_categories() -> None:
    reason = rejection(source("title: T\ncategories: " + " ".join(f"c{i}" for i in range(posts.MAX_LABELS + 1))))
    assert "categories" in reason


def test_tag_too_long() -> None:
    reason = rejection(source(f"title: T\ntags: {'x' * (posts.MAX_LABEL_CHARS + 1)}"))
    assert "tag" in reason
    assert str(posts.MAX_LABEL_CHARS) in reason


@pytest.mark.parametrize("tags", ["{a: 1}", "[[a, b]]", "[{a: 1}]"])
def test_tags_that_are_not_names(tags: str) -> None:
    assert "tags" in rejection(source(f"title: T\ntags: {tags}"))


@pytest.mark.parametrize(
    "permalink", ["http://evil.com/x", "https://evil.com/a.html", "//evil.com/x", "javascript:alert(1)"]
)
def test_absolute_url_permalink(permalink: str) -> None:
    reason = rejection(source(f"title: T\npermalink: '{permalink}'"))
    assert "absolute" in reason


@pytest.mark.parametrize(
    "permalink",
    ["/index.html", "/assets/x.css", "/2021/12/08/index.html", "/2021/12/", "/feed.xml", "/search/", "/tags/a/"],
)
def test_permalink_colliding_with_a_site_page(permalink: str) -> None:
    reason = rejection(source(f"title: T\npermalink: '{permalink}'"))
    assert "collides" in reason
    assert permalink in reason


@pytest.mark.parametrize("permalink", ["/a\\b", "/a%00b", "//[broken"])
def test_unusable_permalink_is_a_rejection_not_a_crash(permalink: str) -> None:
    # read_post either returns a Post or raises Rejected; anything else fails the whole SQS message.
    reason = rejection(source(f"title: T\npermalink: '{permalink}'"))
    assert "permalink" in reason


def test_dot_dot_permalink_stays_inside_the_site() -> None:
    post = read("title: T\npermalink: /../../etc/passwd")
    assert post.url == "/etc/passwd"


# --- hostile input: kept as text, escaped at render time


def test_script_in_title_and_tags_stays_literal_text() -> None:
    post = read("title: '<script>alert(1)</script>'\ncategories: news\ntags: ['<script>x</script>', ok]")
    assert post.title == "<script>alert(1)</script>"
    assert post.tags == ["<script>x</script>", "ok"]


def test_post_page_escapes_script_in_title_and_tags() -> None:
    post = read(
        "title: '<script>alert(1)</script>'\ncategories: ['<script>c</script>']\n"
        "tags: ['<script>t</script>', '\"><img src=x onerror=alert(1)>']"
    )
    page = post_body(post, SiteConfig()).decode()
    assert "<script" not in page.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;script&gt;t&lt;/script&gt;" in page
    assert "<img src=x" not in page
    assert "onerror=alert(1)>" not in page


def test_body_script_is_removed_from_the_post() -> None:
    post = read("title: T\ncategories: news", body="Before <script>alert(1)</script> after")
    assert "<script" not in post.body_html
    assert "alert(1)" not in post.text


def test_body_nested_too_deep_is_rejected_with_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    data = source("title: T\ncategories: news", "<div>" * 100_000 + "x")
    sanitised: list[str] = []
    monkeypatch.setattr(markup, "sanitise", lambda fragment: sanitised.append(fragment) or fragment)
    reason = rejection(data, max_bytes=1_000_000)
    assert reason == "body HTML nests deeper than 100 elements"
    assert sanitised == []  # refused before the sanitiser (quadratic in depth) saw it


_KEPT_OPEN = "".join(f"<{tag} class=c{n}>" for n, tag in enumerate(["b", "i", "u", "em", "strong", "small"] * 16))


@pytest.mark.parametrize(
    ("excerpt", "reason"),
    [
        ("<b>" * 101 + "x", "excerpt HTML nests deeper than 100 elements"),
        # 96 formatting elements, each rebuilt in every paragraph: nests 97 deep at most.
        ("<div>" + _KEPT_OPEN + "</div>" + "<p>x" * 2_000, "excerpt HTML leaves formatting elements open"),
    ],
)
def test_an_excerpt_in_the_front_matter_is_held_to_the_bodys_limits(
    excerpt: str, reason: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # It is HTML too, which the sanitiser builds as a browser would: once it took gigabytes.
    built: list[str] = []
    text_only = markup.plain_text
    monkeypatch.setattr(markup, "plain_text", lambda fragment: built.append(fragment) or text_only(fragment))
    data = source(f"title: T\nexcerpt: '{excerpt}'")
    assert reason in rejection(data, max_bytes=1_000_000)
    assert not any(excerpt[:50] in fragment for fragment in built)  # refused before it was built


def test_a_short_excerpt_in_html_is_read_as_its_text() -> None:
    assert read("title: T\nexcerpt: '<p>Rates <b>held</b> at 3.45%</p>'").excerpt == "Rates held at 3.45%"


@pytest.mark.parametrize("name", ["1", "1.5", "true", "null"])
def test_front_matter_names_that_are_not_text_are_rejected_with_the_name(name: str) -> None:
    reason = rejection(source(f"title: T\n{name}: x"))
    assert reason.startswith("front matter names must be text, not ")


def test_trust_html_publishes_the_body_unsanitised() -> None:
    body = '<div onclick="go()">x</div><script src="/widget.js"></script>'
    trusted = read("title: T", body=body, config=SiteConfig(timezone="Asia/Shanghai", trust_html=True))
    assert '<script src="/widget.js"></script>' in trusted.body_html
    assert 'onclick="go()"' in trusted.body_html
    untrusted = read("title: T", body=body)
    assert "<script" not in untrusted.body_html and "onclick" not in untrusted.body_html


def test_trust_html_is_off_unless_config_says_true() -> None:
    assert SiteConfig().trust_html is False
    assert posts.read_config(b"title: x\n", max_bytes=LIMIT).trust_html is False
    assert posts.read_config(b"trust_html: true\n", max_bytes=LIMIT).trust_html is True
    assert posts.read_config(b"trust_html: false\n", max_bytes=LIMIT).trust_html is False


@pytest.mark.parametrize("value", ["yes please", "1", "'true'", "[true]"])
def test_trust_html_must_be_a_boolean(value: str) -> None:
    with pytest.raises(Rejected, match="trust_html must be true or false"):
        posts.read_config(f"trust_html: {value}\n".encode(), max_bytes=LIMIT)


def test_is_post_key() -> None:
    assert source_keys.is_post_key("_posts/2021-12-08-a.md")
    assert source_keys.is_post_key("_posts/2021/2021-12-08-a.MARKDOWN")
    assert not source_keys.is_post_key("_posts/.hidden.md")
    assert not source_keys.is_post_key("_drafts/2021-12-08-a.md")
    assert not source_keys.is_post_key("_posts/image.png")


# --- lifecycle and migration fields


def test_published_false_makes_a_draft_and_must_be_a_boolean() -> None:
    assert read("title: T\npublished: false").published is False
    assert read("title: T").published is True
    assert "published must be true or false" in rejection(source("title: T\npublished: 'no'"))


def test_expires_is_read_in_the_site_time_zone() -> None:
    post = read("title: T\nexpires: 2021-12-09 18:00")
    assert dt.datetime.fromisoformat(post.expires) == dt.datetime(2021, 12, 9, 18, tzinfo=SHANGHAI.tz)
    assert "expires: date 'soon'" in rejection(source("title: T\nexpires: soon"))


@pytest.mark.parametrize("empty", ['""', "''", "~", ""])
def test_an_empty_expiry_is_no_expiry(empty: str) -> None:
    assert read(f"title: T\nexpires: {empty}").expires == ""


def test_tabs_and_spaces_before_a_date_s_offset_are_read_as_one_space() -> None:
    # Ruby reads any run of spaces and tabs before the offset (ISO parsing takes one character at
    # most); UTC midnight is 08:00 in the site's zone.
    post = read('title: T\ndate: "2021-12-08 00:00:00 \\t\\t+0000"')
    assert post.when == dt.datetime(2021, 12, 8, 0, tzinfo=dt.UTC)
    assert post.when.hour == 8


def test_a_redirect_from_the_post_s_own_address_is_dropped() -> None:
    # A redirect from where the post stands would take the place of its page; `/x` and `/x.html`
    # are the same page (one key), so neither is kept.
    own = "/news/2021/12/08/hello.html"
    for alias in (own, own.removesuffix(".html")):
        post = read(f"title: T\ncategories: news\nredirect_from: [{alias}, /old.html]")
        assert post.url == own
        assert post.redirect_from == ["/old.html"]


def test_redirect_from_is_read_like_jekyll_redirect_from_and_stays_inside_the_site() -> None:
    assert read("title: T\nredirect_from: /old.html").redirect_from == ["/old.html"]
    assert read("title: T\nredirect_from: [/a/b/, /b.html]").redirect_from == ["/a/b/", "/b.html"]
    assert "redirect_from" in rejection(source("title: T\nredirect_from: https://evil.example/"))
    assert "redirect_from" in rejection(source("title: T\nredirect_from: /feed.xml"))
    assert "redirect_from" in rejection(source("title: T\nredirect_from: {a: 1}"))


def test_a_post_jekyll_reads_without_front_matter_redirects_from_jekyll_s_url() -> None:
    # Jekyll needs `---` on the first line: with a blank line first it publishes the file without
    # its categories, at /:year/:month/:day/:title.html. newsdrop reads the front matter and keeps
    # that address working as a redirect.
    data = b"\n---\ntitle: T\ncategories: news\n---\nBody.\n"
    post = read_post(KEY, data, SHANGHAI, max_bytes=LIMIT)
    assert post.url == "/news/2021/12/08/hello.html"
    assert post.redirect_from == ["/2021/12/08/hello.html"]
    assert read_post(KEY, "\ufeff".encode() + data[1:], SHANGHAI, max_bytes=LIMIT).redirect_from == []


@pytest.mark.parametrize(
    ("setting", "url"),
    [
        ("date", "/news/2021/12/08/hello.html"),
        ("pretty", "/news/2021/12/08/hello/"),
        ("ordinal", "/news/2021/342/hello.html"),
        ("none", "/news/hello.html"),
        ("/:year/:title/", "/2021/hello/"),
        (":year/:month/:title.html", "/2021/12/hello.html"),
    ],
)
def test_the_site_permalink_setting_shapes_every_post_url(setting: str, url: str) -> None:
    config = posts.read_config(f"timezone: Asia/Shanghai\npermalink: {setting}\n".encode(), max_bytes=LIMIT)
    assert read("title: T\ncategories: news", config=config).url == url


@pytest.mark.parametrize("value", ["-1", "501", "three", "true"])
def test_front_page_days_must_be_a_number_of_days(value: str) -> None:
    with pytest.raises(Rejected, match="front_page_days"):
        posts.read_config(f"front_page_days: {value}\n".encode(), max_bytes=LIMIT)


# --- values no listing could hold: rejected with a reason, never a crash


@pytest.mark.parametrize(
    ("front_matter", "key", "expected"),
    [
        ("title: T\ndate: 0999-01-01", KEY, "the year must be from 1000"),
        ("title: T", "_posts/0999-01-01-old.md", "the year must be from 1000"),
        ("title: T\ndate: 9999-12-31 23:59 -1200", KEY, "out of range"),
        ("title: T\ndate: 2021-12-08\nexpires: 0001-01-01 00:00 +1400", KEY, "expires: date"),
        ("title: 0x" + "f" * 4000 + "\ndate: 2021-12-08", KEY, "cannot be read"),
    ],
)
def test_dates_out_of_range_and_numbers_too_large_to_print_are_rejected(
    front_matter: str, key: str, expected: str
) -> None:
    assert expected in rejection(source(front_matter), key=key)


def test_a_file_name_too_long_for_the_listings_keys_is_rejected() -> None:
    folders = ("专栏" * 20 + "/") * 8  # posts may sit in folders under _posts/: 968 bytes of them
    assert "the limit is 900" in rejection(source("title: T"), key=f"_posts/{folders}2021-12-08-hello.md")
    assert read("title: T", key=f"_posts/{folders[:123]}2021-12-08-hello.md").title == "T"


def test_settings_with_a_number_too_large_to_print_are_rejected() -> None:
    with pytest.raises(Rejected, match=r"_config\.yml cannot be read"):
        posts.read_config(("title: 0x" + "f" * 4000 + "\n").encode(), max_bytes=LIMIT)


def test_the_file_names_url_never_redirects_from_a_page_the_site_owns() -> None:
    # Blank lines before the front matter: Jekyll would publish the file at its default URL, so
    # that URL redirects to the post's, unless the site itself owns it (here: the search page).
    config = SiteConfig(permalink="/:title/")
    body = b"\n" + source("title: T\ndate: 2024-05-20 10:00\npermalink: /promo/offer/")
    post = read_post("_posts/2024-05-20-search.md", body, config, max_bytes=LIMIT)
    assert post.url == "/promo/offer/" and post.redirect_from == []
    kept = read_post("_posts/2024-05-20-offers.md", body, SHANGHAI, max_bytes=LIMIT)
    assert kept.redirect_from == ["/2024/05/20/offers.html"]


def test_a_redirect_never_replaces_a_page_the_site_owns() -> None:
    from newsdrop.local.inprocess import InProcessPipeline

    pipeline = InProcessPipeline()
    pipeline.upload("_config.yml", b"permalink: /:title/\n")
    pipeline.upload("_posts/2024-05-19-first.md", source("title: First\npermalink: /news/first/"))
    pipeline.drain()  # the site's own pages are in place
    body = b"\n" + source("title: T\ndate: 2024-05-20 10:00\npermalink: /promo/offer/")
    pipeline.upload("_posts/2024-05-20-search.md", body)
    pipeline.drain()
    assert pipeline.rejections == []
    assert b'id="search-form"' in pipeline.site.objects["search/index.html"].body
    assert "promo/offer/index.html" in pipeline.site.objects


def test_characters_xml_cannot_hold_are_dropped_so_the_feed_stays_readable() -> None:
    import xml.etree.ElementTree as ET

    from newsdrop.local.inprocess import InProcessPipeline

    pipeline = InProcessPipeline()
    front = 'title: "行情 \\x01\\x1b快讯 \\uFFFE"\ndate: 2024-05-20 10:00\ntags: ["A股\\x07"]'
    pipeline.upload("_posts/2024-05-20-ctrl.md", source(front, body="正文 \x1b 内容 \x0c 完"))
    pipeline.drain()
    assert pipeline.rejections == []
    feed = pipeline.site.objects["feed.xml"].body
    ET.fromstring(feed)  # well-formed
    assert "行情 快讯" in feed.decode() and "正文 内容 完" in feed.decode()  # the excerpt folds spaces
    assert "tags/A股/index.html" in pipeline.site.objects


@pytest.mark.parametrize("name", ["title", "description", "author", "lang"])
def test_settings_lose_what_xml_cannot_hold_so_the_feed_and_sitemaps_stay_readable(name: str) -> None:
    import xml.etree.ElementTree as ET

    from newsdrop.local.inprocess import InProcessPipeline

    pipeline = InProcessPipeline()
    pipeline.upload("_config.yml", f'{name}: "zh\\x01\\x1b-CN\\uFFFE"\nurl: "https://example.com"\n'.encode())
    pipeline.upload("_posts/2024-05-20-a.md", source("title: T\ndate: 2024-05-20 10:00"))
    pipeline.drain()
    assert pipeline.rejections == []
    for key in ("feed.xml", "sitemap.xml", "sitemaps/2024-05-20.xml", "index.html"):
        body = pipeline.site.objects[key].body
        if key.endswith(".xml"):
            ET.fromstring(body)  # well-formed
        assert "\x01" not in body.decode()
    assert "zh-CN" in pipeline.site.objects["index.html"].body.decode()


def test_a_baseurl_outside_ascii_is_percent_encoded_in_every_address() -> None:
    from newsdrop.local.inprocess import InProcessPipeline

    pipeline = InProcessPipeline()
    pipeline.upload("_config.yml", 'url: "https://example.com"\nbaseurl: "/新闻 站"\n'.encode())
    pipeline.upload("_posts/2024-05-20-a.md", source("title: T\ndate: 2024-05-20 10:00"))
    pipeline.drain()
    assert pipeline.rejections == []
    base = "https://example.com/%E6%96%B0%E9%97%BB%20%E7%AB%99/"
    for key in ("feed.xml", "sitemap.xml", "sitemaps/2024-05-20.xml", "robots.txt", "index.html"):
        text = pipeline.site.objects[key].body.decode()
        assert base in text or ('href="/%E6%96%B0%E9%97%BB%20%E7%AB%99/' in text), key
        assert "新闻 站" not in text.replace(">新闻 站<", ""), key


def test_a_correction_dated_by_last_modified_at_moves_the_feed_and_the_sitemap() -> None:
    import xml.etree.ElementTree as ET

    from newsdrop.local.inprocess import InProcessPipeline

    atom = "{http://www.w3.org/2005/Atom}"
    pipeline = InProcessPipeline()
    pipeline.upload("_config.yml", b"timezone: Asia/Shanghai\n")
    key, front = "_posts/2024-05-20-a.md", "title: T\ndate: 2024-05-20 10:00:00 +0800"
    pipeline.upload(key, source(front))
    pipeline.upload("_posts/2024-05-19-b.md", source("title: B\ndate: 2024-05-19 10:00:00 +0800"))
    pipeline.drain()
    pipeline.upload(key, source(front + "\nlast_modified_at: 2024-05-21 09:30:00 +0800", body="Corrected."))
    pipeline.drain()
    assert pipeline.rejections == []
    feed = ET.fromstring(pipeline.site.objects["feed.xml"].body)
    entries = {e.findtext(f"{atom}title"): e for e in feed.iter(f"{atom}entry")}
    assert entries["T"].findtext(f"{atom}published") == "2024-05-20T10:00:00+08:00"
    assert entries["T"].findtext(f"{atom}updated") == "2024-05-21T09:30:00+08:00"
    assert entries["B"].findtext(f"{atom}updated") == "2024-05-19T10:00:00+08:00"  # never corrected
    assert feed.findtext(f"{atom}updated") == "2024-05-21T09:30:00+08:00"
    sitemap = pipeline.site.objects["sitemaps/2024-05-20.xml"].body.decode()
    assert "<lastmod>2024-05-21T09:30:00+08:00</lastmod>" in sitemap
    assert "last_modified_at: " in rejection(source(front + "\nlast_modified_at: next tuesday"))


@pytest.mark.parametrize("corrected", ["2024-05-20", "2024-05-21 04:00:00 +0800", "2024-05-20 20:00:00 +0000"])
def test_a_correction_dated_before_the_post_or_at_its_time_is_none(corrected: str) -> None:
    # Atom's <updated> is when an entry last changed (RFC 4287 4.2.15), never before its <published>;
    # the first is a day earlier, the others the post's own instant.
    post = read(f"title: T\ndate: 2024-05-21 04:00:00 +0800\nlast_modified_at: {corrected}")
    assert post.updated == ""
    later = read("title: T\ndate: 2024-05-21 04:00:00 +0800\nlast_modified_at: 2024-05-21 04:00:01 +0800")
    assert later.updated == "2024-05-21T04:00:01+08:00"


@pytest.mark.parametrize(
    ("setting", "reason"),
    [
        ('url: "https://example.com/\\x01"', "url 'https://example.com/\\x01' contains a control character"),
        ('url: "https://example.com/a\\x7fb"', "contains a control character"),
        ('baseurl: "/b\\x7f"', "baseurl '/b\\x7f' is not a path on this site"),
        # Escapes that decode to a line break and a backslash: refused as those characters are.
        ('baseurl: "/blog%0A%5C"', "baseurl '/blog%0A%5C' is not a path on this site"),
        # `\S` after the host: a space ends an address, so what follows is not part of it.
        ('url: "https://x.org evil"', "must be an http(s) address"),
        # Every page's address is written after it: a query or a fragment would end up inside them.
        ('url: "https://news.example.com#top"', "without a query or fragment"),
        ('url: "https://news.example.com/?utm=1"', "without a query or fragment"),
        # Atom's xml:lang and the pages' lang take a language tag.
        ('lang: ""', "is not a language tag"),
        ('lang: "zh CN"', "is not a language tag"),
        ('lang: "中文"', "is not a language tag"),
    ],
)
def test_addresses_in_the_settings_with_control_characters_are_rejected(setting: str, reason: str) -> None:
    with pytest.raises(Rejected) as raised:
        posts.read_config(f"{setting}\n".encode(), max_bytes=LIMIT)
    assert reason in raised.value.reason


@pytest.mark.parametrize(
    ("url", "address"),
    [
        ("https://新闻.example.com", "https://xn--efvy88h.example.com"),
        ("https://news.example.com/新闻/", "https://news.example.com/%E6%96%B0%E9%97%BB"),
        ("https://例子.测试:8080", "https://xn--fsqu00a.xn--0zwm56d:8080"),
        ("https://news.example.com/a", "https://news.example.com/a"),  # ASCII: as written
    ],
)
def test_an_address_outside_ascii_is_written_as_browsers_send_it(url: str, address: str) -> None:
    # RFC 3986 addresses hold ASCII alone: the host by its IDNA name, the path percent-encoded, as
    # the feed's ids, the sitemaps' <loc> and the canonical links must be written.
    assert posts.read_config(f'url: "{url}"\n'.encode(), max_bytes=LIMIT).url == address


@pytest.mark.parametrize("url", ["https://a..新闻.com", "https://例子.测试:80x"])
def test_an_address_whose_host_no_browser_reaches_is_rejected(url: str) -> None:
    with pytest.raises(Rejected, match="names no host a browser can reach"):
        posts.read_config(f'url: "{url}"\n'.encode(), max_bytes=LIMIT)


def test_a_locale_s_underscore_becomes_a_language_tag_s_hyphen() -> None:
    assert posts.read_config(b"lang: zh_CN\n", max_bytes=LIMIT).lang == "zh-CN"
    assert posts.read_config(b"lang: en\n", max_bytes=LIMIT).lang == "en"


@pytest.mark.parametrize("reference", ["&#1;", "&#x1b;", "&#xFFFF;", "&#xFFFE;"])
def test_character_references_to_what_xml_cannot_hold_leave_the_feed_readable(reference: str) -> None:
    import xml.etree.ElementTree as ET

    from newsdrop.local.inprocess import InProcessPipeline

    pipeline = InProcessPipeline()
    # Raw HTML: its text is read with the references resolved, and the sanitiser writes what they resolve to.
    body = f'<p title="a{reference}b">行情 {reference} 快讯</p>'
    pipeline.upload("_posts/2024-05-20-ref.md", source("title: T\ndate: 2024-05-20 10:00", body=body))
    pipeline.drain()
    assert pipeline.rejections == []
    feed = pipeline.site.objects["feed.xml"].body
    ET.fromstring(feed)  # well-formed
    assert "<summary>行情 快讯</summary>" in feed.decode()
    pages = {k: o.body.decode() for k, o in pipeline.site.objects.items() if k.endswith(".html")}
    page = next(text for text in pages.values() if "行情" in text and "快讯" in text and "<p title=" in text)
    assert '<p title="ab">行情  快讯</p>' in page
    unreadable = {
        k: m.group() for k, text in pages.items() if (m := re.search("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]", text))
    }
    assert unreadable == {}


# --- bodies whose HTML a browser nests deeper, or that Markdown multiplies


@pytest.mark.parametrize(
    "body",
    [
        "<div/>" * 2_000,  # a browser ignores "/" on a div: two thousand open divs
        "<![CDATA[ >" + "<div>" * 2_000 + "]]>",  # a bogus comment, which the first ">" ends
    ],
)
def test_nesting_the_depth_gauge_once_missed_is_rejected(body: str) -> None:
    assert "nests deeper than 100 elements" in rejection(source("title: T", body=body))


@pytest.mark.parametrize(("url_chars", "uses"), [(50_000, 1_000), (150, 20_000)])
def test_a_reference_link_used_thousands_of_times_writes_its_url_a_bounded_number_of_times(
    url_chars: int, uses: int
) -> None:
    # Written out each time, 1,000 uses of one 50 KB URL would be 50 MB of HTML from a 60 KB post.
    # pulldown-cmark writes a reference's URLs out for about the post's length in all; the uses past
    # that stay as they are written, text: nothing is lost, and the HTML stays a few times the post.
    url = "https://example.com/" + "a" * url_chars
    body = f"[r]: {url}\n\n" + "[r] " * uses
    post = read("title: T", body=body)
    assert len(post.body_html) < 5 * len(body)
    assert post.body_html.count(f'<a href="{url}"') >= 1
    assert post.body_html.count("[r]") + post.body_html.count(f'<a href="{url}"') == uses


def test_html_the_sanitiser_makes_too_large_is_rejected_not_left_unrendered() -> None:
    # Under the limit as Markdown renders it; over it once every link carries its `rel` and every
    # element its end tag. Rejected while read, not failing its page's render again and again. (An
    # HTML block: Markdown passes it through as it is.)
    body = "<div>" + "x<a></a>" * 124_875 + "</div>"
    assert len(markup.render_markdown(body, trusted=True)) <= markup.MAX_BODY_HTML_CHARS
    assert "body HTML would be longer" in rejection(source("title: T", body=body), max_bytes=2_000_000)


def test_a_long_post_with_many_links_is_still_published() -> None:
    body = "\n\n".join(f"第{i}条 [公告](https://example.com/notice/{i}.html)" for i in range(1_500))
    assert read("title: T", body=body).body_html.count("<a ") == 1_500


def test_self_closed_elements_inside_svg_do_not_nest() -> None:
    svg = "<svg>" + '<path d="M0 0"/>' * 500 + "</svg>"
    read("title: T", body=svg)  # not rejected (the sanitiser then drops the SVG)


def test_posts_with_many_long_tags_leave_the_home_page_renderable() -> None:
    from newsdrop.local.inprocess import InProcessPipeline
    from newsdrop.rendering.pages import MAX_HOME_SECTIONS

    pipeline = InProcessPipeline()
    pipeline.upload("_config.yml", b"home_per_tag: 500\n")
    for n in range(60):
        tags = ", ".join(f'"{n}-{t}-' + "标" * 90 + '"' for t in range(20))
        front = f"title: 第{n}条\ndate: 2024-05-20 10:{n % 60:02d}\ntags: [{tags}]"
        pipeline.upload(f"_posts/2024-05-20-p{n}.md", source(front))
    pipeline.drain()
    assert pipeline.rejections == [] and pipeline.dead_letters == {}
    home = pipeline.site.objects["index.html"].body.decode()
    assert "第59条" in home and home.count('class="tag-section"') <= MAX_HOME_SECTIONS


@pytest.mark.parametrize("name", ["news\u200b", "news.", ".hidden", "rtl\u202e", "soft\u00adhyphen"])
def test_labels_that_would_share_the_page_of_a_name_that_looks_the_same_are_rejected(name: str) -> None:
    for field in ("tags", "categories"):
        reason = rejection(source(f"title: T\n{field}: [{json.dumps(name)}]"))
        assert "which its page's address cannot hold" in reason


def test_labels_that_look_alike_but_are_addressable_are_kept() -> None:
    post = read('title: T\ntags: ["A股", "v1.5", "*ST华仪", "Fed & ECB", "A/H股"]\ncategories: [Macro Desk]')
    assert post.tags == ["A股", "v1.5", "*ST华仪", "Fed & ECB", "A/H股"] and post.categories == ["Macro Desk"]


# The shapes of Markdown that took markdown-it (the Markdown library before pulldown-cmark) the most
# time per byte, ten seconds of CPU for `*![` at the size limit: read like any other post now.
@pytest.mark.parametrize("unit", ["*![", "![\n", "[", "_a_ ", ">", "|a|\n"])
def test_markdown_of_the_costliest_shapes_is_read_at_the_size_limit(unit: str) -> None:
    from newsdrop.ports import DEFAULT_MAX_POST_BYTES

    data = source("title: T", body=unit * (DEFAULT_MAX_POST_BYTES // len(unit)))[:DEFAULT_MAX_POST_BYTES]
    try:
        post = read_post(KEY, data, SHANGHAI, max_bytes=DEFAULT_MAX_POST_BYTES)
    except Rejected as exc:  # refused for what its HTML would be, never for the time it takes
        assert "body HTML would be longer" in exc.reason or "nests deeper" in exc.reason
    else:
        assert 0 < len(post.body_html) <= markup.MAX_BODY_HTML_CHARS


def test_long_dense_markdown_is_published() -> None:
    # This project's README: code spans, lists and tables.
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    html = read("title: T", body=readme[:90_000]).body_html  # LIMIT: this file's own limit for posts
    assert html.count("<table>") >= 1 and html.count("<code>") > 100 and html.count("<li>") > 10


HEAVIEST = {"table rows": ("|a|\n|-|\n", "|a|\n"), "list items": ("", "- a\n"), "emphasis": ("", "*_")}
# The peak of this program's own memory: VmHWM, not getrusage's ru_maxrss, which Linux carries over
# from the process that started it (pytest, hundreds of MB into a full run).
MEASURE = """
import re, sys
from newsdrop import posts
from newsdrop.model import SiteConfig
from newsdrop.ports import DEFAULT_MAX_POST_BYTES
body = sys.stdin.buffer.read()[:DEFAULT_MAX_POST_BYTES]
try:
    posts.read_post("_posts/2024-01-01-heavy.md", body, SiteConfig(), max_bytes=DEFAULT_MAX_POST_BYTES)
except posts.Rejected:
    pass
with open("/proc/self/status") as status:
    print(int(re.search(r"VmHWM:\\s+(\\d+) kB", status.read()).group(1)) * 1024)
"""


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads the peak memory from /proc (Linux)")
@pytest.mark.parametrize("shape", sorted(HEAVIEST))
def test_the_heaviest_post_within_the_size_limit_leaves_the_parse_function_room(shape: str) -> None:
    # Lambda gives the parse function 512 MB (template.yaml) for everything in it: its own code and
    # clients take about 100 MB, so reading one post must stay well under the rest.
    import subprocess
    import sys

    from newsdrop.ports import DEFAULT_MAX_POST_BYTES

    head, unit = HEAVIEST[shape]
    data = source("title: T", body=head + unit * (DEFAULT_MAX_POST_BYTES // len(unit)))
    assert len(data) > DEFAULT_MAX_POST_BYTES  # cut at the limit: the largest post that is read at all
    done = subprocess.run([sys.executable, "-c", MEASURE], input=data, capture_output=True, check=True, timeout=300)
    peak = int(done.stdout.decode().split()[-1])
    assert peak < 300 * 1024 * 1024, f"{shape}: {peak / 2**20:.0f} MB"


# --- simple front matter, read without the YAML parser: the same mapping, or left to PyYAML

_KEYS = ["layout", "title", "date", "categories", "tags", "_x", "a-b", "标题", "yes", "On", "null", "Null", "y", "<<"]
_SEPARATORS = [": ", ":  ", ":", ":\t", " : ", ": \t"]
_VALUES = [
    '"郑商所纯碱期货主力合约跌停 #8424"', '"with \\" escape"', '"a\\nb"', '""', '"a"  ', '"a" b', "'single'", "'it''s'",
    "post", "emnews", "东财滚动新闻", "A股 港股", "plain # comment", "plain#hash", "a: b", "a:b", "x:", "trail  ",
    "2021-07-01 00:36:54 +0800", "2021-07-01 00:36:54", "2021-7-1 0:36:54 +8", "2021-07-01", "2021-07-01T00:36:54Z",
    "12:30:00", "1", "-1", "1.5", "1_000", "0x1F", "0o17", "1e3", ".inf", ".NaN", "~", "null", "yes", "No", "off",
    "=", "<<", "[a, b]", "{a: 1}", "*alias", "&anchor x", "!tag x", "!!str 1", "|", ">", "-x", "- x", "? x", "%x",
    "@x", "`x", "a, b", "a]", "O'Reilly", 'say "hi"', "\u00a0x", "x\u200b", "x\ufeff", "\ue000", "x\u0085y", "",
]  # fmt: skip


def _front_matter_lines() -> st.SearchStrategy[str]:
    line = st.builds(
        lambda k, s, v: f"{k}{s}{v}",
        st.sampled_from(_KEYS) | st.text(min_size=1, max_size=6),
        st.sampled_from(_SEPARATORS),
        st.sampled_from(_VALUES) | st.text(max_size=12),
    )
    extra = st.sampled_from(["", "# a comment", "  indented: x", "- item", "---", "...", "\r", " "])
    simple = st.builds(lambda k, v: f"{k}: {v}", st.sampled_from(_KEYS), st.sampled_from(_VALUES))
    return st.lists(simple | simple | line | extra, min_size=1, max_size=6).map("\n".join)


@given(_front_matter_lines())
@settings(max_examples=3000, deadline=None)
def test_simple_front_matter_reads_as_pyyaml_reads_it(text: str) -> None:
    simple = posts._simple_mapping(text)
    if simple is None:
        return  # left to PyYAML
    expected = yaml.load(text, Loader=posts._Loader)
    assert simple == expected
    assert [type(v) for v in simple.values()] == [type(v) for v in expected.values()]


@pytest.mark.parametrize(
    ("text", "fast"),
    [
        ('layout: post\ntitle: "红 #1"\ndate: 2021-07-01 00:36:54 +0800\ncategories: emnews\ntags: 东财滚动新闻', True),
        ("title: a\n\ntags: b c", True),
        ("title: a # note", False),
        ("title: x:", False),
        ("title: a: b", False),
        ("date: 2021-07-01 00:36:54", True),
        ("yes: a", False),
        ("count: 3", False),
        ("title: 'quoted'", False),
        ("title:\n  nested: x", False),
    ],
)
def test_which_front_matter_is_read_without_the_parser(text: str, fast: bool) -> None:
    assert (posts._simple_mapping(text) is not None) is fast
    try:
        expected = yaml.load(text, Loader=posts._Loader)
    except yaml.YAMLError:
        with pytest.raises(Rejected, match="not valid YAML"):
            posts.load_yaml(text, what="front matter")
        return
    assert posts.load_yaml(text, what="front matter") == expected


# --- each input limit at its documented value: accepted there, refused one past it (README, "Limits")


def _sized(size: int) -> bytes:
    """A valid post of exactly `size` bytes: its body padded with ASCII."""
    return source("title: T", body="x" * (size - len(source("title: T", body=""))))


def test_a_post_at_the_default_max_post_bytes_is_read_and_one_byte_more_is_rejected() -> None:
    from newsdrop.settings import Settings

    # The deployed functions' limit when MAX_POST_BYTES is not set: 262,144 bytes (256 KiB).
    names = ("SOURCE_BUCKET", "SITE_BUCKET", "ARTIFACT_BUCKET", "CATALOG_TABLE", "EVENT_BUS_NAME")
    limit = Settings.from_env(dict.fromkeys(names, "x")).max_post_bytes
    at, past = _sized(262_144), _sized(262_145)
    assert read_post(KEY, at, SHANGHAI, max_bytes=limit).title == "T"
    assert rejection(past, max_bytes=limit) == "post is 262145 bytes; the limit is 262144"


def test_a_post_key_of_900_bytes_is_read_and_one_of_901_is_rejected() -> None:
    # Posts may sit in folders under _posts/; the key is measured in UTF-8 bytes (each "报" is 3).
    name = "2021-12-08-hello.md"
    folders = ("报" * 30 + "/") * 9  # 819 bytes
    pad = 900 - len(f"_posts/{folders}a/{name}".encode())
    at = f"_posts/{folders}{'a' * (1 + pad)}/{name}"
    past = f"_posts/{folders}{'a' * (2 + pad)}/{name}"
    assert len(at.encode()) == 900 and len(past.encode()) == 901
    assert read("title: T", key=at).title == "T"
    assert rejection(source("title: T"), key=past) == "the file's name is 901 bytes long; the limit is 900"


def test_front_matter_of_64_kib_is_read_and_one_byte_more_is_rejected() -> None:
    head = "title: T\nx: "
    at = head + "y" * (65_536 - len(head))
    assert posts.load_yaml(at, what="front matter")["title"] == "T"
    with pytest.raises(Rejected) as caught:
        posts.load_yaml(at + "y", what="front matter")
    assert caught.value.reason == "front matter is 65537 bytes; the limit is 65536"


# Stars in a quoted title are no aliases, but they are more than the glance lets through
# (`within_yaml_limits_at_a_glance`): the aliases are counted on the event stream.
_STARS = 'title: "' + "*" * 30 + '"\n'


def test_ten_yaml_aliases_are_read_and_eleven_are_rejected() -> None:
    def front(aliases: int) -> str:
        return _STARS + "base: &b news\nrefs: [" + ", ".join(["*b"] * aliases) + "]"

    assert read(front(10)).title == "*" * 30
    assert rejection(source(front(11))) == "front matter uses more than 10 YAML aliases (possible alias bomb)"


@pytest.mark.parametrize(("opening", "closing"), [("[", "]"), ("{a: ", "}")])
def test_twenty_levels_of_yaml_nesting_are_read_and_twenty_one_are_rejected(opening: str, closing: str) -> None:
    # The front matter's own mapping is the first level: 19 collections inside it make 20.
    def front(levels: int) -> str:
        inner = levels - 1
        return "title: T\ndeep: " + opening * inner + "x" + closing * inner

    assert read(front(20)).title == "T"
    assert rejection(source(front(21))) == "front matter nests deeper than 20 levels"


@pytest.mark.parametrize(
    ("front_matter", "key", "day"),
    [
        ("title: T\ndate: 9998-12-31 23:59:59 +0800", KEY, "9998-12-31"),
        ("title: T\ndate: 1000-01-01 12:00:00 +0800", KEY, "1000-01-01"),
        ("title: T", "_posts/9998-12-31-last.md", "9998-12-31"),
    ],
)
def test_the_first_and_last_four_digit_years_allowed_are_read(front_matter: str, key: str, day: str) -> None:
    # Dates from the year 1000 to 9998: listings sort dates as text and name days by them.
    assert read(front_matter, key=key).date.startswith(day)


@pytest.mark.parametrize(
    ("front_matter", "key"),
    [
        ("title: T\ndate: 9999-01-01 00:00:00 +0800", KEY),
        ("title: T\ndate: 0999-12-31 12:00:00 +0800", KEY),  # noon: Shanghai was +08:05:43 then
        ("title: T", "_posts/9999-01-01-first.md"),
    ],
)
def test_a_year_one_past_the_range_is_rejected_with_the_range(front_matter: str, key: str) -> None:
    assert "out of range: the year must be from 1000 to 9998" in rejection(source(front_matter), key=key)


def test_twenty_redirect_from_urls_are_read_and_twenty_one_are_rejected() -> None:
    def front(count: int) -> str:
        return "title: T\nredirect_from: [" + ", ".join(f"/old/{i}.html" for i in range(count)) + "]"

    assert len(read(front(20)).redirect_from) == 20
    assert rejection(source(front(21))) == "redirect_from lists 21 URLs; at most 20 allowed"


def test_body_html_of_2_000_000_characters_is_published_and_one_more_is_rejected() -> None:
    # A `.html` post's body is its HTML as written; plain text passes the sanitiser unchanged, so
    # both the check before sanitising and the one after see exactly this length.
    key = "_posts/2021-12-08-long.html"
    at = "x" * 2_000_000
    post = read_post(key, source("title: T", body=at), SHANGHAI, max_bytes=3_000_000)
    assert post.body_html == at
    reason = rejection(source("title: T", body=at + "x"), key=key, max_bytes=3_000_000)
    assert reason == "body HTML would be longer than 2000000 characters"


@pytest.mark.parametrize("zone", ["localtime", "posixrules", "Factory"])
def test_a_zone_that_names_the_machine_s_own_is_refused(zone: str) -> None:
    """Dates, and the URLs made of them, must not follow the machine a build or a function runs on."""
    with pytest.raises(posts.Rejected, match=f"timezone '{zone}' is this machine's"):
        posts.read_config(f"timezone: {zone}\n".encode(), max_bytes=LIMIT)
    assert posts.read_config(b"timezone: Asia/Shanghai\n", max_bytes=LIMIT).timezone == "Asia/Shanghai"


def test_a_post_whose_address_a_sitemap_cannot_hold_is_rejected() -> None:
    # 240 Chinese characters are 720 bytes, within a key's 900, and 2,160 characters percent-encoded.
    site = SiteConfig(timezone="Asia/Shanghai", url="https://news.example.com")
    long_path = "/" + "/".join(["新" * 60] * 4) + ".html"
    with pytest.raises(Rejected, match=r"address is \d+ characters long; at most 2047"):
        read_post(KEY, source(f"title: T\npermalink: {long_path}"), site, max_bytes=LIMIT)
    fits = "/" + "/".join(["新" * 60] * 3) + ".html"  # 1,620 characters encoded
    assert read_post(KEY, source(f"title: T\npermalink: {fits}"), site, max_bytes=LIMIT).url == fits
