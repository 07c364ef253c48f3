"""A batch that dies at an AWS call, after some of its writes, is delivered again by SQS; the site
must still end as a fresh build of the same sources, and nothing of a deleted post stay public.

- Parse dying at PutEvents, after committing. Two changes commit a post other than the one their
  message names, whose event the redelivery must send again: a post waiting for a permalink,
  committed there when its holder lets it go (deleted, or moved); and a site-wide refresh's page,
  whose posts the first delivery read under the new settings.
- Index dying at the swap of a post's search state, before or after it took effect: the post's
  search document (its whole text, public) must be one that a state names, or no later change
  would ever delete it.

The failure is AWS's own, on the functions' client (a botocore hook), so the batch fails as it
would on Lambda and the stack's pump redelivers it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from newsdrop import search
from newsdrop.adapters import aws
from newsdrop.adapters.aws import DynamoCatalog
from newsdrop.events import REFRESH_REQUESTED
from newsdrop.stages.parse import report_key
from tests.integration.sitecheck import (
    ARTIFACTS,
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


class Failing:
    """A call of the functions' client fails, with AWS's InternalError, the next `left` times its
    parameters `match` (set as a test goes): before it takes effect, or `after` (its answer lost)."""

    def __init__(self, service: str, operation: str) -> None:
        self.event, self.client = (
            f"{service}.{operation}",
            aws.client("events" if service == "eventbridge" else service),
        )
        self.left = 0
        self.failed = 0
        self.after = False
        self.match: Callable[[dict[str, Any]], bool] = lambda _params: True
        self.armed = False

    def before(self, params: dict[str, Any], **_kwargs: Any) -> None:
        self.armed = bool(self.left) and self.match(params)
        if self.armed and not self.after:
            self.fail()

    def after_call(self, **_kwargs: Any) -> None:
        if self.armed and self.after:
            self.fail()

    def fail(self) -> None:
        self.armed, self.left, self.failed = False, self.left - 1, self.failed + 1
        error = {"Error": {"Code": "InternalError", "Message": "injected"}, "ResponseMetadata": {}}
        raise ClientError(error, self.event.partition(".")[2])  # type: ignore[arg-type]

    def __enter__(self) -> Failing:
        self.client.meta.events.register_first(f"before-parameter-build.{self.event}", self.before)
        self.client.meta.events.register_first(f"after-call.{self.event}", self.after_call)
        return self

    def __exit__(self, *_exc: object) -> None:
        self.client.meta.events.unregister(f"before-parameter-build.{self.event}", self.before)
        self.client.meta.events.unregister(f"after-call.{self.event}", self.after_call)


@pytest.fixture
def failing_put_events() -> Iterator[Failing]:
    with Failing("eventbridge", "PutEvents") as failing:
        yield failing


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
    moto_stack: Any, failing_put_events: Failing, holder_goes: str
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


@pytest.mark.parametrize("page", ["refresh", "fan-out"])
def test_a_refresh_page_whose_events_failed_renders_its_posts_under_the_new_settings(
    moto_stack: Any, failing_put_events: Failing, page: str
) -> None:
    apply(moto_stack, {"_config.yml": CONFIG})
    apply(moto_stack, {"_posts/2024-03-01-alpha.md": post("Alpha", "2024-03-01 09:00:00", categories=["news"])})
    apply(moto_stack, {"_posts/2024-03-02-beta.md": post("Beta", "2024-03-02 09:00:00", categories=["news"])})
    # The settings' own events go out; a page of the site-wide refresh after them is what fails: a
    # refresh page's (the posts read again) or the fan-out's (the refresh pages it asks for).
    if page == "refresh":
        failing_put_events.match = lambda params: any('"lane": "bulk"' in e["Detail"] for e in params["Entries"])
    else:
        failing_put_events.match = lambda params: any(e["DetailType"] == REFRESH_REQUESTED for e in params["Entries"])
    failing_put_events.left = 1
    upload("_config.yml", MOVED_PERMALINKS)
    moto_stack.drain()
    assert failing_put_events.failed == 1 and len(moto_stack.errors) == 1
    assert differences(moto_stack) == {**NO_DIFF, "broken_redirects": []}
    assert "news/2024/alpha/index.html" in site()
    # Each page counted once in the refresh's progress (`newsdrop status`).
    job = DynamoCatalog(moto_stack.stack.names.table).refresh_job()
    assert job is not None and (job.listed, job.refreshed, job.complete) == (2, 2, True)


@pytest.mark.parametrize("after", [False, True], ids=["before", "after"])
def test_a_search_document_is_always_one_a_state_names_so_deleting_the_post_deletes_it(
    moto_stack: Any, after: bool
) -> None:
    apply(moto_stack, {"_config.yml": CONFIG})
    text = "撤回的声明 retracted-statement-XYZ"
    with Failing("dynamodb", "PutItem") as failing:
        failing.match = lambda params: str(params["Item"]["pk"]["S"]).startswith("SEARCH#")
        failing.left, failing.after = 1, after
        upload(HOLDER, post("Alpha", "2024-03-01 09:00:00", categories=["news"], body=text))
        moto_stack.drain()
    assert failing.failed == 1 and len(moto_stack.errors) == 1  # index failed once, then went through
    assert differences(moto_stack) == {**NO_DIFF, "broken_redirects": []}
    documents = [key for key in site() if key.startswith(search.DOC_PREFIX)]
    assert documents == [f"{search.DOC_PREFIX}{doc}.json" for doc in search.live_postings(site().get)]
    moto_stack.errors.clear()
    apply(moto_stack, {HOLDER: None})
    assert [key for key, body in site().items() if b"retracted-statement-XYZ" in body] == []


@pytest.mark.parametrize("key", [HOLDER, "_config.yml"])
def test_a_fixed_file_s_rejection_report_goes_when_its_first_removal_failed(moto_stack: Any, key: str) -> None:
    apply(moto_stack, {"_config.yml": CONFIG})
    broken, fixed = b"---\ntitle:\n---\nno title", post("Alpha", "2024-03-01 09:00:00", categories=["news"])
    if key == "_config.yml":
        broken, fixed = b"title: [unclosed\n", CONFIG.replace(b"Faults", b"Fixed")
    apply(moto_stack, {key: broken})
    assert [r["key"] for r in rejections(moto_stack)] == [key]
    report = report_key(key)
    assert report in bucket_objects(ARTIFACTS)
    with Failing("s3", "DeleteObject") as failing:
        failing.match = lambda params: params["Key"] == report
        failing.left = 1
        upload(key, fixed)
        moto_stack.drain()
    assert failing.failed == 1  # the message failed (a partial batch failure), and SQS delivered it again
    assert report not in bucket_objects(ARTIFACTS)  # `newsdrop status` no longer lists the fixed file
    assert differences(moto_stack) == {**NO_DIFF, "broken_redirects": []}
