"""The 404 page, in headless Chromium under the site's CSP.

- A folder asked for without its closing slash (`/tags/斜杠`, `/e2e-folder`): the page sends the
  reader on to the folder when there is one (the edge cannot tell a folder from a post's address
  without its extension), and stays a 404 when there is none.
- A page that is not there offers a search for the last part of its address: a section page goes
  when its last current post leaves the front pages while older posts still link to it, and the
  search finds them. The address is anyone's to write, so it is shown as text, never as markup.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from newsdrop.local.inprocess import InProcessPipeline
from tests.e2e.conftest import DevStack
from tests.support.search import found_documents

POST = """---
title: "没有斜杠 no slash"
date: 2024-06-06 10:00:00
categories: e2e-folder
tags: [斜杠, 09869.HK]
---

正文。
"""
KEY = "_posts/2024-06-06-no-slash.md"
GONE_TAG = "旧标签"  # no post has it as a tag; the post below mentions it
MENTIONS = f"""---
title: "提到{GONE_TAG}的消息"
date: 2024-06-07 10:00:00
categories: e2e-folder
---

这条消息提到{GONE_TAG}。
"""
MENTIONS_KEY = "_posts/2024-06-07-mentions-a-gone-tag.md"


def _open(browser: Any, url: str) -> tuple[Any, int]:
    page = browser.new_page()
    response = page.goto(url)
    assert response is not None
    return page, response.status


def _wait_until_searchable(dev_stack: DevStack, query: str, title: str, timeout: float = 30) -> None:
    """Index runs beside render: wait until the site's search index, read over HTTP as the
    browser reads it, finds the post, so the page's first search sees it."""

    def get(key: str) -> bytes | None:
        status, _, body = dev_stack.get("/" + key)
        return body.encode() if status == 200 else None

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            found = [document.get("t") for document in found_documents(get, query)]
        except (FileNotFoundError, TypeError, ValueError):  # no manifest yet, or a file a compaction replaced
            found = []
        if title in found:
            return
        time.sleep(0.2)
    raise AssertionError(f"the search index did not find {title!r} for {query!r} within {timeout}s")


def _suggestion(page: Any) -> tuple[str, str]:
    """The offered search's text and address, once the page shows it."""
    page.wait_for_selector("#suggest a[href]", state="visible", timeout=10_000)
    link = page.locator("#suggest a")
    return link.inner_text(), str(link.get_attribute("href"))


def test_a_folder_without_its_slash_leads_to_the_folder(dev_stack: DevStack, browser: Any) -> None:
    dev_stack.s3().put_object(Bucket="newsdrop-source", Key=KEY, Body=POST.encode())
    dev_stack.wait_for("/tags/%E6%96%9C%E6%9D%A0/", lambda s, b: s == 200 and "no slash" in b)
    dev_stack.wait_for("/e2e-folder/", lambda s, b: s == 200 and "no slash" in b)
    dev_stack.wait_for("/tags/09869.HK/", lambda s, b: s == 200 and "no slash" in b)
    site = dev_stack.site.rstrip("/")
    folders = (
        ("/tags/%E6%96%9C%E6%9D%A0", "标签：斜杠"),
        ("/e2e-folder", "分类：e2e-folder"),
        ("/tags/09869.HK", "标签：09869.HK"),  # a dot in a folder's name: asked for all the same
    )
    for asked, heading in folders:
        page, status = _open(browser, site + asked)
        try:
            assert status == 404  # what the edge answers; the page then finds the folder
            # Waited for in Python (a predicate evaluated in the page is JavaScript that the CSP, no
            # eval, refuses), until the new address is committed; the folder's page is then waited
            # for by its content, not by its load event.
            page.wait_for_url(lambda url: urlsplit(url).path.endswith("/"), wait_until="commit", timeout=30_000)
            assert urlsplit(page.url).path == asked + "/"
            page.wait_for_selector(f"main:has-text('{heading}')", timeout=30_000)
            assert "no slash" in page.inner_text("main")
        finally:
            page.close()


def test_no_folder_stays_a_404_and_offers_a_search(dev_stack: DevStack, browser: Any) -> None:
    page, status = _open(browser, dev_stack.site.rstrip("/") + "/no-such-folder")
    try:
        assert status == 404
        # The page asks once for the folder, and offers the search once the answer is no.
        assert _suggestion(page) == ("no-such-folder", "/search/?q=no-such-folder")
        assert page.evaluate("location.pathname") == "/no-such-folder"
        assert "404" in page.inner_text("main")
    finally:
        page.close()


def test_a_missing_section_page_leads_to_a_search_that_finds_its_posts(dev_stack: DevStack, browser: Any) -> None:
    dev_stack.s3().put_object(Bucket="newsdrop-source", Key=MENTIONS_KEY, Body=MENTIONS.encode())
    dev_stack.wait_for("/e2e-folder/", lambda s, b: s == 200 and f"提到{GONE_TAG}" in b)
    _wait_until_searchable(dev_stack, GONE_TAG, f"提到{GONE_TAG}的消息")
    page, status = _open(browser, dev_stack.site.rstrip("/") + "/tags/" + quote(GONE_TAG) + "/")
    try:
        assert status == 404
        text, href = _suggestion(page)
        assert (text, href) == (GONE_TAG, "/search/?q=" + quote(GONE_TAG))
        page.click("#suggest a")
        page.wait_for_url("**/search/?q=*", timeout=10_000)
        assert page.input_value("#q") == GONE_TAG
        page.wait_for_selector(f"#results a:has-text('提到{GONE_TAG}的消息')", timeout=15_000)
    finally:
        page.close()


def test_the_offered_search_shows_the_address_as_text(dev_stack: DevStack, browser: Any) -> None:
    hostile = "<img src=x onerror=\"document.title='pwned'\">"
    page, status = _open(browser, dev_stack.site.rstrip("/") + "/tags/" + quote(hostile) + "/")
    try:
        assert status == 404
        text, href = _suggestion(page)
        assert text == hostile
        assert href == "/search/?q=" + quote(hostile, safe="!~*'()")  # as encodeURIComponent writes it
        assert page.locator("main img").count() == 0
        assert page.title() != "pwned"
    finally:
        page.close()


def test_an_address_starting_with_two_slashes_never_leads_to_another_host(browser: Any) -> None:
    # `//other.test/x` is a path of this site, but `//other.test/x/` given to fetch() or to location
    # as it is would be another host's address: the page would ask it, and follow it there if it
    # answered. The site's CSP would stop the asking; the page is served here without the CSP, as a
    # copy of the site elsewhere might be, so the page's script alone must keep to the site.
    pipeline = InProcessPipeline()
    pipeline.upload(KEY, POST.encode())
    pipeline.drain()
    objects = pipeline.site.objects
    asked: list[str] = []

    def serve(route: Any) -> None:
        url = urlsplit(route.request.url)
        asked.append(route.request.url)
        if url.hostname != "site.test":
            route.fulfill(status=200, headers={"Access-Control-Allow-Origin": "*"}, body="another host")
        elif (blob := objects.get(unquote(url.path.lstrip("/")))) is not None:
            route.fulfill(status=200, body=blob.body, content_type=blob.content_type)
        else:
            route.fulfill(status=404, body=objects["404.html"].body, content_type="text/html; charset=utf-8")

    page = browser.new_page()
    page.route("**/*", serve)
    page.goto("http://site.test//other.test/e2e-folder")
    assert _suggestion(page)[0] == "e2e-folder"  # no folder there: it offers a search instead
    assert urlsplit(page.url).hostname == "site.test"
    assert [u for u in asked if urlsplit(u).hostname != "site.test"] == []
    page.close()
