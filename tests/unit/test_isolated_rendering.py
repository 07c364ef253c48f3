"""A site's template overrides render in a child process with hard limits (`rendering/isolated.py`):
the same pages as rendering them here, no credentials, a memory cap, and a page that kills or
stalls its child costs that page alone."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from newsdrop.model import SiteConfig
from newsdrop.rendering import isolated, pages, samples, theme

# An override that names what pages are given (the frame's parts, the post, the helpers), in every page.
FRAME = """{% macro head() %}<meta name="frame" content="{{ site.title }}">
{% endmacro %}{% macro masthead() %}<header class="mine">{{ site.title }} {{ link('/') }}</header>
{% endmacro %}{% macro footer() %}<footer class="mine">{{ asset('style.css') }}</footer>
{% endmacro %}"""
POST = """{% extends "base.html" %}{% block content %}<h1 class="mine">{{ post.title }}</h1>
{{ post.date | date('%Y') }} {{ categories | length }} {{ absolute(post.url) }}{% endblock %}"""
OVERRIDES = (("_frame.html", FRAME), ("post.html", POST))
THEME_404 = "Page Not Found"  # in the theme's own 404 page
MINE_404 = '{% extends "base.html" %}{% block content %}<h1 class="mine">{% endblock %}'
MINE = SiteConfig(templates=(("404.html", MINE_404),))


@pytest.fixture(autouse=True)
def _new_child() -> Iterator[None]:
    """Each test starts without a child, and leaves none behind."""
    isolated.stop()
    yield
    isolated.stop()


def _page_404(config: SiteConfig) -> str:
    return theme.render("404.html", config).decode()


def test_every_page_kind_is_the_same_rendered_in_the_child_as_here(monkeypatch: pytest.MonkeyPatch) -> None:
    # Each page the trial renders here (every kind, from the largest samples) is rendered again in the child.
    asked: list[tuple[str, SiteConfig, dict[str, Any], bytes]] = []
    render_override = theme.render_override

    def recording(template: str, config: SiteConfig, context: dict[str, Any], seconds: float) -> bytes:
        page = render_override(template, config, context, seconds)
        asked.append((template, config, context, page))
        return page

    monkeypatch.setattr(theme, "render_override", recording)
    monkeypatch.setattr(theme._budget, "trial", True)
    samples.render_all(SiteConfig(title="Isolated 隔离", templates=OVERRIDES))
    assert {"post.html", "home.html", "feed.xml", "listing.html", "sitemap.xml", "404.html"} <= {a[0] for a in asked}
    for template, config, context, page in asked:
        assert isolated.render(template, config, context, theme.RENDER_SECONDS) == page, template
    assert b'<header class="mine">' in asked[0][3]


def test_a_page_s_failure_in_the_child_leaves_it_to_the_theme(caplog: pytest.LogCaptureFixture) -> None:
    failing = '{% extends "base.html" %}{% block content %}{{ "x".encode("nope") }}<h1 class="mine">{% endblock %}'
    with caplog.at_level(logging.ERROR, logger=theme.log.name):
        page = _page_404(SiteConfig(templates=(("404.html", failing),)))
    assert THEME_404 in page and 'class="mine"' not in page
    assert [r.getMessage() for r in caplog.records] == [
        "a template override failed on 404.html (LookupError: unknown encoding: nope); "
        "the theme's own templates rendered it"
    ]
    pid = isolated.child_pid()
    assert pid is not None  # the child answered the failure and carries on
    assert 'class="mine"' in _page_404(MINE)
    assert isolated.child_pid() == pid


def test_the_child_holds_no_credentials_and_has_the_memory_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "do-not-leak")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "do-not-leak")
    monkeypatch.setenv("SITE_BUCKET", "do-not-leak")
    assert "do-not-leak" not in str(isolated.child_environment())
    assert 'class="mine"' in _page_404(MINE)
    pid = isolated.child_pid()
    assert pid is not None
    environ = Path(f"/proc/{pid}/environ").read_bytes()
    assert b"do-not-leak" not in environ and b"AWS_" not in environ
    limits = Path(f"/proc/{pid}/limits").read_text()
    (line,) = [line for line in limits.splitlines() if line.startswith("Max address space")]
    assert line.split()[3:5] == [str(isolated.MEMORY_LIMIT)] * 2


def test_a_child_that_dies_costs_its_page_and_the_next_page_gets_a_new_child(
    caplog: pytest.LogCaptureFixture,
) -> None:
    config = MINE
    assert 'class="mine"' in _page_404(config)
    first = isolated.child_pid()
    assert first is not None
    os.kill(first, signal.SIGKILL)
    with caplog.at_level(logging.ERROR, logger=theme.log.name):
        assert THEME_404 in _page_404(config)
    assert "the rendering process died (signal 9)" in caplog.text
    assert 'class="mine"' in _page_404(config)
    assert isolated.child_pid() not in (None, first)


def test_a_child_that_stops_answering_is_killed_at_its_page_s_deadline(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # What a loop in one C call looks like from here: no answer. The page waits its seconds and the grace.
    monkeypatch.setattr(theme, "RENDER_SECONDS", 0.2)
    monkeypatch.setattr(isolated, "GRACE_SECONDS", 0.3)
    config = MINE
    assert 'class="mine"' in _page_404(config)
    stalled = isolated.child_pid()
    assert stalled is not None
    os.kill(stalled, signal.SIGSTOP)
    try:
        with caplog.at_level(logging.ERROR, logger=theme.log.name):
            assert THEME_404 in _page_404(config)
        assert "rendering took longer than 0.5 s" in caplog.text
        with pytest.raises(ProcessLookupError):
            os.kill(stalled, 0)  # killed and reaped
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(stalled, signal.SIGKILL)
    assert 'class="mine"' in _page_404(config)


def test_pages_of_different_sites_rendered_from_threads_each_get_their_own_overrides() -> None:
    def site(n: int) -> SiteConfig:
        return SiteConfig(title=f"site {n}", templates=(("post.html", POST.replace("post.title", f"'mine {n}'")),))

    found: dict[int, list[bool]] = {}

    def render(n: int) -> None:
        found[n] = [f"mine {n}</h1>" in pages.post_body(samples.SAMPLE, site(n)).decode() for _ in range(5)]

    threads = [threading.Thread(target=render, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert found == {n: [True] * 5 for n in range(4)}
