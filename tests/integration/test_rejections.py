"""Bad uploads are rejected through the whole moto pipeline, and never touch the published site.

For every kind of bad file: the rejection names the problem and the key (PostRejected event on
the RejectionsQueue, report in the artifact bucket), the source object stays where it is, and
the site bucket is byte-for-byte what it was before the upload.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
import yaml
from botocore.response import StreamingBody

from newsdrop.stages.parse import report_key
from tests.integration.sitecheck import (
    NO_DIFF,
    artifact_json,
    delete,
    diff,
    post,
    rejections,
    site,
    source_body,
    take_all,
    upload,
)

MAX_POST_BYTES = 262_144  # template.yaml: Globals.Function.Environment.Variables.MAX_POST_BYTES

GOOD_KEY = "_posts/2021-12-08-good-news.md"
GOOD_PAGE = "markets/2021/12/08/good-news.html"  # Jekyll: /:categories/:year/:month/:day/:title.html
GOOD = post("Good news", "2021-12-08 10:00:00", categories=["Markets"], tags=["daily"], body="All is well.")
BAD_KEY = "_posts/2021-12-09-bad-news.md"


@pytest.fixture
def published(moto_stack: Any) -> dict[str, bytes]:
    """One good post, published; returns the site bucket as it stands afterwards."""
    upload(GOOD_KEY, GOOD)
    moto_stack.drain()
    assert rejections(moto_stack) == []
    before = site()
    assert GOOD_PAGE in before
    assert b"Good news" in before[GOOD_PAGE]
    return before


def padded(size: int) -> bytes:
    """A well-formed post of exactly `size` bytes: only its size is wrong."""
    head = post("Too big", "2021-12-09 09:00:00", categories=["markets"], body="")
    return head + b"a" * (size - len(head))


def alias_bomb() -> bytes:
    # "Billion laughs": nine levels of nine aliases each, 9**9 strings once expanded.
    lines = ["---", 'l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, 9):
        refs = ", ".join([f"*l{level - 1}"] * 9)
        lines.append(f"l{level}: &l{level} [{refs}]")
    lines += ['title: "Bomb"', "date: 2021-12-09 09:00:00", "---", "boom", ""]
    return "\n".join(lines).encode()


@dataclass(frozen=True)
class Bad:
    body: Callable[[], bytes]
    words: tuple[str, ...]  # each must appear in the reason (case-insensitive)


BAD_UPLOADS: dict[str, Bad] = {
    "no-title": Bad(lambda: post(None, "2021-12-09 09:00:00", categories=["markets"]), ("title",)),
    "empty-title": Bad(lambda: post("   ", "2021-12-09 09:00:00", categories=["markets"]), ("title",)),
    "unparseable-date": Bad(
        lambda: post("Bad date", '"next tuesday at noon"', categories=["markets"]), ("date", "next tuesday at noon")
    ),
    "impossible-date": Bad(lambda: post("Bad date", "2021-13-45 25:61:00", categories=["markets"]), ("date",)),
    "broken-yaml": Bad(
        lambda: b'---\ntitle: "unterminated\ndate: 2021-12-09 09:00:00\ntags: [a, b\n---\nbody\n', ("yaml",)
    ),
    "not-utf8": Bad(
        # A Chinese feed saved as GBK: a classic. Valid structure, wrong encoding.
        lambda: "---\ntitle: 人民币汇率\ndate: 2021-12-09 09:00:00\n---\n离岸人民币\n".encode("gbk"),
        ("utf-8",),
    ),
    "binary": Bad(
        lambda: b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10\x00\x00\x00\x10\x08\x06\x00\x00\x00\x1f\xf3\xffa",
        ("binary",),
    ),
    "too-large": Bad(lambda: padded(MAX_POST_BYTES + 1), (str(MAX_POST_BYTES + 1), str(MAX_POST_BYTES))),
    "yaml-alias-bomb": Bad(alias_bomb, ("alias",)),
}


def numbers_plain(text: str) -> str:
    """'1,000,000' and '1 000 000' read as '1000000', so a reason may format numbers either way."""
    return text.replace(",", "").replace("_", "").replace("\u202f", "")


def assert_rejected(pump: Any, before: dict[str, bytes], key: str, body: bytes, words: tuple[str, ...]) -> str:
    """Upload a bad file, run the pipeline, check every promise a rejection makes; returns the reason."""
    upload(key, body)
    pump.drain()

    # A PostRejected event with the key and the reason is waiting in the RejectionsQueue.
    events = rejections(pump)
    assert events, f"no PostRejected event for {key}"
    assert {e["key"] for e in events} == {key}
    reason = str(events[0]["reason"])
    for word in words:
        assert word.lower() in numbers_plain(reason).lower(), f"reason {reason!r} does not mention {word!r}"

    # The report is in the (private) artifact bucket, naming the key and the same reason.
    report = artifact_json(report_key(key))
    assert report is not None, "no rejection report in the artifact bucket"
    assert report["key"] == key
    assert report["reason"] == reason

    # A rejection is an outcome, not a failure: no retries, nothing dead-lettered.
    assert pump.errors == []
    assert take_all(pump.stack.queue_urls["ParseDLQ"]) == []

    # The input is left alone, and the site is exactly what it was.
    assert source_body(key) == body
    assert diff(site(), before) == NO_DIFF
    return reason


@pytest.mark.parametrize("case", list(BAD_UPLOADS))
def test_bad_upload_is_rejected_and_site_unchanged(case: str, moto_stack: Any, published: dict[str, bytes]) -> None:
    bad = BAD_UPLOADS[case]
    assert_rejected(moto_stack, published, BAD_KEY, bad.body(), bad.words)


def test_alias_bomb_is_rejected_without_being_expanded(
    moto_stack: Any, published: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Expanded, the bomb is 387 million strings: a parser that expands it never finishes.
    built: list[str] = []
    construct = yaml.load
    monkeypatch.setattr(yaml, "load", lambda *a, **k: built.append("load") or construct(*a, **k))
    assert_rejected(moto_stack, published, BAD_KEY, alias_bomb(), ("alias",))
    assert built == []  # refused from the event stream, before anything was built


def test_fifty_megabyte_upload_fails_fast_without_being_read(
    moto_stack: Any, published: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    size = 50 * 1024 * 1024
    body = padded(size)
    upload(BAD_KEY, body)

    # Count what the handlers read from S3 response bodies while the pipeline runs.
    reads: list[int] = []
    original = StreamingBody.read

    def counting_read(self: StreamingBody, amt: int | None = None) -> bytes:
        chunk: bytes = original(self, amt)
        reads.append(len(chunk))
        return chunk

    monkeypatch.setattr(StreamingBody, "read", counting_read)
    moto_stack.drain()
    monkeypatch.setattr(StreamingBody, "read", original)

    events = rejections(moto_stack)
    assert events and {e["key"] for e in events} == {BAD_KEY}
    reason = numbers_plain(str(events[0]["reason"]))
    assert str(size) in reason and str(MAX_POST_BYTES) in reason, reason
    assert sum(reads) <= MAX_POST_BYTES + 1, f"the handlers read {sum(reads)} bytes of a {size}-byte upload"
    report = artifact_json(report_key(BAD_KEY))
    assert report is not None and report["key"] == BAD_KEY
    assert boto3.client("s3").head_object(Bucket="newsdrop-source", Key=BAD_KEY)["ContentLength"] == size
    assert diff(site(), published) == NO_DIFF


def test_broken_reupload_keeps_the_good_page(moto_stack: Any, published: dict[str, bytes]) -> None:
    broken = b'---\ntitle: "Good news, now broken\ndate: 2021-12-08 10:00:00\n---\nbody\n'
    assert_rejected(moto_stack, published, GOOD_KEY, broken, ("yaml",))
    assert b"All is well." in site()[GOOD_PAGE]


def test_fixed_reupload_publishes_and_clears_the_report(moto_stack: Any, published: dict[str, bytes]) -> None:
    untitled = post(None, "2021-12-09 09:00:00", categories=["markets"])
    assert_rejected(moto_stack, published, BAD_KEY, untitled, ("title",))
    upload(BAD_KEY, post("Bad news, fixed", "2021-12-09 09:00:00", categories=["markets"]))
    moto_stack.drain()
    assert rejections(moto_stack) == []
    assert artifact_json(report_key(BAD_KEY)) is None
    assert b"Bad news, fixed" in site()["markets/2021/12/09/bad-news.html"]


@pytest.mark.parametrize("key", [BAD_KEY, "tags/chart.png"])  # a post without a title; a file where the site lists tags
def test_a_rejected_source_deleted_is_no_longer_reported(
    key: str, moto_stack: Any, published: dict[str, bytes]
) -> None:
    upload(key, post(None, "2021-12-09 09:00:00", categories=["markets"]))
    moto_stack.drain()
    assert {e["key"] for e in rejections(moto_stack)} == {key}
    assert artifact_json(report_key(key)) is not None
    delete(key)
    moto_stack.drain()
    assert artifact_json(report_key(key)) is None
    assert diff(site(), published) == NO_DIFF


def test_one_upload_is_one_change(moto_stack: Any, published: dict[str, bytes]) -> None:
    # S3 sends one "Object Created" event per PUT. Delivery is at-least-once, so a duplicate may
    # arrive, but it carries the same sequencer: one upload must never look like two changes.
    upload(BAD_KEY, post(None, "2021-12-09 09:00:00"))
    moto_stack.drain()
    events = rejections(moto_stack)
    assert events
    assert len({e["sequencer"] for e in events}) == 1, f"one PUT became {len(events)} changes: {events}"


def test_broken_config_is_rejected_not_retried(moto_stack: Any, published: dict[str, bytes]) -> None:
    # `_config.yml` goes through the same parse stage: a setting that cannot be used must become a
    # rejection with a reason, not an exception that is retried into the DLQ.
    reason = assert_rejected(moto_stack, published, "_config.yml", b"title: My site\ntimezone: Mars/Olympus_Mons\n", ())
    assert "Mars/Olympus_Mons" in reason, f"reason {reason!r} does not say which value is wrong"


def test_config_with_an_odd_unused_value_is_accepted(moto_stack: Any, published: dict[str, bytes]) -> None:
    # Dates stay text until a known setting needs them, so a key newsdrop does not use cannot break the site.
    s3 = boto3.client("s3")
    s3.put_object(Bucket="newsdrop-source", Key="_config.yml", Body=b"title: Renamed\nlaunched: 2021-13-45\n")
    moto_stack.drain()
    home = s3.get_object(Bucket="newsdrop-site", Key="index.html")["Body"].read().decode()
    assert "<title>Renamed</title>" in home
