"""Bulk builds: `newsdrop build`, Hugo and Jekyll on the same synthesized posts, one process each.

Every run starts from an empty output folder and no cache (Jekyll's disk cache is off;
Hugo keeps none for content), and is measured with bench.procs (wall, CPU, peak RSS).

Builds write to a memory file system (/dev/shm) where there is one with room, for every tool
alike. On this machine's disk, creating files slows down after many have been deleted (ext4
mounted with `discard`): three Hugo builds of 10,000 posts in a row spent 1.2, 4.6 and 9.2 s
in the kernel, newsdrop's 1.4, 4.5 and 8.9 s, and the kernel time of one build of the pair,
not its own work, decided the ratio. `NEWSDROP_BENCH_OUT` names another folder.
"""

from __future__ import annotations

import functools
import os
import shutil
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import corpus, paths, procs

TIMEOUT_S = 1200.0
TREE_POLL_S = 0.05
MEMORY_FS = Path("/dev/shm")
# Hugo's output of 100,000 posts is about 0.5 GB; one tool's output is there at a time.
MEMORY_FS_MIN_FREE = 4 * 2**30
Command = Callable[[Path], list[str | Path]]


@dataclass(frozen=True)
class Tools:
    hugo: Path | None
    jekyll: Path | None


def tool_env() -> dict[str, str]:
    """UTF-8 everywhere (Jekyll reads the posts with the locale's encoding); Python may cache bytecode."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(LANG="C.UTF-8", LC_ALL="C.UTF-8", JEKYLL_ENV="production")
    env["PYTHONPYCACHEPREFIX"] = str(paths.WORK / "pycache" / "tools")
    return env


def newsdrop_command(source: corpus.Corpus) -> Command:
    return lambda out: [paths.NEWSDROP, "build", source.root, "--out", out]


def hugo_command(binary: Path, source: corpus.Corpus) -> Command:
    site = corpus.hugo_site(source)
    return lambda out: [binary, "--source", site, "--destination", out, "--quiet"]


def jekyll_command(binary: Path, source: corpus.Corpus) -> Command:
    site = corpus.jekyll_site(source)
    return lambda out: [binary, "build", "--source", site, "--destination", out, "--quiet", "--disable-disk-cache"]


def count_files(root: Path) -> int:
    return sum(len(files) for _, _, files in os.walk(root))


@functools.cache
def output_root() -> Path:
    """Where builds write: `NEWSDROP_BENCH_OUT`, else a memory file system with room, else the work folder.
    Chosen once a run: the outputs themselves take memory, and every build of a run must write where
    the results say they did."""
    chosen = os.environ.get("NEWSDROP_BENCH_OUT")
    if chosen:
        return Path(chosen)
    if MEMORY_FS.is_dir() and os.access(MEMORY_FS, os.W_OK) and shutil.disk_usage(MEMORY_FS).free >= MEMORY_FS_MIN_FREE:
        return MEMORY_FS / f"newsdrop-bench-{os.getuid()}"
    return paths.WORK / "out"


def in_memory(folder: Path) -> bool:
    return filesystem(folder) == "tmpfs"


def filesystem(folder: Path, mounts: str | None = None) -> str:
    """The type of the file system `folder` is on: that of the longest mount point above it in
    `mounts` (/proc/mounts by default, where a space in a path is written \\040); "" if unknown."""
    if mounts is None:
        try:
            mounts = Path("/proc/mounts").read_text()
        except OSError:
            return ""
    target = str(folder.resolve())
    found = ("", "")
    for line in mounts.splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        point, kind = fields[1].replace("\\040", " "), fields[2]
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(found[0]):
            found = (point, kind)
    return found[1]


def describe_output() -> dict[str, str]:
    root = output_root()
    root.mkdir(parents=True, exist_ok=True)
    return {"folder": str(root), "filesystem": filesystem(root)}


def clean_up() -> None:
    """Remove the outputs from a memory file system: they take the machine's memory."""
    root = output_root()
    if in_memory(root):
        shutil.rmtree(root, ignore_errors=True)


def _out(tool: str, size: int) -> Path:
    return output_root() / f"{tool}-{size}"


def attempt(tool: str, size: int, command: Command, n: int | str, *, poll_tree: float | None = None) -> procs.Measured:
    """One build into a fresh folder (with `poll_tree`, its processes' memory polled together)."""
    out = _out(tool, size)
    shutil.rmtree(out, ignore_errors=True)
    os.sync()  # the deletion's disk work is done before the clock starts, not charged to this run
    log = paths.WORK / "logs" / f"bulk-{tool}-{size}-{n}.log"
    run = procs.run_measured(
        command(out), log=log, env=tool_env(), timeout=TIMEOUT_S, cwd=paths.WORK, poll_tree=poll_tree
    )
    together = (
        ""
        if run.tree is None
        else f"; all its processes together: {run.tree.peak_pss_bytes / 2**20:.0f} MiB proportional,"
        f" {run.tree.peak_rss_bytes / 2**20:.0f} MiB resident, {run.tree.most_processes} at once"
    )
    print(
        f"  {tool:<8} {size:>7} posts: {run.wall_s:7.2f} s ({run.sys_s:5.2f} s in the kernel),"
        f" {run.peak_rss_bytes / 2**20:7.0f} MiB{together}"
        + ("" if run.ok else f"  FAILED (exit {run.returncode}, see {log})"),
        flush=True,
    )
    if not run.ok:
        print(procs.tail(log), flush=True)
    return run


def measure(tool: str, size: int, command: Command, repeats: int, *, keep_output: bool = True) -> dict[str, Any]:
    """Run `command` `repeats` times, each into a fresh folder; the median wall time and the largest peak RSS."""
    runs: list[procs.Measured] = []
    for n in range(repeats):
        runs.append(attempt(tool, size, command, n))
        if not runs[-1].ok:
            break
    return summarise(runs, _files(tool, size, keep_output))


def _files(tool: str, size: int, keep_output: bool) -> int:
    out = _out(tool, size)
    files = count_files(out) if out.is_dir() else 0
    if not keep_output or in_memory(out.parent):
        shutil.rmtree(out, ignore_errors=True)
    return files


def summarise(runs: Sequence[procs.Measured], files: int) -> dict[str, Any]:
    ok = [r for r in runs if r.ok]
    return {
        "ok": len(ok) == len(runs) and bool(runs),
        "wall_s": round(statistics.median(r.wall_s for r in ok), 4) if ok else None,
        "cpu_s": round(statistics.median(r.cpu_s for r in ok), 4) if ok else None,
        "sys_s": round(statistics.median(r.sys_s for r in ok), 4) if ok else None,
        "peak_rss_bytes": max(r.peak_rss_bytes for r in ok) if ok else None,
        "files_written": files,
        "runs": [r.to_json() for r in runs],
    }


def run_size(source: corpus.Corpus, tools: Tools, repeats: int, *, jekyll: bool) -> dict[str, Any]:
    """newsdrop and Hugo take turns, `repeats` rounds (Jekyll, minutes a build, once, after them):
    a pair of builds run one after the other sees the same machine, whose other load changes
    within minutes."""
    commands: dict[str, Command] = {"newsdrop": newsdrop_command(source)}
    if tools.hugo is not None:
        commands["hugo"] = hugo_command(tools.hugo, source)
    runs: dict[str, list[procs.Measured]] = {tool: [] for tool in commands}
    for n in range(repeats):
        # Who goes first alternates, so that neither is always the one after the other's file deletions.
        order = list(commands.items()) if n % 2 == 0 else list(commands.items())[::-1]
        for tool, command in order:
            runs[tool].append(attempt(tool, source.size, command, n))
    results = {tool: summarise(done, _files(tool, source.size, True)) for tool, done in runs.items()}
    # Then one build of each, untimed, with all its processes' memory polled every 50 ms: the
    # polling takes CPU beside the build, so it is never one of the timed rounds.
    for tool, command in commands.items():
        polled = attempt(tool, source.size, command, "memory", poll_tree=TREE_POLL_S)
        if polled.ok and polled.tree is not None:
            results[tool]["tree_memory"] = polled.tree.to_json()
        if in_memory(_out(tool, source.size).parent):
            shutil.rmtree(_out(tool, source.size), ignore_errors=True)
    if "hugo" in runs:
        pairs = [
            nd.wall_s / hugo.wall_s
            for nd, hugo in zip(runs["newsdrop"], runs["hugo"], strict=True)
            if nd.ok and hugo.ok
        ]
        results["newsdrop"]["versus_hugo"] = {
            "ratios": [round(r, 3) for r in pairs],
            "median": round(statistics.median(pairs), 3) if pairs else None,
        }
    if tools.jekyll is not None and jekyll:
        results["jekyll"] = measure("jekyll", source.size, jekyll_command(tools.jekyll, source), 1)
    return results


def hugo_only(source: corpus.Corpus, binary: Path) -> dict[str, Any]:
    """A Hugo full build at a size where only Hugo is measured (its output is large: not kept)."""
    return measure("hugo", source.size, hugo_command(binary, source), 1, keep_output=False)
