"""Work run in a process of its own, away from the test process's state."""

from __future__ import annotations

import concurrent.futures
import multiprocessing
from collections.abc import Callable
from typing import TypeVar

R = TypeVar("R")


def in_a_new_process(work: Callable[[], R]) -> R:
    """`work()` in a new process of its own (spawned: none of this one's threads, forks or freezes).
    `work` is pickled by name: a function defined at a module's top level."""
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(work).result(timeout=120)
