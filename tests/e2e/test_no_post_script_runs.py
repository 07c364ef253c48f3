"""The hostile corpus in headless Chromium: the CSP headers are served and no script from a post runs.

The site is built in-process from tests/fixtures/hostile and served like CloudFront (the template's
security headers). Every payload in the corpus sets `window.__xss`, changes `document.title` or
calls `alert`; after each page has loaded (and its links and images were hovered), none has. A second
site trusts its authors' HTML (`trust_html: true`), so its script reaches the page unsanitised:
there the CSP alone must stop it. Requests to anywhere but the local server are aborted.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect

from newsdrop.local import template as cfn
from newsdrop.local.inprocess import InProcessPipeline
from newsdrop.local.siteserver import SiteServer, security_headers
from newsdrop.local.sources import source_files
from tests.conftest import ROOT

HOSTILE = ROOT / "tests" / "fixtures" / "hostile"
PAGES = [
    "/",
    "/markets/2024/05/01/owasp-body.html",
    "/markets/2024/05/01/mxss.html",
    "/markets/",
    "/tags/feed/",
    "/2024/05/01/",
    "/archive/",
    "/etc/passwd.html",
    "/404-no-such-page",
]
TRUSTED_POST = """---
title: "Trusted <script>window.__xss='title'</script>"
date: 2024-05-02 10:00:00
categories: markets
---
TRUSTED-BODY
<script>window.__xss = 'inline'; document.title = 'XSS-inline';</script>
<img src="/nowhere.png" onerror="window.__xss = 'onerror'">
<script src="https://evil.example/x.js"></script>
<a href="javascript:void(window.__xss='link')" id="js-link">click</a>
"""


def serve(pipeline: InProcessPipeline) -> tuple[SiteServer, str]:
    pipeline.drain()
    server = SiteServer(pipeline.site, "127.0.0.1", 0, security_headers(cfn.load(ROOT / "template.yaml")))
    server.start()
    return server, f"http://127.0.0.1:{server.port}"


@pytest.fixture(scope="module")
def hostile_site() -> Iterator[str]:
    pipeline = InProcessPipeline()
    for key, path in source_files(HOSTILE):
        pipeline.upload(key, path.read_bytes())
    server, url = serve(pipeline)
    yield url
    server.stop()


@pytest.fixture(scope="module")
def trusting_site() -> Iterator[str]:
    pipeline = InProcessPipeline()
    pipeline.upload("_config.yml", b"title: Trusting\ntrust_html: true\n")
    pipeline.drain()  # the config is read before the posts, as `newsdrop build` uploads it first
    pipeline.upload("_posts/2024-05-02-trusted.md", TRUSTED_POST.encode())
    server, url = serve(pipeline)
    yield url
    server.stop()


class Watched:
    """A page whose errors, dialogs and CSP violations are recorded; off-machine requests are aborted."""

    def __init__(self, browser: Any, site: str) -> None:
        self.context = browser.new_context()
        local = urlsplit(site).netloc
        self.context.route(
            "**/*", lambda route: route.continue_() if urlsplit(route.request.url).netloc == local else route.abort()
        )
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.console: list[str] = []
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.on("console", lambda msg: self.console.append(msg.text))
        self.page.on("dialog", lambda dialog: (self.dialogs.append(dialog.message), dialog.dismiss()))

    def visit(self, url: str) -> Any:
        response = self.page.goto(url)
        self.page.wait_for_load_state("load")
        for selector in ("a", "img", "div", "span"):  # onmouseover payloads
            for element in self.page.locator(f".body {selector}").all()[:50]:
                with contextlib.suppress(PlaywrightError):  # zero-sized or hidden: nothing to hover
                    element.hover(timeout=1000, force=True)
        return response

    def ran(self) -> tuple[Any, str]:
        return self.page.evaluate("() => window.__xss"), self.page.title()

    def close(self) -> None:
        self.context.close()


@pytest.mark.browser
@pytest.mark.parametrize("path", PAGES)
def test_no_script_from_a_post_runs(hostile_site: str, browser: Any, path: str) -> None:
    watched = Watched(browser, hostile_site)
    response = watched.visit(hostile_site + path)
    # The page itself, not a 404 page standing in for a post the pipeline refused.
    assert response.status == (404 if path == "/404-no-such-page" else 200), path
    headers = response.headers
    csp = headers["content-security-policy"]
    for directive in ("script-src 'self'", "object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'"):
        assert directive in csp
    assert "unsafe-inline" not in csp.split("script-src", 1)[1].split(";", 1)[0]
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["strict-transport-security"].startswith("max-age=")
    assert headers["referrer-policy"] == "strict-origin-when-cross-origin"
    assert "form-action 'self'" in csp
    xss, title = watched.ran()
    assert xss is None, f"{path}: a payload ran ({xss})"
    assert not title.startswith("XSS-"), title
    assert watched.dialogs == []
    assert watched.errors == []
    watched.close()


@pytest.mark.browser
def test_hostile_titles_in_search_results_stay_text(hostile_site: str, browser: Any) -> None:
    watched = Watched(browser, hostile_site)
    watched.visit(f"{hostile_site}/search/?q={quote('script')}")
    expect(watched.page.locator("#status")).to_contain_text("结果")
    expect(watched.page.locator("#results a").first).to_be_visible()
    assert watched.page.locator("#results script, #results img, #results svg").count() == 0
    xss, title = watched.ran()
    assert xss is None, f"a payload ran ({xss})"
    assert not title.startswith("XSS-"), title
    assert watched.dialogs == [] and watched.errors == []
    watched.close()


@pytest.mark.browser
def test_the_csp_stops_script_in_trusted_html(trusting_site: str, browser: Any) -> None:
    watched = Watched(browser, trusting_site)
    watched.visit(f"{trusting_site}/markets/2024/05/02/trusted.html")
    # Trusted HTML is published as written: the script is in the page...
    assert watched.page.locator(".body script").count() == 2
    expect(watched.page.locator(".body")).to_contain_text("TRUSTED-BODY")
    # ...and the browser refuses to run it, inline, as a handler, from another origin or as a link.
    assert watched.ran()[0] is None
    watched.page.locator("#js-link").click()
    assert watched.ran()[0] is None
    assert not watched.page.title().startswith("XSS-")
    assert watched.dialogs == [] and watched.errors == []
    assert any("Content Security Policy" in line for line in watched.console), watched.console
    watched.close()
