"""Reading a folder laid out like the source bucket."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from newsdrop import source_keys


def source_files(root: Path) -> Iterator[tuple[str, Path]]:
    """(bucket key, path) for `_config.yml` first (it shapes how posts are read), then `_posts/`, sorted."""
    config = root / source_keys.CONFIG_KEY
    if config.is_file():
        yield source_keys.CONFIG_KEY, config
    folder = root / source_keys.POSTS_PREFIX.rstrip("/")
    if folder.is_dir():
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            yield path.relative_to(root).as_posix(), path
