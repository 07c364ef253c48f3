"""`newsdrop import` says what of a Jekyll site it leaves behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from newsdrop.local.jekyll import JekyllSite


def test_pages_plugins_and_theme_left_behind_are_named(tmp_path: Path) -> None:
    (tmp_path / "_posts").mkdir()
    (tmp_path / "_posts/2024-05-20-a.md").write_text("---\ntitle: A\n---\nBody.\n")
    (tmp_path / "_config.yml").write_text("theme: minima\nplugins:\n  - jekyll-feed\n  - jekyll-seo-tag\n")
    (tmp_path / "about.md").write_text("---\npermalink: /about/\n---\nAbout us.\n")
    (tmp_path / "404.html").write_text("---\n---\nNot here.\n")
    (tmp_path / "notes.md").write_text("No front matter: Jekyll copies it as it is.\n")
    notes = JekyllSite.read(tmp_path).notes()
    assert [n for n in notes if n.startswith("pages not imported: ")] == [
        "pages not imported: 404.html, about.md (newsdrop makes its own home and 404 pages)"
    ]
    assert any(n.startswith("plugins not run: jekyll-feed, jekyll-seo-tag") for n in notes), notes
    assert any(n.startswith("theme minima not used") for n in notes), notes
    # Jekyll would copy notes.md as it is (no front matter); the site serves no such type.
    assert "files not imported: notes.md (newsdrop serves images, PDFs and text files as they are)" in notes


def test_files_jekyll_would_copy_of_types_the_site_does_not_serve_are_named_and_its_own_are_not(
    tmp_path: Path,
) -> None:
    (tmp_path / "_posts").mkdir()
    (tmp_path / "_posts/2024-05-20-a.md").write_text("---\ntitle: A\n---\nBody.\n")
    for name in ("docs/guide.docx", "style.css", "images/a.png", "report.pdf"):  # the last two are imported
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    # What Jekyll never reads or excludes by default: not named.
    for name in (
        "_layouts/x.svg",
        ".git/config",
        "node_modules/a/b.js",
        "Gemfile",
        "#scratch.js",
        "~tmp.svg",
        "a/.hidden.svg",
    ):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    for n in range(12):
        (tmp_path / f"extra/{n:02d}.svg").parent.mkdir(exist_ok=True)
        (tmp_path / f"extra/{n:02d}.svg").write_bytes(b"x")
    notes = [n for n in JekyllSite.read(tmp_path).notes() if n.startswith("files not imported: ")]
    assert notes == [
        "files not imported: docs/guide.docx, extra/00.svg, extra/01.svg, extra/02.svg, extra/03.svg, extra/04.svg,"
        " extra/05.svg, extra/06.svg, extra/07.svg, extra/08.svg and 4 more"
        " (newsdrop serves images, PDFs and text files as they are)"
    ]


def test_a_plugin_named_alone_is_one_note_and_a_plain_site_has_none(tmp_path: Path) -> None:
    (tmp_path / "_posts").mkdir()
    (tmp_path / "_posts/2024-05-20-a.md").write_text("---\ntitle: A\n---\nBody.\n")
    (tmp_path / "_config.yml").write_text("plugins: jekyll-feed\n")
    assert JekyllSite.read(tmp_path).notes() == [
        "plugins not run: jekyll-feed (the feed and sitemaps are newsdrop's own)"
    ]
    (tmp_path / "_config.yml").write_text("title: T\n")
    assert JekyllSite.read(tmp_path).notes() == []


def test_a_name_in_the_notes_cannot_rewrite_the_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from newsdrop.cli import main as cli

    (tmp_path / "_posts").mkdir()
    (tmp_path / "_posts/2024-05-20-a.md").write_text("---\ntitle: A\n---\nBody.\n")
    (tmp_path / "z\r\x1b[2K.docx").write_bytes(b"x")  # printed raw, it would erase its own line
    monkeypatch.setattr("newsdrop.local.dev.upload", lambda files, bucket, endpoint, refused: iter(files))  # no stack
    monkeypatch.setattr("newsdrop.local.dev.use_local_credentials", lambda: None)
    assert cli.main(["import", str(tmp_path), "--endpoint", "http://127.0.0.1:9"]) == 0
    notes = [line for line in capsys.readouterr().err.splitlines() if "files not imported" in line]
    assert len(notes) == 1 and "\x1b" not in notes[0] and "\r" not in notes[0]
    assert "z\\x0d\\x1b[2K.docx" in notes[0]
