"""`newsdrop build` reads posts ahead in worker processes: the same site, the same rejections."""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from newsdrop import posts, search
from newsdrop.local import readahead
from newsdrop.local.inprocess import BULK_BATCH_SIZES, InProcessPipeline
from newsdrop.local.readahead import CHUNK, ReadAhead
from newsdrop.model import SiteConfig
from newsdrop.search import differences
from tests.support.search import site_get

CONFIG = b"title: Read ahead\ntimezone: Asia/Shanghai\npermalink: /:year/:month/:title/\n"


def post(n: int) -> bytes:
    return (
        f"---\ntitle: 第{n}号 post {n}\ndate: 2024-05-{1 + n % 20:02d} 09:{n % 60:02d}:00 +0800\n"
        f"categories: {('news', 'markets')[n % 2]}\n---\n北向资金 {n}，代码 {600000 + n}。<b>Bold {n}</b>\n"
    ).encode()


def files() -> list[tuple[str, bytes]]:
    found = [("_config.yml", CONFIG)]
    found += [(f"_posts/2024-05-{1 + n % 20:02d}-post-{n}.md", post(n)) for n in range(150)]
    found.append(("_posts/2024-05-03-broken.md", b"---\ntitle: [unclosed\n---\nbody\n"))
    found.append(("_posts/2024-05-04-no-front-matter.md", b"just text\n"))
    return found


def build(jobs: int) -> InProcessPipeline:
    pipeline = InProcessPipeline(batch_sizes=BULK_BATCH_SIZES)
    pipeline.publish_site(files(), jobs=jobs)
    return pipeline


def test_a_build_read_ahead_in_processes_is_the_same_site_with_the_same_rejections(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    alone = build(1)
    read_here = []
    original = posts.read_post
    monkeypatch.setattr(posts, "read_post", lambda *a, **k: read_here.append(a[0]) or original(*a, **k))
    ahead = build(2)
    assert read_here == []  # every post was read in a worker process
    assert ahead.dead_letters == {}
    assert sorted(ahead.rejections) == sorted(alone.rejections)
    broken = {"_posts/2024-05-03-broken.md", "_posts/2024-05-04-no-front-matter.md"}
    assert {key for key, _ in ahead.rejections} == broken
    site = {key: blob.body for key, blob in ahead.site.objects.items()}
    assert differences(site, {key: blob.body for key, blob in alone.site.objects.items()}) == []
    assert b"/2024/05/" in site["index.html"]  # the posts were read under the site's permalink setting
    assert ahead.ports.read_post is None  # later uploads are read as on AWS


def test_an_answer_is_used_only_for_the_same_bytes_and_settings_and_only_once() -> None:
    key = "_posts/2024-05-01-a.md"
    with ReadAhead.start([(key, post(1))], SiteConfig(), 1_000_000, jobs=2) as ahead:
        first = ahead(key, post(1), SiteConfig(), max_bytes=1_000_000)
        assert first == posts.read_post(key, post(1), SiteConfig(), max_bytes=1_000_000)
        assert key not in ahead.answers  # a second read (a retry, a refresh) parses the file again
    with ReadAhead.start([(key, post(1))], SiteConfig(), 1_000_000, jobs=2) as ahead:
        assert ahead(key, post(2), SiteConfig(), max_bytes=1_000_000).title == "第2号 post 2"  # other bytes
    other = dataclasses.replace(SiteConfig(), timezone="UTC")
    with ReadAhead.start([(key, post(1))], SiteConfig(), 1_000_000, jobs=2) as ahead:
        assert ahead(key, post(1), other, max_bytes=1_000_000) == posts.read_post(
            key, post(1), other, max_bytes=1_000_000
        )


def test_a_rejection_read_ahead_is_raised_with_its_reason() -> None:
    key = "_posts/2024-05-01-a.md"
    with (
        ReadAhead.start([(key, b"no front matter\n")], SiteConfig(), 1_000_000, jobs=2) as ahead,
        pytest.raises(posts.Rejected) as raised,
    ):
        ahead(key, b"no front matter\n", SiteConfig(), max_bytes=1_000_000)
    with pytest.raises(posts.Rejected) as direct:
        posts.read_post(key, b"no front matter\n", SiteConfig(), max_bytes=1_000_000)
    assert raised.value.reason == direct.value.reason


def test_posts_are_taken_while_later_ones_are_still_being_read() -> None:
    # The pipeline does not wait for every post to be read: the first chunk's posts are handed
    # out while later chunks are still queued for the workers.
    many = [(f"_posts/2024-05-01-p{n}.md", post(n)) for n in range(CHUNK * 6)]
    with ReadAhead.start(many, SiteConfig(), 1_000_000, jobs=2) as ahead:
        key, body = many[0]
        assert ahead(key, body, SiteConfig(), max_bytes=1_000_000).title == "第0号 post 0"
        assert many[-1][0] in ahead.reading  # the last chunk is not collected yet


def test_a_worker_that_dies_leaves_the_rest_to_the_parse_stage() -> None:
    many = [(f"_posts/2024-05-01-p{n}.md", post(n)) for n in range(CHUNK * 6)]  # far from read when killed
    with ReadAhead.start(many, SiteConfig(), 1_000_000, jobs=2) as ahead:
        assert ahead.pool is not None
        for process in list(ahead.pool._processes.values()):
            process.kill()
        key, body = many[-1]
        assert ahead(key, body, SiteConfig(), max_bytes=1_000_000).title == f"第{len(many) - 1}号 post {len(many) - 1}"
        assert ahead.reading == {} and ahead.pool is None


def test_a_worker_that_dies_while_posts_are_still_given_leaves_them_to_the_parse_stage() -> None:
    many = [(f"_posts/2024-05-01-p{n}.md", post(n)) for n in range(CHUNK * 3)]
    with ReadAhead.open(SiteConfig(), 1_000_000, jobs=2) as ahead:
        for key, body in many[:CHUNK]:
            ahead.add(key, body)
        assert ahead.pool is not None
        ahead(many[0][0], many[0][1], SiteConfig(), max_bytes=1_000_000)  # the workers are up
        for process in list(ahead.pool._processes.values()):
            process.kill()
            process.join()
        deadline = time.monotonic() + 10
        while not ahead.pool._broken and time.monotonic() < deadline:  # as the executor finds it
            time.sleep(0.01)
        for key, body in many[CHUNK:]:
            ahead.add(key, body)  # given to a pool that is broken
        ahead.flush()
        assert ahead.pool is None
        key, body = many[-1]
        assert ahead(key, body, SiteConfig(), max_bytes=1_000_000).title == f"第{len(many) - 1}号 post {len(many) - 1}"


def test_posts_go_to_the_workers_as_they_are_read_and_late_settings_still_come_first(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A build reads its files as it goes: the workers have the first posts before the last is read.
    # A settings file given after posts is published before any post all the same, and the posts
    # read ahead under the settings as they were are read again under the new ones.
    given: list[int] = []
    submitted: list[int] = []
    original_flush = ReadAhead.flush

    def flush(self: ReadAhead) -> None:
        submitted.append(len(given))
        original_flush(self)

    monkeypatch.setattr(ReadAhead, "flush", flush)

    def reading(found: list[tuple[str, bytes]]) -> Iterator[tuple[str, bytes]]:
        for n, item in enumerate(found):
            given.append(n)
            yield item

    found = files()
    streamed = InProcessPipeline(batch_sizes=BULK_BATCH_SIZES)
    streamed.publish_site(reading(found), jobs=2)
    assert submitted[0] < len(found) - 1  # the first chunk went out before the last file was read
    alone = build(1)
    site = {key: blob.body for key, blob in streamed.site.objects.items()}
    assert differences(site, {key: blob.body for key, blob in alone.site.objects.items()}) == []

    late = [*found[1:], found[0]]  # the settings file last
    read_here: list[str] = []
    original = posts.read_post
    monkeypatch.setattr(posts, "read_post", lambda *a, **k: read_here.append(a[0]) or original(*a, **k))
    reordered = InProcessPipeline(batch_sizes=BULK_BATCH_SIZES)
    reordered.publish_site(late, jobs=2)
    assert len(read_here) == len(found) - 1  # every post read again, under the site's settings
    site = {key: blob.body for key, blob in reordered.site.objects.items()}
    assert differences(site, {key: blob.body for key, blob in alone.site.objects.items()}) == []
    assert sorted(reordered.rejections) == sorted(alone.rejections)


def test_the_workers_weigh_each_document_and_index_takes_their_postings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Index runs in a forked process: each document it weighs itself is noted in a file.
    noted = tmp_path / "weighed"
    original = search.Document.postings

    def postings(self: search.Document) -> dict[str, int]:
        with noted.open("a", encoding="utf-8") as out:
            out.write(self.url + "\n")
        return original(self)

    monkeypatch.setattr(search.Document, "postings", postings)
    ahead = build(2)
    assert not noted.exists()  # every document's postings came from the workers
    alone = build(1)
    assert len(noted.read_text(encoding="utf-8").splitlines()) == len(files()) - 3  # all but settings, rejections
    assert search.logical_index(site_get(ahead)) == search.logical_index(site_get(alone))
    assert ahead.ports.postings_ahead is None  # later posts are weighed by the index stage


def test_postings_worked_out_ahead_are_used_only_for_the_same_document_and_only_once() -> None:
    key = "_posts/2024-05-01-a.md"
    read = posts.read_post(key, post(1), SiteConfig(), max_bytes=1_000_000)
    document = search.Document(7, read.url, read.title, read.date, read.text, search.labels(read.categories, read.tags))
    with ReadAhead.start([(key, post(1))], SiteConfig(), 1_000_000, jobs=2) as ahead:
        ahead(key, post(1), SiteConfig(), max_bytes=1_000_000)  # collects the chunk's answers
        edited = dataclasses.replace(document, text=document.text + " 更正")
        assert ahead.postings(key, edited) is None  # another text: the index stage weighs it
    with ReadAhead.start([(key, post(1))], SiteConfig(), 1_000_000, jobs=2) as ahead:
        ahead(key, post(1), SiteConfig(), max_bytes=1_000_000)
        found = ahead.postings(key, document)
        assert found is not None and dict(found.items()) == document.postings()
        assert ahead.postings(key, document) is None  # handed out once


def _children_running(module: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            command = (entry / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if parent == os.getpid() and module.encode() in command:
            found.append(int(entry.name))
    return found


@pytest.mark.skipif(
    "forkserver" not in multiprocessing.get_all_start_methods() or not Path("/proc/self/stat").exists(),
    reason="needs the forkserver start method and /proc",
)
def test_the_fork_server_starts_before_any_worker_is_asked_for() -> None:
    readahead.start_early()
    assert _children_running("multiprocessing.forkserver"), "no fork server after start_early"
    with ReadAhead.open(SiteConfig(), 1_000_000, jobs=2) as ahead:
        ahead.add("_posts/2024-05-23-a.md", post(1))
        ahead.flush()
        assert ahead("_posts/2024-05-23-a.md", post(1), SiteConfig(), max_bytes=1_000_000).title
