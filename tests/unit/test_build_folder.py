"""`newsdrop build` writes the site bucket's objects as files: where two keys cannot both be files."""

from __future__ import annotations

from pathlib import Path

import pytest

from newsdrop.cli.main import main


def post(permalink: str, title: str) -> str:
    return f"---\ntitle: {title}\ndate: 2024-05-20 10:00\npermalink: {permalink}\n---\nBody.\n"


def test_a_page_and_a_folder_of_one_name_are_reported_and_the_rest_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # On S3 `a/v1.2` and `a/v1.2/c.html` are two keys; in a folder one of them cannot be written. (A
    # folder named like a page, `a/b.html/c.html`, is refused when the post is read.)
    src = tmp_path / "site" / "_posts"
    src.mkdir(parents=True)
    (src / "2024-05-20-page.md").write_text(post("/a/v1.2", "Page"), encoding="utf-8")
    (src / "2024-05-20-inner.md").write_text(post("/a/v1.2/c", "Inner"), encoding="utf-8")
    (src / "2024-05-20-other.md").write_text(post("/x/other/", "Other"), encoding="utf-8")
    out = tmp_path / "out"
    assert main(["build", str(tmp_path / "site"), "--out", str(out), "--jobs", "1"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    unwritten = [line for line in err.splitlines() if line.startswith("not written ")]
    assert len(unwritten) == 1 and "a file and a folder of the same name" in unwritten[0]
    assert unwritten[0].split()[2].rstrip(":") in ("a/v1.2", "a/v1.2/c.html")
    for written in ("x/other/index.html", "index.html", "feed.xml", "404.html", "robots.txt", "sitemap.xml"):
        assert (out / written).is_file(), written


def test_a_folder_emptied_by_deletes_leaves_room_for_a_file_of_its_name(tmp_path: Path) -> None:
    from newsdrop.adapters.memory import MemoryStore

    store = MemoryStore(mirror=tmp_path)
    store.put("a/b.html/c.html", b"inner", content_type="text/html")
    store.delete("a/b.html/c.html")
    store.put("a/b.html", b"page", content_type="text/html")
    assert store.unwritable == {}
    assert (tmp_path / "a" / "b.html").read_bytes() == b"page"
