"""Reading a Jekyll site for `newsdrop import`: what moves to the source bucket, and what does not.

newsdrop reads `_config.yml` and `_posts/` the way Jekyll does (front matter, the file-name date
and slug, the site-wide `permalink:`, the time zone), so every post keeps its URL. Layouts,
includes, Sass and plugins are Liquid and Ruby, which newsdrop's Jinja theme does not run: they
stay behind, and `notes` says so.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from newsdrop import source_keys
from newsdrop.local.sources import read_within, source_files
from newsdrop.ports import DEFAULT_MAX_POST_BYTES

# Folders of a Jekyll site that hold what newsdrop renders its own way.
LEFT_BEHIND = {
    "_layouts": "Liquid layouts: newsdrop renders with its theme; override its Jinja templates under _templates/",
    "_includes": "Liquid includes: see _layouts",
    "_sass": "Sass: the theme has its own stylesheet",
    "_plugins": "Ruby plugins do not run",
    "_drafts": "drafts: upload them to _posts/ with `published: false` instead",
    "_data": "data files are not read",
}


# What Jekyll's default `exclude:` leaves out of a site, compared as Jekyll compares it (a path that
# starts with one of them): installed packages, which hold files of the types newsdrop copies.
JEKYLL_EXCLUDES = (
    "gemfiles",
    "Gemfile",
    "node_modules",
    "vendor/bundle/",
    "vendor/cache/",
    "vendor/gems/",
    "vendor/ruby/",
)


# Names Jekyll never reads a file or folder by (`_config.yml`, `_posts/` and the like are its own).
JEKYLL_SKIPS = ("_", ".", "#", "~")


@dataclass(frozen=True)
class JekyllSite:
    root: Path
    found: list[tuple[str, Path]]  # every file `source_files` finds
    refused: list[tuple[str, str]]  # (key, reason) of each file `source_files` would not read

    @classmethod
    def read(cls, root: Path) -> JekyllSite:
        if not root.is_dir():
            raise ValueError(f"{root} is not a folder")
        if not (root / source_keys.POSTS_PREFIX.rstrip("/")).is_dir():
            raise ValueError(f"{root} has no _posts/ folder: not a Jekyll site")
        refused: list[tuple[str, str]] = []
        return cls(root, list(source_files(root, refused=refused)), refused)

    def files(self) -> list[tuple[str, Path]]:
        """`_config.yml` first (its time zone and permalink decide every post's URL), then the posts,
        then the images, PDFs and text files Jekyll would copy (`tests/integration/test_jekyll_files.py`)."""
        return [
            (key, path)
            for key, path in self.found
            if source_keys.is_config_key(key)
            or source_keys.is_post_key(key)
            or (source_keys.is_file_key(key) and not key.startswith(JEKYLL_EXCLUDES))
        ]

    @property
    def post_count(self) -> int:
        return sum(1 for key, _ in self.found if source_keys.is_post_key(key))

    def notes(self) -> list[str]:
        found = [f"{key} not imported: {why}" for key, why in self.refused]
        found += [f"{name}/ not imported ({why})" for name, why in LEFT_BEHIND.items() if (self.root / name).is_dir()]
        # Jekyll also reads <category>/_posts/ folders; those posts would need their category written in.
        nested = sorted(p.parent.relative_to(self.root).as_posix() for p in self.root.glob("*/_posts"))
        found += [f"{folder}/ not imported: move its posts to _posts/ with their category" for folder in nested]
        skipped = [
            key
            for key, _ in self.found
            if key.startswith(source_keys.POSTS_PREFIX) and not source_keys.is_post_key(key)
        ]
        if skipped:
            kinds = ", ".join(source_keys.POST_SUFFIXES)
            found.append(f"{len(skipped)} files in _posts/ are not posts ({kinds}) and were skipped")
        # Pages outside _posts/ with front matter (an about page, a home page, 404.md): Jekyll
        # renders them; newsdrop publishes posts and its own home, listing and 404 pages.
        pages = sorted(
            path.relative_to(self.root).as_posix()
            for path in self.root.iterdir()
            if path.is_file() and path.suffix.lower() in PAGE_SUFFIXES and _has_front_matter(path)
        )
        if pages:
            found.append(f"pages not imported: {', '.join(pages)} (newsdrop makes its own home and 404 pages)")
        # Files Jekyll would copy as they are (no front matter) of a type the site does not serve.
        listed = {key for key, _ in self.found}.union(pages)
        others = [key for key in _copied_by_jekyll(self.root) if key not in listed]
        if others:
            shown = ", ".join(others[:SHOWN_MAX]) + (
                f" and {len(others) - SHOWN_MAX} more" if len(others) > SHOWN_MAX else ""
            )
            found.append(f"files not imported: {shown} (newsdrop serves images, PDFs and text files as they are)")
        settings = self.settings()
        plugins, theme = settings.get("plugins"), settings.get("theme")
        if plugins:
            named = ", ".join(map(str, plugins if isinstance(plugins, list) else [plugins]))
            found.append(f"plugins not run: {named} (the feed and sitemaps are newsdrop's own)")
        if theme:
            found.append(f"theme {theme} not used: newsdrop renders with its own (override it under _templates/)")
        return found

    def settings(self) -> dict[str, Any]:
        """The site's _config.yml as the listing found it (never a link it left out, a pipe or a
        device), at most as large as parse reads; empty when absent or unreadable (import uploads it
        as it is, and parse reports what is wrong with it)."""
        listed = [(key, path) for key, path in self.found if source_keys.is_config_key(key)]
        read = next(read_within(listed, DEFAULT_MAX_POST_BYTES, []), None)
        if read is None:
            return {}
        try:
            config = yaml.safe_load(read[1].decode("utf-8"))
        except (ValueError, yaml.YAMLError):
            return {}
        return config if isinstance(config, dict) else {}


PAGE_SUFFIXES = (".md", ".markdown", ".html")
SHOWN_MAX = 10  # names a note lists before it counts the rest


def _copied_by_jekyll(root: Path) -> list[str]:
    """The files outside `_posts/` and the other underscore folders that Jekyll reads, as keys:
    not hidden, not named as Jekyll leaves out (`_`, `.`, `#`, `~` first), not excluded by default."""
    keys = []
    for folder, folders, names in os.walk(root):
        here = Path(folder).relative_to(root).as_posix()
        prefix = "" if here == "." else here + "/"
        folders[:] = sorted(
            f for f in folders if not f.startswith(JEKYLL_SKIPS) and not (prefix + f + "/").startswith(JEKYLL_EXCLUDES)
        )
        keys += [
            prefix + n
            for n in sorted(names)
            if not n.startswith(JEKYLL_SKIPS) and not (prefix + n).startswith(JEKYLL_EXCLUDES)
        ]
    return sorted(keys)


def _has_front_matter(path: Path) -> bool:
    with path.open("rb") as file:
        return file.read(4).rstrip(b"\r\n") == b"---"
