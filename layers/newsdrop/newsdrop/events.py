"""The events that cross function boundaries, and how to read S3 notifications.

Parse reads S3 notifications (EventBridge "Object Created"/"Object Deleted" events,
or classic S3 notification records) and emits publishing events; render and index
read those. Both arrive wrapped in SQS messages.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import unquote_plus

from newsdrop import source_keys
from newsdrop.ports import BusEvent, PostRecord, normalise_sequencer

SOURCE = "newsdrop.parse"
POST_UPSERTED = "PostUpserted"
POST_REMOVED = "PostRemoved"
POST_REJECTED = "PostRejected"
SITE_CONFIGURED = "SiteConfigured"
FILE_CHANGED = "FileChanged"  # a file the site serves as it is was uploaded or deleted
# A one-time schedule's event: a post's phase changes now (scheduled -> published -> archived).
POST_DUE = "PostDue"
SCHEDULER_SOURCE = "newsdrop.scheduler"
# The site-wide refresh after a settings change: parse re-reads a page of posts; fan-out goes on.
REFRESH_REQUESTED = "RefreshRequested"
FANOUT_CONTINUED = "FanoutContinued"
FANOUT_SOURCE = "newsdrop.fanout"
# Events of a site-wide refresh travel in a lane of their own, so they never delay a single publish.
Lane = Literal["live", "bulk"]
MAX_REFRESH_KEYS = 10


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
        # S3 URL-encodes keys in both forms: "red flower.md" arrives as "red+flower.md".
        if "detail-type" in body:
            detail_type = body["detail-type"]
            if detail_type not in ("Object Created", "Object Deleted"):
                raise MalformedEvent(f"unexpected S3 event type {detail_type!r}")
            obj = body["detail"]["object"]
            return [_change(unquote_plus(obj["key"]), obj["sequencer"], detail_type == "Object Deleted")]
        if "Records" in body:
            return [
                _change(
                    unquote_plus(record["s3"]["object"]["key"]),
                    record["s3"]["object"]["sequencer"],
                    record["eventName"].startswith("ObjectRemoved"),
                )
                for record in body["Records"]
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


# The largest artifact an event carries. Most posts of a news feed are far smaller (1.7 KB is the
# median of the reference site's); ten such events stay well inside one PutEvents request (256 KB).
CARRIED_ARTIFACT_MAX = 8 * 1024


def for_record(
    record: PostRecord, lane: Lane = "live", *, created: bool = False, artifact: bytes | None = None
) -> BusEvent:
    """The event that announces a committed record; rebuilt the same way for a redelivery.

    `created`: the commit just made the post live, which it was not before, so its page is new (a
    hint that saves render a HEAD). A redelivery's event does not say so: its page may be written.
    `artifact`: the body of the record's artifact, carried when small, so that render and index
    need not read it from the artifact bucket (`stages.common.Artifacts` checks it against the key
    the catalog names)."""
    detail: dict[str, Any] = {
        "key": record.key,
        "sequencer": record.sequencer,
        "url": record.url if record.live else "",
        "previous_url": record.previous_url,
        "lists": list(record.touched),
        "aliases": list(record.aliases),
        "released": list(record.released),
        "lane": lane,
    }
    if created:
        detail["created"] = True
    if artifact is not None and record.live and len(artifact) <= CARRIED_ARTIFACT_MAX:
        # Only a live post's: render and index read no other (a draft's stays out of the queues).
        detail["artifact"] = artifact.decode()
    return BusEvent(POST_UPSERTED if record.live else POST_REMOVED, detail)


def file_changed(key: str, sequencer: str) -> BusEvent:
    """Render copies the file as the source bucket holds it when it runs, or deletes it: events of one
    key may come in any order, and the last to run copies what is there last."""
    return BusEvent(FILE_CHANGED, {"key": key, "sequencer": sequencer, "lane": "live"})


def rejected(key: str, sequencer: str, reason: str) -> BusEvent:
    return BusEvent(POST_REJECTED, {"key": key, "sequencer": sequencer, "reason": reason})


def site_configured(generation: int) -> BusEvent:
    return BusEvent(SITE_CONFIGURED, {"generation": generation, "lane": "live"})


def refresh_requested(generation: int, keys: list[str]) -> BusEvent:
    return BusEvent(REFRESH_REQUESTED, {"generation": generation, "keys": keys}, source=FANOUT_SOURCE)


def fanout_continued(generation: int, after: str) -> BusEvent:
    return BusEvent(FANOUT_CONTINUED, {"generation": generation, "after": after}, source=FANOUT_SOURCE)


def due_detail(key: str, revision: str, at: dt.datetime) -> dict[str, Any]:
    return {"key": key, "revision": revision, "at": at.isoformat()}


@dataclass(frozen=True, slots=True)
class Due:
    """A post's schedule fired: its phase may change at `at` (never earlier)."""

    key: str
    revision: str
    at: dt.datetime


@dataclass(frozen=True, slots=True)
class Refresh:
    """Re-read these posts under the current site settings (a site-wide refresh)."""

    generation: int
    keys: tuple[str, ...]


ParseMessage = SourceChange | Due | Refresh


def parse_messages(body: dict[str, Any]) -> list[ParseMessage]:
    """What one message on a parse queue asks for: S3 changes, a schedule's event or a refresh."""
    detail_type = body.get("detail-type")
    if detail_type not in (POST_DUE, REFRESH_REQUESTED):
        return list(source_changes(body))
    detail = body.get("detail")
    if not isinstance(detail, dict):
        raise MalformedEvent(f"{detail_type} event without a detail")
    try:
        if detail_type == POST_DUE:
            at = dt.datetime.fromisoformat(str(detail["at"]))
            if at.tzinfo is None:
                raise MalformedEvent("PostDue time without a time zone")
            return [Due(key=_text(detail["key"]), revision=_text(detail["revision"]), at=at)]
        keys = detail["keys"]
        if not isinstance(keys, list) or not all(isinstance(k, str) and k for k in keys):
            raise MalformedEvent("RefreshRequested keys must be a list of source keys")
        if len(keys) > MAX_REFRESH_KEYS:
            raise MalformedEvent(f"RefreshRequested names {len(keys)} keys; at most {MAX_REFRESH_KEYS}")
        return [Refresh(generation=int(detail["generation"]), keys=tuple(keys))]
    except MalformedEvent:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise MalformedEvent(f"{detail_type} event is missing a field or has a bad one: {exc}") from exc


MAX_NAMED_KEYS = 10  # of a message, in the log line of its failure


def named_keys(body: Any) -> list[str]:
    """The source keys a message names (an upload's, a publishing event's, a refresh page's), for
    the log line of its failure: whoever reads it learns which post failed. Never raises."""
    try:
        if isinstance(body, dict) and isinstance(body.get("detail"), dict):
            detail = body["detail"]
            if isinstance(detail.get("key"), str):
                return [detail["key"]]
            if isinstance(detail.get("keys"), list):
                return [str(key) for key in detail["keys"][:MAX_NAMED_KEYS]]
        return [change.key for change in source_changes(body)][:MAX_NAMED_KEYS]
    except (MalformedEvent, AttributeError, KeyError, TypeError, ValueError):
        return []


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise MalformedEvent("expected a non-empty string")
    return value


@dataclass(frozen=True, slots=True)
class Fanout:
    """Where a site-wide refresh stands: list the source posts after `after` for `generation`."""

    generation: int
    after: str


def fanout_message(body: dict[str, Any]) -> Fanout:
    detail_type = body.get("detail-type")
    detail = body.get("detail")
    if detail_type not in (SITE_CONFIGURED, FANOUT_CONTINUED) or not isinstance(detail, dict):
        raise MalformedEvent(f"unexpected fan-out event {detail_type!r}")
    try:
        return Fanout(generation=int(detail["generation"]), after=str(detail.get("after", "")))
    except (KeyError, TypeError, ValueError) as exc:
        raise MalformedEvent(f"fan-out event has no valid generation: {exc}") from exc


@dataclass(frozen=True, slots=True)
class PublishingEvent:
    detail_type: str
    key: str
    url: str
    previous_url: str
    lists: tuple[str, ...]
    aliases: tuple[str, ...] = ()
    released: tuple[str, ...] = ()  # earlier URLs the post no longer redirects from
    bulk: bool = False  # in the lane of a site-wide refresh or an import, not a single publish
    created: bool = False  # the post was made live by the commit announced (`for_record`)
    artifact: str = ""  # the body of the post's artifact, if the event carries it


def publishing_event(body: dict[str, Any]) -> PublishingEvent:
    """Read an EventBridge event that parse emitted (as delivered in an SQS message body)."""
    detail_type = body.get("detail-type")
    detail = body.get("detail")
    if detail_type not in (POST_UPSERTED, POST_REMOVED, SITE_CONFIGURED, FILE_CHANGED) or not isinstance(detail, dict):
        raise MalformedEvent(f"unexpected publishing event {detail_type!r}")
    if detail_type == FILE_CHANGED and not source_keys.is_file_key(str(detail.get("key", ""))):
        raise MalformedEvent(
            f"{FILE_CHANGED} event for {str(detail.get('key'))[:80]!r}, which is not a file the site serves"
        )
    lists = detail.get("lists", [])
    aliases = detail.get("aliases", [])
    released = detail.get("released", [])
    for name, value in (("lists", lists), ("aliases", aliases), ("released", released)):
        if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
            raise MalformedEvent(f"publishing event {name} must be a list of strings")
    return PublishingEvent(
        detail_type=str(detail_type),
        key=str(detail.get("key", "")),
        url=str(detail.get("url", "")),
        previous_url=str(detail.get("previous_url", "")),
        lists=tuple(lists),
        aliases=tuple(aliases),
        released=tuple(released),
        bulk=detail.get("lane") == "bulk",
        created=detail.get("created") is True,
        artifact=artifact if isinstance(artifact := detail.get("artifact", ""), str) else "",
    )
