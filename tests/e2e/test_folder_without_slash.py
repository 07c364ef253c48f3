"""A folder asked for without its closing slash (`/tags/斜杠`, `/e2e-folder`): the 404 page sends
the reader on to the folder when there is one (the edge cannot tell a folder from a post's
address without its extension), and stays a 404 when there is none. In headless Chromium, under
the site's CSP."""

from __future__ import annotations

from typing import Any

from tests.e2e.conftest import DevStack

POST = """---
title: "没有斜杠 no slash"
date: 2024-06-06 10:00:00
categories: e2e-folder
tags: [斜杠]
---

正文。
"""
KEY = "_posts/2024-06-06-no-slash.md"


def _open(browser: Any, url: str) -> tuple[Any, int]:
    page = browser.new_page()
    response = page.goto(url)
    assert response is not None
    return page, response.status


def test_a_folder_without_its_slash_leads_to_the_folder(dev_stack: DevStack, browser: Any) -> None:
    dev_stack.s3().put_object(Bucket="newsdrop-source", Key=KEY, Body=POST.encode())
    dev_stack.wait_for("/tags/%E6%96%9C%E6%9D%A0/", lambda s, b: s == 200 and "no slash" in b)
    dev_stack.wait_for("/e2e-folder/", lambda s, b: s == 200 and "no slash" in b)
    site = dev_stack.site.rstrip("/")
    for asked, heading in (("/tags/%E6%96%9C%E6%9D%A0", "标签：斜杠"), ("/e2e-folder", "分类：e2e-folder")):
        page, status = _open(browser, site + asked)
        try:
            assert status == 404  # what the edge answers; the page then finds the folder
            page.wait_for_function("location.pathname.endsWith('/')", timeout=10_000)
            assert page.evaluate("location.pathname") == asked + "/"
            assert heading in page.inner_text("main") and "no slash" in page.inner_text("main")
        finally:
            page.close()


def test_no_folder_stays_a_404(dev_stack: DevStack, browser: Any) -> None:
    page, status = _open(browser, dev_stack.site.rstrip("/") + "/no-such-folder")
    try:
        assert status == 404
        # The page asks once for the folder; give the answer time to arrive and be acted on.
        page.wait_for_load_state("networkidle")
        page.wait_for_timeout(300)
        assert page.evaluate("location.pathname") == "/no-such-folder"
        assert "404" in page.inner_text("main")
    finally:
        page.close()
