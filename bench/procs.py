"""Running a program and measuring it: wall time, CPU time and peak memory of that one process,
and, when asked, the peak memory of all its processes together.

`os.wait4` returns the resource usage of exactly the child waited for (its peak RSS
includes any descendants it waited for), so every measurement is per subprocess. A program
that works in several processes at once (`newsdrop build`: read-ahead workers, a forked index)
holds more than its largest process: `TreeMemory` polls every process descended from it and
sums their resident memory, and their proportional set size (each shared page divided among
the processes sharing it, so pages a fork shares are counted once).
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class TreeMemory:
    """The largest sums seen while polling a process and its descendants (bytes), and the most
    processes seen at once."""

    peak_pss_bytes: int = 0
    peak_rss_bytes: int = 0
    most_processes: int = 0
    polls: int = 0

    def to_json(self) -> dict[str, int]:
        return {
            "peak_pss_bytes": self.peak_pss_bytes,
            "peak_rss_bytes": self.peak_rss_bytes,
            "most_processes": self.most_processes,
            "polls": self.polls,
        }


@dataclass(frozen=True)
class Measured:
    wall_s: float
    cpu_s: float
    peak_rss_bytes: int
    returncode: int
    timed_out: bool = False
    sys_s: float = 0.0  # of cpu_s, in the kernel (for a build: mostly creating files)
    tree: TreeMemory | None = None  # when polled (`run_measured(poll_tree=...)`)

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out

    def to_json(self) -> dict[str, Any]:
        return {
            "wall_s": round(self.wall_s, 4),
            "cpu_s": round(self.cpu_s, 4),
            "sys_s": round(self.sys_s, 4),
            "peak_rss_bytes": self.peak_rss_bytes,
            "returncode": self.returncode,
            "timed_out": self.timed_out,
            **({"tree_memory": self.tree.to_json()} if self.tree is not None else {}),
        }


def run_measured(
    cmd: Sequence[str | Path],
    *,
    log: Path,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
    poll_tree: float | None = None,
) -> Measured:
    """Run cmd with its output in `log`; kill it after `timeout` seconds. With `poll_tree`, the
    memory of the whole process tree is polled every that many seconds (which costs the
    polling process CPU: a run polled is not one to time)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        start = time.perf_counter()
        proc = subprocess.Popen([str(c) for c in cmd], stdout=out, stderr=subprocess.STDOUT, cwd=cwd, env=env)
        expired = threading.Event()
        timer = threading.Timer(timeout, _kill, (proc, expired)) if timeout else None
        if timer is not None:
            timer.start()
        poller = _TreePoller(proc.pid, poll_tree) if poll_tree else None
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            if timer is not None:
                timer.cancel()
            tree = poller.stop() if poller is not None else None
        wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped by wait4, so Popen must not wait again
    return Measured(
        wall_s=wall,
        cpu_s=usage.ru_utime + usage.ru_stime,
        peak_rss_bytes=usage.ru_maxrss * 1024,  # kilobytes on Linux
        sys_s=usage.ru_stime,
        returncode=proc.returncode,
        timed_out=expired.is_set(),
        tree=tree,
    )


class _TreePoller:
    """Polls `root` and every process descended from it, until stopped, in a thread."""

    def __init__(self, root: int, every: float) -> None:
        self.root, self.every = root, every
        self.peak_pss = self.peak_rss = self.most = self.polls = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            pids = descendants(self.root)
            pss = rss = 0
            for pid in pids:
                memory = _rollup(pid)
                pss += memory.get("Pss", 0)
                rss += memory.get("Rss", 0)
            self.peak_pss, self.peak_rss = max(self.peak_pss, pss), max(self.peak_rss, rss)
            self.most = max(self.most, len(pids))
            self.polls += 1
            self._stop.wait(self.every)

    def stop(self) -> TreeMemory:
        self._stop.set()
        self._thread.join()
        return TreeMemory(self.peak_pss, self.peak_rss, self.most, self.polls)


def descendants(root: int) -> list[int]:
    """`root` and every living process descended from it (parents read from /proc/<pid>/stat:
    this kernel has no /proc/<pid>/task/<tid>/children)."""
    parent: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                stat = Path(entry.path, "stat").read_bytes()
            except OSError:
                continue  # ended meanwhile
            # The command name is in parentheses and may hold spaces: the fields after the last ")".
            parent[int(entry.name)] = int(stat[stat.rindex(b")") + 2 :].split()[1])
    found, frontier = [root], [root]
    while frontier:
        frontier = [pid for pid, ppid in parent.items() if ppid in frontier]
        found += frontier
    return [pid for pid in found if pid in parent]


def _rollup(pid: int) -> dict[str, int]:
    """Rss and Pss of a process in bytes (empty once it has ended)."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return {}
    values = {}
    for line in text.splitlines()[1:]:
        name, _, rest = line.partition(":")
        if name in ("Rss", "Pss"):
            values[name] = int(rest.split()[0]) * 1024  # kB
    return values


def _kill(proc: subprocess.Popen[bytes], expired: threading.Event) -> None:
    expired.set()
    proc.kill()


def tail(log: Path, lines: int = 15) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
