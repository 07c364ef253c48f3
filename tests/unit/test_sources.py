"""A folder laid out like the source bucket, read as `newsdrop build`, `newsdrop publish` and
`newsdrop dev --posts` read it."""

from __future__ import annotations

import os
from pathlib import Path

from newsdrop.local.sources import source_files


def _write(path: Path, text: str = "x") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def test_settings_come_first_then_posts_in_path_order(tmp_path: Path) -> None:
    for name in ("_posts/b.md", "_posts/a-b/y.md", "_posts/a/b/x.md", "_posts/a.md", "_config.yml", "notes.md"):
        _write(tmp_path / name)
    keys = [key for key, _ in source_files(tmp_path)]
    # By path components, as a folder tree reads: "a/b/x.md" before "a-b/y.md", although "-" sorts before "/".
    assert keys == ["_config.yml", "_posts/a/b/x.md", "_posts/a-b/y.md", "_posts/a.md", "_posts/b.md"]
    assert all((tmp_path / key).read_text(encoding="utf-8") == "x" for key in keys)


def test_linked_folders_are_not_entered_and_linked_files_are_read(tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    _write(outside / "secret.md")
    _write(tmp_path / "_posts/a.md")
    os.symlink(outside, tmp_path / "_posts/linked")
    os.symlink(tmp_path / "_posts/a.md", tmp_path / "_posts/alias.md")
    os.symlink(tmp_path / "missing.md", tmp_path / "_posts/dangling.md")
    found = dict(source_files(tmp_path))
    assert sorted(found) == ["_posts/a.md", "_posts/alias.md"]
    assert found["_posts/alias.md"] == tmp_path / "_posts/alias.md"


def test_a_folder_without_posts_gives_its_settings_alone(tmp_path: Path) -> None:
    _write(tmp_path / "_config.yml")
    assert [key for key, _ in source_files(tmp_path)] == ["_config.yml"]
    assert list(source_files(tmp_path / "absent")) == []


def test_template_overrides_come_after_the_settings_and_before_the_posts(tmp_path: Path) -> None:
    for name in ("_posts/a.md", "_templates/post.html", "_templates/base.html", "_config.yml", "templates/x.html"):
        _write(tmp_path / name)
    keys = [key for key, _ in source_files(tmp_path)]
    assert keys == ["_config.yml", "_templates/base.html", "_templates/post.html", "_posts/a.md"]


def test_hidden_files_and_folders_are_left_out(tmp_path: Path) -> None:
    for name in (
        "_posts/a.md",
        "_posts/.DS_Store",
        "_posts/.git/b.md",
        "_templates/.post.html.swp",
        "_templates/post.html",
    ):
        _write(tmp_path / name)
    assert [key for key, _ in source_files(tmp_path)] == ["_templates/post.html", "_posts/a.md"]


def test_nothing_inside_the_folder_left_out_is_listed_however_it_is_reached(tmp_path: Path) -> None:
    site = tmp_path / "site"
    for name in ("_config.yml", "_posts/a.md", "_posts/out/old.md", "images/a.png", "images/out/b.png", "c.png"):
        _write(site / name)
    os.symlink(site / "_posts/out/old.md", site / "_posts/into-out.md")  # a linked file whose target is inside
    os.symlink(site / "images/a.png", site / "_posts/out/linked.png")
    link = tmp_path / "link"
    os.symlink(site, link)  # the site reached through a link, the folder left out named without one
    keys = {key for key, _ in source_files(link, leave_out=site / "_posts/out")}
    assert keys == {"_config.yml", "_posts/a.md", "images/a.png", "images/out/b.png", "c.png"}
    keys = {key for key, _ in source_files(site, leave_out=link / "images")}
    assert keys == {"_config.yml", "_posts/a.md", "_posts/into-out.md", "_posts/out/old.md", "c.png"}
    assert [key for key, _ in source_files(site, leave_out=tmp_path)] == []  # the output holds the site
    everything = {key for key, _ in source_files(site)}
    assert {key for key, _ in source_files(site, leave_out=tmp_path / "absent")} == everything
    assert everything - keys == {"images/a.png", "images/out/b.png", "_posts/out/linked.png"}
