"""Posts read ahead in worker processes, for `newsdrop build`.

Reading a post (front matter, Markdown, sanitising) is most of a build's time, and it is a pure
function of the file, the site settings and the size limit, so the build reads every post on
all the machine's cores first; the parse stage, run as always, then takes each post from here
(`Ports.read_post`). An answer is used only for the same bytes under the same settings, and is
handed out once: a post read again (a retry, a refresh) is read by `posts.read_post` itself.
"""

from __future__ import annotations

import concurrent.futures
import logging
import multiprocessing
from collections.abc import Sequence
from dataclasses import dataclass, field

from newsdrop import posts
from newsdrop.model import Post, SiteConfig

log = logging.getLogger(__name__)

CHUNK = 100  # posts a worker reads per task: large enough that sending them costs little


Answer = tuple[str, Post | str]  # key, and the post or why it was rejected


def _read(files: Sequence[tuple[str, bytes]], config: SiteConfig, max_bytes: int) -> list[Answer]:
    answers: list[Answer] = []
    for key, body in files:
        try:
            answers.append((key, posts.read_post(key, body, config, max_bytes=max_bytes)))
        except posts.Rejected as exc:
            answers.append((key, exc.reason))
        except Exception:  # noqa: S112  # nosec B112 - the parse stage reads it again, and reports whatever it is
            continue
    return answers


@dataclass
class ReadAhead:
    config: SiteConfig
    max_bytes: int
    answers: dict[str, tuple[bytes, Post | str]] = field(default_factory=dict)  # key -> (the body read, answer)

    @classmethod
    def read(cls, files: Sequence[tuple[str, bytes]], config: SiteConfig, max_bytes: int, jobs: int) -> ReadAhead:
        """Read `files` (key, body) under `config` in `jobs` worker processes."""
        ahead = cls(config, max_bytes)
        bodies = dict(files)
        chunks = [files[i : i + CHUNK] for i in range(0, len(files), CHUNK)]
        # Not fork: the caller may have threads (a lock held in one stays held in the child forever).
        method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
        context = multiprocessing.get_context(method)
        if method == "forkserver":  # imported once in the server, not once per worker
            context.set_forkserver_preload([__name__])
        try:
            with concurrent.futures.ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
                futures = [pool.submit(_read, chunk, config, max_bytes) for chunk in chunks]
                for future in futures:
                    ahead.answers.update((key, (bodies[key], answer)) for key, answer in future.result())
        except concurrent.futures.process.BrokenProcessPool as exc:
            # A worker died (out of memory, or a caller's script started without a main guard):
            # whatever was not read ahead is read by the parse stage itself.
            log.warning("reading posts ahead stopped: %s", exc)
        return ahead

    def __call__(self, key: str, body: bytes, config: SiteConfig, *, max_bytes: int) -> Post:
        found = self.answers.pop(key, None)
        if found is None or config != self.config or max_bytes != self.max_bytes or found[0] != body:
            return posts.read_post(key, body, config, max_bytes=max_bytes)
        answer = found[1]
        if isinstance(answer, str):
            raise posts.Rejected(answer)
        return answer
