"""What all stages share: batch processing with partial failures, and the site configuration."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from newsdrop import paths
from newsdrop.events import PublishingEvent
from newsdrop.model import SiteConfig
from newsdrop.ports import Catalog, ConfigRecord, ObjectStore


@dataclass
class Outcome:
    """A stage's answer to Lambda (`response`) and what it did (`counts`, published as metrics)."""

    response: dict[str, Any]
    counts: dict[str, int] = field(default_factory=dict)
    changed_keys: list[str] = field(default_factory=list)


def process_batch(event: dict[str, Any], handle_record: Callable[[SQSRecord], None]) -> dict[str, Any]:
    """Run `handle_record` on every record; failed ones go back to the queue alone (ReportBatchItemFailures)."""
    if not event.get("Records"):
        return {"batchItemFailures": []}
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    return dict(process_partial_response(event=event, record_handler=handle_record, processor=processor))


def site_settings(catalog: Catalog) -> ConfigRecord:
    return or_defaults(catalog.get_config())


def or_defaults(stored: ConfigRecord | None) -> ConfigRecord:
    """The stored site settings; generation 0 (the defaults) before any `_config.yml` or template."""
    return stored if stored is not None else ConfigRecord(generation=0, config=SiteConfig())


@dataclass
class Artifacts:
    """Post artifacts as render and index read them: the bodies their events carried, else the
    artifact bucket's. A carried body is filed under the key it hashes to, so it is only ever read
    for the artifact the catalog names (an event from an older commit, or a forged one, is not)."""

    store: ObjectStore
    carried: dict[str, bytes] = field(default_factory=dict)

    def carry(self, event: PublishingEvent) -> None:
        if event.artifact:
            body = event.artifact.encode()
            self.carried[paths.artifact_key(event.key, body)] = body

    def read(self, key: str) -> bytes | None:
        body = self.carried.get(key)
        if body is None:
            blob = self.store.get(key)
            body = None if blob is None else blob.body
        return body
