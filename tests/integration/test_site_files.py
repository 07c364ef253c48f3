"""Files the site serves as they are, through the template's rules and the real handlers on moto:
the source rule forwards them by type (any case), parse checks them, render copies and deletes them."""

from __future__ import annotations

from typing import Any

import boto3

from newsdrop.rendering import writer
from tests.integration.sitecheck import SITE, apply, delete, served_objects, upload

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))  # every byte value, as an image has


def test_an_image_goes_from_the_source_bucket_to_the_site_and_away_again(moto_stack: Any) -> None:
    apply(moto_stack, {"images/2024/Chart.PNG": PNG, "docs/报告.pdf": b"%PDF-1.7"})
    served = served_objects(SITE)
    assert served["images/2024/Chart.PNG"] == (PNG, "image/png", writer.FILE_CACHE)
    assert served["docs/报告.pdf"] == (b"%PDF-1.7", "application/pdf", writer.FILE_CACHE)
    s3 = boto3.client("s3")
    pdf, png = (s3.head_object(Bucket=SITE, Key=key) for key in ("docs/报告.pdf", "images/2024/Chart.PNG"))
    assert (pdf.get("ContentDisposition"), png.get("ContentDisposition")) == ("attachment", None)
    assert moto_stack.invocations.get("RenderFunction", 0) >= 1

    apply(moto_stack, {"images/2024/Chart.PNG": PNG[::-1]})
    assert served_objects(SITE)["images/2024/Chart.PNG"][0] == PNG[::-1]

    apply(moto_stack, {"images/2024/Chart.PNG": None})
    assert "images/2024/Chart.PNG" not in served_objects(SITE)
    assert "docs/报告.pdf" in served_objects(SITE)


def test_files_of_other_types_invoke_nothing(moto_stack: Any) -> None:
    before = dict(moto_stack.invocations)
    for key in ("README.md", "logo.svg", "index.html", "Gemfile"):
        upload(key, b"not served")
    moto_stack.drain()
    assert moto_stack.invocations == before  # the source rule did not forward them: no parse invocation
    assert served_objects(SITE) == {}


def test_a_file_taking_a_name_of_the_site_is_rejected_and_the_site_keeps_its_own(moto_stack: Any) -> None:
    from newsdrop.local.dev import rejections

    apply(moto_stack, {"_posts/2024-05-20-a.md": b"---\ntitle: A\n---\nBody.\n"})
    robots = served_objects(SITE)["robots.txt"]
    apply(moto_stack, {"robots.txt": b"User-agent: *\nDisallow: /\n"})
    assert served_objects(SITE)["robots.txt"] == robots
    reports = rejections(moto_stack.stack.names, None)
    assert [(r["key"], r["reason"]) for r in reports] == [
        ("robots.txt", "file 'robots.txt' takes a name the site's own pages use")
    ]
    delete("robots.txt")
    moto_stack.drain()
    assert served_objects(SITE)["robots.txt"] == robots
