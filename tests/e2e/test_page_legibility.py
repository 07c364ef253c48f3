"""What a reader can read, in headless Chromium, in the light and the dark scheme and on a phone:
text and controls stand out from what they sit on (WCAG AA: 4.5:1 for text, 3:1 for a control's
edge), a table of prices is never broken inside a number, a link in a post is more than a colour,
and raw HTML wider than a phone scrolls inside the post rather than being cut off."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from playwright.sync_api import expect

from newsdrop.local.inprocess import InProcessPipeline
from tests.e2e.test_search_page import serving

# The contrast of two CSS colours, WCAG's formula; the backdrop of an element is the first
# ancestor-or-self with a background that is not transparent.
CONTRAST = """
(element, [foreground, edge]) => {
  const rgb = (text) => text.match(/[\\d.]+/g).slice(0, 4).map(Number);
  const opaque = (text) => { const c = rgb(text); return c.length < 4 || c[3] > 0; };
  const luminance = (text) => {
    const [r, g, b] = rgb(text).slice(0, 3).map((v) => {
      v /= 255;
      return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  let backdrop = edge ? element.parentElement : element;
  while (backdrop && !opaque(getComputedStyle(backdrop).backgroundColor)) backdrop = backdrop.parentElement;
  const behind = backdrop ? getComputedStyle(backdrop).backgroundColor : "rgb(255, 255, 255)";
  const front = getComputedStyle(element)[foreground];
  const [a, b] = [luminance(front), luminance(behind)].sort((x, y) => y - x);
  return (a + 0.05) / (b + 0.05);
}
"""

TABLE = """| 代码 | 名称 | 收盘价 | 涨跌幅 | 成交额(亿) | 换手率 |
|---|---|---|---|---|---|
| 600519 | 贵州茅台 | 1,712.35 | +1.23% | 58.61 | 0.27% |
| 300750 | 宁德时代 | 187.20 | -0.85% | 42.17 | 0.51% |
"""
POSTS = {
    "_posts/2024-05-20-table.md": "---\ntitle: 沪深两市收盘行情\ndate: 2024-05-20 15:05:00 +0800\ncategories: markets\n"
    "tags: 行情\n---\n两市成交额小幅回落，[详见公告](https://example.com/notice)。\n\n" + TABLE,
    "_posts/2024-05-20-wide.md": "---\ntitle: 宽版图表\ndate: 2024-05-20 16:00:00 +0800\ncategories: markets\n---\n"
    '<div style="width:800px">图表说明：横轴为交易日，纵轴为成交额。</div>\n',
}
# Enough posts that match one word for the search page to offer more results than its first page.
POSTS |= {
    f"_posts/2024-05-21-note-{n:02d}.md": f"---\ntitle: 行情快讯 第{n}号\ndate: 2024-05-21 09:{n:02d}:00 +0800\n"
    f"categories: markets\n---\n沪深两市行情快讯，第{n}号。\n"
    for n in range(25)
}


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    pipeline = InProcessPipeline()
    for key, text in POSTS.items():
        pipeline.upload(key, text.encode())
    pipeline.drain()
    assert pipeline.rejections == []
    with serving(pipeline) as address:
        yield address


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_text_and_controls_stand_out_in_either_scheme(browser: Any, site: str, scheme: str) -> None:
    page = browser.new_page(color_scheme=scheme, viewport={"width": 1000, "height": 800})
    page.goto(f"{site}/search/?q={quote('行情')}")
    more = page.locator("#more")
    expect(more).to_be_visible()
    assert more.evaluate(CONTRAST, ["color", False]) >= 4.5
    assert more.evaluate(CONTRAST, ["borderTopColor", True]) >= 3
    for field in ("#q", ".searchbox input"):
        assert page.locator(field).evaluate(CONTRAST, ["color", False]) >= 4.5, field
        assert page.locator(field).evaluate(CONTRAST, ["borderTopColor", True]) >= 3, field
    # The words found, highlighted in titles and excerpts.
    marks = page.locator("#results mark")
    assert marks.count() >= 2
    for n in range(marks.count()):
        assert marks.nth(n).evaluate(CONTRAST, ["color", False]) >= 4.5, marks.nth(n).evaluate("m => m.outerHTML")
    page.close()


def test_a_link_in_a_post_is_underlined(browser: Any, site: str) -> None:
    page = browser.new_page()
    page.goto(f"{site}/markets/2024/05/20/table.html")
    link = page.locator(".post .body a")
    assert "underline" in link.evaluate("a => getComputedStyle(a).textDecorationLine")
    page.close()


def test_a_table_of_prices_on_a_phone_scrolls_and_keeps_each_number_whole(browser: Any, site: str) -> None:
    page = browser.new_page(viewport={"width": 360, "height": 640})
    page.goto(f"{site}/markets/2024/05/20/table.html")
    for number in ("1,712.35", "+1.23%", "600519", "0.27%"):
        cell = page.locator(".post .body td", has_text=number).first
        # One line box for the cell's text: a number broken across lines has two.
        lines = cell.evaluate(
            "td => { const r = document.createRange(); r.selectNodeContents(td); return r.getClientRects().length; }"
        )
        assert lines == 1, number
    table = page.locator(".post .body table")
    assert table.evaluate("t => t.scrollWidth > t.clientWidth")  # wider than the phone: it scrolls
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    page.close()


def test_raw_html_wider_than_a_phone_scrolls_inside_the_post(browser: Any, site: str) -> None:
    page = browser.new_page(viewport={"width": 360, "height": 640})
    page.goto(f"{site}/markets/2024/05/20/wide.html")
    body = page.locator(".post .body")
    scrolled = body.evaluate("b => { b.scrollLeft = 200; return [b.scrollWidth > b.clientWidth, b.scrollLeft]; }")
    assert scrolled[0] and scrolled[1] > 0, scrolled
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    page.close()


def test_every_page_has_one_heading_of_its_own(browser: Any, site: str) -> None:
    page = browser.new_page()
    for path in ("/", "/markets/", "/2024/05/20/", "/archive/", "/search/", "/markets/2024/05/20/table.html"):
        page.goto(site + path)
        assert page.locator("h1").count() == 1, path
    page.close()
