"""A publish writes the search manifest against the one its execution environment last read or
wrote, without a GET; a manifest another environment changed since is read, and the commit
planned again, before it is written. A commit that compacts never plans on a remembered manifest.

Two pipelines over the same buckets and catalog stand for two execution environments of the
index function (or of index and the scheduled compaction): each has its own store objects, and
so its own remembered manifest.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from newsdrop import search
from newsdrop.adapters.memory import MemoryStore
from newsdrop.local.inprocess import InProcessPipeline
from newsdrop.ports import Blob, Head
from newsdrop.rendering.writer import DIGEST, KEEP, Keep, SiteWriter
from newsdrop.stages import index
from tests.support.search import expected_index, found_documents, site_get

# Small enough that a few posts fill the log and make merge jobs of several files.
SMALL = index.Tuning(
    log_postings=40, level0_postings=80, fanout=2, shard_postings=30, short_postings=60, tick_steps=1, tick_rounds=1
)


@dataclass
class CountingStore(MemoryStore):
    reads: list[str] = field(default_factory=list)

    def get(self, key: str, *, max_bytes: int | None = None) -> Blob | None:
        self.reads.append(key)
        return super().get(key, max_bytes=max_bytes)


def _post(n: int, words: str = "") -> tuple[str, bytes]:
    words = words or " ".join(f"w{n}x{i}" for i in range(12))
    return f"_posts/2024-05-20-p{n}.md", f"---\ntitle: 快讯 {n}\ntags: 滚动\n---\n新闻 {words}\n".encode()


def _publish(pipeline: InProcessPipeline, n: int, words: str = "") -> None:
    pipeline.upload(*_post(n, words))
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


def test_a_failed_manifest_write_is_not_remembered(monkeypatch: pytest.MonkeyPatch) -> None:
    one, _ = _environments()
    _publish(one, 0)
    original = MemoryStore.put
    failures = iter([OSError("S3 is unavailable")])

    def put(store: MemoryStore, key: str, body: bytes, **options: Any) -> Any:
        if key == search.MANIFEST_KEY and (error := next(failures, None)) is not None:
            raise error
        return original(store, key, body, **options)

    monkeypatch.setattr(MemoryStore, "put", put)
    with pytest.raises(OSError):
        _publish(one, 1)
    assert index.cache_of(one.site).manifest is None  # whether the write landed is not known
    reads = _manifest_reads(one.site)
    _publish(one, 1, "再次 again")  # so the next publish reads the manifest
    assert _manifest_reads(one.site) == reads + 1
    assert search.logical_index(site_get(one)) == expected_index(one)


def _remembering_a_finished_job(monkeypatch: pytest.MonkeyPatch) -> InProcessPipeline:
    """`one` remembers a manifest with a merge job under way; the schedule, in another environment,
    has since finished the job and deleted its inputs."""
    monkeypatch.setattr(index, "TUNING", replace(SMALL, log_max_postings=100_000))
    one, other = _environments()
    for n in range(12):
        _publish(one, n)
    for _ in range(40):  # the schedule works one file a call until a job is under way
        other.compact()
        manifest = search.read_index(site_get(one))
        if manifest.jobs and manifest.jobs[0].done >= 1:
            break
    assert manifest.jobs, "no merge job under way: the tuning no longer makes one"
    _publish(one, 12)  # `one` now remembers the manifest with that job under way
    for _ in range(200):  # the schedule finishes it, deleting the runs it replaced
        other.compact()
        if not index.owes(search.read_index(site_get(one)), index.TUNING):
            break
    assert not index.owes(search.read_index(site_get(one)), index.TUNING)
    return one


def test_a_compacting_batch_plans_on_the_manifest_as_it_is(monkeypatch: pytest.MonkeyPatch) -> None:
    one = _remembering_a_finished_job(monkeypatch)
    for n in range(13, 13 + index.OPENING_CHECK_MAX + 1):  # more than a publish: a batch that compacts
        one.upload(*_post(n))
    one.batch_sizes["index"] = 100
    one.drain()  # stepping the job it remembers would read files that are gone
    assert not one.rejections and not one.dead_letters.get("index")
    assert search.logical_index(site_get(one)) == expected_index(one)


def test_a_publish_past_the_log_bound_plans_on_the_manifest_as_it_is(monkeypatch: pytest.MonkeyPatch) -> None:
    one = _remembering_a_finished_job(monkeypatch)
    monkeypatch.setattr(index, "TUNING", replace(SMALL, log_max_postings=0))  # this publish must compact
    _publish(one, 13)
    assert search.logical_index(site_get(one)) == expected_index(one)


def test_publishes_from_two_environments_keep_the_log_within_its_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    tight = replace(SMALL, log_max_postings=80)
    monkeypatch.setattr(index, "TUNING", tight)
    one, other = _environments()
    largest = 0
    for n in range(30):
        _publish(one if n % 2 == 0 else other, n)
        largest = max(largest, search.table_postings(search.read_index(site_get(one)).log))
    # A publish leaves compaction to the schedule until the log would pass the bound; then it
    # flushes. Planned on a stale remembered manifest, it would think the log smaller than it is.
    assert largest <= tight.log_max_postings
    assert search.logical_index(site_get(one)) == expected_index(one)


def test_update_once_writes_against_the_remembered_object_or_asks_for_a_fresh_read() -> None:
    store = MemoryStore()
    writer = SiteWriter(store)
    key = search.MANIFEST_KEY
    assert writer.update(key, lambda _blob: b"first", read=None) is True
    remembered = store.get(key)
    assert remembered is not None

    def append(blob: Blob | None) -> bytes | Keep:
        assert blob is not None
        return KEEP if b"mine" in blob.body else blob.body + b", mine"

    assert writer.update_once(key, append, remembered=remembered) is True
    assert store.objects[key].body == b"first, mine"
    # Remembered, but the bucket's has moved on: refused, nothing written.
    assert writer.update_once(key, lambda _blob: b"stale", remembered=remembered) is None
    assert store.objects[key].body == b"first, mine"
    # Nothing to change in what is remembered: the object itself may need the change all the same.
    mine = Blob(b"first, mine", etag="remembered-etag")
    assert writer.update_once(key, append, remembered=mine) is None


def test_a_remembered_manifest_that_owes_compaction_is_read() -> None:
    """The schedule is likely to have compacted it since: reading it costs a GET, a refused PUT more."""
    one, _ = _environments()
    _publish(one, 0)
    remembered = index.cache_of(one.site).manifest
    assert remembered is not None and not index.owes(search.Manifest.from_bytes(remembered.body), index.TUNING)
    reads = _manifest_reads(one.site)
    _publish(one, 1)
    assert _manifest_reads(one.site) == reads  # owed nothing: written against the remembered one
    # The manifest as remembered now (still the bucket's), but owing compaction.
    current = index.cache_of(one.site).manifest
    stored = one.site.objects[search.MANIFEST_KEY]
    assert current is not None and (current.body, current.etag) == (stored.body, stored.etag)
    index.cache_of(one.site).manifest = replace(current, body=_owing(current.body))
    _publish(one, 2)
    assert _manifest_reads(one.site) == reads + 1
    assert search.logical_index(site_get(one)) == expected_index(one)


def _owing(body: bytes) -> bytes:
    """The manifest with a log past the size at which the schedule flushes it."""
    manifest = search.Manifest.from_bytes(body)
    log = {f"pad{n}": "0" for n in range(index.TUNING.log_postings + 1)}
    owing = replace(manifest, log={**manifest.log, **log})
    assert index.owes(owing, index.TUNING)
    return owing.to_bytes()


def test_a_refused_write_plans_again_rather_than_pass_the_log_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    tight = replace(SMALL, log_max_postings=80)
    monkeypatch.setattr(index, "TUNING", tight)
    one, other = _environments()
    racing = {"on": False}
    original = CountingStore.put

    def put(store: CountingStore, key: str, body: bytes, **options: Any) -> Any:
        if store is one.site and key == search.MANIFEST_KEY and racing["on"]:
            racing["on"] = False
            _publish(other, 1000 + len(store.reads))  # another environment's publish lands first
        return original(store, key, body, **options)

    monkeypatch.setattr(CountingStore, "put", put)
    largest = 0
    for n in range(20):
        index.cache_of(one.site).manifest = None  # `one` reads the manifest, then loses the race
        racing["on"] = True
        _publish(one, n)
        largest = max(largest, search.table_postings(search.read_index(site_get(one)).log))
    assert largest <= tight.log_max_postings
    assert search.logical_index(site_get(one)) == expected_index(one)


def test_only_a_write_the_writer_vouches_for_is_remembered() -> None:
    """After a commit, the manifest is remembered with the ETag the writer holds for it only when
    that head is of the body the commit answered: a head of another body (an older write of this
    environment, say) would make the next publish write against an ETag the manifest never had."""
    pipeline = InProcessPipeline()
    writer = SiteWriter(pipeline.site)
    compactor = index.Compactor(pipeline.ports, writer, SMALL, posts=1)

    def known(etag: str, body: bytes) -> None:
        writer.known.remember(search.MANIFEST_KEY, Head(etag=etag, metadata={DIGEST: hashlib.sha256(body).hexdigest()}))

    known("older", b"an older manifest")
    assert compactor._landed(None, b"the answer") is None
    known("written", b"the answer")
    landed = compactor._landed(None, b"the answer")
    assert landed is not None and (landed.body, landed.etag) == (b"the answer", "written")
    writer.known.remember(search.MANIFEST_KEY, None)
    assert compactor._landed(None, b"the answer") is None
    kept = Blob(b"as read", "read")
    assert compactor._landed(kept, None) is kept  # kept as it was: the blob the change was given
