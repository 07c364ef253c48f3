"""A single publish writes at most 12 S3 objects, whatever it opens.

A post with one category and one tag (as every post of the reference site has) writes its artifact,
its page, the home, category, tag and day pages, the feed, the day's sitemap, its search document
and the manifest: 10. Search compaction may add 2. A day's first post (and so a month's) also
rewrites the archive page and the sitemap index, and then compaction gives way.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import pytest

from newsdrop import search
from newsdrop.adapters.memory import MemoryStore
from newsdrop.local.inprocess import InProcessPipeline
from newsdrop.stages import index
from tests.support.search import expected_index, site_get

BUDGET = 12
# Small levels, so compaction runs in most publishes of a test-sized site; and publishes compact
# as they go, as they do when they outrun the scheduled compaction (the budget holds for them).
BUSY = index.Tuning(
    log_postings=60, level0_postings=120, fanout=2, shard_postings=40, short_postings=80, scheduled=False
)
WORDS = ("北向资金", "净流入", "央行", "降准", "半导体", "板块", "蔚来", "汽车", "新能源", "002456", "market", "bonds")


@dataclass
class RecordingStore(MemoryStore):
    written: list[str] = field(default_factory=list)

    def put(self, key: str, body: bytes, **options: Any) -> None:
        self.written.append(key)
        super().put(key, body, **options)


def _post(n: int, day: str) -> tuple[str, bytes]:
    words = " ".join(WORDS[(n + k) % len(WORDS)] for k in range(6))
    head = f"title: 快讯 {n}\ndate: {day} 09:{n % 60:02d}:00 +0800\ncategories: news\ntags: 滚动"
    text = f"---\n{head}\n---\n{words} {n}\n"
    return f"_posts/{day}-p{n}.md", text.encode()


def _publish_each(pipeline: InProcessPipeline, posts: list[tuple[str, bytes]]) -> list[list[str]]:
    """Publish one post at a time; the objects each publish wrote."""
    site, artifacts = pipeline.site, pipeline.artifacts
    assert isinstance(site, RecordingStore) and isinstance(artifacts, RecordingStore)
    writes = []
    for key, body in posts:
        site.written.clear()
        artifacts.written.clear()
        pipeline.upload(key, body)
        pipeline.drain()
        writes.append(site.written + artifacts.written)
    assert not pipeline.rejections
    return writes


def _pipeline() -> InProcessPipeline:
    return InProcessPipeline(site=RecordingStore(), artifacts=RecordingStore())


def _days(count: int, per_day: int) -> list[str]:
    """`count` post dates, `per_day` posts a day, from late October into December."""
    start = dt.date(2024, 10, 27)
    return [(start + dt.timedelta(days=n // per_day)).isoformat() for n in range(count)]


def test_no_publish_writes_more_than_twelve_objects_on_a_busy_site() -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(index, "TUNING", BUSY)
        pipeline = _pipeline()
        writes = _publish_each(pipeline, [_post(n, day) for n, day in enumerate(_days(120, per_day=4))])
    assert "404.html" in writes[0]  # the first publish also installs the theme and static pages
    writes = writes[1:]
    most = max(writes, key=len)
    assert len(most) <= BUDGET, sorted(most)
    # The case this is about happened: days and months opened while compaction was busy.
    openers = [w for w in writes if "archive/index.html" in w]
    assert len(openers) >= 25
    assert any(key.startswith("2024/11/01/") for w in openers for key in w)
    assert sum(1 for w in writes if any(key.startswith("search/run/") for key in w)) >= 20
    assert search.logical_index(site_get(pipeline)) == expected_index(pipeline)


def test_where_every_post_opens_a_day_compaction_still_runs() -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(index, "TUNING", BUSY)
        pipeline = _pipeline()
        writes = _publish_each(pipeline, [_post(n, day) for n, day in enumerate(_days(60, per_day=1))])
    assert all("archive/index.html" in w for w in writes)
    # Openers leave compaction to later publishes only `defer_max` in a row: the rest compact.
    compacting = [n for n, w in enumerate(writes) if any(key.startswith("search/run/") for key in w)]
    assert len(compacting) >= len(writes) // (BUSY.defer_max + 1) - 2
    manifest = search.read_index(site_get(pipeline))
    assert manifest.deferred <= BUSY.defer_max
    # The log is flushed once past its limit, by the first publish allowed to compact: it holds at
    # most the limit and the postings of the publishes that deferred, and of the one that flushes.
    expected = expected_index(pipeline)
    per_post = max(len(postings) for _document, postings in expected.values())
    assert search.table_postings(manifest.log) <= BUSY.log_postings + (BUSY.defer_max + 1) * per_post
    assert search.logical_index(site_get(pipeline)) == expected
