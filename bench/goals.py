"""Issue 6's goals, evaluated on one run's results: met or not, and by how much. Never asserted."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

LAYER_LIMIT_BYTES = 10_000_000  # "a layer under 10 MB"
IMPORT_LIMIT_MS = 150.0
BULK_INVOCATIONS_PER_POST = 0.5  # "well under one"


@dataclass(frozen=True)
class Goal:
    id: str
    text: str
    value: str
    met: bool | None  # None: not measured in this run
    margin: str

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "goal": self.text, "value": self.value, "met": self.met, "margin": self.margin}


def _get(data: Any, *keys: Any) -> Any:
    for key in keys:
        if isinstance(data, dict):
            data = data.get(key)
        elif isinstance(data, list) and isinstance(key, int) and -len(data) <= key < len(data):
            data = data[key]
        else:
            return None
    return data


def _by_size(rows: list[dict[str, Any]] | None) -> dict[int, dict[str, Any]]:
    return {int(r["size"]): r for r in rows or []}


def _median(row: dict[str, Any] | None) -> float | None:
    value = _get(row, "latency", "median_s")
    return float(value) if value is not None else None


def _unmeasured(goal_id: str, text: str, why: str) -> Goal:
    return Goal(goal_id, text, "not measured", None, why)


def at_least(goal_id: str, text: str, value: float | None, target: float, unit: str = "x") -> Goal:
    if value is None:
        return _unmeasured(goal_id, text, "not measured in this run")
    met = value >= target
    how = f"{value / target:.2f} of the target" if not met else f"{value / target:.1f}x the minimum"
    return Goal(goal_id, text, f"{value:.2f}{unit}", met, f"needs >= {target:g}{unit}: {how}")


def at_most(
    goal_id: str, text: str, value: float | None, target: float, unit: str = "", *, strict: bool = False
) -> Goal:
    """`value` at most `target`; `strict`: below it ("under 150 ms", "below Hugo's")."""
    if value is None:
        return _unmeasured(goal_id, text, "not measured in this run")
    met = value < target if strict else value <= target
    how = f"{value / target:.2f}x the limit" if value > target else f"{(1 - value / target) * 100:.0f}% under the limit"
    return Goal(goal_id, text, f"{value:.3g}{unit}", met, f"needs {'<' if strict else '<='} {target:g}{unit}: {how}")


def speedups(results: dict[str, Any]) -> list[Goal]:
    # Hugo's fastest build of the run, not its median: the comparison least favourable to newsdrop.
    runs = _get(results, "bulk", "10000", "hugo", "runs") or []
    walls = [r["wall_s"] for r in runs if r.get("returncode") == 0 and not r.get("timed_out")]
    hugo = min(walls) if walls else _get(results, "bulk", "10000", "hugo", "wall_s")
    goals = []
    for label, key in (("local adapters", "local_adapters"), ("local stack (moto)", "local_stack")):
        median = _median(_by_size(_get(results, "incremental", key)).get(10_000))
        value = hugo / median if hugo and median else None
        goals.append(
            at_least(
                f"publish-10k-vs-hugo-{key}",
                f"one post into 10,000: >= 40x faster than Hugo's fastest full rebuild ({label})",
                value,
                40,
            )
        )
    return goals


def flatness(results: dict[str, Any]) -> Goal:
    rows = _by_size(_get(results, "incremental", "local_adapters"))
    big, small = _median(rows.get(100_000)), _median(rows.get(10_000))
    value = big / small if big and small else None
    return at_most("flat-100k-vs-10k", "100,000 / 10,000 publish latency ratio <= 1.5 (local adapters)", value, 1.5)


def request_total(counts: dict[str, Any]) -> float:
    """The requests in a count by request kind; `.items`, `.entries`, `.paths`, `.bytes` and
    `[bucket]` names are breakdowns of a request already counted."""
    return sum(v for k, v in counts.items() if "." not in k and "[" not in k)


def same_requests(results: dict[str, Any]) -> Goal:
    """Compares what most publishes did at each size and stack (CloudFront aside: the local stack has none)."""
    text = "the same AWS request count for one publish at every size"
    seen: dict[str, dict[str, int]] = {}
    outliers = []
    for key in ("local_adapters", "local_stack"):
        for row in _get(results, "incremental", key) or []:
            name = f"{key}@{row['size']}"
            seen[name] = {k: v for k, v in row["requests"].items() if not k.startswith("cloudfront")}
            if row.get("publishes_differing"):
                outliers.append(f"{row['publishes_differing']}/{_get(row, 'latency', 'n')} at {name}")
    if not seen:
        return _unmeasured("same-requests", text, "no incremental run")
    first = next(iter(seen.values()))
    differing = [name for name, counts in seen.items() if counts != first]
    detail = (
        "usual publish identical everywhere" if not differing else f"usual publish differs at {', '.join(differing)}"
    )
    if outliers:
        detail += f"; publishes doing more than usual: {', '.join(outliers)}"
    requests = request_total(first)
    return Goal("same-requests", text, f"{requests} requests, {len(seen)} sizes/stacks", not differing, detail)


def bulk(results: dict[str, Any]) -> list[Goal]:
    row = _get(results, "bulk", "10000") or {}
    newsdrop = _get(row, "newsdrop", "wall_s")
    hugo = _get(row, "hugo", "wall_s")
    jekyll = _get(row, "jekyll", "wall_s")
    # Every process of a build together, by proportional set size (a page shared by a fork counted
    # once): `newsdrop build` works in several processes, and its largest alone would flatter it.
    # A run from before the bench polled them has the largest process's peak RSS alone.
    together = _get(row, "newsdrop", "tree_memory") is not None and _get(row, "hugo", "tree_memory") is not None
    measure = ("tree_memory", "peak_pss_bytes") if together else ("peak_rss_bytes",)
    memory_nd = _get(row, "newsdrop", *measure)
    memory_hugo = _get(row, "hugo", *measure)
    # The median of builds paired in time, where the run has them: the disk's pace moves both alike.
    paired = _get(row, "newsdrop", "versus_hugo", "median")
    return [
        at_most(
            "bulk-10k-vs-hugo",
            "bulk 10,000: at most 2x Hugo's wall time (median of builds run in turn)",
            paired if paired else newsdrop / hugo if newsdrop and hugo else None,
            2,
            "x",
        ),
        at_least(
            "bulk-10k-vs-jekyll",
            "bulk 10,000: at least 10x faster than Jekyll",
            jekyll / newsdrop if newsdrop and jekyll else None,
            10,
        ),
        at_most(
            "bulk-10k-memory",
            "bulk 10,000: peak memory below Hugo's (newsdrop / Hugo, "
            + ("all processes' proportional set size)" if together else "the largest process's RSS)"),
            memory_nd / memory_hugo if memory_nd and memory_hugo else None,
            1,
            "x",
            strict=True,
        ),
    ]


def single_publish(results: dict[str, Any]) -> list[Goal]:
    stacks = ("local_adapters", "local_stack", "local_stack_flow")
    rows = [r for key in stacks for r in _get(results, "incremental", key) or []]
    usual_puts = max((r["requests"].get("s3:PutObject", 0) for r in rows), default=None)
    # The timed publishes' most, and the search section's: its publishes include a day's first post,
    # which also rewrites the archive page and the sitemap index (each timed publish goes into a
    # day its warm-up opened).
    timed = [r.get("requests_max", r["requests"]).get("s3:PutObject", 0) for r in rows]
    searched = [
        _get(entry, "summary", "max_s3_puts_per_publish") for entry in (_get(results, "search", "sizes") or {}).values()
    ]
    puts = max([*timed, *(n for n in searched if n is not None)], default=None)
    invocations = max((max(r.get("invocations_max", r["invocations"]).values(), default=0) for r in rows), default=None)
    per_post = [
        v
        for r in rows
        for v in (_get(r, "base_load", "invocations_per_post") or {}).values()
        if _get(r, "base_load", "batch_size") in (None, 10) or _get(r, "base_load", "method") == "flow"
    ]
    return [
        at_most(
            "publish-objects",
            f"a single publish writes at most 12 S3 objects (the most any publish wrote; usually {usual_puts})",
            puts,
            12,
            " PUTs",
        ),
        at_most(
            "publish-invocations", "a single publish invokes each function at most once", invocations, 1, " invocations"
        ),
        at_most(
            "bulk-invocations",
            f"in bulk, invocations per post well under one (<= {BULK_INVOCATIONS_PER_POST})",
            max(per_post) if per_post else None,
            BULK_INVOCATIONS_PER_POST,
        ),
    ]


def search(results: dict[str, Any]) -> list[Goal]:
    """The search issue's goals: a cold query on 10,000 posts, and recall (bench.search)."""
    sizes = _get(results, "search", "sizes") or {}
    cold = _get(sizes, "10000", "summary", "max_gzip_bytes")
    recalls = [_get(entry, "summary", "min_recall") for entry in sizes.values()]
    recall = min((r for r in recalls if r is not None), default=None)
    return [
        at_most(
            "search-cold-query-10k",
            "search: a cold query on 10,000 posts downloads under 60 KB, JavaScript included (gzip, the most)",
            cold / 1000 if cold else None,
            60,
            " KB",
            strict=True,
        ),
        at_least("search-recall", "search: recall 1.0 against a substring scan, every query", recall, 1.0, ""),
    ]


def cold_start(results: dict[str, Any]) -> list[Goal]:
    imports = _get(results, "cold_start", "imports") or {}
    slowest = max(imports.items(), key=lambda kv: kv[1]["median_ms"], default=None)
    layer = _get(results, "cold_start", "sizes", "layer", "bytes")
    return [
        at_most(
            "handler-import",
            f"each handler imports in < {IMPORT_LIMIT_MS:g} ms (slowest: {slowest[0] if slowest else '-'})",
            slowest[1]["median_ms"] if slowest else None,
            IMPORT_LIMIT_MS,
            " ms",
            strict=True,
        ),
        at_most(
            "layer-size",
            "layer under 10 MB (unzipped file bytes)",
            layer / 1e6 if layer else None,
            LAYER_LIMIT_BYTES / 1e6,
            " MB",
            strict=True,
        ),
    ]


CHECKS: list[Callable[[dict[str, Any]], Goal | list[Goal]]] = [
    speedups,
    flatness,
    same_requests,
    bulk,
    single_publish,
    search,
    cold_start,
]


def evaluate(results: dict[str, Any]) -> list[dict[str, Any]]:
    goals: list[Goal] = []
    for check in CHECKS:
        found = check(results)
        goals.extend(found if isinstance(found, list) else [found])
    return [g.to_json() for g in goals]
