"""The bulk bench's memory figures (bench.procs, bench.goals): every process of a build together, a
page a fork shares counted once, and the goal compared on that sum when the run has it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from bench import goals, procs

MIB = 2**20

# A parent that touches 60 MiB, then forks a child that touches 40 MiB of its own while the
# parent's 60 MiB stay shared with it; both are alive together for a while.
FORKING = textwrap.dedent(
    """
    import os, time
    mine = bytearray(60 << 20)
    for i in range(0, len(mine), 4096):
        mine[i] = 1
    if os.fork() == 0:
        own = bytearray(40 << 20)
        for i in range(0, len(own), 4096):
            own[i] = 1
        time.sleep(0.8)
        os._exit(0)
    os.wait()
    """
)


def test_a_forked_childs_memory_is_counted_with_its_parents_and_shared_pages_once(tmp_path: Path) -> None:
    run = procs.run_measured([sys.executable, "-c", FORKING], log=tmp_path / "log", poll_tree=0.02)
    assert run.ok and run.tree is not None
    # (Not `peak_rss_bytes`, the largest process's peak: a child counts the memory of the process
    # that forked it until it execs, so under a large test runner it is the runner's size.)
    assert run.tree.most_processes == 2
    # Together, resident: both count the shared 60 MiB; proportional: it counts once.
    assert run.tree.peak_rss_bytes > 155 * MIB
    assert 95 * MIB < run.tree.peak_pss_bytes < run.tree.peak_rss_bytes - 40 * MIB
    assert run.to_json()["tree_memory"]["peak_pss_bytes"] == run.tree.peak_pss_bytes


def test_a_run_not_polled_has_no_tree_figures(tmp_path: Path) -> None:
    run = procs.run_measured([sys.executable, "-c", "pass"], log=tmp_path / "log")
    assert run.tree is None and "tree_memory" not in run.to_json()


def test_descendants_are_children_and_their_children_not_others() -> None:
    sleeper = [sys.executable, "-c", "import time; time.sleep(30)"]
    outer = subprocess.Popen([sys.executable, "-c", f"import subprocess; subprocess.run({sleeper!r})"])
    other = subprocess.Popen(sleeper)
    try:
        found = procs.descendants(outer.pid)
        for _ in range(500):  # until the grandchild has started
            if len(found) == 2:
                break
            time.sleep(0.02)
            found = procs.descendants(outer.pid)
        assert len(found) == 2 and found[0] == outer.pid
        assert other.pid not in found
    finally:
        for pid in procs.descendants(outer.pid)[1:]:
            os.kill(pid, signal.SIGKILL)
        for proc in (outer, other):
            proc.kill()
            proc.wait()


def _bulk(nd_rss: int, hugo_rss: int, nd_pss: int | None = None, hugo_pss: int | None = None) -> dict[str, object]:
    def tool(rss: int, pss: int | None) -> dict[str, object]:
        data: dict[str, object] = {"wall_s": 1.0, "peak_rss_bytes": rss}
        if pss is not None:
            data["tree_memory"] = {"peak_pss_bytes": pss, "peak_rss_bytes": pss, "most_processes": 1, "polls": 9}
        return data

    return {"bulk": {"10000": {"newsdrop": tool(nd_rss, nd_pss), "hugo": tool(hugo_rss, hugo_pss)}}}


def _memory_goal(results: dict[str, object]) -> goals.Goal:
    return next(goal for goal in goals.bulk(results) if goal.id == "bulk-10k-memory")


def test_the_memory_goal_compares_all_processes_when_the_run_polled_them() -> None:
    # The largest process is half Hugo's, but all of them together hold more than Hugo.
    goal = _memory_goal(_bulk(200 * MIB, 400 * MIB, nd_pss=410 * MIB, hugo_pss=400 * MIB))
    assert goal.met is False and "all processes" in goal.text
    goal = _memory_goal(_bulk(200 * MIB, 400 * MIB, nd_pss=390 * MIB, hugo_pss=400 * MIB))
    assert goal.met is True


def test_the_memory_goal_of_an_older_run_says_it_compared_the_largest_process() -> None:
    goal = _memory_goal(_bulk(200 * MIB, 400 * MIB))
    assert goal.met is True and "largest process" in goal.text


def test_below_is_strict() -> None:
    assert _memory_goal(_bulk(400 * MIB, 400 * MIB, nd_pss=400 * MIB, hugo_pss=400 * MIB)).met is False
    assert goals.at_most("x", "x", 150.0, 150.0, strict=True).met is False
    assert goals.at_most("x", "x", 150.0, 150.0).met is True


def test_the_objects_goal_counts_the_search_sections_publishes() -> None:
    row = {"size": 1000, "requests": {"s3:PutObject": 10}, "invocations": {"parse": 1}}
    results = {
        "incremental": {"local_adapters": [row]},
        "search": {"sizes": {"1000": {"summary": {"max_s3_puts_per_publish": 13}}}},
    }
    goal = next(goal for goal in goals.single_publish(results) if goal.id == "publish-objects")
    assert goal.value == "13 PUTs" and goal.met is False
