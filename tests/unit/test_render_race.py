"""A render that computed from older catalog state must not have the last word.

Render derives each object with a conditional write on the ETag it read first, so a writer that
read older state loses to one that wrote newer state. A writer that read newer state and found
nothing to write (the object already right, or rightly absent) leaves no new ETag behind, though,
so an older write still in flight would then land. These tests hold an older render's first write
back while a newer change is parsed and rendered in full, then let it land.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import pytest

from newsdrop import envelopes
from newsdrop.adapters.memory import MemoryCatalog, MemoryStore
from newsdrop.local.inprocess import InProcessPipeline
from newsdrop.model import SiteConfig
from newsdrop.ports import Ports, Reads, Snapshot
from newsdrop.rendering.writer import SiteWriter
from newsdrop.stages import render

CONFIG = b"title: Race\ntimezone: Asia/Shanghai\n"


def _post(n: int, *, title: str = "", day: str = "2024-05-20") -> tuple[str, bytes]:
    head = f"title: {title or f'快讯 {n}'}\ndate: {day} 09:{n:02d}:00 +0800\ncategories: news\ntags: [a]\n"
    text = f"---\n{head}---\n正文 {n}\n"
    return f"_posts/{day}-p{n}.md", text.encode()


@dataclass
class HeldStore:
    """The site store as one render sees it: its first PUT or DELETE waits until `meanwhile` has run."""

    store: MemoryStore
    meanwhile: Callable[[], None]
    held: bool = False

    def _first(self) -> None:
        if not self.held:
            self.held = True
            self.meanwhile()

    def put(self, key: str, body: bytes, **kwargs: Any) -> None:
        self._first()
        self.store.put(key, body, **kwargs)

    def delete(self, key: str, **kwargs: Any) -> None:
        self._first()
        self.store.delete(key, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


def _pages(pipeline: InProcessPipeline) -> dict[str, bytes]:
    return {key: blob.body for key, blob in pipeline.site.objects.items() if not key.startswith("search/")}


def _built(files: list[tuple[str, bytes]]) -> dict[str, bytes]:
    fresh = InProcessPipeline()
    fresh.publish_all(files)
    return _pages(fresh)


def _race(first: tuple[str, bytes] | None, then: tuple[str, bytes] | None, key: str) -> InProcessPipeline:
    """Publish a site of one post; change `key` to `first` (None: delete) and parse it; hold render's
    first write for that change while `key` changes to `then` and that change is parsed and rendered."""
    pipeline = InProcessPipeline()
    pipeline.publish_all([("_config.yml", CONFIG), _post(1)])

    def change(to: tuple[str, bytes] | None) -> None:
        if to is None:
            pipeline.delete(key)
        else:
            pipeline.upload(*to)
        pipeline._drain_queues(("parse",))

    change(first)
    queue = pipeline.queues["render"]
    older = [envelopes.sqs_record(body, queue=queue.name, receive_count=1) for body, _ in queue.messages]
    queue.messages.clear()

    def meanwhile() -> None:
        change(then)
        pipeline._drain_queues(("render",))

    held = HeldStore(pipeline.site, meanwhile)
    outcome = render.run({"Records": older}, replace(pipeline.ports, site=held))
    assert held.held and not outcome.response["batchItemFailures"]
    pipeline.drain()
    return pipeline


def test_a_post_deleted_while_its_first_render_was_in_flight_leaves_no_page() -> None:
    key, body = _post(2)
    pipeline = _race((key, body), None, key)
    assert _pages(pipeline) == _built([("_config.yml", CONFIG), _post(1)])


def test_a_change_undone_while_its_render_was_in_flight_leaves_the_listings_as_they_were() -> None:
    key, body = _post(1)
    _, renamed = _post(1, title="改过的标题")
    pipeline = _race((key, renamed), (key, body), key)
    assert _pages(pipeline) == _built([("_config.yml", CONFIG), _post(1)])


def test_a_post_that_opened_a_day_deleted_while_its_render_was_in_flight_leaves_the_day_closed() -> None:
    key, body = _post(2, day="2024-05-21")
    pipeline = _race((key, body), None, key)
    pages = _pages(pipeline)
    assert pages == _built([("_config.yml", CONFIG), _post(1)])
    assert "2024/05/21" not in pages["archive/index.html"].decode()


BASEURL = CONFIG + b"baseurl: /blog\n"


def _settings_race(interleave: Callable[[Ports, Callable[[], None]], tuple[Ports, Callable[[], bool]]]) -> None:
    """A post's render runs on the ports `interleave` gives, which call `meanwhile` at some point of
    it: a `baseurl` change is then parsed and every page rendered under it. The site must end as a
    fresh build under the new settings, static pages included."""
    pipeline = InProcessPipeline()
    pipeline.publish_all([("_config.yml", CONFIG), _post(1)])
    pipeline.upload(*_post(2))
    pipeline._drain_queues(("parse",))
    queue = pipeline.queues["render"]
    older = [envelopes.sqs_record(body, queue=queue.name, receive_count=1) for body, _ in queue.messages]
    queue.messages.clear()

    def meanwhile() -> None:
        pipeline.upload("_config.yml", BASEURL)
        pipeline.drain()  # the site-wide refresh too

    ports, happened = interleave(pipeline.ports, meanwhile)
    render.run({"Records": older}, ports)
    assert happened()
    pipeline.drain()
    got, want = _pages(pipeline), _built([("_config.yml", BASEURL), _post(1), _post(2)])
    assert sorted(key for key in want if got.get(key) != want[key]) == []


def test_pages_rendered_under_settings_changed_meanwhile_are_rendered_again_under_the_new_ones() -> None:
    """The render read the settings before they changed and holds its first write until the change
    is rendered in full: its settle derives its pages again under the new settings."""

    def hold(ports: Ports, meanwhile: Callable[[], None]) -> tuple[Ports, Callable[[], bool]]:
        held = HeldStore(ports.site, meanwhile)
        return replace(ports, site=held), lambda: held.held

    _settings_race(hold)


@dataclass
class SplitRead:
    """The catalog as DynamoCatalog.read can answer one BatchGetItem of the settings and the count:
    the settings item read before a change of settings, the count item after it was counted (the
    two items are read apart, e.g. the count left in UnprocessedKeys and read again after a back-off)."""

    inner: Any
    meanwhile: Callable[[], None]
    split: bool = False

    def read(self, reads: Reads) -> Snapshot:
        if reads.config and reads.changes and not self.split:
            self.split = True
            config = self.inner.get_config()  # CONFIG/SITE first...
            self.meanwhile()
            return replace(self.inner.read(reads), config=config)  # ... CATALOG/CHANGES after
        return self.inner.read(reads)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_settings_read_apart_from_the_count_leave_no_page_under_the_old_settings() -> None:
    """The settings read older than the count that counted their change: the render reads them again."""

    def split(ports: Ports, meanwhile: Callable[[], None]) -> tuple[Ports, Callable[[], bool]]:
        catalog = SplitRead(ports.catalog, meanwhile)
        return replace(ports, catalog=catalog), lambda: catalog.split

    _settings_race(split)


@dataclass
class Restless(MemoryCatalog):
    """A catalog that changes between any two reads of its count of changes, and counts the reads."""

    reads: int = 0

    def changes(self) -> int:
        self.reads += 1
        return self.reads

    def read(self, reads: Reads) -> Snapshot:
        found = super().read(reads)
        return replace(found, changes=self.changes()) if reads.changes else found


def test_a_batch_that_writes_nothing_reads_the_count_once() -> None:
    catalog = Restless()
    pipeline = InProcessPipeline(catalog=catalog)
    pipeline.upload(*_post(1))
    pipeline._drain_queues(("parse",))
    queue = pipeline.queues["render"]
    records = [envelopes.sqs_record(body, queue=queue.name, receive_count=1) for body, _ in queue.messages]
    render.run({"Records": records}, pipeline.ports)
    before = catalog.reads
    outcome = render.run({"Records": records}, pipeline.ports)  # the same event again: every page is right
    assert outcome.counts["pages_written"] == 0 and outcome.counts["pages_deleted"] == 0
    assert catalog.reads == before + 1


def test_deriving_again_stops_after_a_bounded_number_of_rounds(caplog: pytest.LogCaptureFixture) -> None:
    pipeline = InProcessPipeline(catalog=Restless())
    batch = render.RenderBatch(pipeline.ports, SiteConfig(), SiteWriter(pipeline.site))
    made = itertools.count()
    batch.derive("index.html", lambda: lambda: f"version {next(made)}".encode())  # new content every time
    with caplog.at_level(logging.WARNING, logger=render.log.name):  # whatever level another test left on "newsdrop"
        batch.settle(seen=0)
    assert next(made) == 1 + render.MAX_SETTLES
    assert "changed before each of 3 rounds" in caplog.text
