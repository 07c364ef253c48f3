"""The benchmark's inputs: synthesized corpora, new posts to publish, and the Hugo and Jekyll sites.

Corpora are synthesized from the shared finews posts with the shared tool (deterministic
for a seed) into bench/work/, which git ignores; a corpus is reused while its marker matches.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

from bench import paths

SEED = 7
FRONT = re.compile(r"\A---\s*\n(.*?)\n---\s*\n", re.S)
# Jekyll settings that need a remote theme or plugins; the bench's sites use local layouts only.
DROPPED_SETTINGS = ("theme", "remote_theme", "plugins", "gems", "google_analytics")
EMPTY_TITLE = re.compile(r'(?m)^title:\s*(""|\'\')?\s*$')
NEW_POSTS_DAY = dt.datetime(2022, 7, 1, 9, 0)  # after every synthesized post (they end on 2022-06-30)
MINUTES_A_DAY = 24 * 60


class NewPostTimes:
    """Minutes after NEW_POSTS_DAY: one per new post, each later than the last."""

    def __init__(self) -> None:
        self.next = 0

    def take(self) -> dt.datetime:
        self.next += 1
        return NEW_POSTS_DAY + dt.timedelta(minutes=self.next - 1)

    def new_day(self) -> None:
        self.next = -(-self.next // MINUTES_A_DAY) * MINUTES_A_DAY


_times = NewPostTimes()


def new_day() -> None:
    """Date the next new posts from 09:00 on a day no new post has yet (the same day if none has).

    A publish rewrites its day's page and sitemap, which list every post of the day: when one
    process publishes into sites of several sizes, each size starts a day of its own, so that
    every size publishes into a day holding the same posts, and only the site's size differs."""
    _times.new_day()


@dataclass(frozen=True)
class Corpus:
    size: int
    root: Path  # laid out like the source bucket: _config.yml and _posts/

    @property
    def posts(self) -> Path:
        return self.root / "_posts"

    def files(self) -> Iterator[tuple[str, Path]]:
        """(bucket key, path): _config.yml first, then the posts sorted by name, i.e. by date."""
        yield "_config.yml", self.root / "_config.yml"
        for path in sorted(self.posts.iterdir()):
            yield f"_posts/{path.name}", path


def _marker(size: int) -> str:
    tool = hashlib.sha256(paths.SYNTH.read_bytes()).hexdigest()[:16]
    return f"synth_corpus {tool} seed={SEED} n={size}\n"


def synthesize(size: int) -> Corpus:
    """`synth_corpus.py` N posts (reused when already there), with the corpus _config.yml next to them."""
    corpus = Corpus(size, paths.WORK / "corpus" / f"{size}")
    marker = corpus.root / ".synthesized"
    if marker.is_file() and marker.read_text() == _marker(size):
        return corpus
    shutil.rmtree(corpus.root, ignore_errors=True)
    corpus.posts.mkdir(parents=True)
    subprocess.run(
        [
            str(paths.PYTHON),
            str(paths.SYNTH),
            str(paths.CORPUS_POSTS),
            str(corpus.posts),
            str(size),
            "--seed",
            str(SEED),
        ],
        check=True,
        capture_output=True,
    )
    shutil.copyfile(paths.CORPUS_CONFIG, corpus.root / "_config.yml")
    marker.write_text(_marker(size))
    return corpus


def _real_posts() -> list[tuple[str, str]]:
    """(front matter, body) of each shared post that has a title and a date."""
    found = []
    for path in sorted(paths.CORPUS_POSTS.glob("*.md")):
        text = path.read_text(encoding="utf-8")
        match = FRONT.match(text)
        if match and "title:" in match.group(1) and "date:" in match.group(1):
            found.append((match.group(1), text[match.end() :]))
    return found


def new_posts(count: int, tag: str) -> list[tuple[str, bytes]]:
    """`count` new posts, real text each, each dated after every post published before it in this
    process (as a news feed publishes), so every one changes the same set of pages."""
    sources = [(head, body) for head, body in _real_posts() if not EMPTY_TITLE.search(head)]
    made = []
    for i in range(count):
        head, body = sources[i % len(sources)]
        when = _times.take()
        head = re.sub(r"(?m)^date:.*$", f"date: {when:%Y-%m-%d %H:%M:%S} +0800", head)
        head = _retitle(head, f" (bench {tag} {i})")
        key = f"_posts/{when:%Y-%m-%d}-bench-{tag}-{i:04d}.md"
        made.append((key, f"---\n{head}\n---\n{body}".encode()))
    return made


def _retitle(head: str, suffix: str) -> str:
    def title(match: re.Match[str]) -> str:
        return 'title: "' + match.group(1).replace('"', "'") + suffix + '"'

    return re.sub(r'(?m)^title:\s*"?(.*?)"?\s*$', title, head, count=1)


# ------------------------------------------------------------------------------ Hugo


def hugo_site(corpus: Corpus) -> Path:
    """A Hugo site whose content is the corpus' _posts (mounted, not copied) with bench/themes/hugo's layouts."""
    site = paths.WORK / "sites" / f"hugo-{corpus.size}"
    site.mkdir(parents=True, exist_ok=True)
    config = yaml.safe_load(corpus.root.joinpath("_config.yml").read_text(encoding="utf-8")) or {}
    template = (paths.THEMES / "hugo" / "hugo.toml.in").read_text(encoding="utf-8")
    (site / "hugo.toml").write_text(
        template.format(
            base_url=_toml(str(config.get("url", "http://localhost/")).rstrip("/") + "/"),
            title=_toml(str(config.get("title", "newsdrop"))),
            language=_toml(str(config.get("lang", "zh-CN"))),
            timezone=_toml(str(config.get("timezone", "UTC"))),
            posts=_toml(str(corpus.posts.resolve())),
            layouts=_toml(str((paths.THEMES / "hugo" / "layouts").resolve())),
        ),
        encoding="utf-8",
    )
    return site


def _toml(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


# ------------------------------------------------------------------------------ Jekyll


def jekyll_site(corpus: Corpus) -> Path:
    """A Jekyll site: the corpus _config.yml minus remote theme and plugins, bench/themes/jekyll's
    layouts and pages, a listing page per category and tag, and the posts (hard links)."""
    site = paths.WORK / "sites" / f"jekyll-{corpus.size}"
    shutil.rmtree(site, ignore_errors=True)
    shutil.copytree(paths.THEMES / "jekyll", site)
    config = yaml.safe_load(corpus.root.joinpath("_config.yml").read_text(encoding="utf-8")) or {}
    for name in DROPPED_SETTINGS:
        config.pop(name, None)
    (site / "_config.yml").write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False), encoding="utf-8")
    categories, tags = _labels()
    for name in categories:
        _listing(
            site / "categories" / f"{_file_name(name)}.html", f"分类：{name}", "category", name, f"/{name.lower()}/"
        )
    for name in tags:
        _listing(site / "tags" / f"{_file_name(name)}.html", f"标签：{name}", "tag", name, f"/tags/{name}/")
    posts = site / "_posts"
    posts.mkdir()
    for path in corpus.posts.iterdir():
        os.link(path, posts / path.name)  # `safe: true` ignores symlinks; hard links are plain files
    return site


def _labels() -> tuple[list[str], list[str]]:
    """The categories and tags of the shared posts (the synthesized ones copy their front matter)."""
    categories: set[str] = set()
    tags: set[str] = set()
    for head, _ in _real_posts():
        data = yaml.safe_load(head) or {}
        categories.update(_names(data.get("categories")))
        tags.update(_names(data.get("tags")))
    return sorted(categories), sorted(tags)


def _names(value: object) -> list[str]:
    if isinstance(value, str):
        return value.split()
    if isinstance(value, list):
        return [str(v) for v in value]
    return []


def _file_name(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()[:12]


def _listing(path: Path, title: str, kind: str, name: str, permalink: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    front = {"layout": "listing", "title": title, kind: name, "permalink": permalink}
    path.write_text(f"---\n{yaml.safe_dump(front, allow_unicode=True)}---\n", encoding="utf-8")
