"""A rejection report lives exactly as long as the rejection: written when a source is rejected,
deleted when it is fixed or removed. The catalog notes which keys have one (read with the
settings at the start of each parse batch), so that a key never rejected is published without a
request to delete a report it cannot have; and a note is written before its report and forgotten
after it, so a report is never left without its note, whatever fails in between."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import pytest

from newsdrop import envelopes, events
from newsdrop.adapters.memory import MemoryStore
from newsdrop.local.inprocess import InProcessPipeline
from newsdrop.stages import parse
from newsdrop.stages.common import or_defaults

KEY = "_posts/2024-05-20-yuan.md"
GOOD = "---\ntitle: 人民币 Yuan\ndate: 2024-05-20 10:00:00\ncategories: markets\n---\n正文。\n".encode()
FIXED = "---\ntitle: 人民币 Yuan, fixed\ndate: 2024-05-20 10:00:00\ncategories: markets\n---\n正文。\n".encode()
UNTITLED = b"---\ndate: 2024-05-20 10:00:00\ncategories: markets\n---\nno title\n"


@dataclass
class RecordingStore(MemoryStore):
    deleted: list[str] = field(default_factory=list)

    def delete(self, key: str, *, if_match: str | None = None) -> None:
        self.deleted.append(key)
        super().delete(key, if_match=if_match)


def pipeline() -> tuple[InProcessPipeline, RecordingStore]:
    artifacts = RecordingStore()
    return InProcessPipeline(artifacts=artifacts), artifacts


def publish(p: InProcessPipeline, key: str, body: bytes) -> None:
    p.upload(key, body)
    p.drain()


def reports(p: InProcessPipeline) -> list[str]:
    return sorted(k for k in p.artifacts.objects if k.startswith(parse.REPORTS_PREFIX))


def report_deletes(store: RecordingStore) -> list[str]:
    return [k for k in store.deleted if k.startswith(parse.REPORTS_PREFIX)]


def test_a_source_never_rejected_is_published_without_deleting_a_report() -> None:
    p, artifacts = pipeline()
    publish(p, KEY, GOOD)
    publish(p, KEY, FIXED)  # a new version
    publish(p, "images/chart.png", b"\x89PNG\r\n\x1a\nchart")
    p.delete(KEY)
    p.drain()
    assert p.rejections == []
    assert report_deletes(artifacts) == []
    assert p.catalog.rejected == set()


def test_a_rejected_post_is_noted_and_a_fixed_one_loses_report_and_note() -> None:
    p, artifacts = pipeline()
    publish(p, KEY, UNTITLED)
    assert [key for key, _ in p.rejections] == [KEY]
    assert reports(p) == [parse.report_key(KEY)]
    assert p.catalog.rejected == {KEY}
    publish(p, KEY, GOOD)
    assert reports(p) == [] and p.catalog.rejected == set()
    assert report_deletes(artifacts) == [parse.report_key(KEY)]
    publish(p, KEY, FIXED)  # rejected no more: no second delete
    assert report_deletes(artifacts) == [parse.report_key(KEY)]


def test_a_settings_file_fixed_loses_its_report() -> None:
    p, _ = pipeline()
    publish(p, "_config.yml", b"title: [unclosed\n")
    assert [key for key, _ in p.rejections] == ["_config.yml"]
    assert reports(p) == [parse.report_key("_config.yml")]
    publish(p, "_config.yml", "title: 快讯 Finews\n".encode())
    assert reports(p) == [] and p.catalog.rejected == set()
    assert p.catalog.config is not None and p.catalog.config.config.title == "快讯 Finews"


def test_a_post_refused_its_url_and_published_when_the_url_is_free_loses_its_report() -> None:
    # The refused post is read again in the batch of the post that lets the URL go: a key that
    # batch did not read the notes of, whose report is deleted all the same.
    p, artifacts = pipeline()
    holder, refused = "_posts/2024-05-20-a.md", "_posts/2024-05-20-b.md"
    same = "---\ntitle: {}\ndate: 2024-05-20 10:00:00\npermalink: /same.html\n---\nbody\n"
    publish(p, holder, same.format("A").encode())
    publish(p, refused, same.format("B").encode())
    assert [key for key, _ in p.rejections] == [refused]
    assert p.catalog.rejected == {refused}
    p.delete(holder)
    p.drain()
    assert p.catalog.url_owner("/same.html") == refused
    assert reports(p) == [] and p.catalog.rejected == set()
    assert report_deletes(artifacts) == [parse.report_key(refused)]


def test_a_note_whose_forgetting_failed_is_forgotten_when_the_change_is_delivered_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    p, artifacts = pipeline()
    publish(p, KEY, UNTITLED)
    failures = iter([RuntimeError("DynamoDB is unavailable")])

    def failing_once(key: str) -> None:
        if (error := next(failures, None)) is not None:
            raise error
        type(p.catalog).clear_rejection(p.catalog, key)

    monkeypatch.setattr(p.catalog, "clear_rejection", failing_once)
    # The batch fails after deleting the report; its redelivery re-emits, and (the report gone)
    # deletes again and forgets the note.
    publish(p, KEY, GOOD)
    assert reports(p) == [] and p.catalog.rejected == set()
    assert "人民币 Yuan" in p.site.objects["markets/2024/05/20/yuan.html"].body.decode()
    assert report_deletes(artifacts) == [parse.report_key(KEY)] * 2
    publish(p, KEY, FIXED)  # nothing left to delete
    assert report_deletes(artifacts) == [parse.report_key(KEY)] * 2


def test_a_report_is_never_written_without_its_note(monkeypatch: pytest.MonkeyPatch) -> None:
    p, _ = pipeline()
    noted_when_written: list[tuple[str, frozenset[str]]] = []
    original = MemoryStore.put

    def put(store: MemoryStore, key: str, body: bytes, **options: Any) -> Any:
        if key.startswith(parse.REPORTS_PREFIX):
            noted_when_written.append((key, frozenset(p.catalog.rejected)))
        return original(store, key, body, **options)

    monkeypatch.setattr(MemoryStore, "put", put)
    publish(p, "_config.yml", b"title: [unclosed\n")
    publish(p, KEY, UNTITLED)
    assert noted_when_written == [
        (parse.report_key("_config.yml"), {"_config.yml"}),
        (parse.report_key(KEY), {"_config.yml", KEY}),
    ]


def test_a_rejection_racing_a_fix_in_another_environment_leaves_its_note() -> None:
    p, _ = pipeline()
    publish(p, KEY, UNTITLED)  # rejected: note and report
    # Another environment takes a broken re-upload: its batch reads the note at its start, and
    # the broken source before the author uploads the fix.
    broken = MemoryStore()
    broken.put(KEY, UNTITLED, content_type="text/markdown")
    note = envelopes.s3_notification("newsdrop-source", KEY, sequencer=envelopes.next_sequencer(), removed=False)
    (change,) = events.source_changes(note)
    slow = parse.ParseBatch(
        ports=dataclasses.replace(p.ports, source=broken),
        site=or_defaults(p.catalog.get_config()),
        read_ahead={KEY: p.catalog.get_post(KEY)},
        reported={KEY: True},
    )
    publish(p, KEY, GOOD)  # the fix, meanwhile: its report and note are gone
    assert reports(p) == [] and p.catalog.rejected == set()
    slow.apply(change)  # then the slow batch rejects the version it read
    assert reports(p) == [parse.report_key(KEY)]
    assert p.catalog.rejected == {KEY}  # noted all the same: so the next version deletes the report
    publish(p, KEY, FIXED)
    assert reports(p) == [] and p.catalog.rejected == set()


def test_a_change_delivered_again_removes_an_older_report_and_keeps_a_newer_one() -> None:
    # SQS may deliver a message again after its change committed: the first delivery may have died
    # after the commit, before the report of the older upload went. The repeat removes a report
    # older than its change, and leaves alone the report of an upload made since.
    p, _ = pipeline()
    publish(p, KEY, UNTITLED)
    report = parse.report_key(KEY)
    older = p.artifacts.objects[report]
    p.upload(KEY, GOOD)
    good = p.queues["parse"].messages[-1]
    p.drain()
    # As the first delivery would have left it, had it died before removing the report.
    p.artifacts.objects[report] = older
    p.catalog.rejected.add(KEY)
    p.queues["parse"].messages.append(good)
    p.drain()
    assert reports(p) == [] and p.catalog.rejected == set()
    publish(p, KEY, UNTITLED)  # a newer upload, broken: the good version stays online, reported
    assert reports(p) == [report]
    p.queues["parse"].messages.append(good)
    p.drain()
    assert reports(p) == [report] and p.catalog.rejected == {KEY}


def test_a_site_wide_refresh_deletes_no_report_its_posts_cannot_have() -> None:
    # Reading every post again under new settings asks which have a report with the batch's first
    # read, as an upload does: not a DELETE and a catalog write for each post.
    p, artifacts = pipeline()
    publish(p, KEY, GOOD)
    publish(p, "_posts/2024-05-21-rates.md", FIXED)
    publish(p, "_config.yml", b"title: Before\ntimezone: Asia/Shanghai\n")
    publish(p, "_config.yml", b"title: After\ntimezone: Asia/Shanghai\n")
    assert "After" in p.site.objects["markets/2024/05/20/yuan.html"].body.decode()
    assert p.invocations.get("refresh", 0) >= 1  # the posts were read again
    assert report_deletes(artifacts) == []
