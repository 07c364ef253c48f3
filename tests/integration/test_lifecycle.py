"""Deleting and re-uploading sources: the moto pipeline leaves no trace of the old version.

After every change the whole site bucket must equal a fresh `newsdrop build` (in-process
pipeline) of the sources that remain: any stale page, listing entry, feed item, sitemap
line or search shard shows up as a difference.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.integration.sitecheck import (
    NO_DIFF,
    delete,
    diff,
    local_build,
    mentioning,
    post,
    rejections,
    site,
    source_body,
    upload,
)
from tests.support.redirects import redirects, without_redirects

OIL_KEY = "_posts/2021-12-08-oil-rises.md"
OIL = post("Oil rises", "2021-12-08 11:00:00", categories=["Markets"], tags=["energy"], body="Brent is up.")
OIL_PAGE = "markets/2021/12/08/oil-rises.html"

RATE_KEY = "_posts/2021-12-07-rate-cut.md"
RATE_V1 = post(
    "Rate cut announced", "2021-12-07 09:30:00", categories=["Markets"], tags=["banks"], body="The bank cut rates."
)
RATE_V1_URL = "/markets/2021/12/07/rate-cut.html"
# Objects that exist only because of RATE_V1 (its tag, its day): they must go with it.
ONLY_RATE_V1 = (
    "tags/banks/index.html",
    "2021/12/07/index.html",
    "sitemaps/2021-12-07.xml",
)
RATE_V2 = post(
    "Rate cut postponed", "2022-01-03 16:00:00", categories=["Economy"], tags=["policy"], body="Not this time."
)
RATE_V2_PAGE = "economy/2022/01/03/rate-cut.html"


def publish(pump: Any, files: dict[str, bytes]) -> dict[str, bytes]:
    for key, body in files.items():
        upload(key, body)
    pump.drain()
    assert rejections(pump) == []
    assert pump.errors == []
    return site()


def test_delete_removes_every_trace(moto_stack: Any) -> None:
    before = publish(moto_stack, {OIL_KEY: OIL, RATE_KEY: RATE_V1})
    # The test can see a post: before the delete, its page and listings mention it.
    assert "markets/2021/12/07/rate-cut.html" in before
    for key in ("index.html", "feed.xml", "markets/index.html", "tags/banks/index.html", "2021/12/07/index.html"):
        assert key in mentioning(before, "Rate cut announced"), key
    assert mentioning(before, RATE_V1_URL)  # sitemaps list URLs

    delete(RATE_KEY)
    moto_stack.drain()
    after = site()

    assert "markets/2021/12/07/rate-cut.html" not in after
    assert mentioning(after, "Rate cut announced", RATE_V1_URL, "rate-cut") == []
    # Listings that only the deleted post filled are gone, not left empty or stale.
    for gone in ONLY_RATE_V1:
        assert gone not in after, gone
    # The other post is untouched and still listed.
    assert after[OIL_PAGE] == before[OIL_PAGE]
    assert "index.html" in mentioning(after, "Oil rises")
    assert diff(after, local_build({OIL_KEY: OIL})) == NO_DIFF


def test_reupload_with_new_date_title_category_and_tags(moto_stack: Any) -> None:
    publish(moto_stack, {OIL_KEY: OIL, RATE_KEY: RATE_V1})

    upload(RATE_KEY, RATE_V2)
    moto_stack.drain()
    assert rejections(moto_stack) == []
    after = site()

    # The old URL only redirects to the new one (a reader's bookmark keeps working).
    assert redirects(after) == {"markets/2021/12/07/rate-cut.html": "/" + RATE_V2_PAGE}
    assert b"Rate cut postponed" in after[RATE_V2_PAGE]
    # Nothing anywhere still shows the old title or links the old URL.
    assert mentioning(after, "Rate cut announced", RATE_V1_URL, "2021/12/07", "2021-12-07") == []
    for gone in ONLY_RATE_V1:
        assert gone not in after, gone
    # The old category keeps its other post and lists only that one.
    assert b"Oil rises" in after["markets/index.html"]
    assert b"rate-cut" not in after["markets/index.html"]
    # The new listings have it.
    for key in ("economy/index.html", "tags/policy/index.html", "2022/01/03/index.html", "index.html", "feed.xml"):
        assert key in mentioning(after, "Rate cut postponed"), key
    assert diff(without_redirects(after), local_build({OIL_KEY: OIL, RATE_KEY: RATE_V2})) == NO_DIFF


def test_reupload_back_and_forth_converges(moto_stack: Any) -> None:
    publish(moto_stack, {OIL_KEY: OIL, RATE_KEY: RATE_V1})
    upload(RATE_KEY, RATE_V2)
    moto_stack.drain()
    upload(RATE_KEY, RATE_V1)
    moto_stack.drain()
    after = site()
    assert mentioning(after, "Rate cut postponed", "economy/", "/2022/", "policy") == []
    assert redirects(after) == {RATE_V2_PAGE: RATE_V1_URL}
    assert diff(without_redirects(after), local_build({OIL_KEY: OIL, RATE_KEY: RATE_V1})) == NO_DIFF


def jekyll_pretty_slug(stem: str) -> str:
    """Jekyll's `slugify(mode: "pretty", cased: true)` for the `:title` placeholder, written out here."""
    return re.sub(r"(?:[^\w.~!$&'()+,;=@]|_)+", "-", stem).strip("-")


ODD_KEYS = [
    "_posts/2021-12-08-红 flower+1.md",
    "_posts/2021-12-08-c++ notes.md",
    "_posts/2021-12-08-100% sure & done.md",
    "_posts/2021-12-08-café au lait.markdown",
]


@pytest.mark.parametrize("key", ODD_KEYS)
def test_odd_keys_publish_inside_the_site_and_delete_cleanly(key: str, moto_stack: Any) -> None:
    stem = key.removeprefix("_posts/2021-12-08-").rsplit(".", 1)[0]
    title = f"Odd key 红花 number {ODD_KEYS.index(key)}"
    slug = jekyll_pretty_slug(stem)
    body = post(title, "2021-12-08 15:00:00", categories=["Flowers"], tags=["odd"], body="Petals.")
    expected_page = f"flowers/2021/12/08/{slug}.html"

    published = publish(moto_stack, {OIL_KEY: OIL, key: body})
    assert source_body(key) == body  # the key arrived in S3 exactly as written
    assert expected_page in published, sorted(k for k in published if k.startswith("flowers/"))
    assert title.encode() in published[expected_page]
    assert not any(k.startswith("/") or ".." in k.split("/") for k in published)
    assert "index.html" in mentioning(published, title)
    assert diff(published, local_build({OIL_KEY: OIL, key: body})) == NO_DIFF

    delete(key)
    moto_stack.drain()
    after = site()
    assert expected_page not in after
    assert mentioning(after, title, slug, "flowers/", "Flowers") == []
    assert diff(after, local_build({OIL_KEY: OIL})) == NO_DIFF


def test_post_without_categories_publishes_at_the_jekyll_url(moto_stack: Any) -> None:
    # Jekyll's default permalink with no categories is /:year/:month/:day/:title.html (the empty
    # `:categories` segment collapses): such posts are common and must publish, not be rejected.
    body = post("No category", "2021-12-08 12:00:00", tags=["daily"])
    objects = publish(moto_stack, {OIL_KEY: OIL, "_posts/2021-12-08-no-category.md": body})
    assert b"No category" in objects["2021/12/08/no-category.html"]
