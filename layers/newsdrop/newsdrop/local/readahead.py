"""Posts read ahead in worker processes, for `newsdrop build`.

Reading a post (front matter, Markdown, sanitising) is most of a build's time, and it is a pure
function of the file, the site settings and the size limit, so the build reads posts on all the
machine's cores while the pipeline runs; the parse stage, run as always, takes each post from here
(`Ports.read_post`), waiting for it if its worker is still reading. An answer is used only for the
same bytes under the same settings, and is handed out once: a post read again (a retry, a refresh)
is read by `posts.read_post` itself, as is any post a worker could not read.

The workers also weigh each post's search document (`search.weights`, the tokenising that is most
of the index stage's time), which the index stage takes (`Ports.postings_ahead`) for a document
of the same title, text and labels, once; it weighs any other itself.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import logging
import multiprocessing
import multiprocessing.forkserver
from collections.abc import Sequence
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field

from newsdrop import posts, search
from newsdrop.model import Post, SiteConfig

log = logging.getLogger(__name__)

CHUNK = 100  # posts a worker reads per task: large enough that sending them costs little


# A document's postings as sent back: the fingerprint of what they were worked out from, and
# the postings packed (a few kilobytes a post, which the build keeps until index takes them).
Weighed = tuple[bytes, search.Packed]
Answer = tuple[str, Post | str, Weighed | None]  # key, the post or why it was rejected, its postings


def _fingerprint(title: str, text: str, labels: str) -> bytes:
    return hashlib.blake2b("\0".join((title, text, labels)).encode(), digest_size=16).digest()


def _weigh(post: Post) -> Weighed | None:
    labels = search.labels(post.categories, post.tags)
    packed = search.Packed.of(search.weights(post.title, post.text, labels))
    if packed is None:
        return None  # not as the index stage would read it back: it weighs this one itself
    return _fingerprint(post.title, post.text, labels), packed


def _read(files: Sequence[tuple[str, bytes]], config: SiteConfig, max_bytes: int) -> list[Answer]:
    answers: list[Answer] = []
    for key, body in files:
        try:
            post = posts.read_post(key, body, config, max_bytes=max_bytes)
            answers.append((key, post, _weigh(post)))
        except posts.Rejected as exc:
            answers.append((key, exc.reason, None))
        except Exception:  # noqa: S112  # nosec B112 - the parse stage reads it again, and reports whatever it is
            continue
    return answers


def workers_context() -> multiprocessing.context.BaseContext:
    """How workers start. Not fork: the caller may have threads (a lock held in one stays held in the
    child forever). A fork server imports this module once, and forks each worker from itself."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    return context


def start_early() -> None:
    """Start the fork server now, without waiting for it: its imports (a tenth of a second) then run
    on another core while the caller goes on with its own, instead of holding up the first worker."""
    if workers_context().get_start_method() == "forkserver":
        multiprocessing.forkserver.ensure_running()


@dataclass
class ReadAhead:
    config: SiteConfig
    max_bytes: int
    bodies: dict[str, bytes] = field(default_factory=dict)
    answers: dict[str, tuple[bytes, Post | str]] = field(default_factory=dict)  # key -> (the body read, answer)
    weighed: dict[str, Weighed] = field(default_factory=dict)  # key -> its document's postings
    # key -> the task reading it, and every key of that task's chunk
    reading: dict[str, tuple[concurrent.futures.Future[list[Answer]], tuple[str, ...]]] = field(default_factory=dict)
    pool: concurrent.futures.ProcessPoolExecutor | None = None
    queued: list[tuple[str, bytes]] = field(default_factory=list)  # added, not yet given to a worker

    @classmethod
    def start(cls, files: Sequence[tuple[str, bytes]], config: SiteConfig, max_bytes: int, jobs: int) -> ReadAhead:
        """Start reading `files` (key, body) under `config` in `jobs` worker processes, in order."""
        ahead = cls.open(config, max_bytes, jobs)
        for key, body in files:
            ahead.add(key, body)
        ahead.flush()
        return ahead

    @classmethod
    def open(cls, config: SiteConfig, max_bytes: int, jobs: int) -> ReadAhead:
        """`jobs` worker processes to read the posts `add` gives them under `config`."""
        ahead = cls(config, max_bytes)
        ahead.pool = concurrent.futures.ProcessPoolExecutor(max_workers=jobs, mp_context=workers_context())
        return ahead

    def add(self, key: str, body: bytes) -> None:
        """Read this post next: it goes to a worker with the CHUNK - 1 after it (or at `flush`)."""
        self.queued.append((key, body))
        if len(self.queued) >= CHUNK:
            self.flush()

    def flush(self) -> None:
        """Give the posts added since the last chunk to a worker."""
        chunk, self.queued = self.queued, []
        if not chunk or self.pool is None:
            return  # closed: the parse stage reads them
        self.bodies.update(chunk)
        try:
            future = self.pool.submit(_read, chunk, self.config, self.max_bytes)
        except (BrokenProcessPool, RuntimeError) as exc:  # a worker died (out of memory, killed)
            log.warning("reading posts ahead stopped: %s", exc)
            self.close()  # the parse stage reads every post not collected yet
            return
        keys = tuple(key for key, _ in chunk)
        self.reading.update((key, (future, keys)) for key in keys)

    def close(self) -> None:
        """Stop the workers; answers not yet taken are dropped."""
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None
        self.reading.clear()

    def __enter__(self) -> ReadAhead:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _collect(self, key: str) -> None:
        """Wait for the task reading `key`, and keep everything it read."""
        found = self.reading.get(key)
        if found is None:
            return
        future, chunk = found
        try:
            answers = future.result()
        except Exception as exc:  # a worker died (out of memory, killed): the parse stage reads the rest
            log.warning("reading posts ahead stopped: %s", exc)
            self.close()
            return
        for done, answer, weighed in answers:
            self.answers[done] = (self.bodies[done], answer)
            if weighed is not None:
                self.weighed[done] = weighed
        for done in chunk:  # a post the worker could not read is left to the parse stage
            del self.reading[done]

    def __call__(self, key: str, body: bytes, config: SiteConfig, *, max_bytes: int) -> Post:
        self._collect(key)
        found = self.answers.pop(key, None)
        if found is None or config != self.config or max_bytes != self.max_bytes or found[0] != body:
            return posts.read_post(key, body, config, max_bytes=max_bytes)
        answer = found[1]
        if isinstance(answer, str):
            raise posts.Rejected(answer)
        return answer

    def postings(self, key: str, document: search.Document) -> search.Packed | None:
        """The postings a worker worked out for `key`'s post, if its document is made of the same
        title, text and labels (`Ports.postings_ahead`); handed out once."""
        found = self.weighed.pop(key, None)
        if found is None or found[0] != _fingerprint(document.title, document.text, document.labels):
            return None
        return found[1]
