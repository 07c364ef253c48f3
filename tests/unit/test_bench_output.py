"""Where the bulk bench's builds write (bench.bulk): a memory file system when there is one, named by the mounts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bench import bulk

MOUNTS = """\
/dev/vda / ext4 rw,relatime,discard 0 0
tmpfs /dev/shm tmpfs rw,nosuid,nodev 0 0
/dev/vdb /srv/bench\\040out xfs rw 0 0
proc /proc proc rw 0 0
"""


@pytest.fixture(autouse=True)
def _choose_again() -> Iterator[None]:
    """The output folder is chosen once a run; each test chooses it under its own environment."""
    bulk.output_root.cache_clear()
    yield
    bulk.output_root.cache_clear()


@pytest.mark.parametrize(
    ("folder", "kind"),
    [
        ("/dev/shm/newsdrop-bench-0", "tmpfs"),  # the longest mount point above it wins
        ("/dev/shm", "tmpfs"),
        ("/dev/shmem/out", "ext4"),  # a mount point is a whole path component, not a prefix of one
        ("/srv/bench out/hugo-1000", "xfs"),  # a space in a mount point is written \040
        ("/srv/bench/hugo-1000", "ext4"),
    ],
)
def test_the_file_system_is_that_of_the_longest_mount_point_above_the_folder(folder: str, kind: str) -> None:
    assert bulk.filesystem(Path(folder), MOUNTS) == kind


def test_no_mount_point_above_the_folder_gives_no_type() -> None:
    assert bulk.filesystem(Path("/dev/shm/x"), "tmpfs /run tmpfs rw 0 0\n") == ""


def test_a_folder_named_in_the_environment_is_used_as_it_is(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSDROP_BENCH_OUT", str(tmp_path / "out"))
    assert bulk.output_root() == tmp_path / "out"
    assert bulk._out("hugo", 1000) == tmp_path / "out" / "hugo-1000"
    monkeypatch.setenv("NEWSDROP_BENCH_OUT", str(tmp_path / "elsewhere"))
    assert bulk._out("jekyll", 1000) == tmp_path / "out" / "jekyll-1000"  # chosen once a run


@pytest.mark.parametrize(("kind", "removed"), [("tmpfs", True), ("ext4", False)])
def test_outputs_are_removed_only_from_memory(
    kind: str, removed: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSDROP_BENCH_OUT", str(tmp_path / "out"))
    monkeypatch.setattr(bulk, "filesystem", lambda folder, mounts=None: kind)
    built = tmp_path / "out" / "newsdrop-1000"
    built.mkdir(parents=True)
    (built / "index.html").write_text("<p>site</p>")
    assert bulk._files("newsdrop", 1000, keep_output=True) == 1
    bulk.clean_up()
    assert (tmp_path / "out").exists() is not removed
