"""Parse: the only stage that reads source files.

For each S3 change it reads the object once, normalises it, commits the post to the
catalog (only if the change's sequencer is newer than the stored one) and emits
PostUpserted / PostRemoved, or PostRejected with the reason.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from newsdrop import events, model, posts
from newsdrop.model import Entry, Post, SiteConfig
from newsdrop.ports import BusEvent, ConfigRecord, Ports, PostRecord, TooLarge
from newsdrop.stages.common import Outcome, process_batch, site_config

log = logging.getLogger(__name__)

REPORTS_PREFIX = "reports/rejected/"
ARTIFACTS_PREFIX = "posts/"


def report_key(source_key: str) -> str:
    """Where a rejection is reported: in the private artifact bucket, never on the public site."""
    return REPORTS_PREFIX + hashlib.sha256(source_key.encode()).hexdigest()[:32] + ".json"


def artifact_key(post: Post) -> str:
    body = json.dumps(post.to_json(), ensure_ascii=False, sort_keys=True).encode()
    # Content-addressed per source key: concurrent parses of one key never overwrite each other's artifact.
    folder = hashlib.sha256(post.key.encode()).hexdigest()[:24]
    return f"{ARTIFACTS_PREFIX}{folder}/{hashlib.sha256(body).hexdigest()[:24]}.json"


@dataclass
class ParseBatch:
    ports: Ports
    config: SiteConfig
    emitted: list[BusEvent] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=lambda: {"published": 0, "removed": 0, "rejected": 0, "skipped": 0})

    def handle(self, record: SQSRecord) -> None:
        for change in events.source_changes(record.json_body):
            self.apply(change)

    def apply(self, change: events.SourceChange) -> None:
        extra = {"key": change.key, "sequencer": change.sequencer}
        if posts.is_config_key(change.key):
            self.apply_config(change)
            return
        if not posts.is_post_key(change.key):
            log.info("ignored: not a post", extra=extra)
            self.counts["skipped"] += 1
            return
        stored = self.ports.catalog.get_post(change.key)
        if stored is not None and stored.sequencer >= change.sequencer:
            self.redelivered(stored, change)
            return
        if change.removed:
            self.commit(PostRecord(key=change.key, sequencer=change.sequencer, live=False), stored)
            return
        try:
            blob = self.ports.source.get(change.key, max_bytes=self.ports.max_post_bytes)
        except TooLarge as exc:
            self.reject(change, f"post is {exc.size} bytes; the limit is {exc.limit}")
            return
        if blob is None:  # deleted since the event was sent: its removal event follows, or this is it
            self.commit(PostRecord(key=change.key, sequencer=change.sequencer, live=False), stored)
            return
        try:
            post = posts.read_post(change.key, blob.body, self.config, max_bytes=self.ports.max_post_bytes)
        except posts.Rejected as exc:
            self.reject(change, exc.reason)
            return
        artifact = artifact_key(post)
        body = json.dumps(post.to_json(), ensure_ascii=False, sort_keys=True).encode()
        if self.ports.artifacts.head(artifact) is None:
            self.ports.artifacts.put(artifact, body, content_type="application/json")
        entry = Entry.of(post)
        record = PostRecord(
            key=post.key,
            sequencer=change.sequencer,
            live=True,
            url=post.url,
            sort=model.sort_key(post.date, post.key),
            artifact=artifact,
            lists=tuple(model.lists_of(post)),
            entry=entry,
        )
        if self.commit(record, stored) and stored is not None and stored.artifact and stored.artifact != artifact:
            self.ports.artifacts.delete(stored.artifact)

    def commit(self, record: PostRecord, stored: PostRecord | None) -> bool:
        result = self.ports.catalog.commit(record)
        extra = {"key": record.key, "sequencer": record.sequencer}
        if result.status == "url_taken":
            self.reject(
                events.SourceChange(record.key, record.sequencer, removed=False),
                f"permalink {record.url} is already used by {result.url_owner}",
            )
            return False
        if result.status == "stale":
            log.info("stale change ignored", extra=extra)
            self.counts["skipped"] += 1
            return False
        assert result.current is not None
        self.emitted.append(events.for_record(result.current))
        if result.status == "applied":
            self.counts["published" if record.live else "removed"] += 1
            if record.live:
                self.ports.artifacts.delete(report_key(record.key))  # a fixed post is no longer rejected
            log.info("published" if record.live else "removed", extra={**extra, "url": result.current.url})
        return result.status == "applied"

    def redelivered(self, stored: PostRecord, change: events.SourceChange) -> None:
        if stored.sequencer == change.sequencer:
            # At-least-once delivery: the first attempt may have died before its event went out.
            # Re-emitting is safe because render and index are idempotent.
            self.emitted.append(events.for_record(stored))
            log.info("duplicate change: event re-emitted", extra={"key": change.key, "sequencer": change.sequencer})
        else:
            log.info("stale change ignored", extra={"key": change.key, "sequencer": change.sequencer})
        self.counts["skipped"] += 1

    def reject(self, change: events.SourceChange, reason: str) -> None:
        report = {"key": change.key, "sequencer": change.sequencer, "reason": reason}
        self.ports.artifacts.put(
            report_key(change.key),
            json.dumps(report, ensure_ascii=False).encode(),
            content_type="application/json; charset=utf-8",
        )
        self.emitted.append(events.rejected(change.key, change.sequencer, reason))
        self.counts["rejected"] += 1
        # The source object stays where it is: a rejection never deletes or rewrites input.
        log.warning("rejected", extra={"key": change.key, "sequencer": change.sequencer, "reason": reason})

    def apply_config(self, change: events.SourceChange) -> None:
        if change.removed:
            config = model.SiteConfig()
        else:
            try:
                blob = self.ports.source.get(change.key, max_bytes=self.ports.max_post_bytes)
            except TooLarge as exc:
                self.reject(change, f"_config.yml is {exc.size} bytes; the limit is {exc.limit}")
                return
            if blob is None:
                config = model.SiteConfig()
            else:
                try:
                    config = posts.read_config(blob.body, max_bytes=self.ports.max_post_bytes)
                except posts.Rejected as exc:
                    self.reject(change, exc.reason)
                    return
        if self.ports.catalog.put_config(ConfigRecord(sequencer=change.sequencer, config=config)):
            self.config = config
            self.emitted.append(events.site_configured(change.sequencer))
            log.info("site configuration changed", extra={"key": change.key, "sequencer": change.sequencer})


def run(event: dict[str, Any], ports: Ports) -> Outcome:
    batch = ParseBatch(ports=ports, config=site_config(ports.catalog))
    response = process_batch(event, batch.handle)
    # One PutEvents call per ten events for the whole batch. If it fails, the whole batch is
    # retried: every record is then a duplicate whose event is re-emitted, so nothing is lost.
    ports.bus.publish(batch.emitted)
    return Outcome(response=response, counts=batch.counts)
