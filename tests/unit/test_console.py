"""The `newsdrop` command as a process: a build ends without the interpreter's shutdown, and still
reports, flushes and cleans up as a normal exit would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

POST = "---\ntitle: {title}\ndate: 2024-05-20 10:00\n---\n{body}\n"


def run(args: list[str], tmp: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TMPDIR": str(tmp)}  # where multiprocessing makes its socket folder
    return subprocess.run(
        [sys.executable, "-m", "newsdrop.cli.main", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def site(root: Path, *, broken: bool) -> Path:
    posts = root / "_posts"
    posts.mkdir(parents=True)
    for n in range(3):
        (posts / f"2024-05-20-p{n}.md").write_text(POST.format(title=f"快讯 {n}", body="北向资金"), encoding="utf-8")
    if broken:
        (posts / "2024-05-20-broken.md").write_text("no front matter\n", encoding="utf-8")
    return root


def test_a_build_exits_with_its_status_its_output_flushed_and_nothing_left_in_tmp(tmp_path: Path) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    done = run(["build", str(site(tmp_path / "ok", broken=False)), "--out", str(tmp_path / "out"), "--jobs", "2"], tmp)
    assert done.returncode == 0, done.stderr
    assert "built 3 posts" in done.stderr
    assert b"<html" in (tmp_path / "out" / "index.html").read_bytes()
    assert list(tmp.iterdir()) == []  # the read-ahead workers' socket folder was removed

    strict = ["build", str(site(tmp_path / "broken", broken=True)), "--out", str(tmp_path / "out2"), "--strict"]
    failed = run([*strict, "--jobs", "2"], tmp)
    assert failed.returncode == 1
    assert "rejected _posts/2024-05-20-broken.md" in failed.stderr
    assert list(tmp.iterdir()) == []


def test_other_commands_exit_as_usual(tmp_path: Path) -> None:
    done = run(["build", str(tmp_path / "missing"), "--out", str(tmp_path / "out")], tmp_path)
    assert done.returncode == 2 and "is not a folder" in done.stderr
    usage = run(["--help"], tmp_path)
    assert usage.returncode == 0 and "build" in usage.stdout
