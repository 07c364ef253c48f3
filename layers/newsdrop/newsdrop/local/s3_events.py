"""Make moto's S3 event notifications look like AWS's.

moto (5.2) sends S3 -> EventBridge events with one constant `sequencer` and an
unencoded key, and sends nothing when an object in a versioned bucket is deleted.
AWS sends a per-key increasing sequencer, a URL-encoded key and an "Object Deleted"
event for the delete marker. Parse relies on all three, so the local stack (which
runs moto in its own process) installs this hook; it changes nothing else in moto.
"""

from __future__ import annotations

import threading
from typing import Any

from newsdrop import envelopes

_installed = threading.Lock()
_done = False


def install() -> None:
    global _done
    with _installed:
        if _done:
            return
        from moto.core.utils import unix_time
        from moto.events.models import events_backends
        from moto.s3 import models as s3_models
        from moto.s3 import notifications

        def send_event_bridge(account_id: str, bucket: Any, event_name: str, key: Any) -> None:
            removed = "ObjectRemoved" in str(event_name)
            event = envelopes.s3_notification(
                bucket.name,
                key.name,
                sequencer=envelopes.next_sequencer(),
                removed=removed,
                size=0 if removed else int(getattr(key, "size", 0) or 0),
                etag="" if removed else str(getattr(key, "etag", "")).strip('"'),
            )
            event["time"] = unix_time()  # moto's rule delivery expects epoch seconds here
            event["account"] = account_id
            event["region"] = bucket.region_name
            backend = events_backends[account_id][bucket.region_name]
            for bus in list(backend.event_buses.values()):
                for rule in list(bus.rules.values()):
                    rule.send_to_targets(event, transform_input=False)

        notifications._send_event_bridge_message = send_event_bridge

        original_delete = s3_models.S3Backend.delete_object

        def delete_object(self: Any, bucket_name: str, key_name: str, version_id: str | None = None,
                          bypass: bool = False) -> Any:
            result = original_delete(self, bucket_name, key_name, version_id=version_id, bypass=bypass)
            bucket = self.get_bucket(bucket_name)
            if bucket.is_versioned and version_id is None and bucket.notification_configuration is not None:
                marker = type("DeleteMarker", (), {"name": key_name, "size": 0, "etag": "", "version_id": None})()
                notifications.send_event(
                    self.account_id,
                    notifications.S3NotificationEvent.OBJECT_REMOVED_DELETE_MARKER_CREATED_EVENT,
                    bucket,
                    marker,
                )
            return result

        s3_models.S3Backend.delete_object = delete_object  # type: ignore[method-assign]
        _done = True
