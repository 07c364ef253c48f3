"""The local stack as a user runs it (`newsdrop dev` in a subprocess), and headless Chromium."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.conftest import unavailable

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class DevStack:
    process: subprocess.Popen[str]
    endpoint: str
    site: str
    output: list[str]

    def client(self, service: str) -> Any:
        """A client of the stack's endpoint (the credentials are tests/conftest.py's, set for each test)."""
        return boto3.client(service, endpoint_url=self.endpoint, region_name="us-east-1")

    def s3(self) -> Any:
        return self.client("s3")

    def sqs(self) -> Any:
        return self.client("sqs")

    def get(self, path: str) -> tuple[int, dict[str, str], str]:
        try:
            with urllib.request.urlopen(self.site.rstrip("/") + path, timeout=10) as response:
                return response.status, dict(response.headers), response.read().decode(errors="replace")
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read().decode(errors="replace")

    def wait_for(self, path: str, predicate: Any, timeout: float = 30) -> tuple[int, str]:
        """Poll a page until predicate(status, body) holds; returns the last answer."""
        deadline = time.monotonic() + timeout
        status, body = 0, ""
        while time.monotonic() < deadline:
            status, _, body = self.get(path)
            if predicate(status, body):
                return status, body
            time.sleep(0.2)
        raise AssertionError(f"{path}: condition not met within {timeout}s (last status {status})")


@contextlib.contextmanager
def running_dev(tmp_path_factory: pytest.TempPathFactory, *options: str) -> Iterator[DevStack]:
    """`newsdrop dev` with the sample site (and `options`), as a user starts it; stopped with Ctrl-C."""
    s3_port, site_port = free_port(), free_port()
    # A clean environment, as a user's shell would have: nothing leaks in from other tests.
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "PYENV_ROOT", "VIRTUAL_ENV")
    env = {name: os.environ[name] for name in keep if name in os.environ}
    env.update(
        {
            "AWS_ACCESS_KEY_ID": "e2e",
            "AWS_SECRET_ACCESS_KEY": "e2e",
            "AWS_DEFAULT_REGION": "us-east-1",
            "PYTHONUNBUFFERED": "1",
        }
    )
    command = [
        sys.executable, "-m", "newsdrop.cli.main", "dev",
        "--s3-port", str(s3_port), "--site-port", str(site_port),
        "--posts", str(ROOT / "samples" / "site"), "--retry-after", "1", *options,
    ]  # fmt: skip
    log = tmp_path_factory.mktemp("dev") / "dev.log"
    handle = log.open("w")
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        text = log.read_text()
        match = re.search(r"site:\s+(http://\S+)", text)
        if match:
            break
        if process.poll() is not None:
            raise RuntimeError(f"newsdrop dev exited early:\n{text}")
        time.sleep(0.2)
    else:
        process.kill()
        raise RuntimeError(f"newsdrop dev did not start:\n{log.read_text()}")
    stack = DevStack(process, f"http://127.0.0.1:{s3_port}", match.group(1), [])
    try:
        yield stack
    finally:  # stopped whatever the tests did
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGUSR1)  # newsdrop dev dumps every thread's stack
            time.sleep(1)
            process.kill()
            raise AssertionError(f"newsdrop dev did not stop on SIGINT:\n{log.read_text()}") from None
        finally:
            handle.close()
        stack.output.append(log.read_text())


@pytest.fixture(scope="module")
def dev_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    with running_dev(tmp_path_factory) as stack:
        yield stack


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        unavailable("Debian's chromium is not installed (make install-browser)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield instance
        instance.close()
