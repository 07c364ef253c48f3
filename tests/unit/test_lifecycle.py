"""A post's phase over time, the revision order of catalog records, and the lifecycle on the
in-process pipeline with a controlled clock."""

from __future__ import annotations

import datetime as dt
import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from newsdrop import events, lifecycle, model
from newsdrop.clock import ManualClock
from newsdrop.lifecycle import Phase
from newsdrop.local.inprocess import InProcessPipeline
from newsdrop.model import Post, SiteConfig
from newsdrop.ports import generation_of, revision, source_sequencer

TZ = dt.timezone(dt.timedelta(hours=8))
DATE = dt.datetime(2024, 5, 20, 10, 0, tzinfo=TZ)


def a_post(*, published: bool = True, expires: dt.datetime | None = None) -> Post:
    return Post(
        key="_posts/2024-05-20-a.md",
        title="A",
        date=DATE.isoformat(),
        slug="a",
        url="/news/2024/05/20/a.html",
        categories=["news"],
        tags=["t"],
        published=published,
        expires=expires.isoformat() if expires else "",
    )


def next_change(post: Post, config: SiteConfig, now: dt.datetime) -> dt.datetime | None:
    return lifecycle.next_change(post, config, lifecycle.phase(post, config, now))


def test_phases_through_time_with_front_page_days() -> None:
    config = SiteConfig(front_page_days=3)
    post = a_post()
    assert lifecycle.phase(post, config, DATE - dt.timedelta(seconds=1)) is Phase.SCHEDULED
    assert lifecycle.phase(post, config, DATE) is Phase.FRONT
    assert lifecycle.phase(post, config, DATE + dt.timedelta(days=3) - dt.timedelta(seconds=1)) is Phase.FRONT
    assert lifecycle.phase(post, config, DATE + dt.timedelta(days=3)) is Phase.ARCHIVED
    assert next_change(post, config, DATE - dt.timedelta(hours=1)) == DATE
    assert next_change(post, config, DATE) == DATE + dt.timedelta(days=3)
    assert next_change(post, config, DATE + dt.timedelta(days=4)) is None


def test_without_expiry_a_post_stays_on_the_front_pages() -> None:
    post = a_post()
    far = DATE + dt.timedelta(days=3650)
    assert lifecycle.phase(post, SiteConfig(), far) is Phase.FRONT
    assert next_change(post, SiteConfig(), far) is None


def test_the_earlier_of_expires_and_front_page_days_wins() -> None:
    soon = DATE + dt.timedelta(hours=6)
    post = a_post(expires=soon)
    assert lifecycle.front_until(post, SiteConfig(front_page_days=3)) == soon
    assert lifecycle.front_until(a_post(expires=DATE + dt.timedelta(days=9)), SiteConfig(front_page_days=3)) == (
        DATE + dt.timedelta(days=3)
    )


def test_a_draft_never_changes_by_itself() -> None:
    post = a_post(published=False)
    for when in (DATE - dt.timedelta(days=1), DATE, DATE + dt.timedelta(days=10)):
        assert lifecycle.phase(post, SiteConfig(front_page_days=1), when) is Phase.DRAFT
        assert next_change(post, SiteConfig(front_page_days=1), when) is None


def test_lists_per_phase() -> None:
    post = a_post()
    assert lifecycle.lists(post, Phase.DRAFT) == lifecycle.lists(post, Phase.SCHEDULED) == []
    assert set(lifecycle.lists(post, Phase.FRONT)) == {model.ALL, model.HOME, "day:2024-05-20", "cat:news", "tag:t"}
    assert set(lifecycle.lists(post, Phase.ARCHIVED)) == {model.ALL, "day:2024-05-20"}


hexes = st.text(alphabet="0123456789ABCDEF", min_size=1, max_size=32).map(lambda s: s.rjust(32, "0"))
steps = st.tuples(st.integers(0, 10**9), st.sampled_from(list(Phase)))


@given(a=hexes, b=hexes, first=steps, second=steps)
def test_revisions_order_by_upload_then_settings_then_phase(
    a: str, b: str, first: tuple[int, Phase], second: tuple[int, Phase]
) -> None:
    left, right = revision(a, *first), revision(b, *second)
    assert (left < right) == ((a, *first) < (b, *second))
    assert source_sequencer(left) == a
    assert generation_of(left) == first[0]


def test_parse_messages_reads_schedules_and_refreshes() -> None:
    due = {"detail-type": "PostDue", "detail": events.due_detail("_posts/x.md", "R", DATE)}
    assert events.parse_messages(due) == [events.Due("_posts/x.md", "R", DATE)]
    refresh = {"detail-type": "RefreshRequested", "detail": {"generation": 3, "keys": ["_posts/a.md"]}}
    assert events.parse_messages(refresh) == [events.Refresh(3, ("_posts/a.md",))]


@pytest.mark.parametrize(
    "detail",
    [
        {"detail-type": "PostDue", "detail": {"key": "k", "revision": "r", "at": "2024-05-20T10:00:00"}},
        {"detail-type": "PostDue", "detail": {"key": "", "revision": "r", "at": DATE.isoformat()}},
        {"detail-type": "RefreshRequested", "detail": {"generation": 1, "keys": "_posts/a.md"}},
        {"detail-type": "RefreshRequested", "detail": {"generation": 1, "keys": ["k"] * 11}},
        {"detail-type": "RefreshRequested", "detail": {"keys": ["k"]}},
    ],
)
def test_malformed_schedule_and_refresh_messages_are_refused(detail: dict[str, object]) -> None:
    with pytest.raises(events.MalformedEvent):
        events.parse_messages(detail)


def test_manual_clock_stands_still_or_runs() -> None:
    fixed = ManualClock(DATE)
    assert fixed.now() == DATE
    assert fixed.advance(dt.timedelta(hours=2)) == DATE + dt.timedelta(hours=2)
    running = ManualClock(DATE, running=True)
    assert DATE <= running.now() < DATE + dt.timedelta(minutes=1)
    with pytest.raises(ValueError, match="time zone"):
        ManualClock(dt.datetime(2024, 5, 20))


def source(title: str, date: str, extra: str = "") -> bytes:
    return f"---\ntitle: {title}\ndate: {date}\ncategories: news\ntags: t\n{extra}---\n{title} 正文\n".encode()


def test_in_process_pipeline_publishes_a_scheduled_post_when_its_schedule_runs() -> None:
    clock = ManualClock(DATE - dt.timedelta(hours=2))
    pipeline = InProcessPipeline(clock=clock)
    pipeline.publish_all([("_config.yml", b"timezone: Asia/Shanghai\nfront_page_days: 1\n")])
    pipeline.publish_all([("_posts/2024-05-20-a.md", source("Later", "2024-05-20 10:00:00 +0800"))])
    page = "news/2024/05/20/a.html"
    assert page not in pipeline.site.objects
    assert pipeline.run_schedules() == 0
    clock.set(DATE)
    assert pipeline.run_schedules() == 1
    assert b"Later" in pipeline.site.objects[page].body
    assert b"Later" in pipeline.site.objects["index.html"].body
    clock.set(DATE + dt.timedelta(days=1))
    assert pipeline.run_schedules() == 1
    home = pipeline.site.objects["index.html"].body.decode()
    assert "Later" not in home
    # Its only post has left the front pages: the home page says where the older posts are.
    assert '首页暂无文章。往期文章见<a href="/archive/">归档</a>' in home
    assert b"Later" in pipeline.site.objects["2024/05/20/index.html"].body
    assert pipeline.scheduler.schedules == {}
    assert pipeline.dead_letters == {}


def test_each_commit_logs_the_state_it_gave_the_post(caplog: pytest.LogCaptureFixture) -> None:
    clock = ManualClock(DATE - dt.timedelta(hours=2))
    pipeline = InProcessPipeline(clock=clock)
    pipeline.publish_all([("_config.yml", b"timezone: Asia/Shanghai\nfront_page_days: 1\n")])
    key = "_posts/2024-05-20-a.md"
    with caplog.at_level(logging.INFO, logger="newsdrop.stages.parse"):
        pipeline.publish_all([(key, source("Later", "2024-05-20 10:00:00 +0800"))])
        clock.set(DATE)
        pipeline.run_schedules()
        clock.set(DATE + dt.timedelta(days=1))
        pipeline.run_schedules()
        pipeline.delete(key)
        pipeline.drain()
    commits = [r.__dict__ for r in caplog.records if r.name == "newsdrop.stages.parse" and r.msg == "committed"]
    assert [(c["key"], c["state"]) for c in commits] == [
        (key, "scheduled"),
        (key, "front"),
        (key, "archived"),
        (key, "deleted"),
    ]
    assert commits[1]["url"] == "/news/2024/05/20/a.html"


def test_redirect_from_in_front_matter_keeps_old_addresses() -> None:
    pipeline = InProcessPipeline()
    extra = "redirect_from:\n  - /old/place.html\n  - /older/place/\n"
    pipeline.publish_all([("_posts/2021-12-08-a.md", source("Moved", "2021-12-08 10:00:00", extra))])
    objects = pipeline.site.objects
    for key in ("old/place.html", "older/place/index.html"):
        assert b'url=/news/2021/12/08/a.html"' in objects[key].body
        assert b"noindex" in objects[key].body
    assert pipeline.rejections == []
