"""What the stages leave to Python's cyclic garbage collector, and what a build keeps from it.

A batch that leaves a reference cycle behind is freed only at the collector's next pass over the
whole heap: in a warm Lambda environment, memory held between invocations; in a build, passes over
a heap that only grows.
"""

from __future__ import annotations

import functools
import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

from newsdrop.cli.main import main
from newsdrop.local.inprocess import InProcessPipeline
from newsdrop.stages.fanout import FanoutBatch
from newsdrop.stages.index import IndexBatch
from newsdrop.stages.parse import ParseBatch
from newsdrop.stages.render import RenderBatch
from tests.support.processes import in_a_new_process
from tests.unit.test_inprocess import post

BATCHES = (ParseBatch, RenderBatch, IndexBatch, FanoutBatch)


@pytest.fixture
def collector_off() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def batches_alive() -> list[object]:
    return [o for o in gc.get_objects() if isinstance(o, BATCHES)]


@pytest.mark.usefixtures("collector_off")
def test_each_stage_batch_is_freed_as_it_returns_without_the_collector() -> None:
    # Batches another test left referenced (a chaos test's interleaved runs) are kept here, so that
    # none of their identities is taken by a batch of this test.
    earlier = batches_alive()
    pipeline = InProcessPipeline()
    pipeline.upload("_config.yml", b"title: Freed\n")  # a settings change: fanout runs too
    for n in range(3):
        pipeline.upload(f"_posts/2021-12-0{n + 1}-p{n}.md", post(f"Post {n}", tags="a b"))
    pipeline.drain()
    pipeline.delete("_posts/2021-12-01-p0.md")
    pipeline.drain()
    assert pipeline.invocations.keys() >= {"parse", "render", "index", "fanout"}
    left = [type(batch).__name__ for batch in batches_alive() if not any(batch is e for e in earlier)]
    assert left == []


def _build_frozen(freeze: bool) -> tuple[int, int, dict[str, bytes]]:
    """In a new process: the collector's frozen objects before and after a build, and the site built."""
    before = gc.get_freeze_count()
    pipeline = InProcessPipeline(freeze_survivors=freeze)
    for n in range(3):
        pipeline.upload(f"_posts/2021-12-0{n + 1}-p{n}.md", post(f"Post {n}", tags="a b"))
    pipeline.drain()
    return before, gc.get_freeze_count(), {key: blob.body for key, blob in pipeline.site.objects.items()}


def test_a_build_that_keeps_everything_freezes_what_outlives_each_batch() -> None:
    before, after, frozen_site = in_a_new_process(functools.partial(_build_frozen, True))
    assert after > before
    before, after, site = in_a_new_process(functools.partial(_build_frozen, False))
    assert after == before
    assert frozen_site.keys() == site.keys()  # the same pages (their dates of writing aside)


def _command_freezes(root: Path, exits: bool) -> bool:
    posts = root / "src" / "_posts"
    posts.mkdir(parents=True, exist_ok=True)
    (posts / "2021-12-01-p.md").write_bytes(post("Post"))
    before = gc.get_freeze_count()
    assert main(["build", str(root / "src"), "--out", str(root / f"out-{exits}"), "--jobs", "1"], exits=exits) == 0
    return gc.get_freeze_count() > before


def test_only_the_command_that_exits_after_its_build_freezes_its_objects(tmp_path: Path) -> None:
    # main() called as a function leaves the caller's objects to the collector.
    assert in_a_new_process(functools.partial(_command_freezes, tmp_path, True))
    assert not in_a_new_process(functools.partial(_command_freezes, tmp_path, False))
