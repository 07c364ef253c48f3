"""The whole pipeline in one process, on memory adapters: what `newsdrop build` runs.

Same handlers, same events, same batches of ten as on AWS: uploads become S3
notifications on a parse queue, parse's events are routed by detail type to the
render and index queues, and each queue is drained in SQS-sized batches.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from newsdrop import envelopes, events, source_keys
from newsdrop.adapters.memory import MemoryBus, MemoryCatalog, MemoryScheduler, MemoryStore
from newsdrop.clock import Clock, SystemClock
from newsdrop.ports import BusEvent, Ports
from newsdrop.stages import fanout, index, parse, render
from newsdrop.stages.common import Outcome, site_settings

BATCH_SIZE = 10
# `newsdrop build` has the whole site at hand: render and index take it a thousand posts a batch,
# so listings, feed and sitemaps are rendered, and the search log flushed, once per thousand
# posts rather than once per ten (the same site: tests/unit/test_inprocess.py). A thousand keeps
# a 10,000-post build's memory near that of batches of ten; the whole site in one batch would
# double it. Parse stays at ten: its work is per post.
BULK_BATCH_SIZES = {"render": 1000, "render-bulk": 1000, "index": 1000, "index-bulk": 1000}
MAX_RECEIVES = 5
SOURCE_BUCKET = "newsdrop-source"
PUBLISHING = (events.POST_UPSERTED, events.POST_REMOVED, events.SITE_CONFIGURED)
# Drained in this order, each until empty, again and again until all are: parse's events feed
# the rest, and a site-wide refresh comes after the single publishes, as its lanes do on AWS.
ORDER = ("parse", "fanout", "refresh", "render", "render-bulk", "index", "index-bulk")

Stage = Callable[[dict[str, Any], Ports], Outcome]


@dataclass
class Queue:
    name: str
    stage: Stage
    messages: deque[tuple[str, int]] = field(default_factory=deque)  # (body, receive count)
    dead: list[str] = field(default_factory=list)


@dataclass
class InProcessPipeline:
    source: MemoryStore = field(default_factory=MemoryStore)
    site: MemoryStore = field(default_factory=MemoryStore)
    artifacts: MemoryStore = field(default_factory=MemoryStore)
    catalog: MemoryCatalog = field(default_factory=MemoryCatalog)
    bus: MemoryBus = field(default_factory=MemoryBus)
    max_post_bytes: int = 1_000_000
    rejections: list[tuple[str, str]] = field(default_factory=list)
    invocations: dict[str, int] = field(default_factory=dict)
    clock: Clock = field(default_factory=SystemClock)
    scheduler: MemoryScheduler = field(default_factory=MemoryScheduler)
    batch_sizes: dict[str, int] = field(default_factory=dict)  # queue name -> batch size (else BATCH_SIZE)

    def __post_init__(self) -> None:
        self.ports = Ports(
            source=self.source,
            site=self.site,
            artifacts=self.artifacts,
            catalog=self.catalog,
            bus=self.bus,
            max_post_bytes=self.max_post_bytes,
            clock=self.clock,
            scheduler=self.scheduler,
        )
        self.queues = {
            "parse": Queue("newsdrop-parse", parse.run),
            "refresh": Queue("newsdrop-refresh", parse.run),
            "fanout": Queue("newsdrop-fanout", fanout.run),
            "render": Queue("newsdrop-render", render.run),
            "render-bulk": Queue("newsdrop-render-bulk", render.run),
            "index": Queue("newsdrop-index", index.run),
            "index-bulk": Queue("newsdrop-index-bulk", index.run),
        }
        # The template's rules, queue for queue.
        self.bus.subscribe(PUBLISHING, self._to("render"), lane="live")
        self.bus.subscribe(PUBLISHING, self._to("index"), lane="live")
        self.bus.subscribe(PUBLISHING, self._to("render-bulk"), lane="bulk")
        self.bus.subscribe(PUBLISHING, self._to("index-bulk"), lane="bulk")
        self.bus.subscribe([events.SITE_CONFIGURED, events.FANOUT_CONTINUED], self._to("fanout"))
        self.bus.subscribe([events.REFRESH_REQUESTED], self._to("refresh"))
        self.bus.subscribe([events.POST_DUE], self._to("parse"))
        self.bus.subscribe([events.POST_REJECTED], self._rejected)

    def _to(self, name: str) -> Callable[[BusEvent], None]:
        def deliver(event: BusEvent) -> None:
            self.queues[name].messages.append((json.dumps(envelopes.bus_envelope(event), ensure_ascii=False), 0))

        return deliver

    def _rejected(self, event: BusEvent) -> None:
        self.rejections.append((str(event.detail["key"]), str(event.detail["reason"])))

    def upload(self, key: str, body: bytes) -> None:
        self.source.put(key, body, content_type="text/markdown; charset=utf-8")
        self._notify(key, removed=False, size=len(body))

    def delete(self, key: str) -> None:
        self.source.delete(key)
        self._notify(key, removed=True)

    def _notify(self, key: str, *, removed: bool, size: int = 0) -> None:
        note = envelopes.s3_notification(
            SOURCE_BUCKET, key, sequencer=envelopes.next_sequencer(), removed=removed, size=size
        )
        self.queues["parse"].messages.append((json.dumps(note, ensure_ascii=False), 0))

    def drain(self) -> None:
        """Run batches until every queue is empty; parse first, as its events feed the others."""
        while any(q.messages for q in self.queues.values()):
            for name in ORDER:
                queue = self.queues[name]
                while queue.messages:
                    self._run_batch(name, queue)

    def run_schedules(self) -> int:
        """Fire every schedule due by the clock (as EventBridge Scheduler would), then drain; returns how many."""
        due = self.scheduler.due(self.clock.now())
        self.bus.publish([BusEvent(events.POST_DUE, detail, source=events.SCHEDULER_SOURCE) for detail in due])
        self.drain()
        return len(due)

    def _run_batch(self, name: str, queue: Queue) -> None:
        size = self.batch_sizes.get(name, BATCH_SIZE)
        taken = [queue.messages.popleft() for _ in range(min(size, len(queue.messages)))]
        records = [
            envelopes.sqs_record(body, queue=queue.name, receive_count=count + 1, message_id=f"m{i}")
            for i, (body, count) in enumerate(taken)
        ]
        self.invocations[name] = self.invocations.get(name, 0) + 1
        outcome = queue.stage({"Records": records}, self.ports)
        failed = {f["itemIdentifier"] for f in outcome.response.get("batchItemFailures", [])}
        for record, (body, count) in zip(records, taken, strict=True):
            if record["messageId"] in failed:
                if count + 1 >= MAX_RECEIVES:
                    queue.dead.append(body)
                else:
                    queue.messages.append((body, count + 1))

    def publish_all(self, files: Iterable[tuple[str, bytes]]) -> None:
        for key, body in files:
            self.upload(key, body)
        self.drain()

    def publish_site(self, files: Iterable[tuple[str, bytes]], *, jobs: int = 1) -> None:
        """A whole site at once: its settings first, then its posts, read ahead in `jobs` processes."""
        files = list(files)
        self.publish_all((key, body) for key, body in files if source_keys.is_site_key(key))
        for key, body in files:
            if not source_keys.is_site_key(key):
                self.upload(key, body)
        with contextlib.ExitStack() as stack:
            if jobs > 1:
                from newsdrop.local.readahead import ReadAhead

                bodies = [(key, body) for key, body in files if source_keys.is_post_key(key)]
                config = site_settings(self.catalog).config
                ahead = stack.enter_context(ReadAhead.start(bodies, config, self.max_post_bytes, jobs))
                self.ports = dataclasses.replace(self.ports, read_post=ahead)
            try:
                self.drain()
            finally:  # later uploads are read as on AWS
                self.ports = dataclasses.replace(self.ports, read_post=None)

    @property
    def dead_letters(self) -> dict[str, list[str]]:
        return {name: q.dead for name, q in self.queues.items() if q.dead}
