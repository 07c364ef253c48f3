"""Render derives a batch's listings side by side (`Ports.io_workers`, `stages.common.run_all`):
on AWS each is a query and a PUT, round trips that threads overlap. The site is the one derived
one listing at a time."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import threading
from dataclasses import dataclass, field
from typing import Any

import pytest

from newsdrop.adapters.memory import MemoryStore
from newsdrop.local.inprocess import InProcessPipeline
from newsdrop.rendering.writer import LISTING_CACHE
from newsdrop.stages.common import run_all


@dataclass
class Meeting(MemoryStore):
    """A site bucket whose first listing writes, as many as the barrier's parties, each wait up to
    `patience` seconds for the others: they meet only if they are made at once (the barrier broken
    otherwise)."""

    patience: float = 30.0
    barrier: threading.Barrier | None = None
    _arrived: int = 0
    _count_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def expect(self, parties: int, patience: float) -> None:
        self.patience, self._arrived = patience, 0
        self.barrier = threading.Barrier(parties)

    def put(self, key: str, body: bytes, **options: Any) -> str:
        if self.barrier is not None and options.get("cache_control") == LISTING_CACHE:
            with self._count_lock:
                waits = self._arrived < self.barrier.parties
                self._arrived += 1
            if waits:  # the write goes ahead either way: whether the barrier broke is the test's answer
                with contextlib.suppress(threading.BrokenBarrierError):
                    self.barrier.wait(timeout=self.patience)
        return super().put(key, body, **options)


def post(name: str, day: int, category: str, tag: str) -> tuple[str, bytes]:
    text = (
        f"---\ntitle: 标题 {name}\ndate: 2024-05-{day:02d} 09:00:00 +0800\n"
        f"categories: {category}\ntags: [{tag}]\n---\n正文 {name}。\n"
    )
    return f"_posts/2024-05-{day:02d}-{name}.md", text.encode()


POSTS = [
    post("a", 20, "news", "市场"),
    post("b", 20, "markets", "债券"),
    post("c", 21, "news", "债券"),
    post("d", 19, "markets", "市场"),
]


def pipeline(site: MemoryStore, workers: int) -> InProcessPipeline:
    built = InProcessPipeline(site=site)
    built.ports = dataclasses.replace(built.ports, io_workers=workers)
    return built


def publish(built: InProcessPipeline, key: str, body: bytes) -> None:
    built.upload(key, body)
    built.drain()
    assert not built.rejections and not built.dead_letters


@pytest.mark.parametrize("workers", [1, 8])
def test_a_publish_writes_its_listings_at_once_when_it_may(workers: int) -> None:
    site = Meeting()
    built = pipeline(site, workers)
    for key, body in POSTS[:2]:
        publish(built, key, body)
    # A post into a day with posts: its home page, feed, category, tag and day listings all change.
    # The first three listing writes wait for each other: they meet only if made side by side.
    site.expect(3, patience=30.0 if workers > 1 else 0.5)
    publish(built, *POSTS[2])
    assert site.barrier is not None
    assert site.barrier.broken is (workers == 1)
    assert "标题 c" in site.objects["index.html"].body.decode()


def test_listings_derived_side_by_side_make_the_site_derived_one_at_a_time() -> None:
    one, many = pipeline(MemoryStore(), 1), pipeline(MemoryStore(), 8)
    for key, body in POSTS:
        publish(one, key, body)
        publish(many, key, body)
    publish(one, "_config.yml", "title: 另一个标题\n".encode())
    publish(many, "_config.yml", "title: 另一个标题\n".encode())
    assert set(many.site.objects.keys()) == set(one.site.objects.keys())
    differing = [k for k in one.site.objects if one.site.objects[k].body != many.site.objects[k].body]
    assert differing == []
    assert "另一个标题" in many.site.objects["index.html"].body.decode()


def test_run_all_runs_every_task_and_raises_the_first_failure_once_all_have_ended() -> None:
    done: list[str] = []
    gate = threading.Event()

    def fails() -> None:
        raise ValueError("first")

    def waits() -> None:
        gate.wait(timeout=30)
        done.append("slow")

    def opens() -> None:
        done.append("fast")
        gate.set()

    def fails_later() -> None:
        raise KeyError("second")

    with pytest.raises(ValueError, match="first"):
        run_all([fails, waits, opens, fails_later], workers=4)
    assert sorted(done) == ["fast", "slow"]  # the slow one was not left running behind the failure


def test_run_all_with_one_worker_runs_the_tasks_in_order_and_stops_at_a_failure() -> None:
    done: list[int] = []

    def task(n: int) -> None:
        if n == 2:
            raise RuntimeError("two")
        done.append(n)

    with pytest.raises(RuntimeError, match="two"):
        run_all([lambda n=n: task(n) for n in range(4)], workers=1)  # type: ignore[misc]
    assert done == [0, 1]


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded, use of fork:DeprecationWarning")
def test_a_forked_child_gets_threads_of_its_own() -> None:
    # The parent's threads, idle in its executor, do not exist in a child: run there, a task submitted
    # to that executor would wait for ever.
    for _ in range(3):  # the parent's threads, made and idle (each task done counts one idle)
        run_all([lambda: None] * 4, workers=3)
    reader, writer = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child's exit status is the answer
        done: list[int] = []
        worker = threading.Thread(target=lambda: run_all([lambda: done.append(1), lambda: done.append(2)], workers=3))
        worker.start()
        worker.join(timeout=20)
        os.write(writer, b"ok" if sorted(done) == [1, 2] else b"stuck")
        os._exit(0)
    os.close(writer)
    answer = os.read(reader, 16)
    os.waitpid(child, 0)
    assert answer == b"ok"
