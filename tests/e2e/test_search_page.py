"""The search page in headless Chromium, against a site built in-process and served like CloudFront."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from playwright.sync_api import expect

from newsdrop.local import template as cfn
from newsdrop.local.inprocess import InProcessPipeline
from newsdrop.local.siteserver import SiteServer, security_headers
from newsdrop.local.sources import source_files
from tests.conftest import ROOT, SAMPLES

EXTRA = {
    "_posts/2024-05-23-byd.md": '---\ntitle: "比亚迪（002594）发布新车型"\ndate: 2024-05-23 10:00:00\n'
    "categories: markets\ntags: 滚动新闻\n---\n比亚迪今日发布新车型，股价上涨。\n",
    "_posts/2024-05-23-nio.md": '---\ntitle: "蔚来汽车交付量创新高"\ndate: 2024-05-23 11:00:00\n'
    "categories: markets\ntags: 滚动新闻\n---\n蔚来五月交付量创新高。Deliveries hit a record.\n",
}


@pytest.fixture
def built() -> Iterator[tuple[InProcessPipeline, str]]:
    pipeline = InProcessPipeline()
    for key, path in source_files(SAMPLES / "site"):
        pipeline.upload(key, path.read_bytes())
    for key, text in EXTRA.items():
        pipeline.upload(key, text.encode())
    pipeline.drain()
    headers = security_headers(cfn.load(ROOT / "template.yaml"))
    server = SiteServer(pipeline.site, "127.0.0.1", 0, headers)
    server.start()
    yield pipeline, f"http://127.0.0.1:{server.port}"
    server.stop()


def results(page: Any, *, expect_text: str = "结果") -> list[str]:
    # Locator waits run in Playwright's own world, so the page's CSP (no eval) does not get in the way.
    expect(page.locator("#status")).to_contain_text(expect_text)
    return [a.get_attribute("href") for a in page.locator("#results a").all()]


def test_queries_typed_into_the_search_page(built: tuple[InProcessPipeline, str], browser: Any) -> None:
    _pipeline, site = built
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)

    # The query comes from the address, so a search can be linked.
    page.goto(f"{site}/search/?q={quote('北向资金')}")
    assert results(page) == ["/markets/2024/05/20/northbound-flows.html"]
    assert page.locator("#results mark").first.inner_text() == "北向资金"

    # Typing: a one-character query, a stock code, an English word, mixed text.
    for query, expected in [
        ("蔚", {"/markets/2024/05/23/nio.html"}),
        ("002594", {"/markets/2024/05/23/byd.html"}),
        ("600519", {"/markets/2024/05/20/northbound-flows.html"}),
        ("deliveries", {"/markets/2024/05/23/nio.html"}),
        ("滚动新闻", set()),  # a tag, not in any title or text
        ("央行 逆回购", {"/macro/2024/05/21/central-bank.html"}),
    ]:
        page.fill("#q", query)
        found = results(page, expect_text="结果" if expected else "没有找到")
        assert set(found) == expected, query
        assert f"q={quote(query).replace('%20', '+')}" in page.url or f"q={quote(query)}" in page.url

    # Clicking a result opens the post.
    page.fill("#q", "比亚迪")
    results(page)
    page.locator("#results a").first.click()
    page.wait_for_load_state()
    assert page.url.endswith("/markets/2024/05/23/byd.html")
    assert errors == []
    page.close()


def test_a_deleted_post_is_gone_from_search(built: tuple[InProcessPipeline, str], browser: Any) -> None:
    pipeline, site = built
    pipeline.delete("_posts/2024-05-23-nio.md")
    pipeline.drain()
    page = browser.new_page()
    page.goto(f"{site}/search/?q={quote('蔚来')}")
    assert results(page, expect_text="没有找到") == []
    page.goto(f"{site}/search/?q={quote('比亚迪')}")
    assert results(page) == ["/markets/2024/05/23/byd.html"]
    page.close()


def test_search_page_is_served_with_a_csp_and_no_inline_script(
    built: tuple[InProcessPipeline, str], browser: Any
) -> None:
    _, site = built
    page = browser.new_page()
    response = page.goto(f"{site}/search/")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    inline = page.evaluate("Array.from(document.scripts).filter(s => !s.src).length")
    assert inline == 0
    page.close()
