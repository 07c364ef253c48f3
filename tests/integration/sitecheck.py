"""Helpers for the moto integration tests: sample posts, bucket snapshots, the rejections queue.

Everything here talks to the mocked AWS with plain boto3 clients, the way an author or an
operator would; nothing reads the package's internals to decide what is expected.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import boto3

from newsdrop import search
from newsdrop.local.inprocess import InProcessPipeline
from newsdrop.search import LAYOUT

SOURCE = "newsdrop-source"
SITE = "newsdrop-site"
ARTIFACTS = "newsdrop-artifacts"

# Everything on the site that lists posts (besides the post pages themselves).
AGGREGATE_PREFIXES = ("index.html", "feed.xml", "sitemap.xml", "sitemaps/", "search/", "archive/", "tags/")


def yaml_quote(text: str) -> str:
    """A YAML double-quoted scalar for any text."""
    return json.dumps(text, ensure_ascii=False)


def post(
    title: str | None,
    date: str | None,
    *,
    categories: Iterable[str] = (),
    tags: Iterable[str] = (),
    body: str = "Body text.",
    extra: Mapping[str, str] | None = None,
) -> bytes:
    """A Jekyll post with the given front matter (None leaves a field out)."""
    lines = ["---", "layout: post"]
    if title is not None:
        lines.append(f"title: {yaml_quote(title)}")
    if date is not None:
        # Quoted: read in the site's time zone when it has no offset (Jekyll reads an unquoted time
        # without one as UTC; tests/unit/test_posts.py holds both).
        lines.append(f"date: {yaml_quote(date)}")
    cats, tgs = list(categories), list(tags)
    if cats:
        lines.append("categories: [" + ", ".join(yaml_quote(c) for c in cats) + "]")
    if tgs:
        lines.append("tags: [" + ", ".join(yaml_quote(t) for t in tgs) + "]")
    for name, value in (extra or {}).items():
        lines.append(f"{name}: {value}")
    lines += ["---", "", body, ""]
    return "\n".join(lines).encode()


def s3() -> Any:
    return boto3.client("s3")


def upload(key: str, body: bytes) -> None:
    s3().put_object(Bucket=SOURCE, Key=key, Body=body)


def delete(key: str) -> None:
    s3().delete_object(Bucket=SOURCE, Key=key)


def apply(pump: Any, files: Mapping[str, bytes | None]) -> None:
    """Upload (bytes) or delete (None) each key, let the stack settle, and check no function failed."""
    for key, body in files.items():
        if body is None:
            delete(key)
        else:
            upload(key, body)
    pump.drain()
    assert pump.errors == []


def bucket_objects(bucket: str) -> dict[str, bytes]:
    """Every object of a bucket: key -> body."""
    return {key: body for key, (body, _, _) in served_objects(bucket).items()}


def served_objects(bucket: str) -> dict[str, tuple[bytes, str, str]]:
    """Every object of a bucket: key -> (body, Content-Type, Cache-Control)."""
    client = s3()
    found = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            obj = client.get_object(Bucket=bucket, Key=item["Key"])
            found[item["Key"]] = (obj["Body"].read(), obj["ContentType"], obj.get("CacheControl", ""))
    return found


def site() -> dict[str, bytes]:
    return bucket_objects(SITE)


def source_body(key: str) -> bytes | None:
    try:
        body: bytes = s3().get_object(Bucket=SOURCE, Key=key)["Body"].read()
    except s3().exceptions.NoSuchKey:
        return None
    return body


def artifact_json(key: str) -> dict[str, Any] | None:
    try:
        body = s3().get_object(Bucket=ARTIFACTS, Key=key)["Body"].read()
    except s3().exceptions.NoSuchKey:
        return None
    data: dict[str, Any] = json.loads(body)
    return data


def take_all(queue_url: str) -> list[dict[str, Any]]:
    """Receive and delete every message waiting in a queue; returns the parsed bodies."""
    sqs = boto3.client("sqs")
    bodies: list[dict[str, Any]] = []
    while True:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return bodies
        for message in messages:
            bodies.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


def rejections(pump: Any) -> list[dict[str, Any]]:
    """The PostRejected events waiting in the RejectionsQueue (their `detail`), consumed."""
    events = take_all(pump.stack.queue_urls["RejectionsQueue"])
    assert all(e.get("detail-type") == "PostRejected" for e in events), events
    return [e["detail"] for e in events]


def local_build(files: Mapping[str, bytes]) -> dict[str, bytes]:
    """A fresh `newsdrop build` (in-process pipeline) of exactly these source files: key -> body."""
    pipeline = InProcessPipeline()
    config = {k: v for k, v in files.items() if k == "_config.yml"}
    for key, body in [*config.items(), *sorted((k, v) for k, v in files.items() if k != "_config.yml")]:
        pipeline.upload(key, body)
    pipeline.drain()
    assert pipeline.dead_letters == {}
    return {key: blob.body for key, blob in pipeline.site.objects.items()}


def diff(actual: Mapping[str, bytes], expected: Mapping[str, bytes]) -> dict[str, list[str]]:
    """What differs between two sites: keys only in one, keys with different bodies (the search
    index's layout aside, see tests/support/sites.py), and whether the search index's content differs."""
    a = {k: v for k, v in actual.items() if not k.startswith(LAYOUT)}
    e = {k: v for k, v in expected.items() if not k.startswith(LAYOUT)}
    same_index = search.logical_index(actual.get) == search.logical_index(expected.get)
    return {
        "missing": sorted(set(e) - set(a)),
        "extra": sorted(set(a) - set(e)),
        "different": sorted(k for k in set(a) & set(e) if a[k] != e[k]),
        "search": [] if same_index else ["content differs"],
    }


NO_DIFF: dict[str, list[str]] = {"missing": [], "extra": [], "different": [], "search": []}


def mentioning(objects: Mapping[str, bytes], *needles: str) -> list[str]:
    """Keys of the objects whose body contains any of the needles (as UTF-8 bytes)."""
    raw = [n.encode() for n in needles]
    return sorted(k for k, body in objects.items() if any(n in body for n in raw))
