"""Running a program and measuring it: wall time, CPU time and peak memory of that one process.

`os.wait4` returns the resource usage of exactly the child waited for (its peak RSS
includes any descendants it waited for), so every measurement is per subprocess.
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
class Measured:
    wall_s: float
    cpu_s: float
    peak_rss_bytes: int
    returncode: int
    timed_out: bool = False
    sys_s: float = 0.0  # of cpu_s, in the kernel (for a build: mostly creating files)

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
        }


def run_measured(
    cmd: Sequence[str | Path],
    *,
    log: Path,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
) -> Measured:
    """Run cmd with its output in `log`; kill it after `timeout` seconds."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        start = time.perf_counter()
        proc = subprocess.Popen([str(c) for c in cmd], stdout=out, stderr=subprocess.STDOUT, cwd=cwd, env=env)
        expired = threading.Event()
        timer = threading.Timer(timeout, _kill, (proc, expired)) if timeout else None
        if timer is not None:
            timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            if timer is not None:
                timer.cancel()
        wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped by wait4, so Popen must not wait again
    return Measured(
        wall_s=wall,
        cpu_s=usage.ru_utime + usage.ru_stime,
        peak_rss_bytes=usage.ru_maxrss * 1024,  # kilobytes on Linux
        sys_s=usage.ru_stime,
        returncode=proc.returncode,
        timed_out=expired.is_set(),
    )


def _kill(proc: subprocess.Popen[bytes], expired: threading.Event) -> None:
    expired.set()
    proc.kill()


def tail(log: Path, lines: int = 15) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
