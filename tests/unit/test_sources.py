"""A folder laid out like the source bucket, read as `newsdrop build`, `newsdrop publish` and
`newsdrop dev --posts` read it."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from newsdrop.local.sources import LINKED_OUTSIDE, NOT_TEXT, source_files


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


def test_linked_files_that_lead_outside_the_folder_are_not_read_and_are_reported(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    site, elsewhere = tmp_path / "site", tmp_path / "elsewhere"
    for name in ("secret.txt", "secret.png", "secret.md", "config.yml"):
        _write(elsewhere / name, "not the site's")
    _write(site / "_posts/a.md")
    _write(site / "images/a.png")
    links = {
        "_config.yml": elsewhere / "config.yml",
        "_templates/post.html": elsewhere / "secret.txt",
        "_posts/2024/leak.md": elsewhere / "secret.md",
        "images/notes.txt": elsewhere / "secret.txt",
        "images/deep/leak.png": elsewhere / "secret.png",
        "images/twice.png": site / "images/hop.png",  # a link to a link that leads outside
        "images/hop.png": elsewhere / "secret.png",
        "images/inside.png": site / "images/a.png",  # inside: read, as before
    }
    for name, target in links.items():
        (site / name).parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, site / name)
    refused: list[tuple[str, str]] = []
    found = dict(source_files(site, refused=refused))
    assert sorted(found) == ["_posts/a.md", "images/a.png", "images/inside.png"]
    leaked = {name for name, target in links.items() if name != "images/inside.png"}
    assert sorted(refused) == sorted((name, LINKED_OUTSIDE) for name in leaked)
    # A linked `_posts/` or `_templates/` that leads outside is not entered either.
    other = tmp_path / "other"
    _write(other / "_config.yml")
    os.symlink(elsewhere, other / "_posts")
    refused.clear()
    assert [key for key, _ in source_files(other, refused=refused)] == ["_config.yml"]
    assert refused == [("_posts/", LINKED_OUTSIDE)]
    # Without a list to report into, each is a warning naming its key.
    with caplog.at_level(logging.WARNING, logger="newsdrop.local.sources"):
        assert dict(source_files(site)) == found
    assert sorted(r.args[0] for r in caplog.records if r.args) == sorted(leaked)  # type: ignore[index]


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


def test_a_build_reports_a_link_leading_outside_and_publishes_nothing_of_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from newsdrop.cli.main import main

    secret = tmp_path / "secret.txt"
    secret.write_text("SECRET", encoding="utf-8")
    site, out = tmp_path / "site", tmp_path / "out"
    _write(site / "_posts/2024-05-23-a.md", "---\ntitle: A\n---\nhello\n")
    (site / "images").mkdir()
    os.symlink(secret, site / "images/notes.txt")
    assert main(["build", str(site), "--out", str(out), "--jobs", "1"]) == 0
    assert main(["build", str(site), "--out", str(out), "--jobs", "1", "--strict"]) == 1  # a rejection, as a post's
    assert f"rejected images/notes.txt: {LINKED_OUTSIDE}" in capsys.readouterr().err
    assert (out / "index.html").is_file()
    assert not any(b"SECRET" in path.read_bytes() for path in out.rglob("*") if path.is_file())


def _write_named(folder: Path, name: bytes, text: str = "x") -> None:
    """A file whose name is these bytes (not UTF-8 when they are not)."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(os.path.join(os.fsencode(folder), name), "wb") as out:
        out.write(text.encode())


def test_names_that_are_not_utf8_are_reported_and_not_read(tmp_path: Path) -> None:
    site = tmp_path / "site"
    _write(site / "_posts/2024-06-13-ok.md")
    _write_named(site / "_posts", b"2024-06-13-\xff.md")
    _write_named(site / "_templates", b"post\xfe.html")
    _write_named(site / "images", b"chart\xff.png")
    refused: list[tuple[str, str]] = []
    keys = [key for key, _ in source_files(site, refused=refused)]
    assert keys == ["_posts/2024-06-13-ok.md"]
    assert sorted(os.fsencode(key) for key, _ in refused) == [
        b"_posts/2024-06-13-\xff.md",
        b"_templates/post\xfe.html",
        b"images/chart\xff.png",
    ]
    assert {reason for _, reason in refused} == {NOT_TEXT}


def test_a_build_reports_a_post_whose_name_is_not_utf8_and_builds_the_others(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from newsdrop.cli.main import main

    site, out = tmp_path / "site", tmp_path / "out"
    _write(site / "_posts/2024-06-13-ok.md", "---\ntitle: Fine\n---\nhello\n")
    _write_named(site / "_posts", b"2024-06-13-\xff.md", "---\ntitle: Odd name\n---\nhello\n")
    assert main(["build", str(site), "--out", str(out), "--jobs", "1"]) == 0
    err = capsys.readouterr().err
    assert f": {NOT_TEXT}" in err and "rejected _posts/2024-06-13-" in err
    assert "built 1 posts" in err
    assert any(b"Fine" in path.read_bytes() for path in out.rglob("*.html"))
