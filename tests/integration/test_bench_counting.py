"""The bench's counting adapters (bench/counting.py) count the AWS requests the AWS adapters make.

The bench reports a publish's requests on the local adapters at sizes moto cannot reach, so the
counts must be those of the real adapters: the same posts are published on the counting
in-process pipeline and on the moto stack, whose clients are hooked, and a new post's requests
must be the same on both (CloudFront aside: the moto stack has no distribution).
"""

from __future__ import annotations

from typing import Any

from bench.counting import Meter, hook_client
from bench.inproc import counted_pipeline

BASE = [
    (
        f"_posts/2026-11-2{day}-base-{day}.md",
        f'---\ntitle: "基础 {day}"\ndate: 2026-11-2{day} 09:00:00 +0800\n'
        f"categories: [news]\ntags: [市场]\n---\n正文 {day}。\n",
    )
    for day in range(1, 4)
]
NEW = (
    "_posts/2026-11-23-new.md",
    '---\ntitle: "New post"\ndate: 2026-11-23 18:00:00 +0800\ncategories: [news]\ntags: [市场, etf]\n---\nBody.\n',
)


def requests_of(counts: dict[str, int]) -> dict[str, int]:
    return {name: n for name, n in counts.items() if not name.startswith("cloudfront:") and n}


def test_a_publish_counts_the_requests_the_aws_adapters_make(moto_stack: Any) -> None:
    counted = counted_pipeline()
    for key, text in BASE:
        counted.pipeline.upload(key, text.encode())
    counted.pipeline.drain()
    counted.pipeline.upload(NEW[0], NEW[1].encode())
    counted.meter.reset()
    counted.pipeline.drain()
    on_adapters = requests_of(counted.meter.snapshot())

    from newsdrop.adapters import aws

    names = moto_stack.stack.names
    s3 = aws.client("s3")
    for key, text in BASE:
        s3.put_object(Bucket=names.source_bucket, Key=key, Body=text.encode(), ContentType="text/markdown")
    moto_stack.drain()
    meter = Meter()
    roles = {names.source_bucket: "source", names.site_bucket: "site", names.artifact_bucket: "artifacts"}
    for service in ("s3", "dynamodb", "events"):
        hook_client(aws.client(service), meter, roles)
    s3.put_object(Bucket=names.source_bucket, Key=NEW[0], Body=NEW[1].encode(), ContentType="text/markdown")
    meter.reset()  # the user's upload is not the functions' work
    moto_stack.drain()
    on_moto = requests_of(meter.snapshot())

    assert on_moto["dynamodb:TransactWriteItems"] == 1  # the publish happened
    assert on_adapters == on_moto
