"""A post's Markdown links go where their author meant, read by headless Chromium: Markdown writes a
link's URL percent-encoded as UTF-8, a host outside ASCII included, and the browser turns that
host into the name it looks up."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from newsdrop.local.inprocess import InProcessPipeline
from tests.e2e.test_search_page import serving

LINKS = '[例子](https://例子.测试/路径?q=1&r="2") [空格](<https://a.example/x y>)'
POST = f'---\ntitle: "链接"\ndate: 2024-05-20 10:00:00\ncategories: macro\n---\n{LINKS}\n'


def test_markdown_links_reach_the_address_written(browser: Any) -> None:
    pipeline = InProcessPipeline()
    pipeline.upload("_posts/2024-05-20-links.md", POST.encode())
    pipeline.drain()
    assert pipeline.rejections == []
    with serving(pipeline) as site:
        page = browser.new_page()
        page.goto(f"{site}/macro/2024/05/20/links.html")
        parts = page.evaluate(
            "[...document.querySelectorAll('.post .body a')]"
            ".map(a => [a.textContent, a.hostname, a.pathname, a.search])"
        )
        page.close()
    assert parts == [
        ["例子", "例子.测试".encode("idna").decode(), "/" + quote("路径"), "?q=1&r=" + quote('"2"')],
        ["空格", "a.example", "/x%20y", ""],
    ]
