"""Source trees and output folders built to make `build`, `publish`, `import` and `dev` read or write
what they must not: links to hidden files and left-out folders, entries that cannot be read, links
in the output folder, and output folders among the sources."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from newsdrop.adapters.folder import OutputFolder
from newsdrop.cli.main import main
from newsdrop.local.jekyll import JekyllSite
from newsdrop.local.siteserver import key_for_path
from newsdrop.local.sources import LINKED_LEFT_OUT, read_within, source_files
from newsdrop.paths import PathError

POST = "---\ntitle: A\n---\nhello\n"
TOKEN = "AUTHORIZATION: basic c2VjcmV0"


def write(path: Path, text: str = "x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def listed(root: Path) -> tuple[list[str], list[tuple[str, str]]]:
    refused: list[tuple[str, str]] = []
    return [key for key, _ in source_files(root, refused=refused)], refused


def test_a_link_to_a_hidden_file_or_a_left_out_folder_is_not_read(tmp_path: Path) -> None:
    site = tmp_path / "site"
    write(site / "_posts/2024-05-23-a.md", POST)
    write(site / ".git/config", f"[http]\n\textraheader = {TOKEN}\n")
    write(site / "_drafts/2024-05-24-draft.md", POST)
    write(site / "images/a.png")
    links = {
        "images/notes.txt": "../.git/config",
        "_posts/2024-05-24-draft.md": "../_drafts/2024-05-24-draft.md",
        "_templates/post.html": "../.git/config",
        "docs/old.txt": "../_posts/2024-05-23-a.md",  # a post's source, served as it is
        "_posts/linked.png": "../images/a.png",  # a file the walk lists anyway: read
        "_posts/2024-05-25-alias.md": "2024-05-23-a.md",
    }
    for name, target in links.items():
        (site / name).parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, site / name)
    keys, refused = listed(site)
    left_out = {"images/notes.txt", "_posts/2024-05-24-draft.md", "_templates/post.html", "docs/old.txt"}
    assert sorted(refused) == sorted((key, LINKED_LEFT_OUT) for key in left_out)
    assert set(keys) == {"_posts/2024-05-23-a.md", "_posts/linked.png", "_posts/2024-05-25-alias.md", "images/a.png"}


def test_a_build_publishes_no_token_through_a_link(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    site, out = tmp_path / "site", tmp_path / "out"
    write(site / "_posts/2024-05-23-a.md", POST)
    write(site / ".git/config", TOKEN)
    (site / "images").mkdir()
    os.symlink("../.git/config", site / "images/notes.txt")
    assert main(["build", str(site), "--out", str(out), "--jobs", "1"]) == 0
    assert f"rejected images/notes.txt: {LINKED_LEFT_OUT}" in capsys.readouterr().err
    assert (out / "index.html").is_file()
    assert not any(TOKEN.encode() in path.read_bytes() for path in out.rglob("*") if path.is_file())


def test_what_cannot_be_read_is_reported_not_raised(tmp_path: Path) -> None:
    site = tmp_path / "site"
    write(site / "_posts/2024-05-23-a.md", POST)
    write(site / "images/file")
    os.symlink("loop.png", site / "images/loop.png")  # a link to itself
    os.symlink("file/x.png", site / "images/through.png")  # a link through a file
    os.symlink("n" * 300 + ".png", site / "images/long.png")  # a target name too long
    deep = site / "deep"
    deep.mkdir()
    for _ in range(1_100):  # deeper than Python's recursion limit
        deep = deep / "d"
        deep.mkdir()  # one by one: `makedirs` recurses
    write(deep / "bottom.png")
    try:
        keys, refused = listed(site)
    finally:  # removed bottom up: pytest's own clean-up recurses, as `makedirs` does
        (deep / "bottom.png").unlink()
        while deep != site:
            deep.rmdir()
            deep = deep.parent
    assert {key for key, _ in refused} == {"images/loop.png", "images/through.png", "images/long.png"}
    assert all(reason.startswith("cannot be read: ") for _, reason in refused)
    assert "_posts/2024-05-23-a.md" in keys
    assert any(key.endswith("/d/bottom.png") for key in keys)


def test_a_file_gone_since_it_was_listed_is_reported(tmp_path: Path) -> None:
    kept = write(tmp_path / "kept.md", POST)
    refused: list[tuple[str, str]] = []
    read = list(read_within([("_posts/gone.md", tmp_path / "gone.md"), ("_posts/kept.md", kept)], 1000, refused))
    assert read == [("_posts/kept.md", POST.encode())]
    assert refused == [("_posts/gone.md", "file cannot be read: No such file or directory")]


def test_a_removal_never_deletes_through_a_link_in_the_output(tmp_path: Path) -> None:
    out, victim = tmp_path / "out", tmp_path / "victim"
    write(victim / "0.json", "precious")
    (out / "search").mkdir(parents=True)
    (out / "search/run").symlink_to(victim, target_is_directory=True)
    OutputFolder(out).remove("search/run/0.json")
    assert (victim / "0.json").read_text(encoding="utf-8") == "precious"
    write(out / "a/b.html")
    OutputFolder(out).remove("a/b.html")  # a real file in real folders still goes, and its empty folder
    assert not (out / "a").exists()


def test_an_output_folder_linked_from_the_sources_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    site, victim = tmp_path / "site", tmp_path / "victim"
    write(site / "_posts/2024-05-23-a.md", POST)
    write(victim / "index.html", "precious")
    (site / "_site").symlink_to(victim, target_is_directory=True)
    assert main(["build", str(site), "--out", str(site / "_site"), "--jobs", "1"]) == 2
    assert "is a link inside the source folder" in capsys.readouterr().err
    assert (victim / "index.html").read_text(encoding="utf-8") == "precious"
    assert main(["build", str(site), "--out", str(victim), "--jobs", "1"]) == 0  # named as itself, it is meant


@pytest.mark.parametrize("inside", ["_posts", "_templates", "_posts/built"])
def test_an_output_folder_among_the_posts_or_templates_is_refused(
    tmp_path: Path, inside: str, capsys: pytest.CaptureFixture[str]
) -> None:
    site = tmp_path / "site"
    post = write(site / "_posts/2024-05-23-a.md", POST)
    image = write(site / "images/a.png")
    assert main(["build", str(site), "--out", str(site / inside), "--clean", "--jobs", "1"]) == 2
    assert "is among the posts or templates" in capsys.readouterr().err
    assert post.is_file() and image.is_file()
    assert main(["build", str(site), "--out", str(site / "_site"), "--clean", "--jobs", "1"]) == 0


def test_import_reads_no_settings_it_left_out(tmp_path: Path) -> None:
    secret = write(tmp_path / "secret.yml", "theme: the-secret-theme\nplugins: [secret-plugin]\n")
    linked, piped = tmp_path / "linked", tmp_path / "piped"
    for site in (linked, piped):
        write(site / "_posts/2024-05-23-a.md", POST)
    os.symlink(secret, linked / "_config.yml")
    os.mkfifo(piped / "_config.yml")  # reading it would wait for a writer for ever
    for site in (linked, piped):
        notes: list[str] = []
        reader = threading.Thread(
            target=lambda s=site, found=notes: found.extend(JekyllSite.read(s).notes()), daemon=True
        )
        reader.start()
        reader.join(timeout=20)
        assert not reader.is_alive(), site
        assert not any("secret" in note for note in notes), notes


def test_a_request_that_is_no_url_names_no_object() -> None:
    with pytest.raises(PathError):
        key_for_path("http://[x/feed.xml")
