"""`newsdrop build` runs index in a forked process beside render: the same site as one process.

Each build runs in a fresh process of its own, as `newsdrop build` does: a test process may hold
threads other tests left (a fork there is declined, and the build runs index itself).
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import gc
import multiprocessing
import os
import pickle
import signal
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from newsdrop.adapters.memory import MemoryStore
from newsdrop.local.forked import Forked
from newsdrop.local.inprocess import BULK_BATCH_SIZES, INDEXING, RENDERING, InProcessPipeline, Stage
from newsdrop.ports import Blob, Ports, SearchState
from newsdrop.search import differences
from newsdrop.stages.common import Outcome
from tests.support.processes import in_a_new_process
from tests.support.safety import read_site

R = TypeVar("R")

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="index runs beside render only where processes fork")

CONFIG = b"title: Side by side\ntimezone: Asia/Shanghai\n"


def files() -> list[tuple[str, bytes]]:
    found = [("_config.yml", CONFIG)]
    for n in range(60):
        day = 1 + n % 7
        found.append(
            (
                f"_posts/2024-06-{day:02d}-p{n}.md",
                f"---\ntitle: 第{n}号 快讯 {n}\ndate: 2024-06-{day:02d} 08:{n:02d}:00 +0800\n---\n"
                f"沪深两市成交 {n} 亿元。Market note {n}.\n".encode(),
            )
        )
    found.append(("_posts/2024-06-02-broken.md", b"---\ntitle: [unclosed\n---\nbody\n"))
    return found


def recording(stage: Stage, log: Path, *, fail_in_child: bool = False, also_write: str = "") -> Stage:
    """The stage, noting the process that ran it (a forked child's memory is not the test's)."""
    parent = os.getpid()

    def run(event: dict[str, Any], ports: Ports) -> Outcome:
        with log.open("a") as out:
            out.write(f"{os.getpid()}\n")
        if os.getpid() != parent:
            if fail_in_child:
                os._exit(3)
            if also_write:
                ports.site.put(also_write, b"index's", content_type="text/html")
        return stage(event, ports)

    return run


@dataclass
class Built:
    """What a build left, sent back from its process."""

    site: dict[str, bytes]
    search: dict[str, SearchState]
    next_id: int
    invocations: dict[str, int]
    dead_letters: dict[str, list[str]]
    rejections: list[tuple[str, str]]
    pid: int
    ran_in: list[int]  # the processes the index batches ran in
    error: str = ""


def build(jobs: int, log: Path | None = None, out: Path | None = None, **wrap: Any) -> Built:
    pipeline = InProcessPipeline(site=MemoryStore(mirror=out), batch_sizes=BULK_BATCH_SIZES)
    settings, posts = files()[:1], files()[1:]
    pipeline.publish_all(settings)  # on its own, so that what is recorded is the posts' indexing
    if log is not None:
        for name in INDEXING:
            pipeline.queues[name].stage = recording(pipeline.queues[name].stage, log, **wrap)
    error = ""
    try:
        pipeline.publish_site(posts, jobs=jobs)
        # The site goes on as usual afterwards: a delete reaches the index kept in this process.
        pipeline.delete("_posts/2024-06-01-p0.md")
        pipeline.drain()
    except RuntimeError as exc:
        error = str(exc)
    return Built(
        site={key: pipeline.site.get(key).body for key in pipeline.site.objects},
        search=pipeline.catalog.search,
        next_id=pipeline.catalog.next_id,
        invocations=pipeline.invocations,
        dead_letters=pipeline.dead_letters,
        rejections=sorted(pipeline.rejections),
        pid=os.getpid(),
        ran_in=[int(line) for line in log.read_text().split()] if log is not None and log.exists() else [],
        error=error,
    )


@pytest.fixture(scope="module")
def fresh() -> Iterator[Callable[..., Built]]:
    """Run `build` in a new process (spawned: nothing of this one's threads or state)."""
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=context, max_tasks_per_child=1) as pool:
        yield lambda *args, **kwargs: pool.submit(build, *args, **kwargs).result()


def assert_same(one: Built, other: Built) -> None:
    assert differences(one.site, other.site) == []
    assert one.search == other.search and one.next_id == other.next_id
    assert one.invocations == other.invocations and one.dead_letters == other.dead_letters == {}
    assert one.rejections == other.rejections and len(one.rejections) == 1


def test_index_runs_in_another_process_and_the_site_is_the_same(fresh: Callable[..., Built], tmp_path: Path) -> None:
    alone = fresh(1)
    beside = fresh(2, tmp_path / "pids", tmp_path / "out")
    assert not beside.error
    # The folder the build wrote as it went, from both processes, is the bucket: every object, and
    # nothing deleted since (replaced search runs, the deleted post's page and document).
    assert differences(read_site(tmp_path / "out"), beside.site) == []
    index_pids = set(beside.ran_in)
    # Every index batch of the build ran in the forked process; the delete's, afterwards, here.
    assert len(index_pids) == 2 and beside.ran_in[-1] == beside.pid and beside.ran_in.count(beside.pid) == 1
    assert_same(beside, alone)
    assert any(key.startswith("search/doc/") for key in beside.site)  # its writes were taken back
    assert beside.next_id == 60  # one search document per post, and the delete removed one
    assert beside.search["_posts/2024-06-01-p0.md"].doc is None
    assert all(state.doc is not None for key, state in beside.search.items() if not key.endswith("p0.md"))


def test_a_forked_index_that_dies_is_run_here_instead(fresh: Callable[..., Built], tmp_path: Path) -> None:
    alone = fresh(1)
    recovered = fresh(2, tmp_path / "pids", tmp_path / "out", fail_in_child=True)
    assert not recovered.error
    assert differences(read_site(tmp_path / "out"), recovered.site) == []
    assert recovered.ran_in[0] != recovered.pid and recovered.pid in recovered.ran_in  # tried there, done here
    assert_same(recovered, alone)


def test_render_and_index_writing_the_same_object_is_an_error_not_a_silent_choice(
    fresh: Callable[..., Built], tmp_path: Path
) -> None:
    clashed = fresh(2, tmp_path / "pids", also_write="index.html")
    assert "changed the same state side by side: ['index.html']" in clashed.error


def _forks_only_alone() -> tuple[bool, Any]:
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        declined = Forked.start(lambda: 1) is None
    finally:
        stop.set()
        other.join()
    child = Forked.start(lambda: {"from": "child"})
    return declined, None if child is None else child.result()


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="counts threads in /proc")
def test_nothing_is_forked_while_another_thread_runs() -> None:
    assert in_a_new_process(_forks_only_alone) == (True, {"from": "child"})


def _frozen_while_forked() -> dict[str, int]:
    """How many objects the collector leaves alone, at each step of children started and taken."""
    seen = {"before": gc.get_freeze_count()}
    kept = [[n] for n in range(10_000)]  # the parent's objects, which the children only read
    child = Forked.start(lambda: (gc.get_freeze_count(), len(kept)))
    assert child is not None
    seen["during"] = gc.get_freeze_count()
    in_child, read = child.result() or (-1, -1)
    assert read == len(kept)
    with pytest.raises(RuntimeError, match="taken already"):
        child.result()
    seen["in child"], seen["after"] = in_child, gc.get_freeze_count()
    failed = Forked.start(_refuse)
    assert failed is not None and failed.result() is None
    seen["after a failed child"] = gc.get_freeze_count()
    first, second = Forked.start(lambda: 1), Forked.start(lambda: 2)
    assert first is not None and second is not None
    assert first.result() == 1
    seen["one of two taken"] = gc.get_freeze_count()
    assert second.result() == 2
    seen["both taken"] = gc.get_freeze_count()
    gc.freeze()  # another part of the program freezes its own objects: they stay frozen
    seen["frozen by another"] = gc.get_freeze_count()
    third = Forked.start(lambda: 3)
    assert third is not None and third.result() == 3
    seen["after, frozen by another"] = gc.get_freeze_count()
    return seen


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="counts threads in /proc")
def test_the_parents_objects_are_out_of_the_collectors_sight_until_the_last_result_is_taken() -> None:
    seen = in_a_new_process(_frozen_while_forked)
    # CPython freezes some of its own objects as it starts (`before`); the 10,000 lists are frozen
    # in the child and in the parent while it runs, and collectable again once its result is in.
    before = seen["before"]
    assert seen["in child"] >= before + 10_000 and seen["during"] >= before + 10_000
    assert seen["after"] <= before and seen["after a failed child"] <= before
    assert seen["one of two taken"] >= before + 10_000  # the other child still runs
    assert seen["both taken"] <= before
    assert seen["after, frozen by another"] >= seen["frozen by another"] > before


def _render_fails_beside_index() -> tuple[str, int, int, list[str]]:
    """A build whose render fails while index runs in the forked child: the error, the frozen
    objects before and after, and the children left unwaited for."""
    pipeline = InProcessPipeline(site=MemoryStore(), batch_sizes=BULK_BATCH_SIZES)
    pipeline.publish_all(files()[:1])

    def failing(event: dict[str, Any], ports: Ports) -> Outcome:
        raise RuntimeError("render failed")

    pipeline.queues[RENDERING[0]].stage = failing
    before = gc.get_freeze_count()
    error = ""
    try:
        pipeline.publish_site(files()[1:], jobs=2)
    except RuntimeError as exc:
        error = str(exc)
    return error, before, gc.get_freeze_count(), _zombies()


def _zombies() -> list[str]:
    """This process's children that ended and were never waited for."""
    found = []
    for child in Path(f"/proc/self/task/{os.getpid()}/children").read_text().split():
        stat = Path(f"/proc/{child}/stat").read_text()
        if stat[stat.rfind(")") + 2] == "Z":
            found.append(child)
    return found


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="counts threads in /proc")
def test_a_render_that_fails_beside_index_waits_for_it_and_leaves_nothing_frozen() -> None:
    error, before, after, zombies = in_a_new_process(_render_fails_beside_index)
    assert error == "render failed"
    assert after <= before
    assert zombies == []


class _Unpicklable:
    def __reduce__(self) -> Any:
        raise TypeError("not to be pickled")


def _refuse() -> None:
    raise ValueError("not to be unpickled")


class _Unloadable:
    def __reduce__(self) -> Any:
        return _refuse, ()


def _results_through_the_pipe() -> list[Any]:
    """Results larger than a pipe holds: one comes back whole; one whose pickling fails part way
    through, and one that fails to load at its start (the child still writing), come back as
    failures. A child left waiting to write would hang this process: the alarm ends it instead."""
    signal.alarm(60)
    large = [os.urandom(1 << 20), Blob(b"<p>x</p>", "e1", "text/html", "max-age=60", {"k": "v"}, "inline")]
    answers: list[Any] = []
    for work in (lambda: large, lambda: [os.urandom(1 << 20), _Unpicklable()], lambda: [_Unloadable(), large]):
        child = Forked.start(work)
        answers.append("not forked" if child is None else child.result())
    signal.alarm(0)
    return [answers[0] == large, *answers[1:]]


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="counts threads in /proc")
def test_a_result_streams_back_whole_and_a_failed_one_is_none() -> None:
    assert in_a_new_process(_results_through_the_pipe) == [True, None, None]


# A value of each field type of the classes below, none of them a default.
SAMPLES: dict[str, Any] = {
    "bytes": b"\x00body",
    "Mapping[str, str]": {"k": "v"},
    "int | None": 3,
    "tuple[int, ...]": (1, 2),
    "bool": True,
    "int": 7,
}


@pytest.mark.parametrize("cls", [Blob, SearchState])
def test_what_index_sends_back_pickles_to_equal_objects(cls: type) -> None:
    """Every field set to a value of its own survives the trip: a field the class's own pickling
    forgot, or put in another's place, would come back as another value (and a field of a new
    type fails here until it has a sample)."""
    made = {f.name: f"{f.name} value" if f.type == "str" else SAMPLES[str(f.type)] for f in dataclasses.fields(cls)}
    original = cls(**made)
    assert pickle.loads(pickle.dumps(original, protocol=pickle.HIGHEST_PROTOCOL)) == original
