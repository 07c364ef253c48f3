"""`newsdrop build` writes the site bucket's objects as files: where two keys cannot both be files."""

from __future__ import annotations

import contextlib
import functools
import io
import tracemalloc
from pathlib import Path

import pytest

from newsdrop.cli.main import main
from newsdrop.ports import DEFAULT_MAX_POST_BYTES, TooLarge
from tests.support.processes import in_a_new_process


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
    # The page's post is named, which the author can move.
    assert unwritten[0].split(":")[0] in (
        "not written a/v1.2 (the page of _posts/2024-05-20-page.md)",
        "not written a/v1.2/c.html (the page of _posts/2024-05-20-inner.md)",
    )
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


def a_site(root: Path) -> Path:
    posts = root / "_posts"
    posts.mkdir(parents=True)
    (posts / "2024-05-20-a.md").write_text(post("/keys.html", "A"), encoding="utf-8")
    (root / "img").mkdir()
    (root / "img" / "notes.txt").write_text("notes", encoding="utf-8")
    return root


def test_links_in_the_output_folder_are_never_written_through(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A tree taken from someone else, its output folder (`_site`, inside it) holding links to
    # elsewhere on the machine: a post's page and a copied file must not land there.
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "authorized_keys").write_text("mine\n", encoding="utf-8")
    site = a_site(tmp_path / "site")
    out = site / "_site"
    out.mkdir()
    (out / "keys.html").symlink_to(victim / "authorized_keys")
    (out / "img").symlink_to(victim, target_is_directory=True)
    (out / "sitemaps").symlink_to(victim, target_is_directory=True)
    status = main(["build", str(site), "--out", str(out), "--jobs", "1"])
    err = capsys.readouterr().err
    assert sorted(p.name for p in victim.iterdir()) == ["authorized_keys"]
    assert (victim / "authorized_keys").read_text(encoding="utf-8") == "mine\n"
    # The link in a page's own place is replaced by the page; the linked folders are reported.
    assert not (out / "keys.html").is_symlink() and b"<html" in (out / "keys.html").read_bytes()
    unwritten = {line.split()[2].rstrip(":") for line in err.splitlines() if line.startswith("not written ")}
    assert "img/notes.txt" in unwritten and any(key.startswith("sitemaps/") for key in unwritten), err
    assert status == 1 and "Traceback" not in err


@pytest.mark.parametrize("where", ["same", "above"])
def test_an_output_folder_that_is_or_holds_the_sources_is_refused_and_nothing_is_deleted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str
) -> None:
    site = a_site(tmp_path / "site")
    out = site if where == "same" else tmp_path
    assert main(["build", str(site), "--out", str(out), "--clean"]) == 2
    assert "is or holds the source folder" in capsys.readouterr().err
    assert (site / "_posts" / "2024-05-20-a.md").is_file()


def test_clean_empties_the_output_folder_and_without_it_earlier_files_stay(tmp_path: Path) -> None:
    site = a_site(tmp_path / "site")
    out = site / "_site"
    assert main(["build", str(site), "--out", str(out), "--jobs", "1"]) == 0
    (out / "old").mkdir()
    (out / "old" / "page.html").write_text("old", encoding="utf-8")
    assert main(["build", str(site), "--out", str(out), "--jobs", "1"]) == 0
    assert (out / "old" / "page.html").is_file() and (out / "keys.html").is_file()
    assert main(["build", str(site), "--out", str(out), "--jobs", "1", "--clean"]) == 0
    assert not (out / "old").exists() and (out / "keys.html").is_file()
    # Emptied and filled again: still a folder the next --clean may empty.
    assert main(["build", str(site), "--out", str(out), "--jobs", "1", "--clean"]) == 0


@pytest.mark.parametrize("where", ["elsewhere", "images"])
def test_clean_refuses_a_folder_holding_files_no_build_made_and_deletes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str
) -> None:
    # `--out ~/Documents --clean`, or `--out SRC/images --clean`: a mistyped folder is not emptied.
    site = a_site(tmp_path / "site")
    out = tmp_path / "Documents" if where == "elsewhere" else site / "images"
    out.mkdir(exist_ok=True)
    (out / "thesis.txt").write_text("years of work", encoding="utf-8")
    assert main(["build", str(site), "--out", str(out), "--jobs", "1", "--clean"]) == 2
    assert "holds files no build made" in capsys.readouterr().err
    assert (out / "thesis.txt").read_text(encoding="utf-8") == "years of work"
    assert sorted(p.name for p in out.iterdir()) == ["thesis.txt"]
    # Built into without --clean, it is still not a folder a build filled from empty.
    assert main(["build", str(site), "--out", str(out), "--jobs", "1"]) == 0
    assert main(["build", str(site), "--out", str(out), "--jobs", "1", "--clean"]) == 2
    assert (out / "thesis.txt").is_file()


def test_clean_refuses_a_linked_output_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    site = a_site(tmp_path / "site")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep.txt").write_text("keep", encoding="utf-8")
    (site / "_site").symlink_to(elsewhere, target_is_directory=True)
    assert main(["build", str(site), "--out", str(site / "_site"), "--clean"]) == 2
    assert "is a link" in capsys.readouterr().err
    assert (elsewhere / "keep.txt").is_file()


def test_control_characters_in_a_rejected_key_are_shown_escaped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A name whose escape sequences would erase the rejection lines around it on a terminal.
    site = tmp_path / "site"
    posts = site / "_posts"
    posts.mkdir(parents=True)
    (posts / "2024-05-01-z\r\x1b[1A\x1b[2K.md").write_text("---\ndate: 2024-05-01\n---\nNo title.\n", encoding="utf-8")
    main(["build", str(site), "--out", str(tmp_path / "out"), "--jobs", "1"])
    rejected = [line for line in capsys.readouterr().err.splitlines() if line.startswith("rejected ")]
    assert len(rejected) == 1
    assert "\x1b" not in rejected[0] and "\r" not in rejected[0]
    assert "2024-05-01-z\\x0d\\x1b[1A\\x1b[2K.md" in rejected[0]


def test_a_folder_emptied_and_linked_elsewhere_is_checked_again(tmp_path: Path) -> None:
    # The folders a build has checked are remembered; one removed with its last file is forgotten,
    # so a link put in its place afterwards is refused like any other.
    from newsdrop.adapters.memory import MemoryStore

    victim = tmp_path / "victim"
    victim.mkdir()
    out = tmp_path / "out"
    store = MemoryStore(mirror=out)
    store.put("a/b/c.html", b"first", content_type="text/html")
    store.put("/a/b/d.html", b"rooted", content_type="text/html")  # a leading slash stays under the folder
    assert (out / "a" / "b" / "d.html").read_bytes() == b"rooted"
    store.delete("a/b/c.html")
    store.delete("/a/b/d.html")
    assert not (out / "a").exists()
    (out / "a").symlink_to(victim, target_is_directory=True)
    store.put("a/b/e.html", b"second", content_type="text/html")
    assert list(victim.iterdir()) == []
    assert "a/b/e.html" in store.unwritable


@pytest.mark.parametrize("odd", ["a/b/", "a/b/.", "a//b/", "/a/b/", "./a/b/"])
def test_a_key_of_odd_parts_never_lets_a_link_be_written_through(tmp_path: Path, odd: str) -> None:
    # A key naming a folder in another spelling is checked as `Path` reads it, and a later key under
    # that folder is checked again, not taken as checked under the other spelling's name.
    from newsdrop.adapters.memory import MemoryStore

    victim = tmp_path / "victim"
    victim.mkdir()
    out = tmp_path / "out"
    (out / "a").mkdir(parents=True)
    (out / "a" / "b").symlink_to(victim, target_is_directory=True)
    store = MemoryStore(mirror=out)
    store.put(odd, b"odd", content_type="text/html")
    store.put("a/b/x.html", b"inner", content_type="text/html")
    assert list(victim.iterdir()) == []
    assert "a/b/x.html" in store.unwritable


def test_a_key_that_leads_above_the_folder_is_not_written(tmp_path: Path) -> None:
    from newsdrop.adapters.memory import MemoryStore

    out = tmp_path / "out"
    store = MemoryStore(mirror=out)
    store.put("a/../../escaped.html", b"no", content_type="text/html")
    store.put("a/../b.html", b"no", content_type="text/html")
    assert not (tmp_path / "escaped.html").exists() and not (out / "b.html").exists()
    assert {"a/../../escaped.html", "a/../b.html"} <= store.unwritable.keys()
    store.delete("a/../../escaped.html")  # nothing was written for it: nothing to remove
    assert "a/../b.html" in store.unwritable


def test_a_mirrored_object_is_held_by_its_file_and_read_back_whole(tmp_path: Path) -> None:
    from newsdrop.adapters.memory import MemoryStore

    store = MemoryStore(mirror=tmp_path)
    etag = store.put("a/page.html", b"<p>page</p>", content_type="text/html", metadata={"k": "v"})
    assert store.objects["a/page.html"].body == b"" and store.on_disk == {"a/page.html": 11}  # not in memory twice
    blob = store.get("a/page.html")
    assert blob is not None and blob.body == b"<p>page</p>" and blob.etag == etag and blob.metadata == {"k": "v"}
    head = store.head("a/page.html")
    assert head is not None and head.size == 11 and head.etag == etag
    with pytest.raises(TooLarge):
        store.get("a/page.html", max_bytes=10)
    # Read once, so read again and again (the search manifest): its next version stays in memory.
    store.put("a/page.html", b"<p>again</p>", content_type="text/html")
    assert store.objects["a/page.html"].body == b"<p>again</p>" and "a/page.html" not in store.on_disk
    store.delete("a/page.html")
    assert store.get("a/page.html") is None and store.on_disk == {}


def test_an_object_its_file_could_not_hold_stays_in_memory(tmp_path: Path) -> None:
    from newsdrop.adapters.memory import MemoryStore

    store = MemoryStore(mirror=tmp_path)
    store.put("a/v1.2", b"page", content_type="text/html")
    store.put("a/v1.2/c.html", b"inner", content_type="text/html")  # a file is where its folder would be
    assert "a/v1.2/c.html" in store.unwritable and "a/v1.2/c.html" not in store.on_disk
    blob = store.get("a/v1.2/c.html")
    assert blob is not None and blob.body == b"inner"


def test_a_file_changed_under_the_build_is_an_error_not_a_wrong_answer(tmp_path: Path) -> None:
    from newsdrop.adapters.memory import MemoryStore

    store = MemoryStore(mirror=tmp_path)
    store.put("search/manifest.json", b'{"v": 1}', content_type="application/json")
    (tmp_path / "search" / "manifest.json").write_bytes(b'{"v": 2}')
    with pytest.raises(RuntimeError, match="changed outside the build"):
        store.get("search/manifest.json")


def test_what_the_forked_index_could_not_write_is_reported_with_the_rest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Index writes the search files in a process of its own beside render (`--jobs 2`); a link in
    # the output folder where they go is reported by the build as render's own would be.
    site = tmp_path / "site"
    posts = site / "_posts"
    posts.mkdir(parents=True)
    for n in range(4):
        (posts / f"2024-05-2{n}-p{n}.md").write_text(post(f"/p{n}.html", f"P{n}"), encoding="utf-8")
    victim = tmp_path / "victim"
    victim.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    (out / "search").symlink_to(victim, target_is_directory=True)
    status = main(["build", str(site), "--out", str(out), "--jobs", "2"])
    err = capsys.readouterr().err
    assert list(victim.iterdir()) == []
    unwritten = {line.split()[2].rstrip(":") for line in err.splitlines() if line.startswith("not written ")}
    assert "search/manifest.json" in unwritten and any(key.startswith("search/doc/") for key in unwritten), err
    assert status == 1 and (out / "p0.html").is_file()


def _build_in_this_process(site: Path, out: Path) -> tuple[int, str, int]:
    """`newsdrop build`'s exit code, what it wrote to stderr, and the most memory Python held for it
    at once, in bytes (traced: a spawned process's own peak would count the test process it was
    forked from before it started Python anew)."""
    err = io.StringIO()
    tracemalloc.start()
    try:
        with contextlib.redirect_stderr(err):
            code = main(["build", str(site), "--out", str(out), "--jobs", "1"])
        return code, err.getvalue(), tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_post_past_the_size_limit_is_rejected_without_being_read_whole(tmp_path: Path) -> None:
    # 200 MB of post (a sparse file: no disk, no memory until read) must cost the build no more than
    # the limit's worth of memory: read whole it would be held at least once, and a larger one would
    # end the build with the kernel's out-of-memory kill, every other post unbuilt.
    site = tmp_path / "site"
    posts = site / "_posts"
    posts.mkdir(parents=True)
    (posts / "2024-05-01-fine.md").write_text("---\ntitle: Fine\n---\nBody.\n", encoding="utf-8")
    size = 200 * 1024 * 1024
    with (posts / "2024-05-02-huge.md").open("wb") as file:
        file.truncate(size)
    code, err, peak = in_a_new_process(functools.partial(_build_in_this_process, site, tmp_path / "out"))
    assert code == 0
    assert f"rejected _posts/2024-05-02-huge.md: post is {size} bytes; the limit is {DEFAULT_MAX_POST_BYTES}" in err
    assert (tmp_path / "out" / "2024" / "05" / "01" / "fine.html").is_file()
    assert peak < size // 4
