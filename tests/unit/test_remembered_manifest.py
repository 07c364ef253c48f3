"""A publish writes the search manifest against the one its execution environment last wrote, without
reading it first; a manifest another environment changed since is read before it is written.

Two pipelines over the same buckets and catalog stand for two execution environments of the
index function: each has its own store objects, and so its own remembered manifest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from newsdrop import search
from newsdrop.adapters.memory import MemoryStore
from newsdrop.local.inprocess import InProcessPipeline
from newsdrop.ports import Blob
from newsdrop.rendering.writer import KEEP, Keep, SiteWriter
from tests.support.search import expected_index, found_documents, site_get


@dataclass
class CountingStore(MemoryStore):
    reads: list[str] = field(default_factory=list)

    def get(self, key: str, *, max_bytes: int | None = None) -> Blob | None:
        self.reads.append(key)
        return super().get(key, max_bytes=max_bytes)


def _post(n: int, word: str) -> tuple[str, bytes]:
    text = f"---\ntitle: 快讯 {n}\ndate: 2024-05-0{n + 1} 09:00:00 +0800\ntags: 滚动\n---\n{word} 市场 {n}\n"
    return f"_posts/2024-05-0{n + 1}-p{n}.md", text.encode()


def _publish(pipeline: InProcessPipeline, n: int, word: str) -> None:
    pipeline.upload(*_post(n, word))
    pipeline.drain()
    assert not pipeline.rejections


def _manifest_reads(store: MemoryStore) -> int:
    assert isinstance(store, CountingStore)
    return store.reads.count(search.MANIFEST_KEY)


def _environments() -> tuple[InProcessPipeline, InProcessPipeline]:
    one = InProcessPipeline(site=CountingStore())
    other = InProcessPipeline(
        source=one.source,
        site=CountingStore(objects=one.site.objects),
        artifacts=MemoryStore(objects=one.artifacts.objects),
        catalog=one.catalog,
    )
    return one, other


def test_a_publish_writes_the_manifest_it_remembers_without_reading_it() -> None:
    one, _ = _environments()
    _publish(one, 0, "北向资金")
    assert _manifest_reads(one.site) == 1  # nothing remembered yet
    before = one.site.objects[search.MANIFEST_KEY].etag
    _publish(one, 1, "半导体")
    _publish(one, 2, "新能源")
    assert _manifest_reads(one.site) == 1
    assert one.site.objects[search.MANIFEST_KEY].etag != before  # written, all the same
    assert search.logical_index(site_get(one)) == expected_index(one)
    assert [d["t"] for d in found_documents(site_get(one), "新能源")] == ["快讯 2"]


def test_a_manifest_another_environment_changed_is_read_before_it_is_written() -> None:
    one, other = _environments()
    _publish(one, 0, "北向资金")
    _publish(other, 1, "半导体")  # the manifest `one` remembers is no longer the bucket's
    reads = _manifest_reads(one.site)
    _publish(one, 2, "新能源")
    assert _manifest_reads(one.site) == reads + 1  # its conditional write was refused, then it read
    assert search.logical_index(site_get(one)) == expected_index(one)
    for word, title in (("北向资金", "快讯 0"), ("半导体", "快讯 1"), ("新能源", "快讯 2")):
        assert [d["t"] for d in found_documents(site_get(one), word)] == [title]


def test_a_remembered_object_that_needs_no_change_is_read_again() -> None:
    """`change` finds nothing to do in what is remembered; the object itself has moved on without
    it, so the answer for the object read afresh is written."""
    store = MemoryStore()
    store.put("search/manifest.json", b"base, other", content_type="application/json")
    remembered = Blob(b"base, mine", etag="remembered-etag")

    def change(blob: Blob | None) -> bytes | Keep:
        assert blob is not None
        return KEEP if b"mine" in blob.body else blob.body + b", mine"

    written = SiteWriter(store).update("search/manifest.json", change, read=remembered, recalled=True)
    assert written is True
    assert store.objects["search/manifest.json"].body == b"base, other, mine"


def test_a_remembered_object_found_to_hold_the_answer_is_confirmed() -> None:
    """The remembered object already holds the answer: a HEAD shows whether the bucket's still does;
    here another writer replaced it, so the answer is written again."""
    store = MemoryStore()
    writer = SiteWriter(store)
    writer.update("search/manifest.json", lambda _blob: b"mine", read=None)
    remembered: Any = store.objects["search/manifest.json"]
    store.put("search/manifest.json", b"other", content_type="application/json")
    assert writer.update("search/manifest.json", lambda _blob: b"mine", read=remembered, recalled=True) is True
    assert store.objects["search/manifest.json"].body == b"mine"
