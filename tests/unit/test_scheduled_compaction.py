"""Compaction off the publish path: a publish writes its document and the manifest and leaves the
search index's merges to the scheduled compaction, until the log outgrows its limit; a bulk batch
compacts as it goes; the schedule finishes what is owed, and with nothing owed writes nothing."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from newsdrop import search
from newsdrop.adapters.memory import MemoryStore
from newsdrop.local.inprocess import InProcessPipeline
from newsdrop.ports import Blob
from newsdrop.stages import index
from tests.support.search import expected_index, site_get

# Small enough that a few posts fill the log and level 0.
SMALL = index.Tuning(log_postings=40, level0_postings=80, fanout=2, shard_postings=30, short_postings=60)
ROOMY = replace(SMALL, log_max_postings=100_000)  # the log never outgrows its limit here


@dataclass
class RecordingStore(MemoryStore):
    written: list[str] = field(default_factory=list)
    reads: list[str] = field(default_factory=list)

    def put(self, key: str, body: bytes, **options: Any) -> None:
        self.written.append(key)
        super().put(key, body, **options)

    def get(self, key: str) -> Blob | None:
        self.reads.append(key)
        return super().get(key)


def _post(n: int) -> tuple[str, bytes]:
    # All on one day: a publish that opens a day gives its compaction way (a case of its own).
    words = " ".join(f"w{n}x{i}" for i in range(12))
    return f"_posts/2024-05-20-p{n}.md", f"---\ntitle: 快讯 {n}\n---\n新闻 {words}\n".encode()


def _publish(pipeline: InProcessPipeline, n: int) -> list[str]:
    """One post alone; the search index files it wrote (documents, runs, the manifest)."""
    site = pipeline.site
    assert isinstance(site, RecordingStore)
    site.written.clear()
    pipeline.upload(*_post(n))
    pipeline.drain()
    return [key for key in site.written if key.startswith(search.PREFIX) and key.endswith(".json")]


def _run_files(keys: list[str]) -> list[str]:
    return [key for key in keys if key.startswith(search.RUN_PREFIX)]


@pytest.fixture
def pipeline(monkeypatch: pytest.MonkeyPatch) -> InProcessPipeline:
    monkeypatch.setattr(index, "TUNING", ROOMY)
    return InProcessPipeline(site=RecordingStore())


def test_a_publish_writes_its_document_and_the_manifest_and_leaves_compaction_owed(
    pipeline: InProcessPipeline,
) -> None:
    writes = [_publish(pipeline, n) for n in range(12)]
    assert all(len(w) == 2 and search.MANIFEST_KEY in w for w in writes), writes
    get = site_get(pipeline)
    manifest = search.read_index(get)
    assert manifest.runs == [] and index.owes(manifest, ROOMY)
    assert search.logical_index(get) == expected_index(pipeline)  # found through the log meanwhile


def test_the_schedule_finishes_what_publishes_left_then_writes_nothing(pipeline: InProcessPipeline) -> None:
    for n in range(12):
        _publish(pipeline, n)
    site = pipeline.site
    assert isinstance(site, RecordingStore)
    get = site_get(pipeline)
    before = search.logical_index(get)

    site.written.clear()
    pipeline.compact()
    manifest = search.read_index(get)
    assert _run_files(site.written) and manifest.runs
    rounds = 1
    while index.owes(manifest, ROOMY):
        pipeline.compact()
        manifest = search.read_index(get)
        rounds += 1
        assert rounds < 20
    assert search.logical_index(get) == before == expected_index(pipeline)

    # Nothing owed: one read of the manifest, no write.
    site.written.clear()
    site.reads.clear()
    outcome = pipeline.compact()
    assert site.written == [] and site.reads == [search.MANIFEST_KEY]
    assert outcome.counts["index_objects_written"] == 0 and outcome.counts["index_objects_deleted"] == 0


def test_the_schedule_starts_no_round_it_may_not_have_time_to_finish(pipeline: InProcessPipeline) -> None:
    for n in range(12):
        _publish(pipeline, n)
    site = pipeline.site
    assert isinstance(site, RecordingStore)
    site.written.clear()
    site.reads.clear()
    left = iter([ROOMY.tick_round_s + 1, ROOMY.tick_round_s - 1])  # time for one round, then no more
    index.compact(pipeline.ports, ROOMY, seconds_left=lambda: next(left))
    assert site.reads.count(search.MANIFEST_KEY) == 1 and _run_files(site.written)
    site.written.clear()
    index.compact(pipeline.ports, ROOMY, seconds_left=lambda: ROOMY.tick_round_s - 1)
    assert site.written == []


def test_a_publish_that_would_outgrow_the_log_compacts_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    tight = replace(SMALL, log_max_postings=SMALL.log_postings * 2)
    monkeypatch.setattr(index, "TUNING", tight)
    pipeline = InProcessPipeline(site=RecordingStore())
    writes = [_publish(pipeline, n) for n in range(12)]
    assert any(_run_files(w) for w in writes)
    get = site_get(pipeline)
    assert search.table_postings(search.read_index(get).log) <= tight.log_max_postings
    assert search.logical_index(get) == expected_index(pipeline)


def test_a_batch_in_the_bulk_lane_compacts_as_it_goes_whatever_its_size(pipeline: InProcessPipeline) -> None:
    for n in range(12):
        _publish(pipeline, n)
    site = pipeline.site
    assert isinstance(site, RecordingStore)
    assert search.read_index(site_get(pipeline)).runs == []  # the publishes left it all
    site.written.clear()
    # A settings change reads every post again in the bulk lane, in batches of ten as on AWS.
    pipeline.upload("_config.yml", b"title: Bulk\n")
    pipeline.drain()
    assert pipeline.invocations.get("index-bulk", 0) >= 2
    assert _run_files(site.written)
    assert search.logical_index(site_get(pipeline)) == expected_index(pipeline)


def test_a_bulk_batch_compacts_as_it_goes(pipeline: InProcessPipeline) -> None:
    site = pipeline.site
    assert isinstance(site, RecordingStore)
    for n in range(index.OPENING_CHECK_MAX + 1):  # one batch of eleven posts: more than a few publishes
        pipeline.upload(*_post(n))
    pipeline.batch_sizes["index"] = 100
    pipeline.drain()
    assert _run_files(site.written)
    assert search.logical_index(site_get(pipeline)) == expected_index(pipeline)
