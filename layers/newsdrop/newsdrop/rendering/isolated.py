"""The pages of a site with template overrides, rendered in a child process with hard limits.

An override is a program from the site's bucket. The sandbox (`theme._Sandbox`) refuses what it
sees coming, but a check made inside the process that renders can be passed by what it did not
foresee, and that process holds the function's credentials and its memory. So the pages of a site
with overrides are rendered by a child process that
- holds no credentials: its environment has only what Python needs (`child_environment`), and this
  process, from its first child on, is not dumpable (`guard_this_process`), so the child (the same
  user) can neither read this one's /proc/<pid>/environ nor trace it;
- has MEMORY_LIMIT of address space, may start no process or thread, and may write no file past
  CHILD_OUTPUT_BYTES (`limit_child`): a page that wants more memory fails with a MemoryError, after
  which the child ends (what the page left may not all be freed), or the child dies;
- may not open a connection, signal or trace another process, or run a program: a seccomp filter
  denies those system calls (`_deny_system_calls`), for code a template might yet run there;
- answers within the page's seconds and a grace, or is killed with its session: a loop in one C
  call, which no sandbox check and no alarm interrupts, costs its page, not the batch.
A page that fails raises `Failed` with the reason, and the caller renders it with the theme's own
templates (the package's code, in this process). A child renders the pages of one set of
overrides for as long as the process lives (a Lambda execution environment's invocations, a
build's pages); another set, or a child that was killed or died, gets a new one at the next page.
An override's trial (`theme.check_template`) runs in a child of its own, with the same environment
and limits.

The child reads requests on its stdin and answers on its stdout, each a 4-byte length and a body.
A request is a pickle from this process, which the child trusts; an answer is the number of the
request it answers (0: the child is ready), a status byte and UTF-8 text, never a pickle. A child
that a template took over can send back nothing but text for the page asked: an answer to another
request, more than one answer, or one found before its request was sent ends it.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import logging
import math
import os
import select
import signal
import struct
import subprocess  # nosec B404 - the child is this interpreter running a module of this package
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, BinaryIO

from newsdrop.model import SiteConfig

log = logging.getLogger(__name__)

MEMORY_LIMIT = 256 * 1024 * 1024  # address space; the functions have 512 MB for themselves and a child
CHILD_OUTPUT_BYTES = 64 * 1024  # what a child may write to a file: its reason, a traceback
GRACE_SECONDS = 2.0  # past a page's own seconds, which the child's alarm enforces where it can
STARTUP_SECONDS = 10.0  # a new child's interpreter and imports, on a busy machine
# A page is at most theme.MAX_OUTPUT_CHARS (5 million) characters, 4 bytes each at most in UTF-8.
MAX_ANSWER_BYTES = 20_000_000 + 1024
PAGE, FAILURE, RETIRING = b"P", b"F", b"R"  # RETIRING: the page failed and the child ends (out of memory)
SLOW = b"S"  # the page failed for want of time: the overrides rest (`SLOW_REST_SECONDS`)
# After a page of a set of overrides runs out of time, the next pages are the theme's for this
# long: each would cost its full time too (an override slow only on the real site passes its
# trial), and a batch of pages at 7 s each would outlast the function's timeout, batch and all.
SLOW_REST_SECONDS = 60.0
READY = 0  # the number of the answer a child sends once it can render
_HEADER = struct.Struct(">I")  # a frame's length
_NUMBER = struct.Struct(">Q")  # an answer names the request it answers
# What a child's environment keeps of this process's: where Python and its libraries are found
# and the locale (a `date` format's month names). Never credentials (AWS_*), nor anything else a
# template might learn to use.
_KEPT_VARIABLES = ("PATH", "LD_LIBRARY_PATH", "LANG", "LC_ALL", "LC_CTYPE", "LC_TIME", "TZ")
_PR_SET_DUMPABLE = 4  # prctl(2)
# The child's arguments to this interpreter: -P keeps the working folder (a function's code
# folder on Lambda) off its path.
CHILD = ("-P", "-m", "newsdrop.rendering.isolated")


class Failed(Exception):
    """The page could not be rendered with the overrides; the message says why."""


class Resting(Failed):
    """The overrides rest after a page ran out of time: the theme renders the page, and the page
    that ran out of time has said why already."""


class _Gone(Exception):
    """The child did not answer as it should: it died, took too long, or broke the protocol."""


class _Late(_Gone):
    """The child did not answer in time."""


class _Unstartable(_Gone):
    """No child could be started, or it never said it was ready."""


def child_environment() -> dict[str, str]:
    """The environment of a child that runs a site's templates. The child must find this package
    where this process found it: Lambda puts the layer (/opt/python) on sys.path inside its
    bootstrap, not in PYTHONPATH, which a child would inherit."""
    kept = {name: os.environ[name] for name in _KEPT_VARIABLES if name in os.environ}
    return {**kept, "PYTHONPATH": os.pathsep.join(entry for entry in sys.path if entry)}


def limit_child() -> str:
    """In a child, before it reads a template: no address space past MEMORY_LIMIT, no process or
    thread of its own (one that outlived the child would outlive its limits), no file written past
    CHILD_OUTPUT_BYTES (its stderr is a file this process reads), and the system calls of
    `_deny_system_calls` denied. Returns what could not be limited ('' when nothing)."""
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))  # counted per user: only root is above it
    resource.setrlimit(resource.RLIMIT_FSIZE, (CHILD_OUTPUT_BYTES, CHILD_OUTPUT_BYTES))
    return "" if _deny_system_calls() else "no system call filter could be installed"


# System calls a child that runs templates never makes, denied (EPERM) by a seccomp filter, so
# that code a template ran there could not open a connection (the Lambda runtime API is on
# 127.0.0.1), signal or trace another process (its parent is the same user), or start a program
# or a process.
_DENIED_CALLS = (
    "socket", "socketpair", "connect",
    "clone", "clone3", "fork", "vfork", "execve", "execveat",
    "kill", "tkill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo", "pidfd_send_signal",
    "ptrace", "process_vm_readv", "process_vm_writev",
)  # fmt: skip
# Their numbers, which differ by architecture (aarch64 has no fork or vfork), with the audit
# architecture a filter checks first: a call made through another ABI (i386's on x86_64) is denied whole.
_SYSTEM_CALLS = {
    "x86_64": (0xC000003E, {
        "socket": 41, "socketpair": 53, "connect": 42, "clone": 56, "clone3": 435, "fork": 57, "vfork": 58,
        "execve": 59, "execveat": 322, "kill": 62, "tkill": 200, "tgkill": 234, "rt_sigqueueinfo": 129,
        "rt_tgsigqueueinfo": 297, "pidfd_send_signal": 424, "ptrace": 101, "process_vm_readv": 310,
        "process_vm_writev": 311,
    }),
    "aarch64": (0xC00000B7, {
        "socket": 198, "socketpair": 199, "connect": 203, "clone": 220, "clone3": 435, "execve": 221,
        "execveat": 281, "kill": 129, "tkill": 130, "tgkill": 131, "rt_sigqueueinfo": 138,
        "rt_tgsigqueueinfo": 240, "pidfd_send_signal": 424, "ptrace": 117, "process_vm_readv": 270,
        "process_vm_writev": 271,
    }),
}  # fmt: skip
_X32_CALLS = 0x40000000  # x86_64's x32 numbering of the same calls, denied whole


def _deny_system_calls() -> bool:
    """Install the filter (after no_new_privs, which an unprivileged filter requires); False where
    it cannot be (not Linux, an architecture not listed, a kernel that refuses)."""
    import ctypes
    import platform

    known = _SYSTEM_CALLS.get(platform.machine()) if sys.platform == "linux" else None
    if known is None:
        return False
    arch, numbers = known
    load, equal, at_least, answer = 0x20, 0x15, 0x35, 0x06  # BPF_LD|W|ABS, BPF_JMP|JEQ|K, BPF_JMP|JGE|K, BPF_RET|K
    allow, deny = 0x7FFF0000, 0x00050000 | 1  # SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO | EPERM
    checks = [(at_least, _X32_CALLS)] if arch == 0xC000003E else []
    checks += [(equal, numbers[name]) for name in _DENIED_CALLS if name in numbers]
    program = [
        (load, 0, 0, 4),  # seccomp_data.arch
        (equal, 1, 0, arch),
        (answer, 0, 0, deny),
        (load, 0, 0, 0),  # seccomp_data.nr
        # Each check that holds jumps past the checks after it and `allow`, to `deny`.
        *[(code, len(checks) - i, 0, k) for i, (code, k) in enumerate(checks)],
        (answer, 0, 0, allow),
        (answer, 0, 0, deny),
    ]

    class Step(ctypes.Structure):
        _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte), ("k", ctypes.c_uint)]

    class Program(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(Step))]

    steps = (Step * len(program))(*[Step(*step) for step in program])
    libc = ctypes.CDLL(None, use_errno=True)
    pr_set_no_new_privs, pr_set_seccomp, seccomp_mode_filter = 38, 22, 2
    if libc.prctl(pr_set_no_new_privs, 1, 0, 0, 0) != 0:
        return False
    return bool(libc.prctl(pr_set_seccomp, seccomp_mode_filter, ctypes.byref(Program(len(program), steps)), 0, 0) == 0)


def guard_this_process() -> None:
    """Before a child that runs a site's templates starts: a child runs as this process's user,
    and a user's processes may read each other's /proc/<pid>/environ (where the function's
    credentials are) and trace each other, unless the process is not dumpable. From then on this
    one is not (on Linux; it also writes no core dump)."""
    if sys.platform == "linux":
        import ctypes

        if ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
            log.warning("this process could not be made not dumpable (errno %d)", ctypes.get_errno())


def start(arguments: Sequence[str], **streams: Any) -> subprocess.Popen[bytes]:
    """This interpreter with `arguments` (`CHILD`, or the trial's module), as a child that runs a
    site's templates: this process guarded first, the child's environment without credentials,
    and a session of its own (a terminal's Ctrl-C is this process's to handle, and `kill` ends all of it)."""
    guard_this_process()
    return subprocess.Popen(  # noqa: S603  # nosec B603 - this interpreter, this package's module, no shell
        [sys.executable, *arguments], env=child_environment(), close_fds=True, start_new_session=True, **streams
    )


def kill(process: subprocess.Popen[bytes]) -> None:
    """End a child that `start` started, with whatever is left in its session, and reap it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


class _Child:
    """One child process: it renders the pages of one set of overrides."""

    def __init__(self, templates: tuple[tuple[str, str], ...]) -> None:
        self.errors = tempfile.TemporaryFile()  # noqa: SIM115 - its stderr for its life; bounded by its file size limit
        try:
            self.process = start(CHILD, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.errors)
        except OSError as exc:
            self.errors.close()
            raise _Unstartable(f"the rendering process could not start ({exc})") from None
        assert self.process.stdin is not None and self.process.stdout is not None
        self.writer, self.reader = self.process.stdin.fileno(), self.process.stdout.fileno()
        # Never blocked on a child that stopped reading or writing: each wait is a poll with a deadline.
        os.set_blocking(self.writer, False)
        os.set_blocking(self.reader, False)
        self.templates = templates
        self.sent = 0  # requests sent
        self.owner = os.getpid()  # a process forked from this one starts a child of its own
        try:
            unlimited = self._answer(READY, time.monotonic() + STARTUP_SECONDS)[1:]
        except _Gone as exc:
            self.stop()
            raise _Unstartable(f"the rendering process did not start: {exc}") from None
        if unlimited:  # it renders anyway: the other limits hold
            log.warning("the rendering process runs with less: %s", unlimited.decode("utf-8", "replace")[:200])

    def exchange(self, request: bytes, seconds: float) -> bytes:
        """The status and text of the answer to `request`, which the caller numbered `self.sent`."""
        allowed = seconds + GRACE_SECONDS
        deadline = time.monotonic() + allowed
        if self._more_to_read():
            raise _Gone("the rendering process answered out of turn")
        with self._talking(allowed):
            self._write(_HEADER.pack(len(request)) + request, deadline)
        return self._answer(self.sent, deadline, allowed)

    def _answer(self, number: int, deadline: float, allowed: float = STARTUP_SECONDS) -> bytes:
        """The status and text of answer `number`, read by `deadline` (`allowed` seconds after it was asked)."""
        with self._talking(allowed):
            (size,) = _HEADER.unpack(self._read(_HEADER.size, deadline))
            if not _NUMBER.size < size <= MAX_ANSWER_BYTES:
                raise _Gone(f"the rendering process answered with {size} bytes")
            answer = self._read(size, deadline)
        # An answer to another request, or more than one answer: not this process's child any more.
        if _NUMBER.unpack(answer[: _NUMBER.size])[0] != number or self._more_to_read():
            raise _Gone("the rendering process answered out of turn")
        return answer[_NUMBER.size :]

    @contextlib.contextmanager
    def _talking(self, allowed: float) -> Iterator[None]:
        """A deadline passed, or a closed pipe (the child is gone), as `_Gone`."""
        try:
            yield
        except TimeoutError:
            raise _Late(f"rendering took longer than {allowed:g} s") from None
        except (OSError, EOFError) as exc:
            raise _Gone(self._ending(exc)) from None

    def _write(self, data: bytes, deadline: float) -> None:
        view = memoryview(data)
        while view:
            _wait(self.writer, select.POLLOUT, deadline)
            try:
                view = view[os.write(self.writer, view) :]
            except BlockingIOError:
                continue

    def _read(self, size: int, deadline: float) -> bytes:
        chunks: list[bytes] = []
        while size:
            _wait(self.reader, select.POLLIN, deadline)
            try:
                chunk = os.read(self.reader, min(size, 1 << 20))
            except BlockingIOError:
                continue
            if not chunk:
                raise EOFError
            chunks.append(chunk)
            size -= len(chunk)
        return b"".join(chunks)

    def _more_to_read(self) -> bool:
        try:
            return bool(os.read(self.reader, 1))
        except BlockingIOError:
            return False
        except OSError:
            return False  # gone: the next read says so

    def _ending(self, exc: BaseException) -> str:
        try:
            code = self.process.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            return f"the rendering process stopped answering ({type(exc).__name__})"
        how = f"signal {-code}" if code < 0 else f"exit {code}"
        self.errors.seek(0)
        said = self.errors.read(CHILD_OUTPUT_BYTES).decode("utf-8", "replace").strip().splitlines()
        return f"the rendering process died ({how})" + (f": {said[-1][:300]}" if said else "")

    def stop(self) -> None:
        kill(self.process)
        for pipe in (self.process.stdin, self.process.stdout, self.errors):
            if pipe is not None:
                pipe.close()


def _wait(fd: int, event: int, deadline: float) -> None:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError
    poller = select.poll()  # not select(): a build may have more than 1,024 files open
    poller.register(fd, event)
    poller.poll(math.ceil(left * 1000))


_lock = threading.Lock()  # one page at a time through the one child (`newsdrop dev` renders in threads)
_child: _Child | None = None
_unstartable_until = 0.0  # a child that could not start is not tried again before then
_resting: tuple[tuple[tuple[str, str], ...], float] | None = None  # overrides out of time, and until when


def _forked() -> None:
    # A process forked while another thread held the lock would wait for it for ever.
    global _lock
    _lock = threading.Lock()


os.register_at_fork(after_in_child=_forked)


def render(template: str, config: SiteConfig, context: dict[str, Any], seconds: float) -> bytes:
    """`template`'s page for `config`, whose overrides it uses, rendered in the child within
    `seconds` (and the grace). Raises Failed."""
    import pickle  # nosec B403 - to this process's own child, never back; only sites with overrides pay its import

    global _child, _unstartable_until
    with _lock:
        if _resting is not None and _resting[0] == config.templates and time.monotonic() < _resting[1]:
            raise Resting(f"a page of these overrides took longer than {seconds:g} s; they rest for a while")
        child = _own_child()
        if child is not None and child.templates != config.templates:
            # One set of overrides a child: the next set gets a new one, with none of the last's state.
            _stop_child()
            child = None
        if child is None:
            if time.monotonic() < _unstartable_until:
                raise Failed("the rendering process could not start; tried again shortly")
            try:
                child = _Child(config.templates)
            except _Unstartable as exc:
                _unstartable_until = time.monotonic() + STARTUP_SECONDS
                raise Failed(str(exc)) from None
            _child = child
        child.sent += 1
        templates = config.templates if child.sent == 1 else None  # the overrides go once, with the first page
        plain = dataclasses.replace(config, templates=())
        request = pickle.dumps((child.sent, template, plain, context, seconds, templates))
        try:
            answer = child.exchange(request, seconds)
        except _Gone as exc:
            _stop_child()
            if isinstance(exc, _Late):
                raise Failed(f"{exc}{_rest(config.templates)}") from None
            raise Failed(str(exc)) from None
        status, text = answer[:1], answer[1:]
        if status == RETIRING:
            _stop_child()
        if status == SLOW:
            text += _rest(config.templates).encode()
    if status == PAGE:
        return text
    raise Failed(text.decode("utf-8", "replace"))


def _rest(templates: tuple[tuple[str, str], ...]) -> str:
    """Rest `templates` after a page of theirs ran out of time (under `_lock`); what the page's failure adds."""
    global _resting
    _resting = (templates, time.monotonic() + SLOW_REST_SECONDS)
    return f"; the overrides rest, and the theme renders the pages, for {SLOW_REST_SECONDS:g} s"


@atexit.register
def stop() -> None:
    """Stop this process's child, if it has one (as the process ends, the child would also end by
    itself when its stdin closes); the next page starts another."""
    global _unstartable_until, _resting
    with _lock:
        _stop_child()
        _unstartable_until, _resting = 0.0, None


def child_pid() -> int | None:
    """The process id of this process's child, if it has one."""
    child = _own_child()
    return child.process.pid if child is not None else None


def _own_child() -> _Child | None:
    """This process's child: one inherited through a fork is its parent's, never used here."""
    return _child if _child is not None and _child.owner == os.getpid() else None


def _stop_child() -> None:
    """Stop this process's child, if it has one, and forget any child (with `_lock` held)."""
    global _child
    child = _own_child()
    if child is not None:
        child.stop()
    _child = None


def serve(requests: BinaryIO, answers: BinaryIO, unlimited: str = "") -> int:
    """Answer `requests` until they end: 0, or 1 when the child must end (out of memory). The first
    answer says the child is ready, and what of its limits it could not apply (`unlimited`)."""
    import pickle  # nosec B403 - requests come from the parent, which started this process

    from newsdrop.rendering import theme

    def answer(number: int, status: bytes, text: bytes) -> None:
        frame = _NUMBER.pack(number) + status + text
        answers.write(_HEADER.pack(len(frame)) + frame)
        answers.flush()

    answer(READY, PAGE, unlimited.encode())
    templates: tuple[tuple[str, str], ...] = ()
    while header := requests.read(_HEADER.size):
        (size,) = _HEADER.unpack(header)
        number, template, config, context, seconds, sent = pickle.loads(requests.read(size))  # noqa: S301  # nosec B301
        templates = sent if sent is not None else templates
        status = PAGE
        try:
            text = theme.render_override(template, dataclasses.replace(config, templates=templates), context, seconds)
        except MemoryError as exc:  # what the page left behind may not all be freed: a new child for the next
            status, text = RETIRING, _reason(theme.failure_reason, exc)
        except theme.TooSlow as exc:
            status, text = SLOW, _reason(theme.failure_reason, exc)
        except Exception as exc:  # whatever the override raised is its page's answer
            status, text = FAILURE, _reason(theme.failure_reason, exc)
        answer(number, status, text)
        if status == RETIRING:
            return 1
    return 0


def _reason(describe: Callable[[Exception], str], exc: Exception) -> bytes:
    """What failed, as UTF-8 whatever the template put in it (a name with a lone surrogate)."""
    try:
        return describe(exc).encode("utf-8", "backslashreplace")
    except Exception:  # its message or its repr failed: the kind of failure is still known
        return type(exc).__name__.encode()


def main() -> int:
    """The child: requests on stdin, answers on stdout, until stdin closes."""
    unlimited = limit_child()
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # whatever else prints cannot garble the answers
    return serve(sys.stdin.buffer, answers, unlimited)


if __name__ == "__main__":
    sys.exit(main())
