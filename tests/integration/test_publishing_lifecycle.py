"""Drafts, scheduled posts, front-page expiry and date moves, through the real handlers on moto,
with a clock the test controls and the local stack's scheduler running the one-time schedules
that parse creates in moto's EventBridge Scheduler.

What a reader sees is read from the site bucket (pages, home, category and tag pages, feed,
sitemaps, search index); what is scheduled is read from moto's scheduler, as an operator would.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from newsdrop import clock, search
from newsdrop.clock import ManualClock
from newsdrop.local.scheduler import ScheduleRunner, schedule_time
from tests.integration.sitecheck import apply, post, rejections, site

SHANGHAI = dt.timezone(dt.timedelta(hours=8))
CONFIG = "title: Lifecycle\nurl: https://life.example\ntimezone: Asia/Shanghai\n"
KEY = "_posts/2024-05-20-rates.md"
PAGE = "markets/2024/05/20/rates.html"
OTHER_KEY = "_posts/2024-05-19-older.md"


def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2024, 5, day, hour, minute, tzinfo=SHANGHAI)


@pytest.fixture
def manual_clock() -> Iterator[ManualClock]:
    controlled = ManualClock(at(20, 8))
    clock.install(controlled)
    yield controlled
    clock.install(None)


class Desk:
    """The source bucket, the functions, the scheduler and the clock, driven as time passes."""

    def __init__(self, pump: Any, now: ManualClock) -> None:
        self.pump = pump
        self.clock = now
        self.schedules = ScheduleRunner(pump.stack)

    def publish(self, files: dict[str, str | None]) -> None:
        apply(self.pump, {key: None if body is None else body.encode() for key, body in files.items()})
        assert rejections(self.pump) == []

    def wait_until(self, when: dt.datetime) -> int:
        """Move the clock to `when`, run the schedules due by then, and let the pipeline settle."""
        self.clock.set(when)
        fired = self.schedules.run_due()
        self.pump.drain()
        assert self.pump.errors == []
        return fired

    def scheduled(self) -> list[dt.datetime]:
        return sorted(schedule_time(s) for s in self.schedules.pending())


@pytest.fixture
def desk(moto_stack: Any, manual_clock: ManualClock) -> Desk:
    d = Desk(moto_stack, manual_clock)
    d.publish({"_config.yml": CONFIG, OTHER_KEY: text("Older news", "2024-05-19 09:00:00")})
    return d


def text(title: str, date: str, **extra: str) -> str:
    return post(title, date, categories=["Markets"], tags=["利率"], body=f"{title} 正文。", extra=extra).decode()


def public_places(title: str) -> set[str]:
    """Where a reader can find a post by its title: pages, listings, feed, sitemaps, search."""
    objects = site()
    found = {key for key, body in objects.items() if title.encode() in body and not key.startswith("search/")}
    sitemap_hits = {key for key, body in objects.items() if key.startswith("sitemaps/") and PAGE.encode() in body}
    searchable = search.search(objects.get, title)
    return found | sitemap_hits | ({"search"} if searchable else set())


FRONT = {PAGE, "index.html", "markets/index.html", "tags/利率/index.html", "2024/05/20/index.html", "feed.xml"}
EVERYWHERE = FRONT | {"sitemaps/2024-05-20.xml", "search"}
ARCHIVED = EVERYWHERE - {"index.html", "markets/index.html", "tags/利率/index.html"}


def test_a_draft_is_nowhere_until_published_and_unpublishing_removes_it_everywhere(desk: Desk) -> None:
    desk.publish({KEY: text("Rates draft", "2024-05-20 07:00:00", published="false")})
    assert public_places("Rates draft") == set()
    assert b"Older news" in site()["index.html"]  # the rest of the site is there

    desk.publish({KEY: text("Rates draft", "2024-05-20 07:00:00", published="true")})
    assert public_places("Rates draft") == EVERYWHERE

    desk.publish({KEY: text("Rates draft", "2024-05-20 07:00:00", published="false")})
    assert public_places("Rates draft") == set()
    assert desk.scheduled() == []


def test_a_post_dated_in_the_future_is_published_at_its_time_by_its_schedule(desk: Desk) -> None:
    desk.publish({KEY: text("Rates at noon", "2024-05-20 12:00:00")})
    assert public_places("Rates at noon") == set()
    assert desk.scheduled() == [at(20, 12)]

    assert desk.wait_until(at(20, 11, 59)) == 0
    assert public_places("Rates at noon") == set()

    assert desk.wait_until(at(20, 12, 0)) == 1
    assert public_places("Rates at noon") == EVERYWHERE
    assert desk.scheduled() == []  # a one-time schedule deletes itself once it ran


def test_moving_the_date_moves_the_schedule(desk: Desk) -> None:
    desk.publish({KEY: text("Rates moved", "2024-05-20 12:00:00")})
    desk.publish({KEY: text("Rates moved", "2024-05-20 15:30:00")})
    assert desk.scheduled() == [at(20, 15, 30)]

    desk.wait_until(at(20, 12, 5))
    assert public_places("Rates moved") == set()
    desk.wait_until(at(20, 15, 30))
    assert public_places("Rates moved") == EVERYWHERE

    # Moved into the future again: off the site until the new time.
    desk.publish({KEY: text("Rates moved", "2024-05-21 09:00:00")})
    assert public_places("Rates moved") == set()
    assert desk.scheduled() == [at(21, 9)]


def test_deleting_a_scheduled_post_cancels_its_schedule(desk: Desk) -> None:
    desk.publish({KEY: text("Rates cancelled", "2024-05-20 12:00:00")})
    assert desk.scheduled() == [at(20, 12)]
    desk.publish({KEY: None})
    assert desk.scheduled() == []
    desk.wait_until(at(20, 13))
    assert public_places("Rates cancelled") == set()


def test_front_page_days_move_a_post_to_the_archives_on_time(desk: Desk) -> None:
    desk.publish({"_config.yml": CONFIG + "front_page_days: 3\n", KEY: text("Rates expire", "2024-05-20 07:00:00")})
    assert public_places("Rates expire") == EVERYWHERE
    assert at(23, 7) in desk.scheduled()

    desk.wait_until(at(23, 6, 59))
    assert public_places("Rates expire") == EVERYWHERE
    desk.wait_until(at(23, 7))
    assert public_places("Rates expire") == ARCHIVED
    assert b"Rates expire" not in site()["index.html"]


def test_expires_in_front_matter_archives_one_post(desk: Desk) -> None:
    desk.publish({KEY: text("Rates brief", "2024-05-20 07:00:00", expires='"2024-05-20 18:00:00"')})
    assert public_places("Rates brief") == EVERYWHERE
    assert desk.scheduled() == [at(20, 18)]
    desk.wait_until(at(20, 18))
    assert public_places("Rates brief") == ARCHIVED
    assert public_places("Older news") >= {"index.html"}  # other posts keep their places


def test_a_scheduled_post_that_expires_is_published_then_archived(desk: Desk) -> None:
    desk.publish({KEY: text("Rates short", "2024-05-20 12:00:00", expires='"2024-05-20 14:00:00"')})
    desk.wait_until(at(20, 12, 1))
    assert public_places("Rates short") == EVERYWHERE
    assert desk.scheduled() == [at(20, 14)]
    desk.wait_until(at(20, 14, 1))
    assert public_places("Rates short") == ARCHIVED
    assert desk.scheduled() == []


def test_the_scheduler_reaches_parse_through_the_bus_and_queue_of_the_template(desk: Desk) -> None:
    """The schedule's target is the publishing bus; the template's DueRule routes it to ParseQueue."""
    desk.publish({KEY: text("Rates routed", "2024-05-20 12:00:00")})
    (schedule,) = desk.schedules.pending()
    target = schedule["Target"]
    assert target["Arn"].endswith(":event-bus/newsdrop-publishing")
    assert target["EventBridgeParameters"] == {"DetailType": "PostDue", "Source": "newsdrop.scheduler"}
    assert target["DeadLetterConfig"]["Arn"].endswith(":newsdrop-ScheduleDLQ")
    assert schedule["ActionAfterCompletion"] == "DELETE"
    desk.clock.set(at(20, 12))
    desk.schedules.run_due()
    sqs = boto3.client("sqs")
    waiting = sqs.get_queue_attributes(
        QueueUrl=desk.pump.stack.queue_urls["ParseQueue"], AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]["ApproximateNumberOfMessages"]
    assert waiting == "1"


def test_a_schedule_the_scheduler_could_not_deliver_is_published_by_redrive(desk: Desk) -> None:
    """EventBridge Scheduler puts a schedule's input in its dead-letter queue once its retries are
    spent, and deletes the one-time schedule; `newsdrop redrive` puts it on the bus as the
    scheduler would have, and the post is published. What is not a schedule's event stays."""
    from newsdrop.local.dev import POST_SCHEDULES, redrive

    desk.publish({KEY: text("Rates late", "2024-05-20 12:00:00")})
    (schedule,) = desk.schedules.pending()
    desk.clock.set(at(20, 12, 5))
    sqs = boto3.client("sqs")
    stack = desk.pump.stack
    sqs.send_message(QueueUrl=stack.queue_urls["ScheduleDLQ"], MessageBody=schedule["Target"]["Input"])
    sqs.send_message(QueueUrl=stack.queue_urls["ScheduleDLQ"], MessageBody='{"key": "not a schedule"}')
    boto3.client("scheduler").delete_schedule(Name=schedule["Name"], GroupName=schedule["GroupName"])
    desk.pump.drain()
    assert public_places("Rates late") == set()  # nothing else will publish it

    redriven = redrive(stack.root, stack.names, endpoint=None)
    desk.pump.drain()

    assert redriven.sent[POST_SCHEDULES] == 1 and redriven.kept == {"ScheduleDLQ": 1}
    assert public_places("Rates late") == EVERYWHERE
    assert desk.pump.errors == []
