"""What render reads before it writes: a new post's page and the static pages, without a HEAD.

Each HEAD saved is a request and a round trip less in every publish. Each guess must stay safe: a
page expected new that exists is replaced (and invalidated), and static pages gone from the site are
put back by the next change of the settings.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field

from newsdrop import events
from newsdrop.adapters.memory import MemoryStore
from newsdrop.local.inprocess import InProcessPipeline
from newsdrop.ports import Head, KnownHeads
from newsdrop.stages import render

PAGE = "news/2024/05/20/c.html"


@dataclass
class HeadsSeen(MemoryStore):
    heads: list[str] = field(default_factory=list)

    def head(self, key: str) -> Head | None:
        self.heads.append(key)
        return super().head(key)


def post(name: str, body: str = "正文。") -> tuple[str, bytes]:
    text = f"---\ntitle: {name}\ndate: 2024-05-20 09:00:00 +0800\ncategories: news\ntags: 市场\n---\n{body}\n"
    return f"_posts/2024-05-20-{name}.md", text.encode()


def publish(pipeline: InProcessPipeline, key: str, body: bytes) -> None:
    pipeline.upload(key, body)
    pipeline.drain()
    assert not pipeline.rejections


def started() -> tuple[InProcessPipeline, HeadsSeen]:
    site = HeadsSeen()
    pipeline = InProcessPipeline(site=site)
    for name in ("a", "b"):  # the theme in place, the day and its listings written
        publish(pipeline, *post(name))
    site.heads.clear()
    return pipeline, site


def test_a_new_post_into_a_day_with_posts_reads_no_head() -> None:
    pipeline, site = started()
    publish(pipeline, *post("c"))
    assert site.heads == []
    assert b"<h1" in site.objects[PAGE].body and "c" in site.objects[PAGE].body.decode()


def test_a_page_expected_new_that_the_site_holds_is_replaced_and_invalidated() -> None:
    pipeline, site = started()
    site.put(PAGE, b"left over from another system", content_type="text/html")
    invalidated: list[str] = []
    pipeline.ports.cdn.invalidate = invalidated.extend  # type: ignore[method-assign]
    publish(pipeline, *post("c"))
    assert site.heads == [PAGE]  # after the refused create
    assert b"left over" not in site.objects[PAGE].body
    assert invalidated == ["/" + PAGE]


def test_static_pages_gone_from_the_site_come_back_with_the_next_change_of_settings() -> None:
    pipeline, site = started()
    del site.objects["404.html"]
    publish(pipeline, *post("c"))  # known to this environment as written: not read
    assert "404.html" not in site.heads and "404.html" not in site.objects
    publish(pipeline, "_config.yml", b"title: Another title\n")
    assert "404.html" in site.heads and b"Another title" in site.objects["404.html"].body


def test_static_pages_gone_from_the_site_come_back_within_minutes_anyway() -> None:
    now = [0.0]
    site = HeadsSeen()
    pipeline = InProcessPipeline(site=site)
    pipeline.ports = dataclasses.replace(pipeline.ports, site_heads=KnownHeads(clock=lambda: now[0]))
    publish(pipeline, *post("a"))
    del site.objects["404.html"]
    now[0] += render.STATIC_TRUSTED - 1
    publish(pipeline, *post("b"))
    assert "404.html" not in site.objects  # trusted a while...
    now[0] += 2
    publish(pipeline, *post("c"))
    assert "404.html" in site.objects  # ... and no longer


def test_only_the_commit_that_makes_a_post_live_says_its_page_is_new() -> None:
    pipeline, _site = started()
    key, body = post("c")

    def created_after(change: Callable[[], None]) -> list[bool]:
        start = len(pipeline.bus.published)
        change()
        pipeline.drain()
        upserts = [e for e in pipeline.bus.published[start:] if e.detail_type == events.POST_UPSERTED]
        return [e.detail.get("created") is True for e in upserts if e.detail["key"] == key]

    assert created_after(lambda: pipeline.upload(key, body)) == [True]
    assert created_after(lambda: pipeline.upload(key, body.replace("正文".encode(), "更正".encode()))) == [False]
    assert created_after(lambda: pipeline.delete(key)) == []
    assert created_after(lambda: pipeline.upload(key, body)) == [True]
