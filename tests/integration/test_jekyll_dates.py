"""Post dates without an offset land on the day a real `jekyll build` gives them: Jekyll's YAML reader
takes an unquoted time as UTC and anything else in the site's time zone."""

from __future__ import annotations

import subprocess
from pathlib import Path
from urllib.parse import unquote

import pytest

from newsdrop.local.inprocess import InProcessPipeline
from tests.integration.test_jekyll_migration import JEKYLL, URL_LIST

DATES = {
    "unquoted-evening": "2021-12-08 20:00:00",  # 04:00 on the 9th in Shanghai
    "unquoted-morning": "2021-12-08 10:40:58",
    "quoted-evening": '"2021-12-08 20:00:00"',
    "no-seconds": "2021-12-08 20:00",
    "with-offset": "2021-12-08 20:00:00 +0800",
    "utc-offset": "2021-12-08 20:00:00 +0000",
    "day-only": "2021-12-08",
    "iso-t": "2021-12-08T23:30:00",
}


def site(timezone: str) -> dict[str, str]:
    files = {"_config.yml": f"title: Dates\ntimezone: {timezone}\n"}
    for name, date in DATES.items():
        files[f"_posts/2021-12-08-{name}.md"] = f"---\ntitle: {name}\ndate: {date}\ncategories: desk\n---\nBody.\n"
    return files


def jekyll_urls(files: dict[str, str], work: Path) -> set[str]:
    for key, text in {**files, "post-urls.txt": URL_LIST}.items():
        (work / key).parent.mkdir(parents=True, exist_ok=True)
        (work / key).write_text(text, encoding="utf-8")
    assert JEKYLL is not None
    out = work / "_site"
    subprocess.run([JEKYLL, "build", "--safe", "--quiet", "-s", str(work), "-d", str(out)], check=True, timeout=300)
    lines = (out / "post-urls.txt").read_text(encoding="utf-8").splitlines()
    return {unquote(line.split("\t", 1)[0]) for line in lines if line.strip()}


@pytest.mark.skipif(JEKYLL is None, reason="jekyll (Debian's package) is not installed")
@pytest.mark.parametrize("timezone", ["Asia/Shanghai", "America/New_York"])
def test_dates_without_an_offset_land_where_jekyll_puts_them(timezone: str, tmp_path: Path) -> None:
    files = site(timezone)
    expected = jekyll_urls(files, tmp_path / "jekyll")
    assert len(expected) == len(DATES)
    pipeline = InProcessPipeline()
    for key, text in files.items():
        pipeline.upload(key, text.encode())
    pipeline.drain()
    assert pipeline.rejections == []
    assert {entry.url for entry in pipeline.catalog.entries("all")} == expected
    if timezone == "Asia/Shanghai":  # the case that differs from reading every date in the site's zone
        assert "/desk/2021/12/09/unquoted-evening.html" in expected
