"""Time, as a port: the lifecycle of a post (scheduled, on the front pages, archived) depends on it.

Lambda reads the system clock. The local stack and the tests install a clock they control,
so a schedule or an expiry can be tested without waiting for it.
"""

from __future__ import annotations

import datetime as dt
import threading
from typing import Protocol


class Clock(Protocol):
    def now(self) -> dt.datetime:
        """The current instant, timezone-aware."""


class SystemClock:
    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)


class ManualClock:
    """A clock that moves only when told to (tests, and the local stack's `--now`)."""

    def __init__(self, start: dt.datetime, *, running: bool = False) -> None:
        if start.tzinfo is None:
            raise ValueError("a clock's time must carry a time zone")
        self._lock = threading.Lock()
        self._offset = start - dt.datetime.now(dt.UTC) if running else None
        self._fixed = start

    def now(self) -> dt.datetime:
        with self._lock:
            if self._offset is not None:  # runs at real speed from `start`
                return dt.datetime.now(dt.UTC) + self._offset
            return self._fixed

    def set(self, when: dt.datetime) -> None:
        with self._lock:
            if self._offset is not None:
                self._offset = when - dt.datetime.now(dt.UTC)
            self._fixed = when

    def advance(self, delta: dt.timedelta) -> dt.datetime:
        self.set(self.now() + delta)
        return self.now()


_installed: Clock | None = None


def install(clock: Clock | None) -> None:
    """Make `clock` this process's clock (None: the system clock again)."""
    global _installed
    _installed = clock


class ProcessClock:
    """The installed clock, looked up at every call, so a cached set of ports follows `install`."""

    def now(self) -> dt.datetime:
        return (_installed or _SYSTEM).now()


_SYSTEM = SystemClock()
