"""A parse batch that dies at its PutEvents call, after committing, is delivered again by SQS; the
site must still end as a fresh build of the same sources. Two changes commit a post other than the
one their message names, whose event the redelivery must send again:
- a post waiting for a permalink, committed there when its holder lets it go (deleted, or moved);
- a site-wide refresh's page, whose posts the first delivery read under the new settings.

The failure is AWS's own, on the functions' EventBridge client (a botocore hook), so the batch
fails as it would on Lambda and the stack's pump redelivers it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from newsdrop.adapters import aws
from tests.integration.sitecheck import (
    NO_DIFF,
    apply,
    bucket_objects,
    delete,
    diff,
    local_build,
    post,
    rejections,
    site,
    upload,
)
from tests.support.redirects import broken_redirects, without_redirects

CONFIG = b"title: Faults\nurl: https://faults.example\ntimezone: Asia/Shanghai\n"
MOVED_PERMALINKS = CONFIG.replace(b"title: Faults", b"title: Faults Two") + b"permalink: /:categories/:year/:title/\n"
HOLDER = "_posts/2024-03-01-alpha.md"
WAITER = "_posts/2024-03-02-beta.md"
SHARED = {"permalink": "/fixed/shared/"}


class FailingPutEvents:
    """PutEvents of the functions' client fails, with AWS's InternalError, on the next `left` calls
    that `match` their entries (set as a test goes)."""

    def __init__(self) -> None:
        self.left = 0
        self.failed = 0
        self.match: Callable[[list[dict[str, Any]]], bool] = lambda _entries: True

    def __call__(self, params: dict[str, Any], **_kwargs: Any) -> None:
        if self.left and self.match(params.get("Entries", [])):
            self.left -= 1
            self.failed += 1
            error = {"Error": {"Code": "InternalError", "Message": "injected"}, "ResponseMetadata": {}}
            raise ClientError(error, "PutEvents")  # type: ignore[arg-type]


@pytest.fixture
def failing_put_events() -> Iterator[FailingPutEvents]:
    failing = FailingPutEvents()
    events = aws.client("events").meta.events
    events.register_first("before-parameter-build.eventbridge.PutEvents", failing)
    yield failing
    events.unregister("before-parameter-build.eventbridge.PutEvents", failing)


def differences(pump: Any) -> dict[str, Any]:
    actual, expected = site(), local_build(bucket_objects(pump.stack.names.source_bucket))
    found: dict[str, Any] = diff(without_redirects(actual), without_redirects(expected))
    found["broken_redirects"] = broken_redirects(actual)
    return found


def a_waiting_post(pump: Any) -> None:
    apply(pump, {"_config.yml": CONFIG})
    apply(pump, {HOLDER: post("Alpha", "2024-03-01 09:00:00", categories=["news"], extra=SHARED)})
    apply(pump, {WAITER: post("Beta", "2024-03-02 09:00:00", categories=["news"], extra=SHARED)})
    assert [r["key"] for r in rejections(pump)] == [WAITER]  # refused: the holder has the permalink


@pytest.mark.parametrize("holder_goes", ["deleted", "moved"])
def test_a_post_handed_a_permalink_is_published_when_the_hand_over_s_events_failed(
    moto_stack: Any, failing_put_events: FailingPutEvents, holder_goes: str
) -> None:
    a_waiting_post(moto_stack)
    failing_put_events.left = 1
    if holder_goes == "deleted":
        delete(HOLDER)
    else:
        upload(HOLDER, post("Alpha", "2024-03-01 09:00:00", categories=["news"], extra={"permalink": "/fixed/alpha/"}))
    moto_stack.drain()
    assert failing_put_events.failed == 1 and len(moto_stack.errors) == 1  # the batch failed once, then went through
    assert differences(moto_stack) == {**NO_DIFF, "broken_redirects": []}
    assert b"Beta" in site()["fixed/shared/index.html"]


def test_a_refresh_page_whose_events_failed_renders_its_posts_under_the_new_settings(
    moto_stack: Any, failing_put_events: FailingPutEvents
) -> None:
    apply(moto_stack, {"_config.yml": CONFIG})
    apply(moto_stack, {"_posts/2024-03-01-alpha.md": post("Alpha", "2024-03-01 09:00:00", categories=["news"])})
    apply(moto_stack, {"_posts/2024-03-02-beta.md": post("Beta", "2024-03-02 09:00:00", categories=["news"])})
    # The settings' own events go out; a page of the site-wide refresh after them is what fails.
    failing_put_events.match = lambda entries: any('"lane": "bulk"' in e.get("Detail", "") for e in entries)
    failing_put_events.left = 1
    upload("_config.yml", MOVED_PERMALINKS)
    moto_stack.drain()
    assert failing_put_events.failed == 1 and len(moto_stack.errors) == 1
    assert differences(moto_stack) == {**NO_DIFF, "broken_redirects": []}
    assert "news/2024/alpha/index.html" in site()
