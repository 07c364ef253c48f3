"""Index: the site's search index, from catalog state.

One JSON shard per day of posts (rewritten only for the days a batch touched)
and a small manifest that lists the shards.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from newsdrop import events
from newsdrop.ports import Catalog, ObjectStore, Ports
from newsdrop.rendering import pages
from newsdrop.rendering.writer import SiteWriter, invalidation_paths
from newsdrop.stages.common import Outcome, process_batch

SHARDS_PREFIX = "search/posts/"
MANIFEST_KEY = "search/manifest.json"


def _json(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()


def day_shard(day: str, catalog: Catalog) -> pages.Compute:
    def compute() -> bytes | None:
        entries = catalog.entries(f"day:{day}", limit=pages.MAX_DAY_ENTRIES)
        if not entries:
            return None
        return _json(
            {
                "day": day,
                "posts": [{"url": e.url, "title": e.title, "date": e.date, "tags": e.tags} for e in entries],
            }
        )

    return compute


def manifest(site: ObjectStore) -> pages.Compute:
    def compute() -> bytes:
        shards = [{"url": "/" + key} for key in sorted(site.list_keys(SHARDS_PREFIX), reverse=True)]
        return _json({"version": 1, "shards": shards})

    return compute


@dataclass
class IndexBatch:
    ports: Ports
    writer: SiteWriter
    days: set[str] = field(default_factory=set)

    def handle(self, record: SQSRecord) -> None:
        event = events.publishing_event(record.json_body)
        self.days.update(list_id.partition(":")[2] for list_id in event.lists if list_id.startswith("day:"))

    def finish(self) -> None:
        for day in sorted(self.days):
            self.writer.derive(f"{SHARDS_PREFIX}{day}.json", day_shard(day, self.ports.catalog))
        if self.days:
            self.writer.derive(MANIFEST_KEY, manifest(self.ports.site))


def run(event: dict[str, Any], ports: Ports) -> Outcome:
    batch = IndexBatch(ports=ports, writer=SiteWriter(ports.site))
    response = process_batch(event, batch.handle)
    batch.finish()
    counts = batch.writer.counts
    # One invalidation per batch, of exactly the objects whose content changed.
    invalidate = invalidation_paths(counts.changed_keys)
    if invalidate:
        ports.cdn.invalidate(invalidate)
    return Outcome(
        response=response,
        counts={
            "index_objects_written": counts.written,
            "index_objects_deleted": counts.deleted,
            "invalidation_paths": len(invalidate),
        },
        changed_keys=list(counts.changed_keys),
    )
