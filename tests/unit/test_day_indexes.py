"""The archive page and the sitemap index list the days that have a daily sitemap.

Only a batch that makes a daily sitemap appear or go reads the list of days and derives them,
so a publish into a day that has posts costs the same however long the archive; a retried batch
derives them too, since its first attempt may have made a sitemap appear and died before.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from newsdrop import envelopes
from newsdrop.adapters.memory import MemoryStore
from newsdrop.local.inprocess import InProcessPipeline
from newsdrop.rendering import pages, urls
from newsdrop.stages import render

DAY_INDEXES = ("archive/index.html", "sitemap.xml")


@dataclass
class ListingStore(MemoryStore):
    listed: list[str] = field(default_factory=list)

    def list_keys(self, prefix: str) -> list[str]:
        self.listed.append(prefix)
        return super().list_keys(prefix)

    def list_page(self, prefix: str, *, after: str = "", limit: int = 1000) -> list[str]:
        self.listed.append(prefix)
        return super().list_page(prefix, after=after, limit=limit)


def _post(day: str, n: int) -> tuple[str, bytes]:
    text = f"---\ntitle: 快讯 {n}\ndate: {day} 09:{n:02d}:00 +0800\ncategories: news\n---\n正文 {n}\n"
    return f"_posts/{day}-p{n}.md", text.encode()


def _pipeline() -> tuple[InProcessPipeline, ListingStore]:
    site = ListingStore()
    return InProcessPipeline(site=site), site


def _publish(pipeline: InProcessPipeline, day: str, n: int) -> str:
    key, body = _post(day, n)
    pipeline.upload(key, body)
    pipeline.drain()
    assert not pipeline.rejections
    return key


def _etags(site: MemoryStore) -> dict[str, str]:
    return {key: site.objects[key].etag for key in DAY_INDEXES}


def _lists_day(site: MemoryStore, day: str) -> bool:
    archive = site.objects["archive/index.html"].body.decode()
    in_sitemap = urls.day_sitemap_key(day).encode() in site.objects["sitemap.xml"].body
    assert (urls.day_url(day) in archive) == in_sitemap  # the two always agree
    return in_sitemap


def test_a_post_into_a_day_with_posts_reads_no_list_of_days() -> None:
    pipeline, site = _pipeline()
    _publish(pipeline, "2024-05-20", 1)
    assert urls.SITEMAPS_PREFIX in site.listed and _lists_day(site, "2024-05-20")
    before = _etags(site)
    site.listed.clear()

    _publish(pipeline, "2024-05-20", 2)

    assert urls.SITEMAPS_PREFIX not in site.listed
    assert _etags(site) == before
    assert b"p2" in site.objects[urls.day_sitemap_key("2024-05-20")].body  # the day itself did change


def test_opening_and_closing_a_day_updates_both_indexes() -> None:
    pipeline, site = _pipeline()
    _publish(pipeline, "2024-05-20", 1)
    first = _publish(pipeline, "2024-05-21", 2)
    second = _publish(pipeline, "2024-05-21", 3)
    assert _lists_day(site, "2024-05-21") and _lists_day(site, "2024-05-20")

    site.listed.clear()
    pipeline.delete(first)
    pipeline.drain()
    assert urls.SITEMAPS_PREFIX not in site.listed  # the day still has a post
    assert _lists_day(site, "2024-05-21")

    pipeline.delete(second)
    pipeline.drain()
    assert urls.day_sitemap_key("2024-05-21") not in site.objects
    assert not _lists_day(site, "2024-05-21") and _lists_day(site, "2024-05-20")


def _render_pending(pipeline: InProcessPipeline, receive_count: int) -> None:
    """Run render once on the live queue's messages, delivered `receive_count` times so far."""
    queue = pipeline.queues["render"]
    records = [envelopes.sqs_record(body, queue=queue.name, receive_count=receive_count) for body, _ in queue.messages]
    render.run({"Records": records}, pipeline.ports)
    queue.messages.clear()


def test_a_retried_batch_lists_the_day_its_failed_attempt_opened(monkeypatch: pytest.MonkeyPatch) -> None:
    pipeline, site = _pipeline()
    _publish(pipeline, "2024-05-20", 1)
    key, body = _post("2024-05-21", 2)
    pipeline.upload(key, body)
    pipeline._drain_queues(("parse",))

    def dies(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the function timed out")

    with monkeypatch.context() as patch:
        patch.setattr(pages, "day_indexes", dies)
        with pytest.raises(RuntimeError, match="timed out"):
            _render_pending(pipeline, receive_count=1)
    # The first attempt wrote the new day's sitemap, and not the indexes.
    assert urls.day_sitemap_key("2024-05-21") in site.objects
    assert not _lists_day(site, "2024-05-21")

    _render_pending(pipeline, receive_count=2)
    pipeline.drain()

    assert _lists_day(site, "2024-05-21") and _lists_day(site, "2024-05-20")


def test_an_archive_of_more_days_than_a_sitemap_index_may_list_still_renders() -> None:
    # A newspaper's archive from 1850 on: more days than the sitemaps protocol lets one index list.
    import datetime as dt

    from newsdrop.model import SiteConfig

    site = MemoryStore()
    first = dt.date(1850, 1, 1)
    days = [(first + dt.timedelta(days=n)).isoformat() for n in range(pages.SITEMAPS_PER_INDEX + 1_000)]
    for day in days:
        site.put(urls.day_sitemap_key(day), b"<urlset/>", content_type="application/xml")
    # A long address too: 50,000 of its sitemap URLs are more than the 5 million characters that
    # bound a template override's page (the theme's own pages are bounded by what they list).
    config = SiteConfig(url="https://news-archive." + "x" * 50 + ".example.com")
    built = {key: compute().render() for key, compute in pages.day_indexes(site, config).items()}  # type: ignore[union-attr]
    index = built["sitemap.xml"].decode()
    listed = index.count("<sitemap>")
    assert listed == pages.SITEMAPS_PER_INDEX
    assert f"/sitemaps/{days[-1]}.xml" in index and f"/sitemaps/{days[999]}.xml" not in index  # the newest
    archive = built["archive/index.html"].decode()
    assert urls.day_url(days[0]) in archive and urls.day_url(days[-1]) in archive  # every day


def test_a_site_without_posts_has_no_sitemap_index_and_its_first_post_brings_one() -> None:
    # A sitemap index lists at least one sitemap (the protocol's schema: an empty one is invalid).
    pipeline = InProcessPipeline()
    pipeline.upload("_config.yml", b"title: T\n")
    pipeline.drain()
    assert "sitemap.xml" not in pipeline.site.objects and "archive/index.html" in pipeline.site.objects
    key, body = _post("2024-05-20", 1)
    pipeline.upload(key, body)
    pipeline.drain()
    assert urls.day_sitemap_key("2024-05-20").encode() in pipeline.site.objects["sitemap.xml"].body
    pipeline.delete(key)
    pipeline.drain()
    assert "sitemap.xml" not in pipeline.site.objects
