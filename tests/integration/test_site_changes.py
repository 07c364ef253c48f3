"""Site-wide changes through the real handlers on moto: a new `_config.yml` or a template override
re-renders every page it affects, as a fan-out of bounded batches in lanes of its own, while a
single post still publishes at once."""

from __future__ import annotations

from typing import Any

from newsdrop.adapters.aws import DynamoCatalog
from newsdrop.local.stack import Names
from tests.integration.sitecheck import NO_DIFF, apply, diff, local_build, post, rejections, site, upload
from tests.support.redirects import broken_redirects, redirects, without_redirects

CONFIG = "title: Before\nurl: https://change.example\ntimezone: Asia/Shanghai\n"


def posts(n: int) -> dict[str, bytes]:
    return {
        f"_posts/2024-05-{1 + i % 28:02d}-item-{i}.md": post(
            f"Item {i}", f"2024-05-{1 + i % 28:02d} 10:00:00", categories=["desk"], tags=[f"t{i % 3}"]
        )
        for i in range(n)
    }


def publish(pump: Any, files: dict[str, bytes | None]) -> dict[str, bytes]:
    apply(pump, files)
    return site()


def post_pages(objects: dict[str, bytes]) -> dict[str, bytes]:
    return {k: v for k, v in objects.items() if k.startswith("desk/2024/")}


def test_a_new_title_reaches_every_page_through_a_finished_refresh(moto_stack: Any) -> None:
    files = {"_config.yml": CONFIG.encode(), **posts(25)}
    before = publish(moto_stack, files)
    assert len(post_pages(before)) == 25
    assert all(b"<title>" in body and b"Before" in body for body in post_pages(before).values())

    new_config = CONFIG.replace("Before", "After").encode()
    after = publish(moto_stack, {"_config.yml": new_config})
    assert rejections(moto_stack) == []
    assert [k for k, body in after.items() if k.endswith(".html") and b"Before" in body] == []
    assert all(b"After" in body for body in post_pages(after).values())
    assert diff(after, local_build({**files, "_config.yml": new_config})) == NO_DIFF
    job = DynamoCatalog(Names().table).refresh_job()
    assert job is not None
    assert (job.generation, job.listed, job.refreshed, job.complete) == (2, 25, 25, True)
    # The refresh ran in the bulk lanes: parse's refresh queue and render's bulk queue saw work.
    assert moto_stack.invocations["FanoutFunction"] >= 1


def test_a_template_override_rerenders_every_post_page_and_removing_it_restores_them(moto_stack: Any) -> None:
    files = {"_config.yml": CONFIG.encode(), **posts(12)}
    before = publish(moto_stack, files)
    override = (
        '{% extends "base.html" %}\n{% block content %}<article class="custom">'
        "<h1>{{ post.title }}</h1>{{ post.body_html | safe }}</article>{% endblock %}\n"
    )
    after = publish(moto_stack, {"_templates/post.html": override.encode()})
    assert rejections(moto_stack) == []
    pages = post_pages(after)
    assert len(pages) == 12
    assert all(b'<article class="custom">' in body for body in pages.values())
    assert after["index.html"] == before["index.html"]  # the home page does not use post.html

    restored = publish(moto_stack, {"_templates/post.html": None})
    assert post_pages(restored) == post_pages(before)


def test_a_broken_template_override_is_rejected_with_its_reason_and_changes_nothing(moto_stack: Any) -> None:
    before = publish(moto_stack, {"_config.yml": CONFIG.encode(), **posts(3)})
    cases = {
        "_templates/post.html": b"{% block content %}{{ post.title }",  # syntax
        "_templates/home.html": b"{{ no_such_value }}",  # a name the page does not have
        "_templates/listing.html": b"{{ ().__class__.__mro__ }}",  # the sandbox refuses internals
        "_templates/post.html ": b"x",  # not a template of the theme
        "_templates/base.html": b"{{ 'x' * 100000000 }}",  # a runaway page
    }
    for key, body in cases.items():
        upload(key, body)
    moto_stack.drain()
    reported = {r["key"]: r["reason"] for r in rejections(moto_stack)}
    assert set(reported) == set(cases)
    assert "post.html" in reported["_templates/post.html"]
    assert "no_such_value" in reported["_templates/home.html"]
    assert "not a template of the theme" in reported["_templates/post.html "]
    assert site() == before


def test_a_new_time_zone_moves_posts_without_an_offset_and_leaves_redirects(moto_stack: Any) -> None:
    late = post("Late news", "2024-05-20 23:30:00", categories=["desk"])  # 23:30 in Shanghai
    publish(moto_stack, {"_config.yml": CONFIG.encode(), "_posts/2024-05-20-late.md": late})
    utc = CONFIG.replace("Asia/Shanghai", "UTC").encode()
    after = publish(moto_stack, {"_config.yml": utc})
    assert "desk/2024/05/20/late.html" in after  # 23:30 without an offset: the 20th in either zone
    # 05:00 on the 21st in Shanghai is 21:00 on the 20th in UTC: published under UTC, on the 20th...
    early = post("Early news", "2024-05-21 05:00:00 +0800", categories=["desk"])
    assert "desk/2024/05/20/early.html" in publish(moto_stack, {"_posts/2024-05-21-early.md": early})
    # ... and on the 21st once the site is back in Shanghai, its old address redirecting there.
    back = publish(moto_stack, {"_config.yml": CONFIG.encode()})
    assert b"Early news" in back["desk/2024/05/21/early.html"]
    assert broken_redirects(back) == []
    assert redirects(back) == {"desk/2024/05/20/early.html": "/desk/2024/05/21/early.html"}
    expected = local_build({"_config.yml": CONFIG.encode(), "_posts/2024-05-20-late.md": late,
                            "_posts/2024-05-21-early.md": early})  # fmt: skip
    assert diff(without_redirects(back), expected)["different"] == []


def test_single_posts_publish_at_once_while_a_refresh_waits_in_its_lanes(moto_stack: Any) -> None:
    publish(moto_stack, {"_config.yml": CONFIG.encode(), **posts(30)})
    upload("_config.yml", CONFIG.replace("Before", "Busy").encode())
    upload("_posts/2024-06-01-breaking.md", post("Breaking", "2024-06-01 09:00:00", categories=["desk"]))
    # Only the live lanes run: parse's queue, the fan-out, render's and index's live queues.
    stack = moto_stack.stack
    live = [(f, s) for f, spec in stack.functions.items() for s in spec.sources if "Bulk" not in s.queue]
    live = [(f, s) for f, s in live if s.queue != "RefreshQueue"]
    for _ in range(5):
        for function, source in live:
            while moto_stack.step_source(function, source):
                pass
    objects = site()
    assert b"Breaking" in objects["desk/2024/06/01/breaking.html"]
    assert b"Breaking" in objects["index.html"]
    job = DynamoCatalog(Names().table).refresh_job()
    assert job is not None and job.generation == 2 and job.refreshed < job.listed == 31
    assert sum(b"Busy" in body for body in post_pages(objects).values()) < 30  # the refresh still waits
    moto_stack.drain()
    assert all(b"Busy" in body for body in post_pages(site()).values())
