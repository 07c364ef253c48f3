"""Hostile posts: markup in names, script in bodies, permalinks that try to leave the site.

Posts come from third-party feeds; whatever they contain, the published site runs none of
it, and no post writes outside the site root or over a page the site owns.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from newsdrop.adapters.memory import MemoryStore
from newsdrop.local.inprocess import InProcessPipeline
from tests.integration.sitecheck import NO_DIFF, diff, post, rejections, site, upload

XSS = "<script>alert(1)</script>"
SITE_URL = "http://localhost:8080"  # newsdrop's default `url` (no _config.yml in these tests)
OWN_SCRIPT = re.compile(r'<script src="/assets/search\.[0-9a-f]+\.js"')  # the search page's own script
NOT_FOUND_SCRIPT = re.compile(r'<script src="/assets/folder\.[0-9a-f]+\.js"')  # the 404 page's own script

GOOD_KEY = "_posts/2021-12-08-good-news.md"
GOOD = post("Good news", "2021-12-08 10:00:00", categories=["Markets"], tags=["daily"])

HOSTILE_BODY = """\
Safe text stays.

<script>alert('body-script')</script>

<img src="https://example.com/x.png" onerror="alert('img-onerror')" alt="chart">

<a href="javascript:alert('js-link')">click me</a>

<a href="JaVaScRiPt:alert('js-case')">case link</a>

<a href=" javascript:alert('js-space')">space link</a>

<a href="&#106;avascript:alert('js-entity')">entity link</a>

[markdown link](javascript:alert('md-link'))

<svg onload="alert('svg-onload')"><circle r="1"/></svg>

<iframe src="https://evil.example/frame"></iframe>

<p onclick="alert('p-onclick')" style="background:url(javascript:alert('css'))">styled</p>

<a href="https://example.com/ok">real link</a>
"""


class Markup(HTMLParser):
    """Collects what could run in a browser: script elements, handler attributes, script URLs."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.scripts: list[dict[str, str | None]] = []
        self.handlers: list[tuple[str, str]] = []
        self.script_urls: list[tuple[str, str, str]] = []
        self.frames: list[str] = []
        self.texts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script":
            self.scripts.append(dict(attrs))
        if tag in ("iframe", "frame", "object", "embed", "svg", "base", "meta") and ("http-equiv", "refresh") in attrs:
            self.frames.append("meta-refresh")
        elif tag in ("iframe", "frame", "object", "embed", "svg", "base"):
            self.frames.append(tag)
        for name, value in attrs:
            if name.startswith("on"):
                self.handlers.append((tag, name))
            if name in ("href", "src", "action", "formaction", "xlink:href") and value is not None:
                scheme = re.sub(r"[\s\x00-\x1f]", "", value).lower()
                if scheme.startswith(("javascript:", "vbscript:", "data:text/html")):
                    self.script_urls.append((tag, name, value))

    def handle_data(self, data: str) -> None:
        self.texts.append(data)


def markup_of(body: bytes) -> Markup:
    parser = Markup()
    parser.feed(body.decode())
    parser.close()
    return parser


def strings_in(data: Any) -> list[str]:
    if isinstance(data, str):
        return [data]
    if isinstance(data, dict):
        return [s for k, v in data.items() for s in [*strings_in(k), *strings_in(v)]]
    if isinstance(data, list):
        return [s for item in data for s in strings_in(item)]
    return []


def publish(pump: Any, files: dict[str, bytes]) -> dict[str, bytes]:
    for key, body in files.items():
        upload(key, body)
    pump.drain()
    assert pump.errors == []
    return site()


def assert_safe_site(objects: dict[str, bytes]) -> None:
    """No object runs script, every key stays inside the site."""
    for key, body in objects.items():
        assert not key.startswith("/"), key
        assert ".." not in key.split("/"), key
        assert "\\" not in key, key
        if key.endswith((".html", ".xml")):
            text = OWN_SCRIPT.sub("", body.decode())
            if key == "404.html":
                text = NOT_FOUND_SCRIPT.sub("", text)
            assert "<script" not in text.lower(), f"{key} has a raw <script"
        if key.endswith(".html"):
            found = markup_of(body)
            assert [s for s in found.scripts if not str(s.get("src", "")).startswith("/assets/")] == [], key
            assert found.handlers == [], f"{key}: event handler attributes {found.handlers}"
            assert found.script_urls == [], f"{key}: script URLs {found.script_urls}"
        if key.endswith(".xml"):
            ET.fromstring(body)  # well-formed: every name was escaped
        if key.endswith(".json"):
            json.loads(body)


def test_markup_in_title_category_and_tag_is_escaped_everywhere(moto_stack: Any) -> None:
    title = f'{XSS} "quoted" & <b>bold</b> headline'
    hostile = post(title, "2021-12-08 12:00:00", categories=[XSS], tags=[XSS], body="Plain body.")
    objects = publish(moto_stack, {GOOD_KEY: GOOD, "_posts/2021-12-08-xss-names.md": hostile})
    assert rejections(moto_stack) == []

    mentions = sorted(k for k, body in objects.items() if b"alert(1)" in body)
    # Every place a post's names appear: its page, home, feed, its category/tag/day listings, search.
    assert "index.html" in mentions and "feed.xml" in mentions
    assert any(k.startswith("tags/") for k in mentions), mentions
    assert any(k.startswith("search/doc/") for k in mentions), mentions
    assert any(k.endswith("/xss-names.html") for k in mentions), mentions
    assert_safe_site(objects)

    for key in mentions:
        body = objects[key]
        if key.endswith(".html"):
            # The visible text is the name exactly as written (escaped, not interpreted), or a
            # percent-encoded link to it.
            texts = "".join(markup_of(body).texts)
            assert XSS in texts or b"%3Cscript%3E" in body, f"{key} does not show the name as text"
        elif key.endswith(".xml"):
            texts = "".join(ET.fromstring(body).itertext())
            assert XSS in texts or "%3Cscript%3E" in texts, f"{key} does not carry the name as text"
        elif key.endswith(".json"):
            assert any(XSS in s for s in strings_in(json.loads(body))), f"{key} holds it outside a JSON string"
        else:
            pytest.fail(f"unexpected object mentions the hostile names: {key}")

    # The feed carries the title as text, so readers show it and run nothing.
    ns = {"a": "http://www.w3.org/2005/Atom"}
    titles = [e.findtext("a:title", namespaces=ns) for e in ET.fromstring(objects["feed.xml"]).findall("a:entry", ns)]
    assert title in titles


def test_scripts_handlers_and_script_links_are_removed_from_bodies(moto_stack: Any) -> None:
    hostile = post("Body test", "2021-12-08 12:00:00", categories=["Markets"], body=HOSTILE_BODY)
    objects = publish(moto_stack, {GOOD_KEY: GOOD, "_posts/2021-12-08-xss-body.md": hostile})
    assert rejections(moto_stack) == []
    page = objects["markets/2021/12/08/xss-body.html"]
    found = markup_of(page)
    text = page.decode()
    assert "Safe text stays." in text
    assert 'href="https://example.com/ok"' in text
    assert "click me" in text  # the link text survives, the script URL does not
    assert "body-script" not in text  # script content is dropped, not shown
    assert found.frames == [], found.frames
    assert "evil.example" not in text
    assert "url(javascript" not in text.lower()
    assert_safe_site(objects)


# Permalinks that try to leave the site or take over one of its own files.
HOSTILE_PERMALINKS = {
    "dotdot": "/../../../etc/passwd",
    "dotdot-html": "/news/../../../../escape.html",
    "encoded-dotdot": "/%2e%2e/%2e%2e/encoded.html",
    "encoded-slash": "/..%2f..%2f..%2fslash.html",
    "double-encoded": "/%252e%252e/%252e%252e/double.html",
    "absolute-url": "https://evil.example/pwn.html",
    "protocol-relative": "//evil.example/pwn.html",
    "backslashes": "'\\..\\..\\windows.html'",
    "mixed-slashes": "'/a/..\\..\\mixed.html'",
    "nul": '"/nul\\0byte.html"',
    "site-home": "/index.html",
    "site-root": "/./",
    "site-feed": "/feed.xml",
    "site-404": "/404.html",
    "site-asset": "/assets/style.css",
    "site-search": "/search/manifest.json",
}
OWN_PAGES = ("404.html", "robots.txt", "search/index.html")


@pytest.mark.parametrize("name", list(HOSTILE_PERMALINKS))
def test_hostile_permalink_is_rejected_or_stays_inside(name: str, moto_stack: Any) -> None:
    before = publish(moto_stack, {GOOD_KEY: GOOD})
    assert rejections(moto_stack) == []
    key = f"_posts/2021-12-08-perm-{name}.md"
    title = f"Permalink test {name}"
    objects = publish(
        moto_stack, {key: post(title, "2021-12-08 12:00:00", extra={"permalink": HOSTILE_PERMALINKS[name]})}
    )
    events = rejections(moto_stack)
    assert_safe_site(objects)
    if events:
        assert {e["key"] for e in events} == {key}
        assert str(events[0]["reason"]).strip(), "a rejection needs a reason"
        assert diff(objects, before) == NO_DIFF
        return
    # Accepted: its page is a new object inside the site, and the site's own files are untouched.
    new_pages = [k for k in set(objects) - set(before) if f"<h1>{title}</h1>".encode() in objects[k]]
    assert len(new_pages) == 1, sorted(set(objects) - set(before))
    for own in OWN_PAGES:
        assert objects[own] == before[own], f"{own} was overwritten"
    assert not any(k.startswith("assets/") and objects[k] != before.get(k) for k in objects)
    assert "最新消息" in objects["index.html"].decode()  # still the home page
    feed = ET.fromstring(objects["feed.xml"])
    assert feed.tag == "{http://www.w3.org/2005/Atom}feed"
    # Every link the site publishes for it points into the site.
    for loc in re.findall(rb"<loc>([^<]*)</loc>", b"".join(v for k, v in objects.items() if k.startswith("sitemap"))):
        assert loc.decode().startswith(SITE_URL + "/"), loc
    for href in re.findall(rb'<link href="([^"]*)"', objects["feed.xml"]):
        assert href.decode().startswith(SITE_URL + "/"), href


def test_hostile_permalinks_never_write_outside_the_build_folder(tmp_path: Path) -> None:
    # `newsdrop build` turns site keys into file paths: the same permalinks, on disk. The output is
    # two folders down, so that a write climbing one or two levels out lands where it is seen.
    out = tmp_path / "a" / "b" / "out"
    out.mkdir(parents=True)
    pipeline = InProcessPipeline(site=MemoryStore(mirror=out))
    for name, permalink in HOSTILE_PERMALINKS.items():
        pipeline.upload(
            f"_posts/2021-12-08-perm-{name}.md",
            post(f"Permalink test {name}", "2021-12-08 12:00:00", extra={"permalink": permalink}),
        )
    pipeline.drain()
    assert pipeline.dead_letters == {}
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert written
    assert all(p.resolve().is_relative_to(out.resolve()) for p in written)
    assert_safe_site({k: pipeline.site.get(k).body for k in pipeline.site.objects})
