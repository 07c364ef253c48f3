"""Template overrides (`_templates/<name>`): checked before they are accepted, then used for every page."""

from __future__ import annotations

import pytest

from newsdrop import posts
from newsdrop.model import SiteConfig
from newsdrop.rendering import pages, samples, theme

GOOD = '{% extends "base.html" %}{% block content %}<h1 class="mine">{{ post.title }}</h1>{% endblock %}'


def test_an_override_replaces_the_theme_template_for_its_pages_only() -> None:
    config = SiteConfig(templates=(("post.html", posts.read_template("_templates/post.html", GOOD.encode())),))
    page = pages.post_body(samples.SAMPLE, config).decode()
    assert '<h1 class="mine">样例 Sample</h1>' in page
    assert "<title>" in page  # base.html still frames it
    assert 'class="mine"' not in pages.post_body(samples.SAMPLE, SiteConfig()).decode()
    assert 'class="mine"' not in theme.render("404.html", config).decode()


@pytest.mark.parametrize(
    ("key", "body", "reason"),
    [
        ("_templates/post.html", "{% if %}", "post.html cannot be used"),
        ("_templates/feed.xml", "{{ entries.nope.deeper }}", "has no attribute .nope."),
        ("_templates/home.html", "{{ ''.__class__.__mro__[1].__subclasses__() }}", "unsafe"),
        ("_templates/base.html", "{{ 'x' * 1000000 }}", "repetition too large"),
        ("_templates/base.html", "{{ 10 ** 1000000 }}", "exponent too large"),
        ("_templates/custom.html", "hello", "not a template of the theme"),
        ("_templates/post.html", "\x00", "binary"),
    ],
)
def test_a_broken_override_is_rejected_with_a_reason(key: str, body: str, reason: str) -> None:
    with pytest.raises(posts.Rejected, match=reason):
        posts.read_template(key, body.encode())


def test_an_override_that_runs_away_is_stopped_by_the_trial(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(theme, "TRIAL_SECONDS", 2)
    endless = "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}"
    with pytest.raises(posts.Rejected, match="took more than 2 s"):
        posts.read_template("_templates/archive.html", endless.encode())


def test_an_oversized_override_is_rejected_before_it_is_read() -> None:
    with pytest.raises(posts.Rejected, match="the limit is"):
        posts.read_template("_templates/post.html", b"x" * (posts.MAX_TEMPLATE_BYTES + 1))
