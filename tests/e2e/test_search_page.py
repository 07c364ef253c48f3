"""The search page in headless Chromium, against a site built in-process and served like CloudFront."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any
from urllib.parse import quote

import pytest
from playwright.sync_api import expect

from newsdrop import search
from newsdrop.local import template as cfn
from newsdrop.local.inprocess import InProcessPipeline
from newsdrop.local.siteserver import SiteServer, security_headers
from newsdrop.local.sources import source_files
from newsdrop.stages import index
from tests.conftest import ROOT, SAMPLES

EXTRA = {
    "_posts/2024-05-23-byd.md": '---\ntitle: "比亚迪（002594）发布新车型"\ndate: 2024-05-23 10:00:00\n'
    "categories: markets\ntags: 滚动新闻\n---\n比亚迪今日发布新车型，股价上涨。\n",
    "_posts/2024-05-23-nio.md": '---\ntitle: "蔚来汽车交付量创新高"\ndate: 2024-05-23 11:00:00\n'
    "categories: markets\ntags: 滚动新闻\n---\n蔚来五月交付量创新高。Deliveries hit a record.\n",
}


# Small enough that the sample posts end up in runs of several levels, short tokens apart, with
# a job under way (the schedule takes two files a run): the browser reads the index the way it
# reads a large site's.
TINY = index.Tuning(
    log_postings=40, level0_postings=60, fanout=2, shard_postings=40, short_postings=80, tick_steps=2, tick_rounds=1
)


def samples_one_at_a_time() -> InProcessPipeline:
    """The sample site, one post per batch, each followed by the scheduled compaction: the log
    flushes, levels fill and merge."""
    pipeline = InProcessPipeline()
    for key, path in source_files(SAMPLES / "site"):
        pipeline.upload(key, path.read_bytes())
        pipeline.drain()
        pipeline.compact()
    return pipeline


@contextmanager
def serving(pipeline: InProcessPipeline, base: str = "/") -> Iterator[str]:
    """The site bucket served as CloudFront serves it, with the template's security headers; its URL.
    `base`: where the site is mounted (its `baseurl`)."""
    headers = security_headers(cfn.load(ROOT / "template.yaml"))
    server = SiteServer(pipeline.site, "127.0.0.1", 0, headers, base=base)
    server.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.stop()


@pytest.fixture(params=["log", "runs"])
def built(request: pytest.FixtureRequest) -> Iterator[tuple[InProcessPipeline, str]]:
    with pytest.MonkeyPatch.context() as patch:
        if request.param == "runs":
            patch.setattr(index, "TUNING", TINY)
        pipeline = samples_one_at_a_time()
        for key, text in EXTRA.items():
            pipeline.upload(key, text.encode())
        pipeline.drain()
        if request.param == "runs":
            manifest = search.read_index(lambda key: pipeline.site.objects[key].body)
            assert len({r.level for r in manifest.runs}) >= 2 and any(r.short for r in manifest.runs)
        with serving(pipeline) as site:
            yield pipeline, site


def results(page: Any, *, expect_text: str = "结果") -> list[str]:
    # Locator waits run in Playwright's own world, so the page's CSP (no eval) does not get in the way.
    expect(page.locator("#status")).to_contain_text(expect_text)
    return [a.get_attribute("href") for a in page.locator("#results a").all()]


def test_queries_typed_into_the_search_page(built: tuple[InProcessPipeline, str], browser: Any) -> None:
    pipeline, site = built
    tagged = {entry.url for entry in pipeline.catalog.entries("tag:滚动新闻")}
    assert len(tagged) >= 3
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
        ("2594", {"/markets/2024/05/23/byd.html"}),  # the middle of a stock code
        ("600519", {"/markets/2024/05/20/northbound-flows.html"}),
        ("deliveries", {"/markets/2024/05/23/nio.html"}),
        ("liver", {"/markets/2024/05/23/nio.html"}),  # the middle of a word
        ("滚动新闻", tagged),  # a tag, in no title or text: the posts it lists
        ("央行 逆回购", {"/macro/2024/05/21/central-bank.html"}),
        # Quotes and the punctuation between clauses separate what is looked for, as spaces do.
        ('"央行"', {"/macro/2024/05/21/central-bank.html"}),
        ("“央行”", {"/macro/2024/05/21/central-bank.html"}),
        ("央行，逆回购", {"/macro/2024/05/21/central-bank.html"}),
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


def test_a_pasted_sentence_asks_for_the_files_search_py_reckons(
    built: tuple[InProcessPipeline, str], browser: Any
) -> None:
    pipeline, site = built
    sentence = "北向资金今日午后加速流入，全天净买入超过45亿元，其中沪股通净买入28亿元"
    assert len(search.query_tokens(sentence)) == search.MAX_QUERY_TOKENS
    asked: set[str] = set()
    page = browser.new_page()
    page.on("request", lambda r: asked.add(r.url.removeprefix(f"{site}/")) if "/search/run/" in r.url else None)
    page.goto(f"{site}/search/?q={quote(sentence)}")
    assert results(page) == ["/markets/2024/05/20/northbound-flows.html"]
    # The page and search.py (and so the bench's count of a query's downloads) ask for the same files.
    assert asked == set(search.files_read(lambda key: pipeline.site.objects[key].body, sentence))
    page.close()


def test_a_word_with_invisible_characters_inside_is_found_by_the_word(browser: Any) -> None:
    pipeline = InProcessPipeline()
    text = "今日北向\u200b资金净流入52亿元，Ali\u2060baba 与 İstanbul、ΠΑΣΟΚ 和 新能\ufeff源\u00ad汽车。"
    for key, body in (_post("copied", "从网页复制的文字", text, 0), _post("other", "其他", "行业景气度持续回升。", 1)):
        pipeline.upload(key, body)
    pipeline.drain()
    with serving(pipeline) as site:
        page = browser.new_page()
        for query in ("北向资金净流入", "alibaba", "istanbul", "İstanbul", "πασ", "新能源汽车"):
            page.goto(f"{site}/search/?q={quote(query)}")
            assert results(page) == ["/markets/2024/05/25/copied.html"], query
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


def test_pages_find_what_was_published_after_they_loaded_their_manifest(browser: Any) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(index, "TUNING", replace(TINY, deletes_per_post=50))
        pipeline = samples_one_at_a_time()
        with serving(pipeline) as site:
            page = browser.new_page()
            page.goto(f"{site}/search/?q={quote('央行')}")
            assert results(page) == ["/macro/2024/05/21/central-bank.html"]
            old = pipeline.site.objects[search.MANIFEST_KEY].body
            before = set(pipeline.site.objects)
            for n in range(12):
                title = f"央行公开市场操作 {n}"
                body = f'---\ntitle: "{title}"\ndate: 2024-05-24 10:{n:02d}:00\n---\n央行今日开展逆回购。\n'
                pipeline.upload(f"_posts/2024-05-24-more-{n}.md", body.encode())
                pipeline.drain()
                pipeline.compact()
            assert before - set(pipeline.site.objects), "compaction deleted none of the files"

            # A page left open asks for the manifest again when a new search starts more than
            # FRESH_MS (2,000 ms, static/search.js) after it last read it.
            page.wait_for_timeout(2100)
            page.fill("#q", "央行公开")
            assert len(results(page)) == 10  # the first screen of the twelve new posts

            # A page given an old manifest (a stale cache) asks for files compaction deleted: on the
            # 404 it reloads the manifest and searches again.
            stale = browser.new_page()
            served: list[str] = []

            def old_manifest_once(route: Any) -> None:
                if served:
                    route.continue_()
                else:
                    served.append(route.request.url)
                    route.fulfill(status=200, content_type="application/json", body=old)

            stale.route("**/search/manifest.json", old_manifest_once)
            statuses: list[int] = []
            stale.on("response", lambda response: statuses.append(response.status))
            stale.goto(f"{site}/search/?q={quote('央行公开')}")
            assert len(results(stale)) == 10
            assert served and 404 in statuses
            page.close()
            stale.close()


def test_results_link_into_a_site_that_lives_under_a_baseurl(browser: Any) -> None:
    pipeline = InProcessPipeline()
    pipeline.upload("_config.yml", b"title: Blog\nbaseurl: /blog\n")
    for key, text in EXTRA.items():
        pipeline.upload(key, text.encode())
    pipeline.drain()
    with serving(pipeline, base="/blog/") as site:
        page = browser.new_page()
        page.goto(f"{site}/blog/search/?q={quote('比亚迪')}")
        assert results(page) == ["/blog/markets/2024/05/23/byd.html"]
        page.locator("#results a").first.click()
        page.wait_for_load_state()
        assert page.url.endswith("/blog/markets/2024/05/23/byd.html")
        assert "比亚迪" in page.locator("h1").inner_text()
        page.close()


def test_results_link_to_paths_that_need_escaping(browser: Any) -> None:
    # A category `C#` and a permalink holding a space and a `%`: linked as they are, the `#` would
    # end the path and `%20` would be read as an escaped space; every page escapes them, and so
    # must the results.
    pipeline = InProcessPipeline()
    posts = {
        "_posts/2024-05-23-sharp.md": "title: Sharp 语言\ncategories: C#",
        "_posts/2024-05-23-percent.md": 'title: Percent 百分\npermalink: "/notes/100%25 sure.html"',
    }
    for key, front in posts.items():
        pipeline.upload(key, f"---\n{front}\ndate: 2024-05-23 10:00:00\n---\n正文。\n".encode())
    pipeline.drain()
    urls = {entry.title.split()[0]: entry.url for entry in pipeline.catalog.entries("all")}
    assert urls == {"Sharp": "/c#/2024/05/23/sharp.html", "Percent": "/notes/100% sure.html"}
    with serving(pipeline) as site:
        page = browser.new_page()
        for word, url in urls.items():
            page.goto(f"{site}/search/?q={word}")
            assert results(page) == [quote(url, safe="/:@!$&'()*+,;=-._~")]
            page.locator("#results a").first.click()
            page.wait_for_load_state()
            assert word in page.locator("h1").inner_text()
        page.close()


def _post(key: str, title: str, body: str, minute: int) -> tuple[str, bytes]:
    when = f"2024-05-25 10:{minute % 60:02d}:{minute // 60:02d}"
    text = f'---\ntitle: "{title}"\ndate: {when}\ncategories: markets\n---\n{body}\n'
    return f"_posts/2024-05-25-{key}.md", text.encode()


def test_matches_far_down_the_candidates_are_reached_and_more_results_come_on_request(browser: Any) -> None:
    pipeline = InProcessPipeline()
    # Sixty posts hold both of the query's tokens in their titles, which rank them first, but not
    # the query itself; three hold it, lower down.
    decoys = [_post(f"decoy-{n}", f"上调评级 维持买入 {n}", "研究报告摘要。", n) for n in range(60)]
    found = [_post(f"found-{n}", f"公司公告 {n}", "分析师给予评级买入。", 60 + n) for n in range(3)]
    reports = [_post(f"report-{n}", f"季度报告 {n}", "公司发布季度报告。", 70 + n) for n in range(25)]
    for key, body in decoys + found + reports:
        pipeline.upload(key, body)
    pipeline.drain()
    with serving(pipeline) as site:
        page = browser.new_page()
        page.goto(f"{site}/search/?q={quote('评级买入')}")
        # The first fifty candidates hold none: the page says so and offers to look further, not "no results".
        assert results(page, expect_text="还有 13 篇未查") == []
        more = page.locator("#more")
        expect(more).to_have_text("继续查找")
        more.click()
        assert sorted(results(page, expect_text="3 条结果")) == [
            f"/markets/2024/05/25/found-{n}.html" for n in range(3)
        ]
        expect(more).to_be_hidden()

        # Twenty-five matches: a screen of ten, then ten more on each request, until none are left.
        page.fill("#q", "季度报告")
        assert len(results(page, expect_text="10+ 条结果")) == 10
        expect(more).to_have_text("更多结果")
        # From the keyboard: the focus moves to the first new result, not back to the page's top.
        more.focus()
        page.keyboard.press("Enter")
        shown = results(page, expect_text="20+ 条结果")
        assert len(shown) == 20
        expect(page.locator("#results li").nth(10).locator("a")).to_be_focused()
        page.keyboard.press("Tab")
        expect(page.locator("#results li").nth(11).locator("a")).to_be_focused()
        more.click()
        shown = results(page, expect_text="25 条结果")
        assert sorted(shown) == sorted(f"/markets/2024/05/25/report-{n}.html" for n in range(25))
        expect(more).to_be_hidden()
        page.close()


def test_full_width_text_is_found_and_marked_where_it_stands(browser: Any) -> None:
    pipeline = InProcessPipeline()
    filler = "行业景气度持续回升，" * 20  # the match lies past the first 140 characters of the text
    key, body = _post("fullwidth", "寒武纪（６８８２５６）公告", f"{filler}公司与ＮＶＩＤＩＡ达成合作，ｶﾞｽ料金。", 0)
    pipeline.upload(key, body)
    pipeline.drain()
    with serving(pipeline) as site:
        page = browser.new_page()
        page.goto(f"{site}/search/?q=nvidia")
        assert results(page) == ["/markets/2024/05/25/fullwidth.html"]
        assert page.locator(".excerpt mark").all_inner_texts() == ["ＮＶＩＤＩＡ"]
        assert page.locator(".excerpt").inner_text().startswith("…")  # the snippet is taken around the match
        page.fill("#q", "688256")
        results(page)
        assert page.locator("#results a.title mark").all_inner_texts() == ["６８８２５６"]
        page.fill("#q", "ガス")  # half-width kana with its voiced mark, which NFKC joins into one character
        results(page)
        assert page.locator(".excerpt mark").all_inner_texts() == ["ｶﾞｽ"]
        page.close()


def test_an_earlier_query_that_answers_late_leaves_the_later_one_s_results_alone(
    built: tuple[InProcessPipeline, str], browser: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import re
    import time

    pipeline, site = built
    page = browser.new_page()
    page.goto(f"{site}/search/?q={quote('比亚迪')}")
    results(page)  # the manifest and the files 比亚迪 needs are at hand
    # The server answers late what `d` needs and 比亚迪 has at hand: the files of short tokens (in
    # runs) and the documents (from the log too).
    slow, get = re.compile(r"search/run/[^/]+/s\d+\.json$|search/doc/\d+\.json$"), pipeline.site.get
    delayed: list[str] = []

    def late(key: str, *args: Any, **kwargs: Any) -> Any:
        if slow.search(key):
            delayed.append(key)
            time.sleep(1.5)
        return get(key, *args, **kwargs)

    monkeypatch.setattr(pipeline.site, "get", late)
    page.fill("#q", "d")
    page.wait_for_timeout(400)  # its search has started and waits for its files
    page.fill("#q", "比亚迪")
    assert results(page) == ["/markets/2024/05/23/byd.html"]
    page.wait_for_timeout(2500)  # `d`'s files have come, and its search has answered
    expect(page.locator("#status")).to_have_text("1 条结果")
    assert [a.get_attribute("href") for a in page.locator("#results a").all()] == ["/markets/2024/05/23/byd.html"]
    assert delayed, "nothing `d` asked for was answered late: the test raced nothing"
    page.close()


def test_a_query_of_symbols_alone_says_what_can_be_searched(built: tuple[InProcessPipeline, str], browser: Any) -> None:
    _pipeline, site = built
    page = browser.new_page()
    for query in ("%", "——", "📈", "？", "！！！", '"', "]]>"):
        page.goto(f"{site}/search/?q={quote(query)}")
        expect(page.locator("#status")).to_contain_text("标点和符号不能单独搜索")
        assert page.locator("#results li").count() == 0
    page.close()


def test_a_query_is_searched_once_the_input_method_commits_it(
    built: tuple[InProcessPipeline, str], browser: Any
) -> None:
    _pipeline, site = built
    page = browser.new_page()
    page.goto(f"{site}/search/")
    page.locator("#q").focus()
    ime = page.context.new_cdp_session(page)
    searched: list[str] = []  # the index's files asked for
    page.on("request", lambda request: searched.append(request.url) if request.url.endswith(".json") else None)
    for pinyin in ("b", "bei", "bei'xiang"):  # composing: the text is not the query yet
        end = len(pinyin)
        ime.send("Input.imeSetComposition", {"text": pinyin, "selectionStart": end, "selectionEnd": end})
    page.wait_for_timeout(500)  # longer than the page waits after typing before it searches
    assert searched == [] and "q=" not in page.url and page.locator("#results li").count() == 0
    assert page.locator("#status").inner_text() == ""
    ime.send("Input.insertText", {"text": "北向资金"})  # the reader picks the characters
    assert results(page) == ["/markets/2024/05/20/northbound-flows.html"]
    assert f"q={quote('北向资金')}" in page.url
    page.close()


def test_a_snippet_never_starts_or_ends_inside_a_character(browser: Any) -> None:
    # Characters outside the BMP are two UTF-16 code units: a cut between them shows U+FFFD.
    pipeline = InProcessPipeline()
    for n, lead in enumerate(("😀" * 45 + "x", "😀" * 45 + "xy")):  # the cut 40 units before the match, odd and even
        key, body = _post(f"astral-{n}", f"表情 {n}", f"{lead}目标词{'𠮷' * 80}", n)
        pipeline.upload(key, body)
    pipeline.drain()
    with serving(pipeline) as site:
        page = browser.new_page()
        page.goto(f"{site}/search/?q={quote('目标词')}")
        assert len(results(page)) == 2
        for excerpt in page.locator(".excerpt").all_inner_texts():
            assert excerpt.startswith("…😀") and excerpt.endswith("𠮷…"), excerpt
            assert "\ufffd" not in excerpt and not any(0xD800 <= ord(ch) <= 0xDFFF for ch in excerpt)
        page.close()


def test_without_javascript_the_search_page_says_so_and_offers_the_archive(
    built: tuple[InProcessPipeline, str], browser: Any
) -> None:
    _pipeline, site = built
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(f"{site}/search/?q={quote('北向资金')}")
    notice = page.locator("main p.note").filter(has_text="JavaScript")
    expect(notice).to_be_visible()
    assert notice.locator("a").get_attribute("href") == "/archive/"
    context.close()


def test_a_number_with_a_point_is_looked_for_as_a_number(browser: Any) -> None:
    # Sixty posts hold 1 and 8, none 1.8; two hold 1.8%. Searched by the digits alone, the page would
    # check fifty posts and ask to look further; by the number, the two are the only candidates.
    pipeline = InProcessPipeline()
    decoys = [_post(f"rate-{n}", f"利率 {n}", f"报告期第1季度，利率为8%，编号{n}。", n) for n in range(60)]
    found = [_post(f"cut-{n}", f"降息 {n}", "贷款市场报价利率下调至1.8%，成交10,000手。", 60 + n) for n in range(2)]
    for key, body in decoys + found:
        pipeline.upload(key, body)
    pipeline.drain()
    with serving(pipeline) as site:
        page = browser.new_page()
        page.goto(f"{site}/search/?q={quote('1.8%')}")
        assert sorted(results(page, expect_text="2 条结果")) == [f"/markets/2024/05/25/cut-{n}.html" for n in range(2)]
        assert page.locator(".excerpt mark").first.inner_text() == "1.8%"
        page.fill("#q", "10,000手")  # a comma inside a number too; the comma between clauses still separates
        assert len(results(page, expect_text="2 条结果")) == 2
        page.close()
