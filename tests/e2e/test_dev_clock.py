"""`newsdrop dev --now`: the stack's clock starts where the user says, and publishing follows it.

The sample site's posts run from 2024-05-20 to 2024-05-23. With the clock at noon on the 21st,
those dated before are published at start and those after wait for their schedules.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import DevStack, running_dev

PUBLISHED = (
    "/sitenews/2024/05/20/hello-newsdrop.html",  # 2024-05-20 09:00 +0800
    "/macro/2024/05/21/central-bank.html",  # 2024-05-21 09:20 +0800
)
WAITING = {  # source key: page
    "_posts/2024-05-21-earnings-season.md": "/markets/2024/05/21/earnings-season.html",  # 21:30 +0800
    "_posts/2024-05-22-fx-weekly.md": "/fx/2024/05/22/fx-weekly.html",  # 2024-05-22 07:05
}


@pytest.fixture(scope="module")
def noon_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    with running_dev(tmp_path_factory, "--now", "2024-05-21T12:00+08:00") as stack:
        yield stack


def scheduled(stack: DevStack) -> dict[str, str]:
    """Each post with a one-time schedule: when it fires (as parse asked EventBridge Scheduler)."""
    scheduler = stack.client("scheduler")
    found = {}
    for summary in scheduler.list_schedules()["Schedules"]:
        schedule = scheduler.get_schedule(Name=summary["Name"], GroupName=summary["GroupName"])
        found[json.loads(schedule["Target"]["Input"])["key"]] = schedule["ScheduleExpression"]
    return found


def test_posts_dated_before_the_stack_s_clock_are_published_and_later_ones_wait(noon_stack: DevStack) -> None:
    for path in PUBLISHED:
        noon_stack.wait_for(path, lambda status, _body: status == 200)
    # Each later post was read and scheduled for its own time, and has no page before it.
    deadline = time.monotonic() + 30
    while not set(WAITING) <= set(scheduled(noon_stack)):
        assert time.monotonic() < deadline, f"not scheduled: {set(WAITING) - set(scheduled(noon_stack))}"
        time.sleep(0.2)
    fires = scheduled(noon_stack)
    assert fires["_posts/2024-05-21-earnings-season.md"].startswith("at(2024-05-21T13:30")  # 21:30 +0800 in UTC
    for path in WAITING.values():
        assert noon_stack.get(path)[0] == 404, path
    _, home = noon_stack.wait_for("/", lambda status, body: status == 200 and "central-bank" in body)
    assert "earnings-season" not in home and "fx-weekly" not in home
