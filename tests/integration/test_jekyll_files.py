"""Files served as they are are the ones a real `jekyll build` copies. For a Jekyll site with tricky
names (root and nested, `_` `.` `#` `~` prefixes on files and folders, upper-case extensions, a bare
`.png`, spaces, Chinese, `_posts/`, installed packages), the files of newsdrop's served types that Jekyll
writes into `_site` are, byte for byte, those `newsdrop build` writes and `newsdrop import` uploads."""

from __future__ import annotations

from pathlib import Path

import pytest

from newsdrop import source_keys
from newsdrop.cli.main import main
from newsdrop.local.jekyll import JekyllSite
from tests.conftest import IN_CI
from tests.integration.test_jekyll_migration import JEKYLL, jekyll_build_post_urls

PNG = b"\x89PNG\r\n\x1a\n"
SITE = {
    "_config.yml": b"title: Files\ntimezone: UTC\n",
    "_posts/2024-05-20-markets.md": b"---\ntitle: Markets\n---\n![chart](/images/chart.png)\n",
}
POST_URLS = ["/2024/05/20/markets.html"]
# Files Jekyll copies into `_site` as they are.
COPIED = [
    "chart.png",
    "favicon.ico",
    "data.csv",
    "readme.txt",
    "anim.gif",
    "pic.webp",
    "pic.avif",
    "a.b.c.jpg",
    "LOGO.PNG",  # the type is the extension in any case
    "Report.PDF",
    "notes.Pdf",
    "photo.JPEG",
    "images/chart.png",
    "images/2024/05/deep.jpg",
    "assets/images/x.png",  # Jekyll themes keep images there; newsdrop's own assets are CSS and JavaScript
    "my chart.png",
    "图表.png",
    "报告 2024/季度 报告.pdf",
    "docs/node_modules/x.png",  # Jekyll's `exclude:` is relative to the site: only the top folder is left out
    "Node_Modules/x.png",  # and it matches case-sensitively
    "vendor/x.png",  # of `vendor/`, only four package folders are left out
    "vendor/bundle-notes.png",
]
# Files Jekyll leaves out, and so does newsdrop: names starting with `_`, `.`, `#` or `~`, at any
# depth, or under a folder so named (including `_posts/`, where Jekyll reads only posts).
LEFT_OUT = [
    "_hidden.png",
    ".hidden.png",
    "#backup.png",
    "~tilde.png",
    "_folder/x.png",
    ".folder/x.png",
    "#folder/x.png",
    "~folder/x.png",
    "images/_x.png",
    "images/~x.png",
    "images/_old/x.png",
    "images/.cache/x.png",
    "images/#tmp/x.png",
    "images/~bak/x.png",
    ".png",  # only an extension: a hidden file, not a PNG with an empty name
    "images/.PNG",
    "_posts/chart.png",
    "_posts/2024/figure.png",
    "_drafts/x.png",
    "_layouts/x.png",
    "_site/x.png",
    "images~/x.png",  # a name ending in `~` is a backup, to Jekyll
    "v1./x.png",  # and one ending in a dot is left out too
]
# What Jekyll's default `exclude:` leaves out (installed packages: node_modules, gemfiles,
# vendor/bundle/ and three more vendor/ folders), tested with `start_with?`, so also any path that
# merely starts like one of them. `newsdrop build` reads its folder as it reads the source bucket,
# where a file at such a key was uploaded on purpose, so it serves them; `newsdrop import` reads a
# Jekyll site and leaves them out, as Jekyll does.
PACKAGES = [
    "node_modules/pkg/x.png",
    "gemfiles/x.png",
    "vendor/bundle/x.png",
    "vendor/cache/x.png",
    "Gemfile-logo.png",
    "gemfiles.png",
    "node_modules-old/x.png",
]
# Not a file of the folder: the site's own robots.txt, which `newsdrop build` writes (and refuses a
# file of that name).
OWN_FILES = {"robots.txt"}


def served_files(root: Path) -> dict[str, bytes]:
    """The files under `root` of the types newsdrop serves, by key."""
    found = {p.relative_to(root).as_posix(): p for p in root.rglob("*") if p.is_file()}
    return {key: path.read_bytes() for key, path in found.items() if source_keys.file_type(key) is not None}


def build_both(tmp_path: Path, names: list[str]) -> tuple[dict[str, bytes], dict[str, bytes], set[str]]:
    """A Jekyll site holding a file at each of `names`, each with its own bytes: the served files
    `jekyll build` writes, those `newsdrop build` writes, and the keys `newsdrop import` uploads."""
    site = tmp_path / "site"
    files = SITE | {name: PNG + name.encode() for name in names}
    for key, body in files.items():
        (site / key).parent.mkdir(parents=True, exist_ok=True)
        (site / key).write_bytes(body)

    # The shared helper adds a page listing the posts; it shows the site built, with its one post.
    assert list(jekyll_build_post_urls(site, tmp_path / "jekyll")) == POST_URLS
    (site / "post-urls.txt").unlink()
    jekyll = served_files(tmp_path / "jekyll")
    del jekyll["post-urls.txt"]

    out = tmp_path / "newsdrop"
    assert main(["build", str(site), "--out", str(out), "--jobs", "1", "--strict"]) == 0  # nothing rejected
    built = served_files(out)
    assert set(built) >= OWN_FILES
    built = {key: body for key, body in built.items() if key not in OWN_FILES}

    imported = {key for key, _ in JekyllSite.read(site).files() if source_keys.file_type(key) is not None}
    return jekyll, built, imported


@pytest.mark.skipif(JEKYLL is None and not IN_CI, reason="jekyll (Debian's package) is not installed")
def test_newsdrop_serves_the_files_jekyll_copies(tmp_path: Path) -> None:
    jekyll, built, imported = build_both(tmp_path, COPIED + LEFT_OUT + PACKAGES)

    assert set(jekyll) == set(COPIED)
    assert imported == set(COPIED)
    assert set(built) == set(COPIED) | set(PACKAGES)
    for key in COPIED:  # copied as they are, each to its own key
        assert built[key] == jekyll[key] == PNG + key.encode(), key
