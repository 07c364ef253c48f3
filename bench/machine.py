"""The date, machine and tool versions a result was measured with."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import operator
import os
import platform
import shutil
import statistics
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench import paths


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_bytes() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _output(cmd: list[str]) -> str:
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False, cwd=paths.ROOT)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return (done.stdout or done.stderr).strip()


def _package_version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return ""


def load_average() -> list[float]:
    """1, 5 and 15 minute load averages: other work on the machine skews every timing."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


# The newsdrop subpackages the layer leaves out (layers/newsdrop/Makefile's PRUNE): the local stack
# and the command line run on a developer's machine, never in a function.
NOT_IN_LAYER = ("local", "cli")


def package_digest(root: Path = paths.LAYER_SOURCE, *, as_shipped: bool = False) -> str:
    """A digest of the newsdrop package's source under root: tells one version of the code from another.
    `as_shipped`: of what the layer ships of it, so that a built layer and a source tree compare."""
    digest = hashlib.sha256()
    package = root / "newsdrop"
    left_out = NOT_IN_LAYER if as_shipped else ()
    for path in sorted(package.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.relative_to(package).parts[0] not in left_out:
            digest.update(path.relative_to(root).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def copy_package(root: Path) -> Path:
    """The working tree's newsdrop package, copied to root/newsdrop (emptied first); returns root."""
    shutil.rmtree(root, ignore_errors=True)
    shutil.copytree(paths.LAYER_SOURCE / "newsdrop", root / "newsdrop", ignore=shutil.ignore_patterns("__pycache__"))
    return root


def use_package(root: Path, before: str | None = None) -> None:
    """Make the next child processes import newsdrop from root: it goes in front of PYTHONPATH (which
    comes before the editable install), in front of `before` if given, else of the current one."""
    rest = os.environ.get("PYTHONPATH", "") if before is None else before
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(root), rest) if p)


def snapshot_package() -> Path:
    """Copy the package and make every child process import the copy, so that the whole run
    measures one version even while the source is edited."""
    root = copy_package(paths.WORK / "snapshot")
    use_package(root)
    return root


# The probe: one fixed piece of pure-Python work, timed in CPU time at the start and at the end of
# each run. These machines are shared, and the same build of the same code has taken 40% longer in
# one hour than in another, Hugo's much less: a ratio measured side by side keeps its meaning, a
# figure in milliseconds (a handler's import) is read beside the probe of its run.
PROBE_ROUNDS = 5
PROBE_CHARS = 60_000


def _probe_work() -> int:
    """What newsdrop's CPU time is made of: short strings made and counted, JSON written and read.
    Returns the number of bigrams counted (PROBE_CHARS - 1), so that the work cannot be skipped."""
    text = "".join(chr(0x4E00 + (i * 7919) % 3000) for i in range(PROBE_CHARS))
    counts = Counter(map(operator.add, text, text[1:]))
    encoded = json.dumps(sorted(counts.items()), ensure_ascii=False)
    return sum(n for _, n in json.loads(encoded))


def python_probe(rounds: int = PROBE_ROUNDS) -> dict[str, Any]:
    """The probe's CPU milliseconds: the median of `rounds`, and each."""
    samples = []
    for _ in range(rounds):
        start = time.process_time()
        counted = _probe_work()
        samples.append(round((time.process_time() - start) * 1e3, 1))
    return {"median_cpu_ms": statistics.median(samples), "samples_cpu_ms": samples, "counted": counted}


def describe() -> dict[str, Any]:
    nproc = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "nproc": nproc,
        "cpu_model": _cpu_model(),
        "memory_bytes": _memory_bytes(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "load_average_at_start": load_average(),
        "python_probe_at_start": python_probe(),
        "git_commit": _output(["git", "rev-parse", "--short", "HEAD"]),
        "git_dirty": bool(_output(["git", "status", "--porcelain", "--untracked-files=no"])),
        "package_digest_source": package_digest(),
        "versions": {
            "newsdrop": _package_version("newsdrop"),
            "moto": _package_version("moto"),
            "hugo": _package_version("hugo"),
            "jekyll": _output([str(paths.JEKYLL), "--version"]) if paths.JEKYLL.exists() else "",
        },
    }


def finish(described: dict[str, Any]) -> None:
    """The machine's state at the end of a run, beside that at its start."""
    described["load_average_at_end"] = load_average()
    described["python_probe_at_end"] = python_probe()
