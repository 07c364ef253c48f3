"""Shared fixtures: paths, the shared corpus, sample posts and the moto-backed stack."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpus" / "finews"
EVENTS = ROOT / "events"
SAMPLES = ROOT / "samples"


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
def moto_stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """template.yaml's resources on in-process moto, with the real handlers pumped like Lambda."""
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
        pump = Pump(stack, retry_after=0, in_process=True)
        yield pump
    aws.client.cache_clear()
    aws_ports.cache_clear()
    settings.cache_clear()
    os.environ.clear()
    os.environ.update(saved)
