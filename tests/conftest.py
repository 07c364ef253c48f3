"""Shared fixtures: paths, the shared corpus, sample posts and the moto-backed stack."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings
from hypothesis.configuration import set_hypothesis_home_dir

# Hypothesis keeps no example database, and its caches go to a temporary folder, not the checkout:
# a test run writes only to temporary folders (a case that must be replayed is named with @example).
_HYPOTHESIS_HOME = tempfile.mkdtemp(prefix="newsdrop-hypothesis-")
atexit.register(shutil.rmtree, _HYPOTHESIS_HOME, ignore_errors=True)
set_hypothesis_home_dir(_HYPOTHESIS_HOME)
settings.register_profile("newsdrop", database=None)
settings.load_profile("newsdrop")

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpus" / "finews"
EVENTS = ROOT / "events"
SAMPLES = ROOT / "samples"


# In CI (`.ci/run`, which installs every tool and builds the layer before the tests), a tool or
# build a test needs and cannot find is a failure: a skip there would hide a whole suite.
IN_CI = os.environ.get("CI") == "true"


def unavailable(reason: str) -> None:
    """Skip for want of a tool or a build, or fail in CI, where everything must be there."""
    if IN_CI:
        pytest.fail(f"{reason} (CI installs and builds everything the tests need)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def corpus() -> Path:
    if not (CORPUS / "_posts").is_dir():
        pytest.skip(f"the shared corpus is not at {CORPUS}")
    return CORPUS


def load_event(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EVENTS / name).read_text(encoding="utf-8"))
    return data


@pytest.fixture(autouse=True)
def _aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # Never reach a real account from a test, whatever the machine's environment says.
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")


@pytest.fixture
def moto_stack(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Iterator[Any]:
    """template.yaml's resources on in-process moto, with the real handlers pumped like Lambda
    (parametrized indirectly: render's IO_CONCURRENCY, 1 unless given, as in the local stack)."""
    from moto import mock_aws

    from newsdrop.adapters import aws
    from newsdrop.local import moto_patches
    from newsdrop.local.stack import Names, Pump, provision
    from newsdrop.runtime import aws_ports
    from newsdrop.settings import settings

    saved = dict(os.environ)
    with mock_aws():
        moto_patches.install()
        aws.client.cache_clear()
        aws_ports.cache_clear()
        settings.cache_clear()
        stack = provision(ROOT, Names())
        pump = Pump(stack, retry_after=0, in_process=True, io_concurrency=getattr(request, "param", 1))
        yield pump
    aws.client.cache_clear()
    aws_ports.cache_clear()
    settings.cache_clear()
    os.environ.clear()
    os.environ.update(saved)
