"""A site's template overrides render in a child process with hard limits (`rendering/isolated.py`):
the same pages as rendering them here, no credentials, a memory cap, and a page that kills or
stalls its child costs that page alone."""

from __future__ import annotations

import contextlib
import ctypes
import io
import logging
import os
import pickle
import platform
import resource
import signal
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from newsdrop.model import SiteConfig
from newsdrop.rendering import isolated, pages, samples, theme

# An override that names what pages are given (the frame's parts, the post, the helpers), in every page.
FRAME = """{% macro head() %}<meta name="frame" content="{{ site.title }}">
{% endmacro %}{% macro masthead() %}<header class="mine">{{ site.title }} {{ link('/') }}</header>
{% endmacro %}{% macro footer() %}<footer class="mine">{{ asset('style.css') }}</footer>
{% endmacro %}"""
POST = """{% extends "base.html" %}{% block content %}<h1 class="mine">{{ post.title }}</h1>
{{ post.date | date('%Y') }} {{ categories | length }} {{ absolute(post.url) }}{% endblock %}"""
OVERRIDES = (("_frame.html", FRAME), ("post.html", POST))
THEME_404 = "Page Not Found"  # in the theme's own 404 page
MINE_404 = '{% extends "base.html" %}{% block content %}<h1 class="mine">{% endblock %}'
MINE = SiteConfig(templates=(("404.html", MINE_404),))
PR_GET_DUMPABLE = 3  # prctl(2)


@pytest.fixture(autouse=True)
def _new_child() -> Iterator[None]:
    """Each test starts without a child, and leaves none behind."""
    isolated.stop()
    yield
    isolated.stop()


def _page_404(config: SiteConfig) -> str:
    return theme.render("404.html", config).decode()


def test_every_page_kind_is_the_same_rendered_in_the_child_as_here(monkeypatch: pytest.MonkeyPatch) -> None:
    # Each page the trial renders here (every kind, from the largest samples) is rendered again in the child.
    asked: list[tuple[str, SiteConfig, dict[str, Any], bytes]] = []
    render_override = theme.render_override

    def recording(template: str, config: SiteConfig, context: dict[str, Any], seconds: float) -> bytes:
        page = render_override(template, config, context, seconds)
        asked.append((template, config, context, page))
        return page

    monkeypatch.setattr(theme, "render_override", recording)
    monkeypatch.setattr(theme._budget, "trial", True)
    samples.render_all(SiteConfig(title="Isolated 隔离", templates=OVERRIDES))
    assert {"post.html", "home.html", "feed.xml", "listing.html", "sitemap.xml", "404.html"} <= {a[0] for a in asked}
    for template, config, context, page in asked:
        assert isolated.render(template, config, context, theme.RENDER_SECONDS) == page, template
    assert b'<header class="mine">' in asked[0][3]


def test_a_page_s_failure_in_the_child_leaves_it_to_the_theme(caplog: pytest.LogCaptureFixture) -> None:
    failing = '{% extends "base.html" %}{% block content %}{{ "x".encode("nope") }}<h1 class="mine">{% endblock %}'
    config = SiteConfig(templates=(("404.html", failing), ("post.html", POST)))
    with caplog.at_level(logging.ERROR, logger=theme.log.name):
        page = _page_404(config)
    assert THEME_404 in page and 'class="mine"' not in page
    assert [r.getMessage() for r in caplog.records] == [
        "a template override failed on 404.html (LookupError: unknown encoding: nope); "
        "the theme's own templates rendered it"
    ]
    pid = isolated.child_pid()
    assert pid is not None  # the child answered the failure and carries on with the site's next page
    assert 'class="mine"' in pages.post_body(samples.SAMPLE, config).decode()
    assert isolated.child_pid() == pid


def test_each_set_of_overrides_gets_a_child_of_its_own() -> None:
    assert 'class="mine"' in _page_404(MINE)
    first = isolated.child_pid()
    assert 'class="mine"' in _page_404(MINE)
    assert isolated.child_pid() == first
    other = SiteConfig(templates=(("404.html", MINE_404.replace("mine", "other")),))
    assert 'class="other"' in _page_404(other)
    assert isolated.child_pid() not in (None, first)
    with pytest.raises(ProcessLookupError):
        os.kill(first, 0)  # stopped and reaped


# Children a template took over, as this process sees them: each says it is ready, then answers
# its first request twice (ahead of a page yet to be asked), or a request it was not asked, or its
# own and, a moment later, the next one before it is asked.
ANSWERS = {
    "twice": "frame(1, b'mine'); frame(2, b'ahead')",
    "another request": "frame(7, b'mine')",
    "ahead, later": "frame(1, b'mine'); answers.flush(); time.sleep(0.2); frame(2, b'ahead')",
}
TAKEN_OVER = """import struct, sys, time
requests, answers = sys.stdin.buffer, sys.stdout.buffer
def frame(number, text):
    answer = struct.pack(">Q", number) + b"P" + text
    answers.write(struct.pack(">I", len(answer)) + answer)
frame(0, b"")
answers.flush()
(size,) = struct.unpack(">I", requests.read(4))
requests.read(size)
{answer}
answers.flush()
requests.read()
"""


@pytest.mark.parametrize("answer", sorted(ANSWERS))
def test_an_answer_out_of_turn_ends_the_child(
    answer: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    script = tmp_path / "child.py"
    script.write_text(TAKEN_OVER.format(answer=ANSWERS[answer]))
    monkeypatch.setattr(isolated, "CHILD", (str(script),))
    with caplog.at_level(logging.ERROR, logger=theme.log.name):
        first = _page_404(MINE)
        time.sleep(0.5)
        second = _page_404(MINE)
    assert "ahead" not in first + second  # never a page's text for another page
    if answer == "ahead, later":  # the first answer was in turn; the one ahead is found before page 2 is asked
        assert 'class="mine"' not in first and "mine" in first and THEME_404 in second
        assert caplog.text.count("answered out of turn") == 1
    else:  # each page's child answered out of turn
        assert THEME_404 in first and THEME_404 in second
        assert caplog.text.count("answered out of turn") == 2


def test_a_reason_that_is_not_text_is_still_told_and_the_child_carries_on(caplog: pytest.LogCaptureFixture) -> None:
    # A template name with a lone surrogate: the reason names it, escaped; the child stays.
    config = SiteConfig(templates=(("404.html", '{% include "\udc80" %}'), ("post.html", POST)))
    with caplog.at_level(logging.ERROR, logger=theme.log.name):
        assert THEME_404 in _page_404(config)
    assert "\\udc80" in caplog.text
    pid = isolated.child_pid()
    assert pid is not None
    assert 'class="mine"' in pages.post_body(samples.SAMPLE, config).decode()
    assert isolated.child_pid() == pid


def test_a_page_that_runs_out_of_memory_ends_its_child(monkeypatch: pytest.MonkeyPatch) -> None:
    # The child's loop, fed as the parent feeds it: after a MemoryError it answers, then ends.
    def render_override(template: str, config: SiteConfig, context: dict[str, Any], seconds: float) -> bytes:
        if context.get("fill"):
            raise MemoryError
        return b"page of " + template.encode()

    monkeypatch.setattr(theme, "render_override", render_override)
    frames = [
        pickle.dumps((number, "404.html", SiteConfig(), {"fill": number == 2}, 1.0, OVERRIDES if number == 1 else None))
        for number in (1, 2, 3)
    ]
    requests = io.BytesIO(b"".join(struct.pack(">I", len(frame)) + frame for frame in frames))
    answers = io.BytesIO()
    assert isolated.serve(requests, answers) == 1
    written = answers.getvalue()
    found = []
    while written:
        (size,) = struct.unpack(">I", written[:4])
        found.append(written[4 : 4 + size])
        written = written[4 + size :]
    assert found == [
        struct.pack(">Q", isolated.READY) + isolated.PAGE,
        struct.pack(">Q", 1) + isolated.PAGE + b"page of 404.html",
        struct.pack(">Q", 2) + isolated.RETIRING + b"MemoryError: ",
    ]


def test_the_parent_stops_a_child_that_retires(monkeypatch: pytest.MonkeyPatch) -> None:
    assert 'class="mine"' in _page_404(MINE)
    first = isolated.child_pid()
    monkeypatch.setattr(
        isolated._Child, "exchange", lambda self, request, seconds: isolated.RETIRING + b"MemoryError: "
    )
    with pytest.raises(isolated.Failed, match="MemoryError"):
        isolated.render("404.html", MINE, {}, 1.0)
    assert isolated.child_pid() is None
    with pytest.raises(ProcessLookupError):
        os.kill(first, 0)


def test_the_child_holds_no_credentials_and_has_the_memory_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "do-not-leak")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "do-not-leak")
    monkeypatch.setenv("SITE_BUCKET", "do-not-leak")
    assert "do-not-leak" not in str(isolated.child_environment())
    assert 'class="mine"' in _page_404(MINE)
    pid = isolated.child_pid()
    assert pid is not None
    environ = Path(f"/proc/{pid}/environ").read_bytes()
    assert b"do-not-leak" not in environ and b"AWS_" not in environ
    limits = {line[:26].strip(): line[26:].split()[:2] for line in Path(f"/proc/{pid}/limits").read_text().splitlines()}
    assert limits["Max address space"] == [str(isolated.MEMORY_LIMIT)] * 2
    assert limits["Max processes"] == ["0", "0"]  # nothing of its own that would outlive it
    assert limits["Max file size"] == [str(isolated.CHILD_OUTPUT_BYTES)] * 2
    if platform.machine() in isolated._SYSTEM_CALLS:
        status = dict(line.split(":\t", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines())
        assert (status["NoNewPrivs"], status["Seccomp"]) == ("1", "2")  # its system call filter
    # The child runs as this process's user: this process is not dumpable, so the child can
    # neither read its /proc/<pid>/environ nor trace it.
    assert ctypes.CDLL(None).prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 0
    assert os.getsid(pid) == pid  # its own session: a terminal's Ctrl-C is the parent's, and stopping ends all of it


def test_more_than_1024_open_files_do_not_stop_the_child() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1200:
        pytest.skip(f"this process may open only {hard} files")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1200), hard))
    opened = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    try:
        assert 'class="mine"' in _page_404(MINE)
        assert isolated._child is not None and isolated._child.reader > 1024
    finally:
        for fd in opened:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_a_trial_s_child_does_not_start_beside_a_dumpable_process() -> None:
    # In a fresh interpreter: this one may have been made not dumpable by an earlier test.
    code = (
        "import ctypes; from newsdrop.rendering import theme; "
        "theme.check_template('404.html', '{% extends \"base.html\" %}'); "
        f"print(ctypes.CDLL(None).prctl({PR_GET_DUMPABLE}, 0, 0, 0, 0))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert done.stdout.split() == ["0"]


def test_a_child_that_dies_costs_its_page_and_the_next_page_gets_a_new_child(
    caplog: pytest.LogCaptureFixture,
) -> None:
    config = MINE
    assert 'class="mine"' in _page_404(config)
    first = isolated.child_pid()
    assert first is not None
    os.kill(first, signal.SIGKILL)
    with caplog.at_level(logging.ERROR, logger=theme.log.name):
        assert THEME_404 in _page_404(config)
    assert "the rendering process died (signal 9)" in caplog.text
    assert 'class="mine"' in _page_404(config)
    assert isolated.child_pid() not in (None, first)


def test_a_child_that_stops_answering_is_killed_at_its_page_s_deadline(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # What a loop in one C call looks like from here: no answer. The page waits its seconds and the grace.
    monkeypatch.setattr(theme, "RENDER_SECONDS", 0.2)
    monkeypatch.setattr(isolated, "GRACE_SECONDS", 0.3)
    monkeypatch.setattr(isolated, "SLOW_REST_SECONDS", 0.0)  # the overrides' rest (tested apart) over at once
    config = MINE
    assert 'class="mine"' in _page_404(config)
    stalled = isolated.child_pid()
    assert stalled is not None
    os.kill(stalled, signal.SIGSTOP)
    try:
        with caplog.at_level(logging.ERROR, logger=theme.log.name):
            assert THEME_404 in _page_404(config)
        assert "rendering took longer than 0.5 s" in caplog.text
        with pytest.raises(ProcessLookupError):
            os.kill(stalled, 0)  # killed and reaped
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(stalled, signal.SIGKILL)
    assert 'class="mine"' in _page_404(config)


def test_pages_of_different_sites_rendered_from_threads_each_get_their_own_overrides() -> None:
    def site(n: int) -> SiteConfig:
        return SiteConfig(title=f"site {n}", templates=(("post.html", POST.replace("post.title", f"'mine {n}'")),))

    found: dict[int, list[bool]] = {}

    def render(n: int) -> None:
        found[n] = [f"mine {n}</h1>" in pages.post_body(samples.SAMPLE, site(n)).decode() for _ in range(5)]

    threads = [threading.Thread(target=render, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert found == {n: [True] * 5 for n in range(4)}


def test_a_child_that_cannot_start_is_not_started_again_for_every_page(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(
        isolated, "CHILD", ("-c", "import sys; print('no module named jinja2', file=sys.stderr); sys.exit(3)")
    )
    with caplog.at_level(logging.ERROR, logger=theme.log.name):
        assert THEME_404 in _page_404(MINE)
        assert THEME_404 in _page_404(MINE)
    reasons = [r.__dict__["reason"] for r in caplog.records]
    assert reasons == [
        "the rendering process did not start: the rendering process died (exit 3): no module named jinja2",
        "the rendering process could not start; tried again shortly",
    ]
    assert isolated.child_pid() is None


CALLS = """import os, socket, sys
from newsdrop.rendering import isolated
print("unlimited:", repr(isolated.limit_child()))
for name, call in [
    ("socket", lambda: socket.socket()),
    ("connect", lambda: socket.create_connection(("127.0.0.1", 9001))),
    ("signal the parent", lambda: os.kill(os.getppid(), 0)),
    ("fork", os.fork),
    ("run a program", lambda: os.execv("/bin/true", ["true"])),
]:
    try:
        call()
        print(name, "allowed")
    except OSError as exc:
        print(name, "denied" if exc.errno == 1 else exc.errno)
from newsdrop.rendering import theme, samples, pages
print("renders", b"<html" in pages.post_body(samples.SAMPLE, samples.SiteConfig()))
"""


@pytest.mark.skipif(
    sys.platform != "linux" or platform.machine() not in isolated._SYSTEM_CALLS, reason="a seccomp filter (Linux)"
)
def test_a_child_may_not_connect_signal_trace_or_start_anything() -> None:
    # What code a template ran in the child could do, tried by a child itself, in a fresh interpreter.
    done = subprocess.run([sys.executable, "-c", CALLS], capture_output=True, text=True, check=True, timeout=60)
    assert done.stdout.splitlines() == [
        "unlimited: ''",
        "socket denied",
        "connect denied",
        "signal the parent denied",
        "fork denied",
        "run a program denied",
        "renders True",
    ]


def test_a_child_that_could_not_apply_a_limit_says_so_and_renders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    script = tmp_path / "child.py"
    script.write_text(
        TAKEN_OVER.format(answer="frame(1, b'mine')").replace('frame(0, b"")', 'frame(0, b"no system call filter")')
    )
    monkeypatch.setattr(isolated, "CHILD", (str(script),))
    with caplog.at_level(logging.WARNING, logger=isolated.log.name):
        assert _page_404(MINE) == "mine"
    assert [r.getMessage() for r in caplog.records] == ["the rendering process runs with less: no system call filter"]
