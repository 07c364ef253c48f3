"""Incremental publishing through the local stack (moto + the real handlers), as a child process.

    python -m bench.localstack --corpus DIR --size N --base seeded|flow --repeats 15 [--day-posts N] --out FILE

The stack is template.yaml's resources on in-process moto, with the functions pumped
like Lambda's SQS event source mappings (exactly tests/conftest.py's `moto_stack`).
Each timed publish is a PutObject into the source bucket, then `Pump.drain()`: the S3
event goes through EventBridge to the parse queue, parse's events to the render and
index queues, every handler runs and every object is written.

The base site comes one of two ways:
- `flow`: the corpus uploaded through the event flow, 100 posts at a time, draining the
  queues after each chunk (moto's SQS slows with waiting messages). Through moto this
  grows faster than linearly (its DynamoDB Query scans the whole table), so it is only
  practical for about a thousand posts.
- `seeded`: the corpus built in-process (the same stages on memory adapters), then its
  catalog records, artifacts, source files and site objects written to moto through
  newsdrop's own AWS adapters (DynamoCatalog.commit, S3Store.put). The state is what
  the event flow would leave; the bench checks that at 1,000 posts (site keys and ETags).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import corpus, paths, profiling
from bench.counting import Meter, hook_client
from bench.publishing import delta, newsdrop_location, peak_rss_bytes, settle, time_publishes
from bench.units import UnitMeter, summary

CHUNK = 100
REGION = "us-east-1"
MARKDOWN = "text/markdown; charset=utf-8"


def aws_env() -> None:
    """Never reach a real account (the same environment as tests/conftest.py)."""
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
        os.environ.pop(name, None)
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION=REGION,
        POWERTOOLS_METRICS_DISABLED="true",
    )


@dataclass
class Local:
    stack: Any
    pump: Any
    meter: Meter
    user_s3: Any  # the bench's own clients: their requests are not the functions' and are not counted
    user_ddb: Any
    units: UnitMeter  # DynamoDB request units, of publishes apart from the timed ones

    @property
    def names(self) -> Any:
        return self.stack.names


def start() -> Local:
    import boto3

    from newsdrop.adapters import aws
    from newsdrop.local import moto_patches
    from newsdrop.local.stack import Names, Pump, provision

    moto_patches.install()
    aws.client.cache_clear()
    stack = provision(paths.ROOT, Names())
    # In-process queue depths, where the package has them (bench.compare's "before" may not).
    in_process = {"in_process": True} if "in_process" in {f.name for f in dataclasses.fields(Pump)} else {}
    pump = Pump(stack, retry_after=0, **in_process)
    meter = Meter()
    names = stack.names
    roles = {names.source_bucket: "source", names.site_bucket: "site", names.artifact_bucket: "artifacts"}
    for service in ("s3", "dynamodb", "events", "cloudfront"):
        hook_client(aws.client(service), meter, roles)
    user_ddb = boto3.client("dynamodb", region_name=REGION)
    units = UnitMeter(shadow=user_ddb)
    units.hook(aws.client("dynamodb"))
    return Local(stack, pump, meter, boto3.client("s3", region_name=REGION), user_ddb, units)


def upload(local: Local, key: str, body: bytes) -> None:
    local.user_s3.put_object(Bucket=local.names.source_bucket, Key=key, Body=body, ContentType=MARKDOWN)


def load_flow(local: Local, source: corpus.Corpus) -> dict[str, Any]:
    before = dict(local.pump.invocations)
    started = time.perf_counter()
    count = 0
    for key, path in source.files():
        upload(local, key, path.read_bytes())
        count += 1
        if count % CHUNK == 0:
            local.pump.drain()
            print(
                f"localstack: {count} files through the event flow, {time.perf_counter() - started:.0f} s",
                file=sys.stderr,
                flush=True,
            )
    local.pump.drain()
    invocations = delta(local.pump.invocations, before)
    return {
        "method": "flow",
        "chunk": CHUNK,
        "files": count,
        "seconds": round(time.perf_counter() - started, 3),
        "invocations": invocations,
        "invocations_per_post": {k: round(v / max(1, count), 4) for k, v in invocations.items()},
    }


def load_seeded(local: Local, source: corpus.Corpus) -> dict[str, Any]:
    from newsdrop.adapters.aws import DynamoCatalog, S3Store
    from newsdrop.local.inprocess import InProcessPipeline

    started = time.perf_counter()
    pipeline = InProcessPipeline()
    pipeline.publish_all((key, path.read_bytes()) for key, path in source.files())
    built = time.perf_counter()
    names = local.names
    _seed_source(local, {k: b.body for k, b in pipeline.source.objects.items()})
    for store, objects in (
        (S3Store(names.artifact_bucket), pipeline.artifacts.objects),
        (S3Store(names.site_bucket), pipeline.site.objects),
    ):
        for key, blob in sorted(objects.items()):
            store.put(
                key, blob.body, content_type=blob.content_type, cache_control=blob.cache_control, metadata=blob.metadata
            )
    statuses = seed_catalog(pipeline.catalog, DynamoCatalog(names.table))
    return {
        "method": "seeded",
        "files": len(pipeline.source.objects),
        "build_seconds": round(built - started, 3),
        "seed_seconds": round(time.perf_counter() - built, 3),
        "seconds": round(time.perf_counter() - started, 3),
        "commits": statuses,
        "rejections": len(pipeline.rejections),
        "unseeded_catalog_state": sorted(_catalog_fields(pipeline.catalog) - SEEDED_CATALOG_FIELDS),
    }


# What seed_catalog copies (lists and urls follow from the commits). A field outside this set
# is state the bench does not know how to seed: the run records it, and the seeded site may differ.
SEEDED_CATALOG_FIELDS = frozenset({"posts", "lists", "urls", "config", "search", "next_id", "jobs", "waiting", "_lock"})


def _catalog_fields(memory: Any) -> set[str]:
    return {f.name for f in dataclasses.fields(memory)}


def seed_catalog(memory: Any, catalog: Any) -> dict[str, int]:
    """The in-process catalog's state, written through DynamoCatalog's own methods."""
    if memory.config is not None:
        catalog.put_config(memory.config)
    statuses: dict[str, int] = {}
    for record in sorted(memory.posts.values(), key=lambda r: r.sequencer):
        status = catalog.commit(record).status
        statuses[status] = statuses.get(status, 0) + 1
    for key, state in sorted(getattr(memory, "search", {}).items()):
        catalog.swap_search_state(key, None, state)
    if getattr(memory, "next_id", 0):
        catalog.allocate_ids(memory.next_id)
    for claim, waiting in getattr(memory, "waiting", {}).items():  # posts refused a URL another holds
        for key, sequencer in waiting.items():
            catalog.wait_for_url("/" + claim, key, sequencer)
    for job in getattr(memory, "jobs", {}).values():  # site-wide refresh progress
        catalog.count_refresh(job.generation, listed=job.listed, refreshed=job.refreshed, complete=job.complete)
    return statuses


def catalog_summary(local: Local) -> dict[str, int]:
    """Items in the catalog table by kind (the partition key's prefix): compared between base sites."""
    kinds: dict[str, int] = {}
    for page in local.user_ddb.get_paginator("scan").paginate(TableName=local.names.table, ProjectionExpression="pk"):
        for item in page.get("Items", []):
            kind = item["pk"]["S"].split("#", 1)[0]
            kinds[kind] = kinds.get(kind, 0) + 1
    return dict(sorted(kinds.items()))


def _seed_source(local: Local, objects: dict[str, bytes]) -> None:
    """The source files, written with the bucket's notifications off so that no event is sent."""
    bucket = local.names.source_bucket
    s3 = local.user_s3
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={})
    try:
        for key, body in sorted(objects.items()):
            s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType=MARKDOWN)
    finally:
        s3.put_bucket_notification_configuration(
            Bucket=bucket, NotificationConfiguration={"EventBridgeConfiguration": {}}
        )


def publisher(local: Local) -> Any:
    def publish(key: str, body: bytes) -> None:
        upload(local, key, body)
        local.pump.drain()

    return publish


def measure(local: Local, posts: list[tuple[str, bytes]]) -> dict[str, Any]:
    state: dict[str, dict[str, int]] = {}

    def reset() -> None:
        local.meter.reset()
        state["inv"] = dict(local.pump.invocations)

    def snapshot() -> tuple[dict[str, int], dict[str, int]]:
        return local.meter.snapshot(), delta(local.pump.invocations, state["inv"])

    scheduled = any(getattr(spec, "schedules", None) for spec in local.stack.functions.values())
    tick = local.pump.tick if scheduled else None  # a package from before compacts within its publishes
    backlog = settle(tick, snapshot, reset) if tick is not None else None
    result = time_publishes(posts, publisher(local), snapshot, reset, tick).to_json()
    result["compaction_backlog_of_the_load"] = backlog
    return result


def measure_units(local: Local, posts: list[tuple[str, bytes]]) -> dict[str, Any]:
    """The DynamoDB request units of each publish (`bench.units`), on publishes of their own: the
    meter's reads would slow the timed ones."""
    publish, units = publisher(local), local.units
    reads: list[dict[str, float]] = []
    writes: list[dict[str, float]] = []
    units.on = True
    try:
        for key, body in posts:
            units.reset()
            publish(key, body)
            reads.append(dict(units.read))
            writes.append(dict(units.write))
    finally:
        units.on = False
    return {**summary(reads, writes), "requests_refused": dict(units.failed), "not_modelled": dict(units.uncounted)}


def site_listing(local: Local) -> dict[str, str]:
    listing: dict[str, str] = {}
    for page in local.user_s3.get_paginator("list_objects_v2").paginate(Bucket=local.names.site_bucket):
        listing.update({item["Key"]: item["ETag"].strip('"') for item in page.get("Contents", [])})
    return listing


def run(args: argparse.Namespace) -> dict[str, Any]:
    source = corpus.Corpus(args.size, Path(args.corpus))
    local = start()
    base = load_flow(local, source) if args.base == "flow" else load_seeded(local, source)
    listing = site_listing(local)
    catalog = catalog_summary(local)
    if args.site_dump:
        Path(args.site_dump).write_text(json.dumps({"site": listing, "catalog": catalog}, sort_keys=True))
    publish = publisher(local)
    warmup = corpus.new_posts(1 + args.day_posts, f"lw{args.size}")  # and the day's earlier posts
    for key, body in warmup:
        publish(key, body)
    result: dict[str, Any] = {
        "size": args.size,
        "day_posts_before": len(warmup),
        "site_objects": len(listing),
        "catalog_items": catalog,
        "base_load": base,
        **measure(local, corpus.new_posts(args.repeats, f"ls{args.size}")),
    }
    if args.profile_publishes:
        extra = corpus.new_posts(args.profile_publishes, f"lp{args.size}")

        def publish_extra() -> None:
            for key, body in extra:
                publish(key, body)

        result["profile"] = profiling.profile(
            publish_extra,
            Path(args.profile_dir) / f"localstack-{args.base}-{args.size}.txt",
            title=f"{len(extra)} single publishes into {args.size} posts through the local stack (moto)",
        )
    if args.unit_publishes:  # last: its publishes are not those of the timings or the profile
        result["request_units"] = measure_units(local, corpus.new_posts(args.unit_publishes, f"lu{args.size}"))
    result["handler_errors"] = local.pump.errors[:5]
    result["peak_rss_bytes"] = peak_rss_bytes()
    result["newsdrop_from"] = newsdrop_location()
    return result


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.localstack")
    parser.add_argument("--corpus", required=True)
    parser.add_argument("--size", type=int, required=True)
    parser.add_argument("--base", choices=("seeded", "flow"), default="seeded")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--day-posts", type=int, default=0, help="posts published into the day before the timed ones")
    parser.add_argument("--profile-publishes", type=int, default=0)
    parser.add_argument(
        "--unit-publishes",
        type=int,
        default=0,
        help="publishes, after the timed and profiled ones, whose DynamoDB units are counted (bench.run: 10)",
    )
    parser.add_argument("--profile-dir", default="bench/work/profiles")
    parser.add_argument("--site-dump", default="")
    parser.add_argument("--out", required=True)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    aws_env()
    from moto import mock_aws

    with mock_aws():
        result = run(args)
    Path(args.out).write_text(json.dumps(result, ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
