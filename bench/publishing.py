"""What both incremental runs share: timing single publishes and describing what each one did."""

from __future__ import annotations

import resource
import statistics
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import stats
from bench.counting import BYTES

# (key, body) -> None: upload one source file and wait until the site reflects it.
Publish = Callable[[str, bytes], None]


@dataclass
class PublishRun:
    latencies: list[float] = field(default_factory=list)
    counts: list[dict[str, int]] = field(default_factory=list)
    invocations: list[dict[str, int]] = field(default_factory=list)
    tick_latencies: list[float] = field(default_factory=list)
    tick_counts: list[dict[str, int]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        requests = [{k: v for k, v in c.items() if k != BYTES} for c in self.counts]
        usual = most_common(requests)
        written = [c.get(BYTES, 0) for c in self.counts]
        found = {
            "latency": stats.summarise(self.latencies) if self.latencies else None,
            "requests": usual,  # what most publishes did
            "requests_max": elementwise_max(requests),  # the most any publish did, per request kind
            "publishes_differing": sum(1 for c in requests if c != usual),
            "requests_varying": unique([c for c in requests if c != usual])[:3],
            "requests_same_every_publish": all(c == usual for c in requests),
            "bytes_written": {"median": int(statistics.median(written)), "max": max(written)} if written else None,
            "invocations": most_common(self.invocations),
            "invocations_max": elementwise_max(self.invocations),
        }
        if self.tick_counts:
            found["scheduled_compaction"] = self.ticks_json()
        return found

    def ticks_json(self) -> dict[str, Any]:
        """The scheduled compaction run after each publish: its requests, on average per publish
        (what the publish left, paid a minute later) and the most one run made."""
        ticks = [{k: v for k, v in c.items() if k != BYTES} for c in self.tick_counts]
        names = sorted({name for tick in ticks for name in tick})
        return {
            "runs": len(ticks),
            "requests_mean": {name: round(sum(t.get(name, 0) for t in ticks) / len(ticks), 2) for name in names},
            "requests_max": elementwise_max(ticks),
            "runs_writing": sum(1 for t in ticks if t.get("s3:PutObject", 0)),
            "latency": stats.summarise(self.tick_latencies),
        }


def _frozen(counts: dict[str, int]) -> tuple[tuple[str, int], ...]:
    return tuple(sorted(counts.items()))


def most_common(samples: Sequence[dict[str, int]]) -> dict[str, int]:
    if not samples:
        return {}
    ranked = Counter(_frozen(s) for s in samples).most_common(1)
    return dict(ranked[0][0])


def elementwise_max(samples: Sequence[dict[str, int]]) -> dict[str, int]:
    result: dict[str, int] = {}
    for sample in samples:
        for name, value in sample.items():
            result[name] = max(result.get(name, 0), value)
    return dict(sorted(result.items()))


def unique(samples: Sequence[dict[str, int]]) -> list[dict[str, int]]:
    return [dict(f) for f in dict.fromkeys(_frozen(s) for s in samples)]


def time_publishes(
    posts: Sequence[tuple[str, bytes]],
    publish: Publish,
    measure: Callable[[], tuple[dict[str, int], dict[str, int]]],
    reset: Callable[[], None],
    tick: Callable[[], None] | None = None,
) -> PublishRun:
    """Publish each post alone; `reset` zeroes the counters, `measure` returns (requests, invocations).
    `tick`, the scheduled compaction, runs after each publish and is counted apart: the reference
    site publishes a post every few minutes, and the schedule runs every minute."""
    run = PublishRun()
    for key, body in posts:
        reset()
        start = time.perf_counter()
        publish(key, body)
        run.latencies.append(time.perf_counter() - start)
        requests, invocations = measure()
        run.counts.append(requests)
        run.invocations.append(invocations)
        if tick is not None:
            reset()
            start = time.perf_counter()
            tick()
            run.tick_latencies.append(time.perf_counter() - start)
            run.tick_counts.append(measure()[0])
    return run


def settle(
    tick: Callable[[], None], measure: Callable[[], tuple[dict[str, int], dict[str, int]]], reset: Callable[[], None]
) -> dict[str, int]:
    """Run the scheduled compaction until a run writes and deletes nothing: the backlog a site's
    load left (the loads are bulk work), which a site that has been live for a while has paid."""
    runs = files = 0
    while runs < 10_000:
        reset()
        tick()
        runs += 1
        counts = measure()[0]
        changed = counts.get("s3:PutObject", 0) + counts.get("s3:DeleteObject", 0)
        if not changed:
            break
        files += changed
    return {"runs": runs, "files_written_or_deleted": files}


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def delta(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {k: after.get(k, 0) - before.get(k, 0) for k in sorted(after) if after.get(k, 0) != before.get(k, 0)}


def newsdrop_location() -> str:
    """The folder the newsdrop package was imported from (the run's snapshot, normally)."""
    import newsdrop

    return str(Path(newsdrop.__file__).resolve().parent)
