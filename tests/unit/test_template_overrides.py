"""Template overrides (`_templates/<name>`): checked before they are accepted, then used for every page."""

from __future__ import annotations

import logging
from importlib import resources
from pathlib import Path

import pytest

from newsdrop import model, posts
from newsdrop.local.inprocess import InProcessPipeline
from newsdrop.model import SiteConfig
from newsdrop.ports import DEFAULT_MAX_POST_BYTES
from newsdrop.rendering import pages, samples, theme
from newsdrop.stages import parse
from newsdrop.stages.common import site_settings

GOOD = '{% extends "base.html" %}{% block content %}<h1 class="mine">{{ post.title }}</h1>{% endblock %}'


def test_an_override_replaces_the_theme_template_for_its_pages_only() -> None:
    config = SiteConfig(templates=(("post.html", posts.read_template("_templates/post.html", GOOD.encode())),))
    page = pages.post_body(samples.SAMPLE, config).decode()
    assert f'<h1 class="mine">{samples.SAMPLE.title}</h1>' in page
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


# Ten billion turns of loops over a string, which no sandbox hook sees turn by turn.
LOOPS = '{% set s = "x" * 100000 %}{% for a in s %}{% for b in s %}'


def test_an_override_that_runs_away_is_stopped_by_the_trial(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(theme, "TRIAL_SECONDS", 2)
    endless = LOOPS + "{% endfor %}{% endfor %}"
    with pytest.raises(posts.Rejected, match="took more than 2 s"):
        posts.read_template("_templates/archive.html", endless.encode())


def test_an_override_that_fills_memory_is_stopped_by_the_trial_s_limit() -> None:
    # Each sample page's output grows past the child's address space long before the time limit.
    flood = LOOPS + "x" * 64 + "{% endfor %}{% endfor %}"
    with pytest.raises(posts.Rejected, match="ran out of memory"):
        posts.read_template("_templates/archive.html", flood.encode())


def test_loops_over_ranges_are_bounded_per_page() -> None:
    endless = "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}"
    with pytest.raises(posts.Rejected, match="more than 1000000 range"):
        posts.read_template("_templates/archive.html", endless.encode())


@pytest.mark.parametrize(
    ("name", "body"),
    [
        # Fine for a short post, a page of gigabytes for a long one.
        ("post.html", "{% for c in post.text %}{{ post.body_html|safe }}{% endfor %}"),
        # Fine for a quiet day, hours for a busy one.
        ("listing.html", "{% for a in entries %}{% for b in entries %}{{ b.title }}{% endfor %}{% endfor %}"),
    ],
)
def test_an_override_whose_cost_grows_with_what_it_renders_is_stopped_by_the_trial(
    name: str, body: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The sample pages are as large as a site's may be, so the trial meets what the site's largest
    # pages would cost, instead of passing the override on to fail their renders again and again.
    monkeypatch.setattr(theme, "TRIAL_SECONDS", 5)
    source = '{% extends "base.html" %}{% block content %}' + body + "{% endblock %}"
    stopped = (
        r"ran out of memory|took more than 5 s|took longer than 5 s|a value of more than|values add up to more than"
    )
    with pytest.raises(posts.Rejected, match=stopped):
        posts.read_template(f"_templates/{name}", source.encode())


def test_the_sample_post_is_as_large_as_a_post_may_be() -> None:
    post = samples.SAMPLE
    assert len(post.title) == posts.MAX_TITLE_CHARS
    for labels in (post.categories, post.tags):
        assert len(labels) == posts.MAX_LABELS and all(len(label) == posts.MAX_LABEL_CHARS for label in labels[1:])
    assert len(post.text) == DEFAULT_MAX_POST_BYTES  # a post's text is at most as long as its file
    day = samples.sample_catalog().entries(model.DAY_PREFIX + post.date[:10], limit=pages.MAX_DAY_ENTRIES + 1)
    assert len(day) == pages.MAX_DAY_ENTRIES


def test_an_oversized_override_is_rejected_before_it_is_read() -> None:
    with pytest.raises(posts.Rejected, match="the limit is"):
        posts.read_template("_templates/post.html", b"x" * (posts.MAX_TEMPLATE_BYTES + 1))


def test_overrides_together_stay_within_the_settings_item() -> None:
    # The settings (with every override) are one DynamoDB item of at most 400 KB: the override that
    # would take them past the limit is rejected with its key and reason; the others stay in force.
    pipeline = InProcessPipeline()
    names = ["post.html", "home.html", "listing.html", "archive.html", "404.html", "search.html"]
    for name in names:
        own = (resources.files("newsdrop.rendering") / "templates" / name).read_text(encoding="utf-8")
        padded = own + "{# " + "x" * (posts.MAX_TEMPLATE_BYTES - len(own.encode()) - 6) + " #}"
        pipeline.upload(f"_templates/{name}", padded.encode())
        pipeline.drain()
    over = len(names) - 1  # five 64 KB overrides fit in the limit, six do not
    assert 5 * posts.MAX_TEMPLATE_BYTES < parse.MAX_SETTINGS_BYTES < 6 * posts.MAX_TEMPLATE_BYTES
    assert [key for key, _ in pipeline.rejections] == [f"_templates/{names[over]}"]
    assert "the limit is" in pipeline.rejections[0][1]
    config = site_settings(pipeline.catalog).config
    assert [name for name, _ in config.templates] == sorted(names[:over])
    assert parse.settings_bytes(config) <= parse.MAX_SETTINGS_BYTES


def test_the_theme_renders_alike_in_and_out_of_the_sandbox() -> None:
    # The theme alone renders outside the sandbox; a site with any override renders it inside.
    # An override that is the theme's own template must therefore change no page.
    own = (resources.files("newsdrop.rendering") / "templates" / "post.html").read_text()
    config = SiteConfig(templates=(("post.html", own),))
    assert theme.environment(config.templates) is not theme.environment()
    plain, sandboxed = SiteConfig(), config
    assert pages.post_body(samples.SAMPLE, sandboxed) == pages.post_body(samples.SAMPLE, plain)
    for name in ("404.html", "search.html"):
        assert theme.render(name, sandboxed) == theme.render(name, plain)
    catalog = samples.sample_catalog()
    for page in (pages.home_page, pages.feed):
        made = [page(catalog, c)() for c in (plain, sandboxed)]
        assert isinstance(made[0], bytes) and samples.SAMPLE.title.encode() in made[0]
        assert made[0] == made[1]


def test_newsdrop_build_applies_the_folder_s_template_overrides(tmp_path: Path) -> None:
    from newsdrop.cli.main import main

    src = tmp_path / "site"
    (src / "_posts").mkdir(parents=True)
    (src / "_templates").mkdir()
    (src / "_posts" / "2024-05-23-override.md").write_text("---\ntitle: 覆盖 Override\n---\nBody.\n", encoding="utf-8")
    (src / "_templates" / "post.html").write_text(GOOD, encoding="utf-8")
    assert main(["build", str(src), "--out", str(tmp_path / "out"), "--strict", "--jobs", "1"]) == 0
    page = (tmp_path / "out" / "2024" / "05" / "23" / "override.html").read_text(encoding="utf-8")
    assert '<h1 class="mine">覆盖 Override</h1>' in page


# Each passes the trial, whose sample site keeps the default title, and runs away on the real site.
ON_THE_REAL_SITE = {
    "doubling": '{% set ns = namespace(s="x") %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}',
    "adding": '{% set ns = namespace(s="x") %}{% for i in range(64) %}{% set ns.s = ns.s + ns.s %}{% endfor %}',
    "replacing": '{% set s = "x" * 100000 %}{{ s | replace("x", s) }}',
    "formatting": '{{ "%0400000000d" | format(1) }}',
    "centring": '{{ "x" | center(400000000) }}',
    "ranges": "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}",
    "recursing": "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(60) }}",
    "looping": LOOPS + "{% endfor %}{% endfor %}",
}


@pytest.mark.parametrize("runaway", sorted(ON_THE_REAL_SITE))
def test_an_override_that_runs_away_on_the_real_site_leaves_the_page_to_the_theme(
    runaway: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(theme, "RENDER_SECONDS", 1.0)
    body = '{% if site.title != "newsdrop" %}' + ON_THE_REAL_SITE[runaway] + "{% endif %}"
    source = (
        '{% extends "base.html" %}{% block content %}' + body + '<h1 class="mine">{{ post.title }}</h1>{% endblock %}'
    )
    pipeline = InProcessPipeline()
    pipeline.upload("_config.yml", "title: 我的网站\n".encode())
    pipeline.upload("_templates/post.html", source.encode())
    pipeline.drain()
    assert pipeline.rejections == []  # the trial passed it
    with caplog.at_level(logging.ERROR, logger=theme.log.name):
        pipeline.upload("_posts/2024-05-23-a.md", "---\ntitle: 标题 A\n---\n正文\n".encode())
        pipeline.drain()
    page = pipeline.site.objects["2024/05/23/a.html"].body.decode()
    assert "标题 A" in page and 'class="mine"' not in page  # the theme's own post page
    failures = [r.__dict__ for r in caplog.records if r.name == theme.log.name]
    assert [(f["template"], f["overrides"]) for f in failures] == [("post.html", ["post.html"])]
    assert pipeline.dead_letters == {}


@pytest.mark.parametrize(("rest", "asked"), [(60.0, 1), (0.0, 3)])
def test_overrides_out_of_time_rest_so_a_batch_is_not_spent_on_them(
    rest: float, asked: int, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """An override slow only on the real site costs its page's time once, not on every page: a
    batch at 5 s a page would outlast the function's timeout. After the rest, it is tried again."""
    from newsdrop.rendering import isolated

    monkeypatch.setattr(theme, "RENDER_SECONDS", 0.5)
    monkeypatch.setattr(isolated, "SLOW_REST_SECONDS", rest)
    isolated.stop()  # no rest left from another test
    body = '{% if site.title != "newsdrop" %}' + LOOPS + "{% endfor %}{% endfor %}{% endif %}"
    source = '{% extends "base.html" %}{% block content %}' + body + "<h1>{{ post.title }}</h1>{% endblock %}"
    pipeline = InProcessPipeline()
    pipeline.upload("_config.yml", "title: 我的网站\n".encode())
    pipeline.upload("_templates/post.html", source.encode())
    pipeline.drain()
    assert pipeline.rejections == []  # the trial passed it
    pages_asked: list[str] = []
    exchange = isolated._Child.exchange

    def counted(child: isolated._Child, request: bytes, seconds: float) -> bytes:
        answer = exchange(child, request, seconds)
        if answer[:1] == isolated.SLOW:
            pages_asked.append("slow")
        return answer

    monkeypatch.setattr(isolated._Child, "exchange", counted)
    with caplog.at_level(logging.ERROR, logger=theme.log.name):
        for n in range(3):
            pipeline.upload(f"_posts/2024-05-2{n}-a{n}.md", f"---\ntitle: 标题 {n}\n---\n正文\n".encode())
        pipeline.drain()
    isolated.stop()
    assert len(pages_asked) == asked  # post pages that ran out of time in the child
    for n in range(3):
        assert f"标题 {n}" in pipeline.site.objects[f"2024/05/2{n}/a{n}.html"].body.decode()  # the theme's
    failed = {r.__dict__["template"] for r in caplog.records if r.name == theme.log.name}
    assert failed == {"post.html"} if rest == 0 else "post.html" in failed
    assert pipeline.dead_letters == {}


def test_the_frame_of_every_page_follows_the_site_s_settings() -> None:
    # The frame (masthead, footer, head links) is rendered once per settings, not once per page.
    first = SiteConfig(title="一号站 First", baseurl="/one", author="Ann")
    second = SiteConfig(title="二号站 Second", baseurl="/two")
    for config, other in ((first, second), (second, first), (first, second)):
        page = pages.post_body(samples.SAMPLE, config).decode()
        assert f'<a class="brand" href="{config.baseurl}/">{config.title}</a>' in page
        assert f'href="{config.baseurl}/feed.xml"' in page and f'action="{config.baseurl}/search/"' in page
        assert other.title not in page and f'href="{other.baseurl}/' not in page
        assert ("&copy; Ann" in page) == bool(config.author)


FRAME = """{% macro head() %}<meta name="frame" content="mine">
{% endmacro %}{% macro masthead() %}<header class="mine">{{ site.title }}</header>
{% endmacro %}{% macro footer() %}<footer class="mine"></footer>
{% endmacro %}"""


def test_an_override_of_the_frame_frames_every_page() -> None:
    config = SiteConfig(title="Framed", templates=(("_frame.html", FRAME),))
    assert theme.check_template("_frame.html", FRAME) is None
    for page in (pages.post_body(samples.SAMPLE, config), theme.render("404.html", config)):
        text = page.decode()
        assert '<header class="mine">Framed</header>' in text and '<meta name="frame" content="mine">' in text
        assert 'class="masthead"' not in text
    # A frame without one of its parts frames no page: the trial says so.
    with pytest.raises(theme.TemplateProblem, match="footer"):
        theme.check_template("_frame.html", FRAME.split("{% macro footer")[0])


def test_a_frame_that_fails_on_the_real_site_leaves_pages_without_a_frame_to_their_overrides() -> None:
    # Passes the trial (whose sample site has no author) and fails on a site that has one: the pages
    # framed by it fall back to the theme, and robots.txt, a feed or a sitemap, which have no frame,
    # keep their own overrides.
    failing = FRAME.replace("{{ site.title }}", "{% if site.author %}{{ site.author.nope }}{% endif %}")
    assert theme.check_template("_frame.html", failing) is None
    robots = "User-agent: *\nDisallow: /private/\n"
    config = SiteConfig(author="Ann", templates=(("_frame.html", failing), ("robots.txt", robots)))
    assert theme.render("robots.txt", config).decode() == robots
    assert 'class="masthead"' in pages.post_body(samples.SAMPLE, config).decode()  # the theme's frame


def test_an_override_s_frame_counts_against_each_page_s_budget() -> None:
    # Each of the two spends more than half of a page's range() items: every page of the override
    # goes over, and is the theme's, the first as any later one.
    ranges = theme.MAX_RANGE_ITEMS // 2 // 100_000 + 1  # ranges of 100,000: the sandbox's own limit on one
    spend = f"{{% for _ in range({ranges}) %}}{{% set r = range(100000) %}}{{% endfor %}}"
    frame = FRAME.replace('<meta name="frame" content="mine">', spend)
    missing = f'{{% extends "base.html" %}}{{% block content %}}{spend}mine{{% endblock %}}'
    config = SiteConfig(templates=(("404.html", missing), ("_frame.html", frame)))
    plain = theme.render("404.html", SiteConfig())
    assert [theme.render("404.html", config) for _ in range(3)] == [plain] * 3
