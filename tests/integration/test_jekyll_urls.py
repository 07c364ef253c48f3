"""Post URLs are the ones a real `jekyll build` gives, for the front matter and settings that decide
them: dates without an offset (Jekyll's YAML reader takes an unquoted time as UTC, anything else in
the site's time zone), `category` and `categories`, the `:slug` and other permalink placeholders,
Jekyll's Markdown file extensions and one-digit months, days and hours."""

from __future__ import annotations

from pathlib import Path

import pytest

from newsdrop.local.inprocess import InProcessPipeline
from tests.conftest import IN_CI
from tests.integration.test_jekyll_migration import JEKYLL, jekyll_build_post_urls

DATES = {
    "unquoted-evening": "2021-12-08 20:00:00",  # 04:00 on the 9th in Shanghai
    "unquoted-morning": "2021-12-08 10:40:58",
    "quoted-evening": '"2021-12-08 20:00:00"',
    "no-seconds": "2021-12-08 20:00",
    "with-offset": "2021-12-08 20:00:00 +0800",
    "utc-offset": "2021-12-08 20:00:00 +0000",
    "day-only": "2021-12-08",
    "iso-t": "2021-12-08T23:30:00",
    "one-digit-hour": "2021-12-08 9:05:00",
    "one-digit-day": "2021-12-8 21:05:00",
    "one-digit-offset": "2021-12-08 20:00:00 +8",
    "two-spaces": "2021-12-08  21:00:00",
}
CATEGORIES = {
    "plural-string": "categories: Markets Asia",
    "singular-with-space": "category: Hong Kong",
    "singular-chinese": "category: 港股 通",
    "both": "category: Solo\ncategories: [Multi, Two]",
    "list": "categories: [News, 港股]",
    "hash": 'categories: ["C#", news]',  # a folder named `c#`, not a fragment
    "question": 'category: "what?"',
    "percent": "category: a%20b",  # written as it is, not decoded
}
SLUGS = {  # file name slug -> extra front matter
    "Hello-World": "",
    "a+b": "",
    "R&D": "",
    "x_y.z": "",
    "A股快讯": "",
    "custom": "slug: Custom Slug With Spaces!",
    "thai": "slug: ข่าวด่วน",  # combining marks are part of letters, not separators
}


def post(title: str, front: str) -> str:
    return f"---\ntitle: {title}\n{front}\n---\nBody.\n"


def sites() -> dict[str, dict[str, str]]:
    found: dict[str, dict[str, str]] = {}
    for zone in ("Asia/Shanghai", "America/New_York"):
        files = {"_config.yml": f"timezone: {zone}\n"}
        for name, date in DATES.items():
            files[f"_posts/2021-12-08-{name}.md"] = post(name, f"date: {date}\ncategories: desk")
        found[f"dates in {zone}"] = files
    found["categories"] = {"_config.yml": "timezone: UTC\n"} | {
        f"_posts/2021-12-08-{name}.md": post(name, front) for name, front in CATEGORIES.items()
    }
    found[":slug"] = {"_config.yml": "timezone: UTC\npermalink: /:year/:slug.html\n"} | {
        f"_posts/2021-12-08-{name}.md": post("x", front) for name, front in SLUGS.items()
    }
    placeholders = "/:slugified_categories/:year/:long_month/:short_month/:long_day/:w_year-:week-:w_day/:title.html"
    found["placeholders"] = {
        "_config.yml": f"timezone: UTC\npermalink: {placeholders}\n",
        "_posts/2021-01-02-hello-world.md": post("x", "categories: [News, Big Markets]"),
        "_posts/2021-01-03-cafe.md": post("x", "categories: [Café News, x²]"),  # ² is no decimal digit
    }
    found[":name"] = {
        "_config.yml": "timezone: UTC\npermalink: /posts/:name:output_ext\n",
        "_posts/2021-12-08-Hello World.md": post("x", ""),
    }
    found["extensions"] = {"_config.yml": "timezone: UTC\n"} | {
        f"_posts/2021-12-08-ext-{ext}.{ext}": post(ext, "categories: desk")
        for ext in ("md", "markdown", "mkdown", "mkdn", "mkd")
    }
    found["extensions"]["_posts/2021-1-5-one-digit.md"] = post("one digit", "categories: desk")
    return found


SITES = sites()


def jekyll_urls(files: dict[str, str], work: Path) -> set[str]:
    for key, text in files.items():
        (work / key).parent.mkdir(parents=True, exist_ok=True)
        (work / key).write_text(text, encoding="utf-8")
    return set(jekyll_build_post_urls(work, work / "_site"))


@pytest.mark.skipif(JEKYLL is None and not IN_CI, reason="jekyll (Debian's package) is not installed")
@pytest.mark.parametrize("name", sorted(SITES))
def test_post_urls_are_jekyll_s(name: str, tmp_path: Path) -> None:
    files = SITES[name]
    expected = jekyll_urls(files, tmp_path / "jekyll")
    assert len(expected) == len(files) - 1  # every post published
    pipeline = InProcessPipeline()
    for key, text in files.items():
        pipeline.upload(key, text.encode())
    pipeline.drain()
    assert pipeline.rejections == []
    assert {entry.url for entry in pipeline.catalog.entries("all")} == expected
    if name == "dates in Asia/Shanghai":  # the case reading every date in the site's zone gets wrong
        assert "/desk/2021/12/09/unquoted-evening.html" in expected
