"""The events that cross function boundaries, and how to read S3 notifications.

Parse reads S3 notifications (EventBridge "Object Created"/"Object Deleted" events,
or classic S3 notification records) and emits publishing events; render and index
read those. Both arrive wrapped in SQS messages.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

from aws_lambda_powertools.utilities.data_classes import S3Event, S3EventBridgeNotificationEvent

from newsdrop.ports import BusEvent, PostRecord, normalise_sequencer

SOURCE = "newsdrop.parse"
POST_UPSERTED = "PostUpserted"
POST_REMOVED = "PostRemoved"
POST_REJECTED = "PostRejected"
SITE_CONFIGURED = "SiteConfigured"


class MalformedEvent(ValueError):
    """A message that is not an event this function understands."""


@dataclass(frozen=True, slots=True)
class SourceChange:
    key: str
    sequencer: str
    removed: bool


def source_changes(body: dict[str, Any]) -> list[SourceChange]:
    """The source-bucket changes in one SQS message body (EventBridge or S3 notification format)."""
    if body.get("Event") == "s3:TestEvent":
        return []  # S3 sends one when a notification is configured; it names no object
    try:
        if "detail-type" in body:
            event = S3EventBridgeNotificationEvent(body)
            if event.detail_type not in ("Object Created", "Object Deleted"):
                raise MalformedEvent(f"unexpected S3 event type {event.detail_type!r}")
            obj = event.detail.object
            # Powertools decodes the key (S3 URL-encodes keys: "red flower.md" arrives as "red+flower.md").
            return [_change(obj.key, obj.sequencer, event.detail_type == "Object Deleted")]
        if "Records" in body:
            return [
                _change(
                    unquote_plus(record.s3.get_object.key),  # raw in S3 notification records: decode here
                    record.s3.get_object.sequencer,
                    record.event_name.startswith("ObjectRemoved"),
                )
                for record in S3Event(body).records
            ]
    except (KeyError, TypeError, AttributeError) as exc:
        raise MalformedEvent(f"S3 event is missing a field: {exc}") from exc
    raise MalformedEvent("message is neither an EventBridge event nor an S3 notification")


def _change(key: Any, sequencer: Any, removed: bool) -> SourceChange:
    if not isinstance(key, str) or not key:
        raise MalformedEvent("S3 event without an object key")
    if not isinstance(sequencer, str) or not sequencer.strip():
        raise MalformedEvent(f"S3 event for {key!r} has no sequencer, so it cannot be ordered")
    return SourceChange(key=key, sequencer=normalise_sequencer(sequencer), removed=removed)


def for_record(record: PostRecord) -> BusEvent:
    """The event that announces a committed record; rebuilt the same way for a redelivery."""
    detail = {
        "key": record.key,
        "sequencer": record.sequencer,
        "url": record.url,
        "previous_url": record.previous_url,
        "lists": list(record.touched),
    }
    return BusEvent(POST_UPSERTED if record.live else POST_REMOVED, detail)


def rejected(key: str, sequencer: str, reason: str) -> BusEvent:
    return BusEvent(POST_REJECTED, {"key": key, "sequencer": sequencer, "reason": reason})


def site_configured(sequencer: str) -> BusEvent:
    return BusEvent(SITE_CONFIGURED, {"sequencer": sequencer})


@dataclass(frozen=True, slots=True)
class PublishingEvent:
    detail_type: str
    key: str
    url: str
    previous_url: str
    lists: tuple[str, ...]


def publishing_event(body: dict[str, Any]) -> PublishingEvent:
    """Read an EventBridge event that parse emitted (as delivered in an SQS message body)."""
    detail_type = body.get("detail-type")
    detail = body.get("detail")
    if detail_type not in (POST_UPSERTED, POST_REMOVED, SITE_CONFIGURED) or not isinstance(detail, dict):
        raise MalformedEvent(f"unexpected publishing event {detail_type!r}")
    lists = detail.get("lists", [])
    if not isinstance(lists, list) or not all(isinstance(x, str) for x in lists):
        raise MalformedEvent("publishing event lists must be a list of strings")
    return PublishingEvent(
        detail_type=str(detail_type),
        key=str(detail.get("key", "")),
        url=str(detail.get("url", "")),
        previous_url=str(detail.get("previous_url", "")),
        lists=tuple(lists),
    )
