"""Load test through the local stack: many concurrent clients upload, update and delete posts while the
pipeline runs; afterwards the site must equal a fresh build of the final sources, with every DLQ empty.

    .venv/bin/python -m bench.load [--posts 2000] [--clients 8] [--concurrency 2]
"""

from __future__ import annotations

import argparse
import json
import socket
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import boto3

from newsdrop.local.dev import DevStack, project_root, queue_status
from newsdrop.local.inprocess import InProcessPipeline
from newsdrop.search import differences

RESULTS = Path(__file__).resolve().parent / "results"
CONFIG = b"title: Load test\nurl: https://load.example\ntimezone: Asia/Shanghai\nlang: zh-CN\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def post_key(i: int) -> str:
    return f"_posts/2024-{1 + i % 12:02d}-{1 + i % 28:02d}-load-{i:05d}.md"


def post_body(i: int, revision: int) -> bytes:
    tags = ["滚动新闻", "load", f"t{i % 17}"]
    return (
        f'---\ntitle: "负载测试 {i} 第{revision}版 load test"\ndate: 2024-{1 + i % 12:02d}-{1 + i % 28:02d} '
        f"{i % 24:02d}:{i % 60:02d}:00\ncategories: c{i % 5}\ntags: {json.dumps(tags, ensure_ascii=False)}\n---\n\n"
        f"第{i}条消息，版本{revision}。股票代码 {600000 + i}。This is load-test post {i}, revision {revision}.\n"
    ).encode()


@dataclass
class LoadResult:
    posts: int
    clients: int
    concurrency: int
    uploads: int
    updates: int
    deletes: int
    upload_seconds: float
    uploads_per_second: float
    converge_seconds: float
    site_objects: int
    equal_to_fresh_build: bool
    mismatched: list[str]
    dead_letters: int
    invocations: dict[str, int]


def run_load(posts: int = 2000, clients: int = 8, concurrency: int = 2, churn: float = 0.05) -> LoadResult:
    stack = DevStack(
        root=project_root(), s3_port=free_port(), site_port=free_port(), retry_after=1, concurrency=concurrency
    )
    stack.start()
    try:
        s3 = boto3.client("s3", endpoint_url=stack.endpoint, region_name="us-east-1")
        bucket = stack.names.source_bucket
        s3.put_object(Bucket=bucket, Key="_config.yml", Body=CONFIG)
        changed = max(1, int(posts * churn))
        counts = {"uploads": 1, "updates": 0, "deletes": 0}
        lock = threading.Lock()

        def client(number: int) -> None:
            mine = list(range(number, posts, clients))
            own = boto3.client("s3", endpoint_url=stack.endpoint, region_name="us-east-1")
            for i in mine:
                own.put_object(Bucket=bucket, Key=post_key(i), Body=post_body(i, 1))
            # While the first versions are still in flight: re-upload some, delete others.
            for i in mine[: changed // clients + 1]:
                own.put_object(Bucket=bucket, Key=post_key(i), Body=post_body(i, 2))
            gone = mine[-(changed // clients + 1) :]
            for i in gone:
                own.delete_object(Bucket=bucket, Key=post_key(i))
            with lock:
                counts["uploads"] += len(mine) + changed // clients + 1
                counts["updates"] += changed // clients + 1
                counts["deletes"] += len(gone)

        started = time.monotonic()
        threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        uploaded = time.monotonic()
        quiet = 0
        while quiet < 3:  # converged: every queue empty and nothing in flight, three checks in a row
            rows = queue_status(stack.root, stack.names, stack.endpoint)
            busy = sum(r.waiting + r.in_flight for r in rows)
            quiet = quiet + 1 if busy == 0 else 0
            time.sleep(0.5)
        converged = time.monotonic() - 1.0  # the last two quiet checks were confirmation only
        dead = sum(r.dead for r in rows)

        final: dict[str, bytes] = {}
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for item in page.get("Contents", []):
                final[item["Key"]] = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
        site: dict[str, bytes] = {}
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=stack.names.site_bucket):
            for item in page.get("Contents", []):
                site[item["Key"]] = s3.get_object(Bucket=stack.names.site_bucket, Key=item["Key"])["Body"].read()
        invocations = dict(stack.pump.invocations) if stack.pump else {}
    finally:
        stack.stop()

    fresh = InProcessPipeline()
    fresh.upload("_config.yml", final.pop("_config.yml"))
    for key, body in sorted(final.items()):
        fresh.upload(key, body)
    fresh.drain()
    expected = {k: b.body for k, b in fresh.site.objects.items()}
    mismatched = differences(site, expected)
    return LoadResult(
        posts=posts,
        clients=clients,
        concurrency=concurrency,
        uploads=counts["uploads"],
        updates=counts["updates"],
        deletes=counts["deletes"],
        upload_seconds=round(uploaded - started, 2),
        uploads_per_second=round(counts["uploads"] / (uploaded - started), 1),
        converge_seconds=round(converged - uploaded, 2),
        site_objects=len(site),
        equal_to_fresh_build=not mismatched,
        mismatched=mismatched[:20],
        dead_letters=dead,
        invocations=invocations,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--concurrency", type=int, default=2, help="concurrent invocations per function")
    args = parser.parse_args(argv)
    import logging
    import os

    os.environ["POWERTOOLS_LOG_LEVEL"] = "ERROR"  # the functions' JSON logs would drown the report
    logging.getLogger("newsdrop").setLevel(logging.ERROR)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    result = run_load(args.posts, args.clients, args.concurrency)
    RESULTS.mkdir(parents=True, exist_ok=True)
    data: dict[str, Any] = {"date": time.strftime("%Y-%m-%d"), **asdict(result)}
    (RESULTS / "load.json").write_text(json.dumps(data, indent=2) + "\n")
    print(json.dumps(data, indent=2))
    return 0 if result.equal_to_fresh_build and result.dead_letters == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
