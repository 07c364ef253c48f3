"""Permalinks to site keys: Jekyll's placeholders and slugs, and hostile permalinks that must stay inside the site."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import re
import unicodedata
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from newsdrop import paths
from newsdrop.paths import PathError

SHANGHAI = ZoneInfo("Asia/Shanghai")
WHEN = dt.datetime(2021, 3, 7, 9, 5, 4, tzinfo=SHANGHAI)


def key_of(permalink: str) -> str:
    return paths.post_key(paths.normalise_url(permalink))


def assert_inside(key: str) -> None:
    assert not key.startswith("/")
    segments = key.split("/")
    assert all(seg not in ("", ".", "..") for seg in segments), key
    assert "\\" not in key
    assert not any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in key), key
    assert len(key.encode()) <= paths.MAX_KEY_BYTES
    assert all(len(seg.encode()) <= paths.MAX_SEGMENT_BYTES for seg in segments)


# --- slugify_pretty: Jekyll's `pretty` mode keeps letters, digits, marks and ._~!$&'()+,;=@


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hello world", "hello-world"),
        ("  hello   world  ", "hello-world"),
        ("Hello World", "Hello-World"),  # :title is cased
        ("red+flower", "red+flower"),
        ("a.b_c~d!e$f&g'h(i)j,k;l=m@n", "a.b_c~d!e$f&g'h(i)j,k;l=m@n"),
        ("红花 绿叶", "红花-绿叶"),
        ("东财滚动新闻", "东财滚动新闻"),
        ("a/b?c#d", "a-b-c-d"),
        ("a: b", "a-b"),
        ("--a--", "a"),
        ("202112082206742097", "202112082206742097"),
    ],
)
def test_slugify_pretty_follows_jekyll(text: str, expected: str) -> None:
    assert paths.slugify_pretty(text) == expected


@settings(max_examples=300)
@given(st.text(alphabet=st.characters(max_codepoint=0x7F)), st.booleans())
def test_ascii_text_is_slugified_as_the_general_loop_does(text: str, pretty: bool) -> None:
    if pretty:
        assert paths.slugify_pretty(text) == paths.slugify_any(text, "._~!$&'()+,;=@")
    else:
        assert paths.slugify_default(text) == paths.slugify_any(text).lower()


REFUSED = ("Cc", "Cf", "Cs", "Co", "Zl", "Zp")


@settings(max_examples=500)
@given(st.text(alphabet=st.characters(blacklist_categories=())))
def test_a_name_is_refused_exactly_when_it_holds_a_backslash_or_a_control_character(text: str) -> None:
    refused = any(ch == "\\" or unicodedata.category(ch) in REFUSED for ch in text)
    outcome = contextlib.suppress(PathError) if refused else contextlib.nullcontext()
    with outcome:
        paths._check_chars(text, "name")
        assert not refused, text


# --- jekyll_permalink placeholders


def test_default_permalink_fills_categories_date_and_title() -> None:
    url = paths.jekyll_permalink(
        paths.JEKYLL_DEFAULT_PERMALINK, when=WHEN, slug="202112082206742097", categories=["EmNews"]
    )
    assert url == "/emnews/2021/03/07/202112082206742097.html"


def test_default_permalink_joins_several_categories_lower_cased_and_deduplicated() -> None:
    url = paths.jekyll_permalink(
        paths.JEKYLL_DEFAULT_PERMALINK, when=WHEN, slug="x", categories=["News", "Markets", "news"]
    )
    assert url == "/news/markets/2021/03/07/x.html"


def test_every_date_placeholder() -> None:
    template = "/:year/:short_year/:month/:i_month/:day/:i_day/:hour/:minute/:second/:y_day/:title/"
    url = paths.jekyll_permalink(template, when=WHEN, slug="s", categories=[])
    # 7 March 2021 is the 66th day of the year (31 + 28 + 7).
    assert url == "/2021/21/03/3/07/7/09/05/04/066/s/"


def test_title_placeholder_slugifies_the_file_slug_and_slug_placeholder_matches() -> None:
    url = paths.jekyll_permalink("/:title/:slug:output_ext", when=WHEN, slug="hello world", categories=[])
    assert url == "/hello-world/hello-world.html"


def test_explicit_slug_replaces_the_file_slug() -> None:
    url = paths.jekyll_permalink("/:title/", when=WHEN, slug="file-name", categories=[], explicit_slug="My Slug")
    assert url == "/My-Slug/"


def test_i_month_is_not_read_as_a_shorter_placeholder() -> None:
    december = dt.datetime(2021, 12, 8, tzinfo=SHANGHAI)
    assert paths.jekyll_permalink("/:i_month-:i_day", when=december, slug="s", categories=[]) == "/12-8"
    assert paths.jekyll_permalink("/:month-:day", when=WHEN, slug="s", categories=[]) == "/03-07"


def test_a_category_with_url_syntax_stays_a_folder_of_its_name() -> None:
    # Each placeholder's value is escaped before the path is read: `C#` and `what?` are folders, not
    # the start of a fragment or a query that would cut the URL short.
    filled = paths.jekyll_permalink(paths.JEKYLL_DEFAULT_PERMALINK, when=WHEN, slug="s", categories=["C#", "what?"])
    assert filled == "/c%23/what%3F/2021/03/07/s.html"
    url = paths.normalise_url(filled)
    assert url == "/c#/what?/2021/03/07/s.html"
    assert paths.href(url) == filled


def test_a_slug_with_nothing_to_slugify_is_its_title_as_written() -> None:
    # Slugified, `###` is empty: the title falls back to the slug itself, escaped, never to nothing.
    url = paths.jekyll_permalink("/:title:output_ext", when=WHEN, slug="###", categories=[])
    assert url == "/%23%23%23.html"
    assert paths.normalise_url(url) == "/###.html"


def test_default_permalink_without_categories_is_a_site_path() -> None:
    # Jekyll collapses the empty `:categories` segment: /2021/03/07/s.html
    filled = paths.jekyll_permalink(paths.JEKYLL_DEFAULT_PERMALINK, when=WHEN, slug="s", categories=[])
    assert paths.normalise_url(filled) == "/2021/03/07/s.html"
    assert paths.post_key(paths.normalise_url(filled)) == "2021/03/07/s.html"


# --- normalise_url and key_for_url on ordinary permalinks


@pytest.mark.parametrize(
    ("permalink", "url", "key"),
    [
        ("/emnews/2021/12/08/1.html", "/emnews/2021/12/08/1.html", "emnews/2021/12/08/1.html"),
        ("/custom/page/", "/custom/page/", "custom/page/index.html"),
        ("/custom/page", "/custom/page", "custom/page.html"),
        ("custom//page.html", "/custom/page.html", "custom/page.html"),
        ("/a%20b/%E7%BA%A2.html", "/a b/红.html", "a b/红.html"),
        ("/news/page.html?x=1#top", "/news/page.html", "news/page.html"),
        # Only the last segment's point makes a file name: a point in a folder's name does not.
        ("/v1.2/post", "/v1.2/post", "v1.2/post.html"),
    ],
)
def test_normal_permalinks(permalink: str, url: str, key: str) -> None:
    assert paths.normalise_url(permalink) == url
    assert paths.post_key(url) == key


# --- hostile permalinks


@pytest.mark.parametrize(
    "permalink",
    [
        "..",
        "../../etc/passwd",
        "/a/../../etc/passwd",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/%2E%2E%2F%2E%2E%2Fetc/passwd",
        "/./././x.html",
        "/a/%2e/b",
        "//evil.com/x",
        "/%2F%2Fevil.com/x",
        "/．．／．．／etc/passwd",  # fullwidth look-alikes are ordinary characters, not path syntax
        "/‥/x",
        "/[::1]/x",
        "/" + "a" * 150 + "/" + "b" * 150,
    ],
)
def test_hostile_permalink_is_refused_or_stays_inside_the_site(permalink: str) -> None:
    try:
        key = key_of(permalink)
    except PathError:
        return
    assert_inside(key)


@pytest.mark.parametrize(
    "permalink",
    ["/a/../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/a/%2e%2e/%2e%2e/b"],
)
def test_dot_dot_never_climbs_above_the_root(permalink: str) -> None:
    key = key_of(permalink)
    assert ".." not in key.split("/")
    assert key.endswith(".html")


def test_fullwidth_dots_are_kept_as_literal_names() -> None:
    key = key_of("/．．／x")
    assert key == "．．／x.html"
    assert "/" not in key


@pytest.mark.parametrize(
    "permalink",
    [
        "http://evil.com/x",
        "https://evil.com/x",
        "javascript:alert(1)",
        "file:///etc/passwd",
        "//evil.com/x",
    ],
)
def test_absolute_urls_never_become_keys_outside_the_site(permalink: str) -> None:
    try:
        key = key_of(permalink)
    except PathError:
        return
    assert_inside(key)


@pytest.mark.parametrize("permalink", ["http://evil.com/x", "https://evil.com/x"])
def test_absolute_urls_with_a_scheme_are_refused(permalink: str) -> None:
    with pytest.raises(PathError, match="absolute"):
        paths.normalise_url(permalink)


@pytest.mark.parametrize(
    "permalink",
    ["/a\\b.html", "/a%5Cb.html", "\\..\\..\\windows"],
)
def test_backslashes_are_refused(permalink: str) -> None:
    with pytest.raises(PathError, match="backslash"):
        key_of(permalink)


@pytest.mark.parametrize(
    "permalink",
    ["/a\x00b", "/a%00b", "/a\x01b", "/a%0Ab", "/a%0Db", "/a%09b", "/a\x7fb", "/a\u202eb", "/a\u200bb"],
)
def test_nul_and_control_characters_are_refused(permalink: str) -> None:
    with pytest.raises(PathError, match="control character"):
        key_of(permalink)


@pytest.mark.parametrize(
    ("permalink", "reason"), [("/blog%0A", "control character"), ("/blog%5C", "backslash"), ("/b%00", "control")]
)
def test_a_path_is_checked_again_once_decoded(permalink: str, reason: str) -> None:
    # normalise_url alone (as a site's baseurl is read, with no post_key after it) refuses what the
    # escapes decode to: the raw text holds neither a control character nor a backslash.
    with pytest.raises(PathError, match=reason):
        paths.normalise_url(permalink)


@pytest.mark.parametrize("permalink", ["/a\nb", "/a\tb", "/a\rb"])
def test_raw_newlines_and_tabs_are_refused_like_their_encoded_forms(permalink: str) -> None:
    # The module promises to refuse control characters; "%0A" is refused, so a raw "\n" must be too,
    # not silently dropped (which turns "/a\nb" into the different page "/ab").
    with pytest.raises(PathError):
        key_of(permalink)


@pytest.mark.parametrize("permalink", ["", "   ", "/", "/.", "/..", "/./..//"])
def test_empty_permalinks_name_no_post_page(permalink: str) -> None:
    with pytest.raises(PathError):
        key_of(permalink)


def test_very_long_segment_is_refused() -> None:
    with pytest.raises(PathError, match="segment"):
        key_of("/" + "a" * (paths.MAX_SEGMENT_BYTES + 1))


def test_very_long_multibyte_segment_is_measured_in_bytes() -> None:
    # 70 CJK characters are 210 UTF-8 bytes.
    with pytest.raises(PathError, match="segment"):
        key_of("/" + "红" * 70 + "/")


def test_very_long_key_is_refused() -> None:
    permalink = "/" + "/".join(["a" * 100] * 10)
    with pytest.raises(PathError, match="longer"):
        key_of(permalink)


def test_longest_allowed_segment_is_accepted() -> None:
    name = "a" * (paths.MAX_SEGMENT_BYTES - len(".html"))
    assert key_of("/x/" + name) == f"x/{name}.html"


@pytest.mark.parametrize(
    "permalink",
    [
        "/index.html",
        "/",
        "/404.html",
        "/feed.xml",
        "/sitemap.xml",
        "/robots.txt",
        "/assets/x.css",
        "/search/",
        "/search/manifest.json",
        "/tags/foo/",
        "/archive/",
        "/sitemaps/2021-12-08.xml",
        "/categories/foo/",
        "/2021/12/08/index.html",
        "/2021/12/08/",
        "/2021/12/",
        "/emnews/",  # a category's front page
        "/emnews/index.html",
        "/robots.txt/x",  # under one of the site's files: a file system cannot hold both
        "/feed.xml/",
        "/404.html/x.html",
    ],
)
def test_permalinks_colliding_with_site_pages_are_refused(permalink: str) -> None:
    with pytest.raises(PathError, match="collides"):
        key_of(permalink)


@pytest.mark.parametrize(
    "permalink",
    ["/Feed.xml", "/FEED.XML", "/Index.html", "/Search/x.html", "/\u017fearch/x.html", "/Tags/x/", "/ASSETS/x.html",
     "/2021/12/08/Index.html", "/emnews/INDEX.HTML", "/Robots.txt/x", "/Sitemaps/2021-12-08.xml"],
)  # fmt: skip
def test_permalinks_colliding_with_site_pages_but_for_case_or_normalisation_are_refused(
    permalink: str,
) -> None:
    # Built into a folder on macOS or Windows, which ignore case (and on macOS normalisation), the
    # post's page would be written over the site's own: `Feed.xml` is `feed.xml` there.
    with pytest.raises(PathError, match="collides"):
        key_of(permalink)


@pytest.mark.parametrize(
    "permalink",
    [
        "/2024/05/23/index.html/y.html",  # under a day's page
        "/emnews/index.html/x",  # under a category's page
        "/a.html/b",  # under another post's page
        "/news/a.HTM/b/",
        "/data.json/x.html",
        "/x.xml/y/z.html",
    ],
)
def test_permalinks_in_a_folder_named_like_a_page_are_refused(permalink: str) -> None:
    with pytest.raises(PathError, match="in a folder named like a page"):
        key_of(permalink)


@pytest.mark.parametrize(
    "permalink",
    ["/search.html", "/assets", "/2021/12/08/x.html", "/emnews/x/", "/v1.2/x.html", "/a.html", "/a.htmlx/b"],
)
def test_names_near_site_pages_are_allowed(permalink: str) -> None:
    assert_inside(key_of(permalink))


def test_href_percent_encodes_utf8_and_keeps_path_syntax() -> None:
    assert paths.href("/a b/红.html") == "/a%20b/%E7%BA%A2.html"
    assert paths.href("/a/b+c.html") == "/a/b+c.html"
    assert paths.href('/"><script>') == "/%22%3E%3Cscript%3E"


@pytest.mark.parametrize(
    ("name", "expected"),
    [("红花", "红花"), ("a/b", "ab~"), ("..", "-~"), ("a\x00b", "ab~"), ("\\x", "x~"), ("", "-~")],
)
def test_segment_makes_one_safe_path_segment(name: str, expected: str) -> None:
    # A name that cannot be its segment as it is gets a digest of the whole name ("~" and 8 digits).
    got = paths.segment(name)
    assert got == expected if "~" not in expected else (got.startswith(expected) and len(got) == len(expected) + 8)
    assert "/" not in got and "\\" not in got and len(got.encode()) <= paths.MAX_SEGMENT_BYTES


def test_a_long_multibyte_name_is_cut_to_the_segment_limit_in_bytes() -> None:
    # 100 CJK characters are 300 UTF-8 bytes: cut, with "~" and 8 digest digits (9 bytes) after
    # it, to the most whole characters that fit: 63 (189 + 9 = 198 bytes; 64 would be 201).
    name = "美" * 100
    got = paths.segment(name)
    assert len(got.encode()) <= paths.MAX_SEGMENT_BYTES
    assert got == "美" * 63 + "~" + hashlib.sha256(name.encode()).hexdigest()[:8]


def test_names_whose_segments_would_match_keep_pages_of_their_own() -> None:
    # Two names that differ by what a segment cannot hold ("/") or past what it can (200 bytes).
    long_a, long_b = "财" * 70 + "甲", "财" * 70 + "乙"
    for one, other in [("美元/人民币", "美元人民币"), ("a\\b", "ab"), (long_a, long_b)]:
        assert paths.segment(one) != paths.segment(other)
        assert paths.segment(one) == paths.segment(one)  # the same name, the same page, every time
    # Nor does a name written as another's segment (`美元人民币~978f9cc3` as a tag): it would take
    # over that name's page.
    digested = paths.segment("美元/人民币")
    assert paths.segment(digested) != digested


# --- property: whatever the permalink, an accepted key is inside the site


@settings(max_examples=500, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.sampled_from(["/", ".", "..", "%2e", "%2E", "%2f", "%2F", "%00", "\\", ":", "//", "?", "#", "%", "．"]),
            st.characters(),
        ),
        max_size=40,
    ).map("".join)
)
def test_any_permalink_is_refused_or_gives_a_key_inside_the_site(permalink: str) -> None:
    try:
        key = key_of(permalink)
    except PathError:
        return
    assert all(seg not in ("", ".", "..") for seg in key.split("/")), key
    assert_inside(key)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_normalise_url_only_raises_path_error(permalink: str) -> None:
    # read_post turns PathError into a rejection; any other exception would escape it.
    with contextlib.suppress(PathError):
        paths.normalise_url(permalink)


@pytest.mark.parametrize("permalink", ["//[oops", "//[::1/x", "http://[/x", "//a]b/"])
def test_malformed_authority_is_a_path_error(permalink: str) -> None:
    # urlsplit raises a bare ValueError ("Invalid IPv6 URL") for these; read_post only catches PathError.
    with pytest.raises(PathError):
        paths.normalise_url(permalink)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.text(alphabet=st.sampled_from([*"aZ09/:@!$&'()*+,;=-._~ %?#[]\\\"<>^`{|}", "é", "中", "\x00", "\U0001f600"])))
def test_a_path_is_quoted_as_urllib_quotes_it(value: str) -> None:
    from urllib.parse import quote

    assert paths.quote_path(value) == quote(value, safe="/:@!$&'()*+,;=-._~")


@pytest.mark.parametrize(
    ("name", "hidden"),
    [
        ("news", False),
        ("A股 新闻", False),
        ("New York", False),
        ("美元\u3000人民币", False),  # an ideographic space is seen
        ("news\u200b", True),  # zero width space (Cf)
        ("news\u00ad", True),  # soft hyphen (Cf)
        ("a\x07b", True),  # control (Cc)
        ("a\ue000", True),  # private use (Co)
        ("a\U000e0001", True),  # language tag (Cf), outside the BMP
        ("a\u0378", True),  # unassigned (Cn)
        (".hidden", True),
        ("trailing.", True),
        (" padded", True),
    ],
)
def test_a_name_that_looks_like_another(name: str, hidden: bool) -> None:
    assert paths.looks_like_another(name) is hidden


@given(st.text(max_size=12))
@settings(max_examples=500)
def test_looks_like_another_is_its_definition(name: str) -> None:
    invisible = any(unicodedata.category(ch)[0] == "C" for ch in name)
    assert paths.looks_like_another(name) == (invisible or name != name.strip().strip("."))


@given(st.text(max_size=12) | st.sampled_from(["美元/人民币", "a\\b", "新闻\u200b", "\u3000港股\u3000", "..", ""]))
@settings(max_examples=500)
def test_segment_drops_what_its_definition_drops(name: str) -> None:
    cleaned = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C" and ch not in "/\\")
    cleaned = cleaned.strip().strip(".") or "-"
    made = paths.segment(name)
    like_digest = re.search(r"~[0-9a-f]{8}\Z", name) is not None
    if cleaned == name and len(name.encode()) <= paths.MAX_SEGMENT_BYTES and not like_digest:
        assert made == name
    else:
        assert made.startswith(cleaned[:20]) and made[-9:-8] == "~"


# --- the key and segment limits at their documented values (README: segments 200 bytes, keys 900)


def test_a_key_of_900_bytes_is_accepted_and_one_of_901_is_refused() -> None:
    # Measured in UTF-8 bytes: each "红" is 3. Five folders of 150 bytes, 755 bytes with their "/".
    folders = ("红" * 50 + "/") * 5
    at = "/" + folders + "b" * (900 - 755 - len(".html"))
    assert len(key_of(at).encode()) == 900
    with pytest.raises(PathError) as caught:
        key_of(at + "b")
    assert str(caught.value) == "permalink is longer than 900 bytes"


def test_a_segment_of_200_bytes_is_accepted_and_one_of_201_is_refused() -> None:
    name = "红" * 65  # 195 bytes, and ".html": 200
    assert key_of("/x/" + name) == f"x/{name}.html"
    with pytest.raises(PathError) as caught:
        key_of("/x/" + name + "b")
    assert str(caught.value) == "a permalink segment is longer than 200 bytes"
