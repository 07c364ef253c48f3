"""`newsdrop build` writes exactly the bytes the moto-backed pipeline writes to the site bucket."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3

from newsdrop.local.inprocess import InProcessPipeline
from newsdrop.local.sources import source_files
from tests.integration.sitecheck import served_objects


def test_corpus_build_matches_moto_pipeline(corpus: Path, moto_stack: Any) -> None:
    # GIVEN the shared corpus, built in-process
    local = InProcessPipeline()
    for key, path in source_files(corpus):
        local.upload(key, path.read_bytes())
    local.drain()
    expected = {k: (b.body, b.content_type, b.cache_control) for k, b in local.site.objects.items()}

    # WHEN the same files are uploaded to the source bucket of the moto stack
    s3 = boto3.client("s3")
    for key, path in source_files(corpus):
        s3.put_object(Bucket="newsdrop-source", Key=key, Body=path.read_bytes())
    moto_stack.drain()

    # THEN the site bucket holds the same keys with the same bytes and headers
    actual = served_objects("newsdrop-site")
    assert sorted(actual) == sorted(expected)
    different = [k for k in expected if actual[k] != expected[k]]
    assert different == []
    assert len(expected) > 150
