"""Incremental publishing on the local adapters (the pipeline's own scaling), as a child process.

    python -m bench.inproc --corpus 1000=DIR [--corpus 10000=DIR ...] --repeats 15 [--day-posts N] --out FILE

One InProcessPipeline (memory adapters wrapped by bench.counting) grows from the
smallest corpus to the largest. At each size it publishes one new post at a time
(`upload` + `drain`: parse, then render and index, every object written) and records
the latency, the AWS requests each publish would make and the function invocations. With
`--day-posts N`, N more posts go into the day first, untimed: a day's page and sitemap list every
post of the day, so this measures a publish at a feed's daily pace rather than into a new day.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import corpus, profiling
from bench.counting import CountingBus, CountingCatalog, CountingCdn, CountingStore, Meter
from bench.publishing import delta, newsdrop_location, peak_rss_bytes, settle, time_publishes
from newsdrop import paths as site_paths
from newsdrop.local import inprocess
from newsdrop.local.inprocess import InProcessPipeline

REAL_BATCH = inprocess.BATCH_SIZE
# Base sites past this size are loaded in larger batches (only to save time: every site object
# is a pure function of catalog state, so the site is the same bytes). Timed publishes use
# the real batch size of 10; a single publish is one message anyway.
REAL_BATCH_UP_TO = 10_000
LOAD_BATCH = 500


@dataclass
class Counted:
    pipeline: InProcessPipeline
    meter: Meter


def counted_pipeline() -> Counted:
    meter = Meter()
    pipeline = InProcessPipeline(
        source=CountingStore(meter=meter, role="source"),
        site=CountingStore(meter=meter, role="site"),
        artifacts=CountingStore(meter=meter, role="artifacts"),
        catalog=CountingCatalog(meter=meter),
        bus=CountingBus(meter=meter),
    )
    if "cdn" in {f.name for f in dataclasses.fields(pipeline.ports)}:
        # The local pipeline has no CDN; count the invalidations a deployed stack would send.
        pipeline.ports = dataclasses.replace(pipeline.ports, cdn=CountingCdn(meter=meter))
    return Counted(pipeline, meter)


@contextmanager
def batch_size(size: int) -> Iterator[None]:
    saved = inprocess.BATCH_SIZE
    inprocess.BATCH_SIZE = size
    try:
        yield
    finally:
        inprocess.BATCH_SIZE = saved


def load(counted: Counted, source: corpus.Corpus, loaded: set[str]) -> dict[str, Any]:
    """Upload the corpus files not yet published, then drain; returns how long it took."""
    pipeline = counted.pipeline
    batch = REAL_BATCH if source.size <= REAL_BATCH_UP_TO else LOAD_BATCH
    before = dict(pipeline.invocations)
    start = time.perf_counter()
    added = 0
    with batch_size(batch):
        for key, path in source.files():
            if key not in loaded:
                pipeline.upload(key, path.read_bytes())
                loaded.add(key)
                added += 1
        pipeline.drain()
    elapsed = time.perf_counter() - start
    invocations = delta(pipeline.invocations, before)
    return {
        "files_added": added,
        "seconds": round(elapsed, 3),
        "batch_size": batch,
        "invocations": invocations,
        "invocations_per_post": {k: round(v / max(1, added), 4) for k, v in invocations.items()},
    }


def publisher(counted: Counted) -> Any:
    def publish(key: str, body: bytes) -> None:
        counted.pipeline.upload(key, body)
        counted.meter.reset()  # count what the functions do, not the user's upload
        counted.pipeline.drain()

    return publish


def measure(counted: Counted, posts: list[tuple[str, bytes]]) -> dict[str, Any]:
    pipeline = counted.pipeline
    state: dict[str, dict[str, int]] = {}

    def reset() -> None:
        counted.meter.reset()
        state["inv"] = dict(pipeline.invocations)

    def snapshot() -> tuple[dict[str, int], dict[str, int]]:
        return counted.meter.snapshot(), delta(pipeline.invocations, state["inv"])

    # A package from before the scheduled compaction compacts within its publishes.
    tick = getattr(pipeline, "compact", None)
    backlog = settle(tick, snapshot, reset) if tick is not None else None
    run = time_publishes(posts, publisher(counted), snapshot, reset, tick)
    result = run.to_json()
    result["compaction_backlog_of_the_load"] = backlog
    result["published_ok"] = all(published(pipeline, key) for key, _ in posts)
    return result


def published(pipeline: InProcessPipeline, key: str) -> bool:
    record = pipeline.catalog.posts.get(key)
    return record is not None and record.live and site_paths.key_for_url(record.url) in pipeline.site.objects


def run_size(counted: Counted, source: corpus.Corpus, loaded: set[str], args: argparse.Namespace) -> dict[str, Any]:
    pipeline = counted.pipeline
    base = load(counted, source, loaded)
    corpus.new_day()
    # The warm-up, and the day's earlier posts: the timed publishes go into a day that holds them.
    warmup = corpus.new_posts(1 + args.day_posts, f"w{source.size}")
    publish = publisher(counted)
    for key, body in warmup:
        publish(key, body)
    result: dict[str, Any] = {
        "size": source.size,
        "day_posts_before": len(warmup),
        "posts_in_site": sum(1 for r in pipeline.catalog.posts.values() if r.live),
        "site_objects": len(pipeline.site.objects),
        "base_load": base,
        **measure(counted, corpus.new_posts(args.repeats, f"s{source.size}")),
    }
    if args.profile_publishes:
        extra = corpus.new_posts(args.profile_publishes, f"p{source.size}")

        def publish_extra() -> None:
            for key, body in extra:
                publish(key, body)

        result["profile"] = profiling.profile(
            publish_extra,
            Path(args.profile_dir) / f"inproc-{source.size}.txt",
            title=f"{len(extra)} single publishes into {source.size} posts, local adapters",
        )
    result["rejections"] = pipeline.rejections[:5]
    result["dead_letters"] = {k: len(v) for k, v in pipeline.dead_letters.items()}
    result["peak_rss_bytes"] = peak_rss_bytes()
    result["newsdrop_from"] = newsdrop_location()
    return result


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.inproc")
    parser.add_argument("--corpus", action="append", required=True, help="SIZE=DIR (repeatable)")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument(
        "--day-posts", type=int, default=0, help="posts published into the day before the timed ones (a daily pace)"
    )
    parser.add_argument("--profile-publishes", type=int, default=0)
    parser.add_argument("--profile-dir", default="bench/work/profiles")
    parser.add_argument("--out", required=True)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    corpora = sorted(
        (corpus.Corpus(int(size), Path(root)) for size, _, root in (c.partition("=") for c in args.corpus)),
        key=lambda c: c.size,
    )
    counted = counted_pipeline()
    loaded: set[str] = set()
    sizes = []
    for source in corpora:
        print(f"inproc: {source.size} posts", file=sys.stderr, flush=True)
        sizes.append(run_size(counted, source, loaded, args))
        Path(args.out).write_text(json.dumps({"sizes": sizes}, ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
