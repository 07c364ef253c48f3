"""The pages of a site with template overrides, rendered in a child process with hard limits.

An override is a program from the site's bucket. The sandbox (`theme._Sandbox`) refuses what it
sees coming, but a check made inside the process that renders can be passed by what it did not
foresee, and that process holds the function's credentials and its memory. So the pages of a site
with overrides are rendered by a child process that
- holds no credentials: its environment has only what Python needs (`child_environment`);
- has MEMORY_LIMIT of address space: a page that wants more fails with a MemoryError, or the
  child dies;
- answers within the page's seconds and a grace, or is killed: a loop in one C call, which no
  sandbox check and no alarm interrupts, costs its page, not the batch.
A page that fails raises `Failed` with the reason, and the caller renders it with the theme's own
templates (the package's code, in this process). One child serves the process for as long as it
lives (a Lambda execution environment's invocations, a build's pages); a child that was killed or
died is replaced at the next page. An override's trial (`theme.check_template`) runs in a child
of its own, with the same environment and memory limit.

The child reads requests on its stdin and answers on its stdout, each a 4-byte length and a body.
A request is a pickle from this process, which the child trusts; an answer is a status byte and
UTF-8 text, never a pickle, so a child that a template took over can send nothing but a page or a
reason.
"""

from __future__ import annotations

import atexit
import dataclasses
import os
import select
import struct
import subprocess  # nosec B404 - the child is this interpreter running a module of this package
import sys
import threading
import time
from typing import Any

from newsdrop.model import SiteConfig

MEMORY_LIMIT = 256 * 1024 * 1024  # address space; the functions have 512 MB for themselves and a child
GRACE_SECONDS = 2.0  # past a page's own seconds, which the child's alarm enforces where it can
STARTUP_SECONDS = 10.0  # a new child's interpreter and imports, on a busy machine
MAX_ANSWER_BYTES = 64 * 1024 * 1024  # beyond any page the sandbox lets through (5 million characters)
PAGE, FAILURE = b"P", b"F"
_HEADER = struct.Struct(">I")
# What a child's environment keeps of this process's: where Python finds things and the locale
# (a `date` format's month names). Never credentials (AWS_*), nor anything else a template might
# learn to use.
_KEPT_VARIABLES = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "LC_TIME", "TZ")


class Failed(Exception):
    """The page could not be rendered with the overrides; the message says why."""


class _Gone(Exception):
    """The child did not answer: it died, or it took too long and was killed."""


def child_environment() -> dict[str, str]:
    """The environment of a child that runs a site's templates. The child must find this package
    where this process found it: Lambda puts the layer (/opt/python) on sys.path inside its
    bootstrap, not in PYTHONPATH, which a child would inherit."""
    kept = {name: os.environ[name] for name in _KEPT_VARIABLES if name in os.environ}
    return {**kept, "PYTHONPATH": os.pathsep.join(entry for entry in sys.path if entry)}


def limit_memory() -> None:
    """In a child, before it reads a template: its address space may not grow past MEMORY_LIMIT."""
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


class _Child:
    """One child process and what it was last sent."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(  # nosec B603 - this interpreter, a module of this package, no shell
            [sys.executable, "-m", "newsdrop.rendering.isolated"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=child_environment(),
            close_fds=True,
        )
        assert self.process.stdin is not None and self.process.stdout is not None
        self.writer, self.reader = self.process.stdin.fileno(), self.process.stdout.fileno()
        # Never blocked on a child that stopped reading or writing: each wait is a select with a deadline.
        os.set_blocking(self.writer, False)
        os.set_blocking(self.reader, False)
        self.templates: tuple[tuple[str, str], ...] | None = None  # the overrides the child holds
        self.fresh = True  # its interpreter is still starting
        self.owner = os.getpid()  # a process forked from this one starts a child of its own

    def exchange(self, request: bytes, seconds: float) -> bytes:
        allowed = seconds + GRACE_SECONDS + (STARTUP_SECONDS if self.fresh else 0.0)
        deadline = time.monotonic() + allowed
        try:
            self._write(_HEADER.pack(len(request)) + request, deadline)
            (size,) = _HEADER.unpack(self._read(_HEADER.size, deadline))
            if size > MAX_ANSWER_BYTES:
                raise _Gone(f"the rendering process answered with {size} bytes")
            answer = self._read(size, deadline)
        except TimeoutError:
            raise _Gone(f"rendering took longer than {allowed:g} s") from None
        except (OSError, EOFError) as exc:  # a closed pipe: the child is gone
            raise _Gone(self._ending(exc)) from None
        self.fresh = False
        return answer

    def _write(self, data: bytes, deadline: float) -> None:
        view = memoryview(data)
        while view:
            _wait(self.writer, deadline, writing=True)
            try:
                view = view[os.write(self.writer, view) :]
            except BlockingIOError:
                continue

    def _read(self, size: int, deadline: float) -> bytes:
        chunks: list[bytes] = []
        while size:
            _wait(self.reader, deadline, writing=False)
            try:
                chunk = os.read(self.reader, min(size, 1 << 20))
            except BlockingIOError:
                continue
            if not chunk:
                raise EOFError
            chunks.append(chunk)
            size -= len(chunk)
        return b"".join(chunks)

    def _ending(self, exc: BaseException) -> str:
        try:
            code = self.process.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            return f"the rendering process stopped answering ({type(exc).__name__})"
        return f"the rendering process died ({'signal ' + str(-code) if code < 0 else 'exit ' + str(code)})"

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                pipe.close()


def _wait(fd: int, deadline: float, *, writing: bool) -> None:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError
    if writing:
        select.select([], [fd], [], left)
    else:
        select.select([fd], [], [], left)


_lock = threading.Lock()  # one page at a time through the one child (`newsdrop dev` renders in threads)
_child: _Child | None = None


def render(template: str, config: SiteConfig, context: dict[str, Any], seconds: float) -> bytes:
    """`template`'s page for `config`, whose overrides it uses, rendered in the child within
    `seconds` (and the grace). Raises Failed."""
    import pickle  # nosec B403 - to this process's own child, never back; only sites with overrides pay its import

    global _child
    with _lock:
        child = _child if _child is not None and _child.owner == os.getpid() else _Child()
        _child = child
        # The overrides travel when they change, not with every page (they may be 360 KiB).
        templates = config.templates if child.templates != config.templates else None
        request = pickle.dumps((template, dataclasses.replace(config, templates=()), context, seconds, templates))
        try:
            answer = child.exchange(request, seconds)
        except _Gone as exc:
            child.stop()
            _child = None
            raise Failed(str(exc)) from None
        child.templates = config.templates
    status, body = answer[:1], answer[1:]
    if status == PAGE:
        return body
    raise Failed(body.decode("utf-8", "replace"))


@atexit.register
def stop() -> None:
    """Stop this process's child, if it has one (as the process ends, the child would also end by
    itself when its stdin closes); the next page starts another."""
    global _child
    with _lock:
        if _child is not None and _child.owner == os.getpid():
            _child.stop()
        _child = None


def child_pid() -> int | None:
    """The process id of this process's child, if it has one."""
    return _child.process.pid if _child is not None and _child.owner == os.getpid() else None


def main() -> int:
    """The child: requests on stdin, answers on stdout, until stdin closes."""
    import pickle  # nosec B403 - requests come from the parent, which started this process

    limit_memory()
    from newsdrop.rendering import theme

    requests = sys.stdin.buffer
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # whatever else prints cannot garble the answers
    templates: tuple[tuple[str, str], ...] = ()
    while header := requests.read(_HEADER.size):
        (size,) = _HEADER.unpack(header)
        template, config, context, seconds, sent = pickle.loads(requests.read(size))  # noqa: S301  # nosec B301
        templates = sent if sent is not None else templates
        try:
            page = theme.render_override(template, dataclasses.replace(config, templates=templates), context, seconds)
            answer = PAGE + page
        except Exception as exc:  # whatever the override raised is its page's answer
            answer = FAILURE + theme.failure_reason(exc).encode()
        answers.write(_HEADER.pack(len(answer)) + answer)
        answers.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
