"""Render with its listings derived side by side (IO_CONCURRENCY 8, the template's, as on AWS) writes,
through moto, exactly the bytes the pipeline writes one listing at a time in memory."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from newsdrop.local.inprocess import InProcessPipeline
from newsdrop.local.sources import source_files
from newsdrop.runtime import aws_ports
from tests.conftest import SAMPLES
from tests.integration.sitecheck import SITE, SOURCE, post, served_objects


@pytest.mark.parametrize("moto_stack", [8], indirect=True)
def test_side_by_side_listings_write_the_site_a_build_writes(moto_stack: Any) -> None:
    files = [(key, path.read_bytes()) for key, path in source_files(SAMPLES / "site")]
    # Posts on the samples' days, in their categories and tags, and one of a day of its own:
    # each publish changes several listings at once.
    files += [
        (
            f"_posts/2024-05-2{day}-more-{day}.md",
            post(f"更多 {day}", f"2024-05-2{day} 10:00:00 +0800", categories=["markets"], tags=["A股", "债券"]),
        )
        for day in (0, 1, 4)
    ]
    s3 = boto3.client("s3")
    for key, body in files:  # one at a time: every batch a publish, as an author makes them
        s3.put_object(Bucket=SOURCE, Key=key, Body=body)
        moto_stack.drain()
    assert moto_stack.errors == []
    assert aws_ports().io_workers == 8  # the functions' own ports, as the settings made them

    local = InProcessPipeline()
    for key, body in files:
        local.upload(key, body)
        local.drain()
    expected = {k: (b.body, b.content_type, b.cache_control) for k, b in local.site.objects.items()}

    actual = served_objects(SITE)
    assert sorted(actual) == sorted(expected)
    assert [k for k in expected if actual[k] != expected[k]] == []
    assert "更多 4" in actual["index.html"][0].decode()
