"""Deletions in the versioned source bucket that leave the key with a current object.

S3 reports "Object Deleted" not only when a delete marker hides a key, but also when a version
of it, or a delete marker, is removed by its id ("Permanently Deleted"): an old version cleaned
up by hand or by a lifecycle rule (the current post is still there), or a delete marker removed,
which is how S3 undeletes (the previous version is current again, and no "Object Created"
follows). Through the real handlers on moto, whose S3 sends these events as AWS does (see
`local/moto_patches.py`), the site must still equal a fresh build of what the bucket holds.
"""

from __future__ import annotations

from typing import Any

from tests.integration.sitecheck import NO_DIFF, SOURCE, apply, diff, local_build, post, rejections, s3, site

KEY = "_posts/2024-05-20-rates.md"
PAGE = "markets/2024/05/20/rates.html"
OTHER = "_posts/2024-05-19-older.md"
CONFIG = "_config.yml"
OLDER = post("Older", "2024-05-19 08:00:00 +0800", categories=["Markets"])


def versions(key: str) -> tuple[list[str], list[str]]:
    """The key's object versions and delete markers, newest first."""
    listed = s3().list_object_versions(Bucket=SOURCE, Prefix=key)
    objects = [v["VersionId"] for v in listed.get("Versions", []) if v["Key"] == key]
    markers = [m["VersionId"] for m in listed.get("DeleteMarkers", []) if m["Key"] == key]
    return objects, markers


def remove_version(pump: Any, key: str, version_id: str) -> None:
    s3().delete_object(Bucket=SOURCE, Key=key, VersionId=version_id)
    pump.drain()
    assert pump.errors == []


def assert_site_is_a_build_of(files: dict[str, bytes]) -> None:
    assert diff(site(), local_build(files)) == NO_DIFF


def rates(title: str) -> bytes:
    return post(title, "2024-05-20 08:00:00 +0800", categories=["Markets"], tags=["利率"])


def test_removing_an_old_version_leaves_the_current_post_published(moto_stack: Any) -> None:
    apply(moto_stack, {OTHER: OLDER, KEY: rates("First take")})
    apply(moto_stack, {KEY: rates("Second take")})
    objects, _ = versions(KEY)
    assert len(objects) == 2

    remove_version(moto_stack, KEY, objects[-1])  # the first upload, no longer current

    assert "Second take" in site()[PAGE].decode()
    assert rejections(moto_stack) == []
    assert_site_is_a_build_of({OTHER: OLDER, KEY: rates("Second take")})


def test_removing_a_delete_marker_publishes_the_post_again(moto_stack: Any) -> None:
    apply(moto_stack, {KEY: rates("Back again")})
    apply(moto_stack, {KEY: None})
    assert PAGE not in site()
    _, markers = versions(KEY)
    assert len(markers) == 1

    remove_version(moto_stack, KEY, markers[0])  # the undelete: S3 sends only "Object Deleted"

    assert "Back again" in site()[PAGE].decode()
    assert "Back again" in site()["index.html"].decode()
    assert_site_is_a_build_of({KEY: rates("Back again")})


def test_removing_the_last_version_unpublishes_the_post(moto_stack: Any) -> None:
    apply(moto_stack, {OTHER: OLDER, KEY: rates("Gone for good")})
    objects, _ = versions(KEY)

    remove_version(moto_stack, KEY, objects[0])  # no delete marker: the key has no version left

    assert PAGE not in site()
    assert_site_is_a_build_of({OTHER: OLDER})


def test_removing_an_old_version_of_the_settings_keeps_them(moto_stack: Any) -> None:
    settings = "title: 财经快讯\nurl: https://news.example\ntimezone: Asia/Shanghai\n".encode()
    apply(moto_stack, {CONFIG: b"title: Draft settings\n", KEY: rates("Rates")})
    apply(moto_stack, {CONFIG: settings})
    objects, _ = versions(CONFIG)
    assert len(objects) == 2

    remove_version(moto_stack, CONFIG, objects[-1])

    assert "财经快讯" in site()["index.html"].decode()
    assert_site_is_a_build_of({CONFIG: settings, KEY: rates("Rates")})
