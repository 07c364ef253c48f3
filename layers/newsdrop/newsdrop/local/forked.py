"""Part of a build run in a forked copy of this process, its result taken back through a pipe.

A forked child starts with everything the parent holds (a built site's catalog and objects)
without copying or sending any of it, which no other start method gives. Forking is safe only
where this process runs no other thread (one holding a lock would hold it forever in the child),
so `start` declines otherwise and the caller does the work itself.

The parent's objects are frozen out of the garbage collector's sight from the fork until the
child's result is taken (`gc.freeze`): otherwise a full collection in the child visits every one
of them, writing to each, and so copies every page of the parent's heap; and one in the parent,
rendering beside it, visits again the catalog and the objects it will keep to the end. Frozen, a
build of 10,000 posts took 0.7 s less CPU (11.2 s of 11.9, three builds each, taking turns).
With several children running, the objects are collectable again once the last one's result is
taken; and where another part of the program froze objects of its own before, everything stays
frozen, as that part chose.
"""

from __future__ import annotations

import gc
import logging
import os
import pickle  # nosec B403 - only ever loads what this program's own forked child wrote
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


SETTLE_S = 0.5  # how long a thread just joined may take to leave the process


def _alone() -> bool:
    """Whether this process runs one thread, counting those libraries started outside `threading`.
    A thread `join` has returned for may still be leaving, so wait a moment for it."""
    deadline = time.monotonic() + SETTLE_S
    while True:
        try:
            threads = sum(1 for _ in Path("/proc/self/task").iterdir())
        except OSError:
            threads = threading.active_count()
        if threads == 1 or time.monotonic() > deadline:
            return threads == 1
        time.sleep(0.005)


class _Freezer:
    """`gc.freeze` while any child runs (see the module's note). Forking runs in a process of one
    thread (`_alone`), so there is nothing to lock."""

    def __init__(self) -> None:
        # CPython 3.12 freezes a few hundred of its own objects as it starts: those count as unfrozen.
        self.own = gc.get_freeze_count()
        self.children = 0
        self.thaw = False

    def freeze(self) -> None:
        if self.children == 0:
            self.thaw = gc.get_freeze_count() <= self.own  # no one else has frozen anything
        self.children += 1
        gc.freeze()

    def release(self) -> None:
        self.children -= 1
        if self.children == 0 and self.thaw:
            gc.unfreeze()  # and what CPython froze as it started with it: collectable as any other


_FREEZER = _Freezer()


@dataclass
class Forked(Generic[T]):
    pid: int
    reading: int  # the pipe's read end
    taken: bool = False

    @classmethod
    def start(cls, work: Callable[[], T]) -> Forked[T] | None:
        """Run `work` in a forked child; None (nothing started) where forking is not safe here."""
        if not hasattr(os, "fork") or not _alone():
            return None
        reading, writing = os.pipe()
        for stream in (sys.stdout, sys.stderr):  # or the child would write the parent's buffered output again
            stream.flush()
        _FREEZER.freeze()  # until `result`
        try:
            pid = os.fork()
        except BaseException:
            _FREEZER.release()
            raise
        if pid == 0:  # the child: never returns into the caller's code
            os.close(reading)
            code = 0
            try:
                result = work()
                # Written as it is pickled, and read as it comes: the parent unpickles beside this
                # process instead of after it (a build's index sends back some 16 MB).
                with os.fdopen(writing, "wb") as out:
                    pickle.dump(result, out, protocol=pickle.HIGHEST_PROTOCOL)
            except BaseException:  # reported here; the parent sees the exit status and does the work itself
                traceback.print_exc()
                code = 1
            finally:
                sys.stderr.flush()
                os._exit(code)  # no atexit handlers, no cleanup of the parent's resources
        os.close(writing)
        return cls(pid, reading)

    def result(self) -> T | None:
        """Wait for the child; its result, or None when it failed (the reason is on stderr). Taken
        once: the caller takes it also when its own work beside the child fails."""
        if self.taken:
            raise RuntimeError(f"the result of forked process {self.pid} was taken already")
        self.taken = True
        try:
            return self._result()
        finally:
            _FREEZER.release()

    def _result(self) -> T | None:
        result: T | None = None
        read = False
        # Read before waiting: a child with more to write than the pipe holds waits for this. Closed
        # before waiting too: a child still writing what could not be loaded then fails, and exits.
        with os.fdopen(self.reading, "rb") as pipe:
            try:
                result = pickle.load(pipe)  # noqa: S301  # nosec B301 - written by our own child, just now
                read = True
            except Exception:  # noqa: S110  # nosec B110 - a child that failed wrote nothing, or part of it
                pass
        _, status = os.waitpid(self.pid, 0)
        code = os.waitstatus_to_exitcode(status)
        if code != 0 or not read:
            log.warning("forked process %d failed (exit status %d)", self.pid, code)
            return None
        return result
