"""A repeated event writes nothing new, and a batch invalidates exactly what changed on the CDN."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from newsdrop import envelopes, events
from newsdrop.adapters.memory import MemoryBus, MemoryCatalog, MemoryStore
from newsdrop.ports import BusEvent, Ports
from newsdrop.rendering import writer
from newsdrop.stages import index, parse, render
from newsdrop.stages.common import or_defaults
from tests.support.cdn import RecordingCdn

POST = '---\ntitle: "重复事件 Repeat"\ndate: 2024-05-20 10:00:00\ncategories: news\ntags: [a]\n---\n正文。\n'


@dataclass
class CountingStore(MemoryStore):
    writes: int = 0

    def put(self, key: str, body: bytes, **kwargs: Any) -> None:
        self.writes += 1
        super().put(key, body, **kwargs)

    def delete(self, key: str, *, if_match: str | None = None) -> None:
        self.writes += 1
        super().delete(key, if_match=if_match)


@dataclass
class CountingCatalog(MemoryCatalog):
    writes: int = 0

    def commit(self, record: Any, **options: Any) -> Any:
        result = super().commit(record, **options)
        self.writes += result.status == "applied"
        return result

    def swap_search_state(self, key: str, expected: Any, new: Any) -> bool:
        self.writes += 1
        return super().swap_search_state(key, expected, new)

    def allocate_ids(self, count: int) -> int:
        self.writes += 1
        return super().allocate_ids(count)


def stores(ports: Ports) -> Mapping[str, CountingStore]:
    return {"site": ports.site, "artifacts": ports.artifacts}  # type: ignore[dict-item]


def run_all(ports: Ports, notification: dict[str, Any]) -> list[BusEvent]:
    bus = ports.bus
    assert isinstance(bus, MemoryBus)
    start = len(bus.published)
    parse.run(envelopes.sqs_event([notification], queue="parse"), ports)
    emitted = bus.published[start:]
    bodies = [envelopes.bus_envelope(e) for e in emitted if e.detail_type != events.POST_REJECTED]
    if bodies:
        render.run(envelopes.sqs_event(bodies, queue="render"), ports)
        index.run(envelopes.sqs_event(bodies, queue="index"), ports)
    return emitted


def make_ports() -> Ports:
    return Ports(
        source=CountingStore(),
        site=CountingStore(),
        artifacts=CountingStore(),
        catalog=CountingCatalog(),
        bus=MemoryBus(),
        cdn=RecordingCdn(),
    )


def test_a_repeated_event_writes_nothing_new() -> None:
    ports = make_ports()
    key = "_posts/2024-05-20-repeat.md"
    ports.source.put(key, POST.encode(), content_type="text/markdown")
    note = envelopes.s3_notification("newsdrop-source", key, sequencer=envelopes.next_sequencer(), removed=False)
    run_all(ports, note)
    site, artifacts, catalog = ports.site, ports.artifacts, ports.catalog
    assert isinstance(site, CountingStore) and isinstance(artifacts, CountingStore)
    assert isinstance(catalog, CountingCatalog)
    first = (site.writes, artifacts.writes, catalog.writes)
    assert first[0] > 5 and first[2] >= 1
    snapshot = {k: b.body for k, b in site.objects.items()}

    # WHEN the same S3 event arrives again (at-least-once delivery), and its publishing event too
    emitted = run_all(ports, json.loads(json.dumps(note)))

    # THEN the event is re-emitted (the first attempt might have died before emitting it) but no
    # S3 object and no catalog item is written again
    assert [e.detail_type for e in emitted] == [events.POST_UPSERTED]
    assert (site.writes, artifacts.writes, catalog.writes) == first
    assert {k: b.body for k, b in site.objects.items()} == snapshot


def test_only_pages_the_cdn_may_hold_too_long_are_invalidated() -> None:
    ports = make_ports()
    cdn, site = ports.cdn, ports.site
    assert isinstance(cdn, RecordingCdn) and isinstance(site, MemoryStore)
    key = "_posts/2024-05-20-repeat.md"
    page = "news/2024/05/20/repeat.html"
    ports.source.put(key, POST.encode(), content_type="text/markdown")
    note = envelopes.s3_notification("newsdrop-source", key, sequencer=envelopes.next_sequencer(), removed=False)
    run_all(ports, note)
    # A new post: its page is new (nothing to invalidate), and what lists it lives ten seconds at the edge.
    assert cdn.batches == []
    lasting = {page, "404.html", "robots.txt"}
    assert {k for k, b in site.objects.items() if b.cache_control == writer.HTML_CACHE} == lasting
    for listing in ("index.html", "feed.xml", "tags/a/index.html", "news/index.html", "2024/05/20/index.html"):
        assert site.objects[listing].cache_control == writer.LISTING_CACHE, listing
    for listing in ("sitemap.xml", "sitemaps/2024-05-20.xml", "archive/index.html", "search/manifest.json"):
        assert site.objects[listing].cache_control == writer.LISTING_CACHE, listing

    # A repeated event changes nothing, so nothing is invalidated.
    run_all(ports, json.loads(json.dumps(note)))
    assert cdn.batches == []

    # An update invalidates the post's page (in one invalidation), and nothing else.
    ports.source.put(key, POST.replace("Repeat", "Again").encode(), content_type="text/markdown")
    update = envelopes.s3_notification("newsdrop-source", key, sequencer=envelopes.next_sequencer(), removed=False)
    run_all(ports, update)
    assert cdn.batches == [["/" + page]]

    # So does a deletion.
    ports.source.delete(key)
    removal = envelopes.s3_notification("newsdrop-source", key, sequencer=envelopes.next_sequencer(), removed=True)
    run_all(ports, removal)
    assert page not in site.objects
    assert cdn.batches[1:] == [["/" + page]]


def test_a_batch_holding_a_removal_before_the_upsert_of_one_post_renders_its_page() -> None:
    # A delete's event names no URL (the post had none); the later upsert in the same batch does.
    ports = make_ports()
    key = "_posts/2024-05-20-repeat.md"
    ports.source.put(key, POST.encode(), content_type="text/markdown")
    note = envelopes.s3_notification("newsdrop-source", key, sequencer=envelopes.next_sequencer(), removed=False)
    parse.run(envelopes.sqs_event([note], queue="parse"), ports)
    bus = ports.bus
    assert isinstance(bus, MemoryBus)
    upserted = bus.published[-1]
    removed = BusEvent(events.POST_REMOVED, {"key": key, "sequencer": "0", "url": "", "previous_url": "", "lists": []})
    bodies = [envelopes.bus_envelope(removed), envelopes.bus_envelope(upserted)]
    render.run(envelopes.sqs_event(bodies, queue="render"), ports)
    assert "news/2024/05/20/repeat.html" in ports.site.list_keys("news/")


def test_a_delivery_that_finds_its_change_committed_meanwhile_emits_the_event_again() -> None:
    # GIVEN one S3 event delivered twice, side by side: both deliveries read the post's record
    # (none yet) before either commits, and the first dies after its commit, before PutEvents
    ports = make_ports()
    key = "_posts/2024-05-20-repeat.md"
    ports.source.put(key, POST.encode(), content_type="text/markdown")
    note = envelopes.s3_notification("newsdrop-source", key, sequencer=envelopes.next_sequencer(), removed=False)
    (change,) = events.source_changes(note)
    settings = or_defaults(ports.catalog.get_config())
    first = parse.ParseBatch(ports=ports, site=settings, read_ahead={key: None})
    second = parse.ParseBatch(ports=ports, site=settings, read_ahead={key: None})
    first.apply(change)  # its events are lost with its invocation

    # WHEN the second delivery commits the same change
    second.apply(change)

    # THEN it sends the post's event, as nothing else will
    assert [e.detail_type for e in second.emitted] == [events.POST_UPSERTED]
    assert second.emitted[0].detail["key"] == key


def test_a_site_wide_refresh_rewrites_every_post_page_and_invalidates_none() -> None:
    from newsdrop.local.inprocess import InProcessPipeline

    pipeline = InProcessPipeline()
    cdn = RecordingCdn()
    pipeline.ports = dataclasses.replace(pipeline.ports, cdn=cdn)
    pages: dict[str, str] = {}
    for day in ("20", "21", "22"):
        key = f"_posts/2024-05-{day}-repeat.md"
        pipeline.upload(key, POST.replace("2024-05-20", f"2024-05-{day}").encode())
        pages[key] = f"news/2024/05/{day}/repeat.html"
    pipeline.drain()
    assert pipeline.rejections == [] and cdn.batches == []

    # A settings change: every post's page is rendered again in the bulk lane, and the edge's copy
    # of each is left to its s-maxage, not invalidated path by path.
    pipeline.upload("_config.yml", "title: 快讯站点 Finews\n".encode())
    pipeline.drain()
    for page in pages.values():
        assert "快讯站点 Finews" in pipeline.site.objects[page].body.decode(), page
    assert not [path for path in cdn.paths if path.endswith("repeat.html")], cdn.paths

    # A single publish still invalidates the page it changed.
    key = "_posts/2024-05-21-repeat.md"
    edited = POST.replace("2024-05-20", "2024-05-21").replace("Repeat", "Again")
    pipeline.upload(key, edited.encode())
    pipeline.drain()
    assert cdn.batches[-1] == ["/" + pages[key]]
