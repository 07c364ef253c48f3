"""Reading S3 notifications (EventBridge and classic) and publishing events.

The message bodies are written here in the shapes AWS documents, not built by the
package, so a change to the package's own envelopes cannot hide a misreading.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import subprocess
import sys
import uuid
from typing import Any

import pytest

from newsdrop import envelopes, events
from newsdrop.events import MalformedEvent, SourceChange, source_changes
from newsdrop.ports import BusEvent, PostRecord, normalise_sequencer


def eventbridge(key: str, *, sequencer: str | None = "0062E1F4B7A1B2C3D4", deleted: bool = False) -> dict[str, Any]:
    obj: dict[str, Any] = {"key": key, "size": 120, "etag": "d41d8cd98f00b204e9800998ecf8427e"}
    if sequencer is not None:
        obj["sequencer"] = sequencer
    return {
        "version": "0",
        "id": "17793124-05d4-b198-2fde-7ededc63b103",
        "detail-type": "Object Deleted" if deleted else "Object Created",
        "source": "aws.s3",
        "account": "123456789012",
        "time": "2021-12-08T14:06:00Z",
        "region": "us-east-1",
        "resources": ["arn:aws:s3:::newsdrop-source"],
        "detail": {
            "version": "0",
            "bucket": {"name": "newsdrop-source"},
            "object": obj,
            "request-id": "N4N7GDK58NMKJ12R",
            "requester": "123456789012",
            "reason": "DeleteObject" if deleted else "PutObject",
        },
    }


def s3_record(key: str, *, sequencer: str | None = "0055AED6DCD90281E5", event_name: str = "ObjectCreated:Put") -> dict:
    obj: dict[str, Any] = {"key": key, "size": 1024, "eTag": "d41d8cd98f00b204e9800998ecf8427e"}
    if sequencer is not None:
        obj["sequencer"] = sequencer
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": "us-east-1",
        "eventTime": "2021-12-08T14:06:00.000Z",
        "eventName": event_name,
        "userIdentity": {"principalId": "EXAMPLE"},
        "requestParameters": {"sourceIPAddress": "127.0.0.1"},
        "responseElements": {"x-amz-request-id": "EXAMPLE123456789", "x-amz-id-2": "EXAMPLE123/5678abcdefgh"},
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "testConfigRule",
            "bucket": {
                "name": "newsdrop-source",
                "ownerIdentity": {"principalId": "EXAMPLE"},
                "arn": "arn:aws:s3:::newsdrop-source",
            },
            "object": obj,
        },
    }


def notification(*records: dict[str, Any]) -> dict[str, Any]:
    return {"Records": list(records)}


# --- EventBridge


def test_eventbridge_object_created() -> None:
    [change] = source_changes(eventbridge("_posts/2021-12-08-a.md"))
    assert change == SourceChange("_posts/2021-12-08-a.md", normalise_sequencer("0062E1F4B7A1B2C3D4"), removed=False)


def test_eventbridge_object_deleted() -> None:
    [change] = source_changes(eventbridge("_posts/2021-12-08-a.md", deleted=True))
    assert change.removed


@pytest.mark.parametrize(
    ("encoded", "key"),
    [
        ("_posts/red+flower.md", "_posts/red flower.md"),
        ("_posts/%E7%BA%A2%E8%8A%B1.md", "_posts/红花.md"),
        ("_posts/a%2Bb.md", "_posts/a+b.md"),
        ("_posts/100%25.md", "_posts/100%.md"),
        ("_posts/2021-12-08-a%26b%3Dc.md", "_posts/2021-12-08-a&b=c.md"),
    ],
)
def test_eventbridge_keys_are_url_decoded_once(encoded: str, key: str) -> None:
    [change] = source_changes(eventbridge(encoded))
    assert change.key == key


def test_eventbridge_without_sequencer_is_malformed() -> None:
    with pytest.raises(MalformedEvent, match="sequencer"):
        source_changes(eventbridge("_posts/a.md", sequencer=None))


@pytest.mark.parametrize("sequencer", ["", "   "])
def test_eventbridge_with_blank_sequencer_is_malformed(sequencer: str) -> None:
    with pytest.raises(MalformedEvent, match="sequencer"):
        source_changes(eventbridge("_posts/a.md", sequencer=sequencer))


def test_eventbridge_without_key_is_malformed() -> None:
    body = eventbridge("_posts/a.md")
    del body["detail"]["object"]["key"]
    with pytest.raises(MalformedEvent):
        source_changes(body)


def test_eventbridge_other_s3_event_types_are_malformed() -> None:
    body = eventbridge("_posts/a.md")
    body["detail-type"] = "Object Restore Completed"
    with pytest.raises(MalformedEvent, match="Object Restore Completed"):
        source_changes(body)


# --- classic S3 notifications


def test_s3_notification_put_and_delete() -> None:
    changes = source_changes(
        notification(
            s3_record("_posts/a.md", sequencer="0A"),
            s3_record("_posts/b.md", sequencer="0B", event_name="ObjectRemoved:Delete"),
            s3_record("_posts/c.md", sequencer="0C", event_name="ObjectRemoved:DeleteMarkerCreated"),
            s3_record("_posts/d.md", sequencer="0D", event_name="ObjectCreated:CompleteMultipartUpload"),
        )
    )
    assert [(c.key, c.removed) for c in changes] == [
        ("_posts/a.md", False),
        ("_posts/b.md", True),
        ("_posts/c.md", True),
        ("_posts/d.md", False),
    ]
    assert [c.sequencer for c in changes] == [normalise_sequencer(s) for s in ("0A", "0B", "0C", "0D")]


@pytest.mark.parametrize(
    ("encoded", "key"),
    [
        ("_posts/red+flower.md", "_posts/red flower.md"),
        ("_posts/%E7%BA%A2.md", "_posts/红.md"),
        ("_posts/a%2Bb.md", "_posts/a+b.md"),
    ],
)
def test_s3_notification_keys_are_url_decoded_once(encoded: str, key: str) -> None:
    [change] = source_changes(notification(s3_record(encoded)))
    assert change.key == key


def test_s3_notification_without_sequencer_is_malformed() -> None:
    with pytest.raises(MalformedEvent, match="sequencer"):
        source_changes(notification(s3_record("_posts/a.md", sequencer=None)))


def test_s3_notification_without_s3_section_is_malformed() -> None:
    record = s3_record("_posts/a.md")
    del record["s3"]
    with pytest.raises(MalformedEvent):
        source_changes(notification(record))


def test_s3_test_event_is_ignored() -> None:
    body = {
        "Service": "Amazon S3",
        "Event": "s3:TestEvent",
        "Time": "2021-12-08T14:06:00.000Z",
        "Bucket": "newsdrop-source",
        "RequestId": "5582815E1AEA5ADF",
        "HostId": "8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE",
    }
    assert source_changes(body) == []


@pytest.mark.parametrize("body", [{}, {"hello": "world"}, {"detail": {}}])
def test_unknown_bodies_are_malformed(body: dict[str, Any]) -> None:
    with pytest.raises(MalformedEvent):
        source_changes(body)


def test_empty_records_give_no_changes() -> None:
    assert source_changes({"Records": []}) == []


def test_sequencers_are_normalised_so_they_compare_by_value() -> None:
    [short] = source_changes(eventbridge("_posts/a.md", sequencer="FF"))
    [long] = source_changes(eventbridge("_posts/a.md", sequencer="0100"))
    assert short.sequencer < long.sequencer


# --- the package's own envelopes read back the same way


@pytest.mark.parametrize("key", ["_posts/2021-12-08-a.md", "_posts/red flower.md", "_posts/红+花 100%.md"])
@pytest.mark.parametrize("removed", [False, True])
def test_envelope_round_trip(key: str, removed: bool) -> None:
    body = envelopes.s3_notification("bucket", key, sequencer="00AB", removed=removed)
    [change] = source_changes(json.loads(json.dumps(body)))
    assert change == SourceChange(key, normalise_sequencer("00AB"), removed)


def test_next_sequencer_grows() -> None:
    values = [envelopes.next_sequencer() for _ in range(50)]
    assert [normalise_sequencer(v) for v in values] == sorted({normalise_sequencer(v) for v in values})


def test_envelope_ids_are_distinct_version_4_uuids() -> None:
    ids = [envelopes.new_id() for _ in range(20000)]
    assert len(set(ids)) == len(ids)
    for text in ids[:2000]:
        parsed = uuid.UUID(text)
        assert str(parsed) == text
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122


# In an interpreter of its own: a test process may run other threads, where the build does not fork.
FORKED_IDS = """
import json, sys
from newsdrop import envelopes
from newsdrop.local.forked import Forked
child = Forked.start(lambda: [envelopes.new_id() for _ in range(100)])
if child is None:
    sys.exit("no fork: the process runs other threads")
print(json.dumps([child.result(), [envelopes.new_id() for _ in range(100)]]))
"""


def test_a_forked_process_makes_ids_of_its_own() -> None:
    # Index runs in a forked copy of a build: a generator copied with its state would repeat the
    # parent's ids there.
    run = subprocess.run([sys.executable, "-c", FORKED_IDS], capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr
    theirs, ours = json.loads(run.stdout)
    assert len(theirs) == len(ours) == 100
    assert not set(theirs) & set(ours)


def test_envelope_times_are_utc_seconds() -> None:
    body = envelopes.s3_notification("bucket", "_posts/a.md", sequencer="00AB", removed=False)
    stamped = dt.datetime.strptime(body["time"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    assert abs((dt.datetime.now(dt.UTC) - stamped).total_seconds()) < 60


# --- publishing events


def test_publishing_event_round_trip() -> None:
    record = PostRecord(
        key="_posts/a.md",
        sequencer=normalise_sequencer("1"),
        live=True,
        url="/new.html",
        touched=("all", "day:2021-12-08", "tag:红"),
        previous_url="/old.html",
    )
    bus_event = events.for_record(record)
    assert bus_event.detail_type == events.POST_UPSERTED
    read = events.publishing_event(json.loads(json.dumps(envelopes.bus_envelope(bus_event))))
    assert read.detail_type == events.POST_UPSERTED
    assert read.key == record.key
    assert read.url == "/new.html"
    assert read.previous_url == "/old.html"
    assert read.lists == ("all", "day:2021-12-08", "tag:红")


def test_tombstone_is_announced_as_removed() -> None:
    event = events.for_record(PostRecord(key="_posts/a.md", sequencer="1", live=False, previous_url="/a.html"))
    assert event.detail_type == events.POST_REMOVED
    assert event.detail["previous_url"] == "/a.html"


def test_publishing_event_rejects_unknown_types_and_bad_lists() -> None:
    good = envelopes.bus_envelope(BusEvent(events.POST_REMOVED, {"key": "k", "lists": ["all"]}))
    events.publishing_event(good)
    rejected = copy.deepcopy(good)
    rejected["detail-type"] = events.POST_REJECTED
    with pytest.raises(MalformedEvent):
        events.publishing_event(rejected)
    bad_lists = copy.deepcopy(good)
    bad_lists["detail"]["lists"] = "all"
    with pytest.raises(MalformedEvent):
        events.publishing_event(bad_lists)
    numbers = copy.deepcopy(good)
    numbers["detail"]["lists"] = [1]
    with pytest.raises(MalformedEvent):
        events.publishing_event(numbers)


def test_a_failed_message_s_log_line_names_its_keys_and_reason(caplog: pytest.LogCaptureFixture) -> None:
    # A message that keeps failing goes to a dead-letter queue after five tries: its log lines must
    # say which source failed, and why, whatever kind of message it was.
    from newsdrop.stages.common import Message, process_batch

    upload = envelopes.s3_notification("newsdrop-source", "_posts/2024-05-20-a b.md", sequencer="0A", removed=False)
    event = envelopes.bus_envelope(
        events.for_record(PostRecord(key="_posts/2024-05-20-c.md", sequencer="0B", live=False, state="deleted"))
    )
    refresh = envelopes.bus_envelope(events.refresh_requested(2, ["_posts/x.md", "_posts/y.md"]))
    bodies = [upload, event, refresh, "not json"]
    batch = [
        Message({"messageId": f"m{n}", "body": b if isinstance(b, str) else json.dumps(b)})
        for n, b in enumerate(bodies)
    ]

    def fail(message: Message) -> None:
        raise PermissionError("AccessDenied on GetObject")

    with caplog.at_level("ERROR"):
        response = process_batch(batch, fail)
    assert [f["itemIdentifier"] for f in response["batchItemFailures"]] == ["m0", "m1", "m2", "m3"]
    logged = [(record.message_id, record.keys, record.reason) for record in caplog.records]  # type: ignore[attr-defined]
    reason = "PermissionError: AccessDenied on GetObject"
    assert logged == [
        ("m0", ["_posts/2024-05-20-a b.md"], reason),
        ("m1", ["_posts/2024-05-20-c.md"], reason),
        ("m2", ["_posts/x.md", "_posts/y.md"], reason),
        ("m3", [], reason),
    ]
