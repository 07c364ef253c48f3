"""A post's inline styles stay inside the post's body, in headless Chromium: the sanitiser keeps
sizes and margins (the feed's posts use them), so the theme clips what they could paint over the
page's own title, date and links, and what could take their clicks."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from playwright.sync_api import expect

from newsdrop.local.inprocess import InProcessPipeline
from tests.e2e.test_search_page import serving

OVERLAY = (
    '<a href="https://evil.example/login" style="display:block;width:100vw;height:100vh;'
    'margin:-120px 0 0 0;background-color:#fff;font-size:40px">Session expired - sign in again</a>'
)
POST = f'---\ntitle: "央行公开市场操作"\ndate: 2024-05-20 10:00:00\ncategories: macro\n---\n{OVERLAY}\n'


def test_a_post_cannot_cover_the_page_or_take_its_clicks(browser: Any) -> None:
    pipeline = InProcessPipeline()
    pipeline.upload("_posts/2024-05-20-overlay.md", POST.encode())
    pipeline.drain()
    assert pipeline.rejections == []
    with serving(pipeline) as site:
        page = browser.new_page(viewport={"width": 1000, "height": 800})
        page.goto(f"{site}/macro/2024/05/20/overlay.html")
        assert page.locator(".post .body a").get_attribute("style")  # the style survived sanitising
        for selector in (".post h1", ".post .meta time", ".post .meta a.category"):
            box = page.locator(selector).bounding_box()
            assert box is not None, selector
            x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
            hit = page.evaluate(
                "([x, y]) => document.elementFromPoint(x, y).closest('a, h1, p, time')?.outerHTML", [x, y]
            )
            assert hit is not None and "evil.example" not in hit, selector
        page.close()


def test_long_unbroken_excerpts_do_not_widen_a_phone_s_page(browser: Any) -> None:
    address = "http://forex.example.com/news/11142,20211208220674209712345678901234567890.html"
    pipeline = InProcessPipeline()
    head = f'title: "外汇市场 {address}"\ndate: 2024-05-20 10:00:00\ncategories: macro\ntags: 外汇'
    post = f"---\n{head}\n---\n来源：{address}\n"
    pipeline.upload("_posts/2024-05-20-long.md", post.encode())
    pipeline.drain()
    with serving(pipeline) as site:
        page = browser.new_page(viewport={"width": 375, "height": 700})
        for path in ("/", "/macro/", f"/tags/{quote('外汇')}/", "/2024/05/20/", f"/search/?q={quote('外汇市场')}"):
            page.goto(site + path)
            expect(page.locator(".entries li").first).to_be_visible()
            widths = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
            assert widths[0] <= widths[1], (path, widths)
        page.close()
