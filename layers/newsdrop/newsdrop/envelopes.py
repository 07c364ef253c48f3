"""AWS-shaped event envelopes: S3 notifications via EventBridge, and SQS batches around them.

The in-process pipeline (`newsdrop build`), the local stack and the tests all build
their events here, in exactly the shape Lambda receives on AWS.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import random
import threading
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote_plus

from newsdrop.ports import BusEvent

REGION = "us-east-1"
ACCOUNT = "123456789012"

_lock = threading.Lock()
_last = 0
_counter = itertools.count()


def next_sequencer() -> str:
    """A sequencer that grows with time and never repeats in this process, like S3's per-key ones."""
    global _last
    with _lock:
        value = max(time.time_ns(), _last + 1)
        _last = value
    return f"{value:020X}"


_stamp = (0, "")  # the last second stamped, and its text


def _now() -> str:
    # Formatted once a second: a build stamps tens of thousands of envelopes.
    global _stamp
    second = int(time.time())
    if _stamp[0] != second:
        _stamp = (second, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(second)))
    return _stamp[1]


def _random_hex(bits: int) -> str:
    """Random hexadecimal digits for ids. Ids identify, they protect nothing: Python's generator
    serves (which reseeds itself in a forked child), where uuid.uuid4 makes a system call for each
    id, and a build makes tens of thousands."""
    return f"{random.getrandbits(bits):0{bits // 4}x}"  # nosec B311 - an id, not a secret


def new_id() -> str:
    """A random (version 4) UUID as text: an event's or a message's id."""
    h = _random_hex(128)
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"


def s3_notification(
    bucket: str,
    key: str,
    *,
    sequencer: str,
    removed: bool,
    size: int = 0,
    etag: str = "",
    permanent: bool = False,
) -> dict[str, Any]:
    """An S3 'Object Created' / 'Object Deleted' event as EventBridge delivers it (key URL-encoded).
    A deletion in a versioned bucket creates a delete marker; `permanent`: a version (or a delete
    marker) removed by its id, after which the key may still have a current object."""
    detail: dict[str, Any] = {
        "version": "0",
        "bucket": {"name": bucket},
        "object": {"key": quote_plus(key, safe="/"), "sequencer": sequencer},
        "request-id": _random_hex(64).upper(),
        "requester": ACCOUNT,
        "reason": "DeleteObject" if removed else "PutObject",
    }
    if not removed:
        detail["object"].update({"size": size, "etag": etag})
    else:
        detail["deletion-type"] = "Permanently Deleted" if permanent else "Delete Marker Created"
    return {
        "version": "0",
        "id": new_id(),
        "detail-type": "Object Deleted" if removed else "Object Created",
        "source": "aws.s3",
        "account": ACCOUNT,
        "time": _now(),
        "region": REGION,
        "resources": [f"arn:aws:s3:::{bucket}"],
        "detail": detail,
    }


def bus_envelope(event: BusEvent, bus: str = "newsdrop-publishing") -> dict[str, Any]:
    """A publishing event as an EventBridge rule hands it to an SQS target."""
    return {
        "version": "0",
        "id": new_id(),
        "detail-type": event.detail_type,
        "source": event.source,
        "account": ACCOUNT,
        "time": _now(),
        "region": REGION,
        "resources": [],
        "detail": event.detail,
        "event-bus-name": bus,
    }


def scheduled_event(rule: str) -> dict[str, Any]:
    """What an EventBridge schedule rule (`rate(...)`) hands its Lambda target."""
    return {
        "version": "0",
        "id": new_id(),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT,
        "time": _now(),
        "region": REGION,
        "resources": [f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{rule}"],
        "detail": {},
    }


def sqs_record(body: str, *, queue: str, receive_count: int = 1, message_id: str | None = None) -> dict[str, Any]:
    return {
        "messageId": message_id or new_id(),
        "receiptHandle": f"rh-{next(_counter)}",
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": str(receive_count),
            "SentTimestamp": str(int(time.time() * 1000)),
            "SenderId": ACCOUNT,
            "ApproximateFirstReceiveTimestamp": str(int(time.time() * 1000)),
        },
        "messageAttributes": {},
        "md5OfBody": hashlib.md5(body.encode(), usedforsecurity=False).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{queue}",
        "awsRegion": REGION,
    }


def sqs_event(bodies: Sequence[dict[str, Any] | str], *, queue: str) -> dict[str, Any]:
    """An SQS batch as Lambda's event source mapping delivers it."""
    return {
        "Records": [
            sqs_record(b if isinstance(b, str) else json.dumps(b, ensure_ascii=False), queue=queue) for b in bodies
        ]
    }
