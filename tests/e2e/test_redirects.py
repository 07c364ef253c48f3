"""A post that moved: its old address, opened in headless Chromium under the site's CSP, lands on
the post at its new address (a meta refresh; no script is needed or allowed)."""

from __future__ import annotations

from typing import Any

from tests.e2e.conftest import DevStack

BEFORE = """---
title: "搬家的文章 moved post"
date: 2024-06-05 10:00:00
categories: e2e
permalink: /e2e/first-home.html
---

正文。
"""
KEY = "_posts/2024-06-05-moved.md"


def test_an_old_address_takes_the_reader_to_the_post(dev_stack: DevStack, browser: Any) -> None:
    s3 = dev_stack.s3()
    s3.put_object(Bucket="newsdrop-source", Key=KEY, Body=BEFORE.encode())
    dev_stack.wait_for("/e2e/first-home.html", lambda s, b: s == 200 and "moved post" in b)
    after = BEFORE.replace("/e2e/first-home.html", "/e2e/second-home.html")
    s3.put_object(Bucket="newsdrop-source", Key=KEY, Body=after.encode())
    dev_stack.wait_for("/e2e/second-home.html", lambda s, b: s == 200 and "moved post" in b)
    dev_stack.wait_for("/e2e/first-home.html", lambda s, b: s == 200 and "http-equiv" in b)

    page = browser.new_page()
    try:
        response = page.goto(dev_stack.site.rstrip("/") + "/e2e/first-home.html")
        assert response is not None
        assert "default-src 'self'" in response.headers["content-security-policy"]
        page.wait_for_url("**/e2e/second-home.html", timeout=10_000)
        assert "moved post" in page.inner_text("main")
    finally:
        page.close()
