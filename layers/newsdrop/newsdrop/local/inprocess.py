"""The whole pipeline in one process, on memory adapters: what `newsdrop build` runs.

Same handlers, same events, same batches of ten as on AWS: uploads become S3
notifications on a parse queue, parse's events are routed by detail type to the
render and index queues, and each queue is drained in SQS-sized batches. A whole site
(`publish_site`) may use more processes: workers read posts ahead, and index runs in a
forked copy beside render, as the two are separate functions on AWS.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import itertools
import json
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from newsdrop import envelopes, events, source_keys
from newsdrop.adapters.memory import MemoryBus, MemoryCatalog, MemoryScheduler, MemoryStore
from newsdrop.clock import Clock, SystemClock
from newsdrop.local.forked import Forked
from newsdrop.ports import DEFAULT_MAX_POST_BYTES, Blob, BusEvent, Ports, SearchState
from newsdrop.stages import fanout, index, parse, render
from newsdrop.stages.common import Outcome, site_settings

BATCH_SIZE = 10
# `newsdrop build` has the whole site at hand: render takes it a thousand posts a batch, so
# listings, feed and sitemaps are rendered once per thousand posts rather than once per ten (the
# same site: tests/unit/test_inprocess.py), and index 5,000, so the search log is flushed, and
# merged down the levels, once per 5,000 posts. A 10,000-post build peaked at 216 MB with index
# batches of 2,500, 240 MB at 5,000 and 299 MB in one batch; its index took 1.94, 1.75 and
# 1.69 s of CPU. Larger render batches saved nothing measurable. Parse stays at ten: its work
# is per post.
BULK_BATCH_SIZES = {"render": 1000, "render-bulk": 1000, "index": 5000, "index-bulk": 5000}
MAX_RECEIVES = 5
SOURCE_BUCKET = "newsdrop-source"
PUBLISHING = (events.POST_UPSERTED, events.POST_REMOVED, events.SITE_CONFIGURED)
# Drained in this order, each until empty, again and again until all are: parse's events feed
# the rest, and a site-wide refresh comes after the single publishes, as its lanes do on AWS.
FEEDING = ("parse", "fanout", "refresh")
RENDERING = ("render", "render-bulk")
INDEXING = ("index", "index-bulk")
ORDER = FEEDING + RENDERING + INDEXING

Stage = Callable[[dict[str, Any], Ports], Outcome]


@dataclass
class Queue:
    name: str
    stage: Stage
    messages: deque[tuple[str, int]] = field(default_factory=deque)  # (body, receive count)
    dead: list[str] = field(default_factory=list)


@dataclass
class Mark:
    """What the pipeline held when index was forked off; each side names what it changed since."""

    site: dict[str, Blob]
    search: dict[str, SearchState]
    next_id: int
    published: int
    dead: dict[str, int]

    def site_changes(self, store: MemoryStore) -> dict[str, Blob | None]:
        """Objects written (by identity: a put makes a new Blob) or deleted (None) since the mark."""
        changed: dict[str, Blob | None] = {key: b for key, b in store.objects.items() if self.site.get(key) is not b}
        changed.update((key, None) for key in self.site if key not in store.objects)
        return changed


@dataclass
class Indexed:
    """What index did in the forked process: all it writes is the site's objects and the catalog's search state."""

    site: dict[str, Blob | None]
    search: dict[str, SearchState]
    next_id: int
    invocations: dict[str, int]
    dead: dict[str, list[str]]
    on_disk: dict[str, int] = field(default_factory=dict)  # of `site`'s keys, those held by their file alone
    unwritable: dict[str, str] = field(default_factory=dict)  # of `site`'s keys, those the output could not hold


@dataclass
class InProcessPipeline:
    source: MemoryStore = field(default_factory=MemoryStore)
    site: MemoryStore = field(default_factory=MemoryStore)
    artifacts: MemoryStore = field(default_factory=MemoryStore)
    catalog: MemoryCatalog = field(default_factory=MemoryCatalog)
    bus: MemoryBus = field(default_factory=MemoryBus)
    max_post_bytes: int = DEFAULT_MAX_POST_BYTES
    rejections: list[tuple[str, str]] = field(default_factory=list)
    invocations: dict[str, int] = field(default_factory=dict)
    clock: Clock = field(default_factory=SystemClock)
    scheduler: MemoryScheduler = field(default_factory=MemoryScheduler)
    batch_sizes: dict[str, int] = field(default_factory=dict)  # queue name -> batch size (else BATCH_SIZE)
    # `newsdrop build` keeps what it makes until it exits: what outlives a batch is frozen out of the
    # cyclic collector's sight (`gc.freeze`), whose passes over the growing heap found next to nothing
    # to free (a few hundred objects in a 10,000-post build) and took 0.3 s of its process's CPU.
    freeze_survivors: bool = False

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
        self._enveloped: tuple[BusEvent | None, str] = (None, "")
        # The template's rules, queue for queue.
        self.bus.subscribe([*PUBLISHING, events.FILE_CHANGED], self._to("render"), lane="live")
        self.bus.subscribe(PUBLISHING, self._to("index"), lane="live")
        self.bus.subscribe(PUBLISHING, self._to("render-bulk"), lane="bulk")
        self.bus.subscribe(PUBLISHING, self._to("index-bulk"), lane="bulk")
        self.bus.subscribe([events.SITE_CONFIGURED, events.FANOUT_CONTINUED], self._to("fanout"))
        self.bus.subscribe([events.REFRESH_REQUESTED], self._to("refresh"))
        self.bus.subscribe([events.POST_DUE], self._to("parse"))
        self.bus.subscribe([events.POST_REJECTED], self._rejected)

    def _to(self, name: str) -> Callable[[BusEvent], None]:
        def deliver(event: BusEvent) -> None:
            self.queues[name].messages.append((self._envelope(event), 0))

        return deliver

    def _envelope(self, event: BusEvent) -> str:
        """The event as its rules' targets receive it: one envelope (one event id) for all of them."""
        if self._enveloped[0] is not event:
            self._enveloped = (event, json.dumps(envelopes.bus_envelope(event), ensure_ascii=False))
        return self._enveloped[1]

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

    def drain(self, *, beside: bool = False) -> None:
        """Run batches until every queue is empty; parse first, as its events feed the others.
        `beside`: index in a forked process while render runs here (see `_index_beside_render`)."""
        while any(q.messages for q in self.queues.values()):
            for name in ORDER:
                if beside and name == RENDERING[0]:
                    self._index_beside_render()
                self._drain_queues((name,))

    def _drain_queues(self, names: tuple[str, ...]) -> None:
        for name in names:
            queue = self.queues[name]
            while queue.messages:
                self._run_batch(name, queue)

    def _index_beside_render(self) -> None:
        """Drain the index queues in a forked process while this one drains the render queues,
        then take index's writes. Render and index take the same events, as two functions on
        AWS; render writes pages and reads the catalog, index writes the search index and the
        catalog's search state, so running them side by side is running them one after the
        other, on two cores. Where forking is not safe, or the child fails, the index queues keep
        their messages and `drain` runs them here.
        """
        if any(self.queues[n].messages for n in FEEDING) or not all(
            any(self.queues[n].messages for n in side) for side in (RENDERING, INDEXING)
        ):
            return
        mark = Mark(
            site=dict(self.site.objects.items()),
            search=dict(self.catalog.search),
            next_id=self.catalog.next_id,
            published=len(self.bus.published),
            dead={name: len(self.queues[name].dead) for name in INDEXING},
        )
        child = Forked.start(lambda: self._index_alone(mark))
        if child is None:
            return
        try:
            self._drain_queues(RENDERING)
        except BaseException:
            child.result()  # waited for, its work dropped: the index queues keep their messages
            raise
        indexed = child.result()
        if indexed is not None:
            self._take(mark, indexed)

    def _index_alone(self, mark: Mark) -> Indexed:
        """In the forked process: drain the index queues; what changed, to send back."""
        before = dict(self.invocations)
        self._drain_queues(INDEXING)
        if len(self.bus.published) != mark.published:  # nothing to route them to here: let the parent run index
            raise RuntimeError("index published events; it must run in the build's own process")
        changed = mark.site_changes(self.site)
        return Indexed(
            site=changed,
            search={key: s for key, s in self.catalog.search.items() if mark.search.get(key) is not s},
            next_id=self.catalog.next_id,
            invocations={name: self.invocations.get(name, 0) - before.get(name, 0) for name in INDEXING},
            dead={name: self.queues[name].dead[mark.dead[name] :] for name in INDEXING},
            on_disk={key: self.site.on_disk[key] for key in changed if key in self.site.on_disk},
            unwritable={key: self.site.unwritable[key] for key in changed if key in self.site.unwritable},
        )

    def _take(self, mark: Mark, indexed: Indexed) -> None:
        clash = sorted(mark.site_changes(self.site).keys() & indexed.site.keys())
        if clash or self.catalog.next_id != mark.next_id or self.catalog.search != mark.search:
            raise RuntimeError(f"render and index changed the same state side by side: {clash[:5]}")
        for key, blob in indexed.site.items():
            self.site.take(key, blob, on_disk=indexed.on_disk.get(key), unwritable=indexed.unwritable.get(key))
        self.catalog.search.update(indexed.search)
        self.catalog.next_id = indexed.next_id
        for name in INDEXING:
            self.queues[name].messages.clear()  # the child took every one of them, retries included
            self.queues[name].dead += indexed.dead[name]
            if indexed.invocations[name]:
                self.invocations[name] = self.invocations.get(name, 0) + indexed.invocations[name]

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
        if self.freeze_survivors:
            gc.freeze()

    def compact(self) -> Outcome:
        """What the Compact function's schedule does: the search compaction publishes left."""
        self.invocations["compact"] = self.invocations.get("compact", 0) + 1
        return index.compact(self.ports)

    def publish_all(self, files: Iterable[tuple[str, bytes]]) -> None:
        for key, body in files:
            self.upload(key, body)
        self.drain()

    def publish_site(self, files: Iterable[tuple[str, bytes]], *, jobs: int = 1) -> None:
        """A whole site at once: its settings first, then its posts. With `jobs` over one, posts are
        read ahead in `jobs` processes, and index runs beside render.

        `files` is taken as it comes: given the settings first (as `source_files` lists them), each
        post goes to the workers as soon as it is read, while the rest are still being read. A
        settings file after a post is published before any post all the same; posts read ahead under
        the settings as they were then are read again (`ReadAhead` checks)."""
        pending = iter(files)
        settings: list[tuple[str, bytes]] = []
        first: list[tuple[str, bytes]] = []  # the first post: the settings given before it are published first
        for key, body in pending:
            if not source_keys.is_site_key(key):
                first.append((key, body))
                break
            settings.append((key, body))
        self.publish_all(settings)
        before = self.ports
        with contextlib.ExitStack() as stack:
            ahead = None
            if jobs > 1:
                from newsdrop.local.readahead import ReadAhead

                config = site_settings(self.catalog).config
                ahead = stack.enter_context(ReadAhead.open(config, self.max_post_bytes, jobs))
            posts: list[tuple[str, bytes]] = []
            late: list[tuple[str, bytes]] = []  # settings given after a post
            for key, body in itertools.chain(first, pending):
                if source_keys.is_site_key(key):
                    late.append((key, body))
                    continue
                posts.append((key, body))
                if ahead is not None and source_keys.is_post_key(key):
                    ahead.add(key, body)
            if ahead is not None:
                ahead.flush()
            self.publish_all(late)
            self.ports = dataclasses.replace(before, read_post=ahead, carry_artifacts=False)
            try:
                for key, body in posts:
                    self.upload(key, body)
                self._drain_queues(FEEDING)  # all the reading: the workers are stopped before any fork
            finally:  # later uploads are read as on AWS
                self.ports = before
        if ahead is None:
            self.drain()
            return
        self.ports = dataclasses.replace(before, postings_ahead=ahead.postings)
        try:
            self.drain(beside=True)
        finally:  # and later posts weighed by the index stage
            self.ports = before

    @property
    def dead_letters(self) -> dict[str, list[str]]:
        return {name: q.dead for name, q in self.queues.items() if q.dead}
