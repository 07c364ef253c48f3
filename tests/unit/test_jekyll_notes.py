"""`newsdrop import` says what of a Jekyll site it leaves behind."""

from __future__ import annotations

from pathlib import Path

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


def test_a_plugin_named_alone_is_one_note_and_a_plain_site_has_none(tmp_path: Path) -> None:
    (tmp_path / "_posts").mkdir()
    (tmp_path / "_posts/2024-05-20-a.md").write_text("---\ntitle: A\n---\nBody.\n")
    (tmp_path / "_config.yml").write_text("plugins: jekyll-feed\n")
    assert JekyllSite.read(tmp_path).notes() == [
        "plugins not run: jekyll-feed (the feed and sitemaps are newsdrop's own)"
    ]
    (tmp_path / "_config.yml").write_text("title: T\n")
    assert JekyllSite.read(tmp_path).notes() == []
