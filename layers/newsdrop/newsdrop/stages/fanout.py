"""Fan-out: after the site settings change, ask Parse to read every post again.

One message is one page: up to PAGE source keys listed after the previous page's last key
(one S3 LIST request), sent on as refresh requests of ten keys, and a continuation for the
next page. An invocation's work is bounded whatever the archive size, and the refresh moves
through the bulk lanes, so single publishes keep their own queues meanwhile. A page of an
older generation stops: the newer generation's fan-out reads every post anyway.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Final

from newsdrop import events, source_keys
from newsdrop.ports import BusEvent, Ports
from newsdrop.stages.common import Message, Outcome, messages, process_batch, site_settings

log = logging.getLogger(__name__)

PAGE: Final = 1000  # keys per page: one LIST request, 100 refresh requests


@dataclass
class FanoutBatch:
    ports: Ports
    emitted: list[BusEvent] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=lambda: {"listed": 0, "refresh_requests": 0, "superseded": 0})
    # The progress of the pages listed, as (generation, posts listed, listing complete): counted once
    # their events are out, so that a page delivered again after its PutEvents failed counts once.
    listed: list[tuple[int, int, bool]] = field(default_factory=list)

    def handle(self, record: Message) -> None:
        message = events.fanout_message(record.json_body)
        current = site_settings(self.ports.catalog).generation
        if message.generation < current:
            log.info("older fan-out stopped", extra={"generation": message.generation, "current": current})
            self.counts["superseded"] += 1
            return
        listed = self.ports.source.list_page(source_keys.POSTS_PREFIX, after=message.after, limit=PAGE)
        keys = [key for key in listed if source_keys.is_post_key(key)]
        for start in range(0, len(keys), events.MAX_REFRESH_KEYS):
            self.emitted.append(
                events.refresh_requested(message.generation, keys[start : start + events.MAX_REFRESH_KEYS])
            )
            self.counts["refresh_requests"] += 1
        more = len(listed) == PAGE
        if more:
            self.emitted.append(events.fanout_continued(message.generation, listed[-1]))
        self.listed.append((message.generation, len(keys), not more))
        self.counts["listed"] += len(keys)


def run(event: dict[str, Any], ports: Ports) -> Outcome:
    batch = FanoutBatch(ports=ports)
    response = process_batch(messages(event), batch.handle)
    ports.bus.publish(batch.emitted)
    for generation, listed, complete in batch.listed:
        ports.catalog.count_refresh(generation, listed=listed, complete=complete)
    return Outcome(response=response, counts=batch.counts)
