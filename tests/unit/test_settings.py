"""The deployment settings: read once from the environment, and a malformed one stops the cold start."""

from __future__ import annotations

import pytest

from newsdrop.ports import DEFAULT_MAX_POST_BYTES
from newsdrop.settings import DEFAULT_IO_CONCURRENCY, MAX_IO_CONCURRENCY, Settings, SettingsError

REQUIRED = dict.fromkeys(("SOURCE_BUCKET", "SITE_BUCKET", "ARTIFACT_BUCKET", "CATALOG_TABLE", "EVENT_BUS_NAME"), "x")


def test_unset_or_empty_numbers_take_their_defaults() -> None:
    for env in (REQUIRED, {**REQUIRED, "MAX_POST_BYTES": "", "IO_CONCURRENCY": " "}):
        settings = Settings.from_env(env)
        assert (settings.max_post_bytes, settings.io_concurrency) == (DEFAULT_MAX_POST_BYTES, DEFAULT_IO_CONCURRENCY)


def test_numbers_are_read_within_their_bounds() -> None:
    settings = Settings.from_env({**REQUIRED, "MAX_POST_BYTES": "1", "IO_CONCURRENCY": str(MAX_IO_CONCURRENCY)})
    assert (settings.max_post_bytes, settings.io_concurrency) == (1, MAX_IO_CONCURRENCY)
    assert Settings.from_env({**REQUIRED, "IO_CONCURRENCY": "1"}).io_concurrency == 1


@pytest.mark.parametrize(
    ("name", "value", "reason"),
    [
        ("MAX_POST_BYTES", "0", "MAX_POST_BYTES must be at least 1, got 0"),
        ("MAX_POST_BYTES", "256k", "MAX_POST_BYTES must be an integer, got '256k'"),
        ("IO_CONCURRENCY", "0", f"IO_CONCURRENCY must be from 1 to {MAX_IO_CONCURRENCY}, got 0"),
        ("IO_CONCURRENCY", str(MAX_IO_CONCURRENCY + 1), "IO_CONCURRENCY must be from 1 to"),
        ("IO_CONCURRENCY", "eight", "IO_CONCURRENCY must be an integer"),
    ],
)
def test_a_malformed_number_is_refused_with_its_name(name: str, value: str, reason: str) -> None:
    with pytest.raises(SettingsError, match=reason.replace("(", r"\(")):
        Settings.from_env({**REQUIRED, name: value})


def test_a_missing_required_setting_is_named() -> None:
    with pytest.raises(SettingsError, match="environment variable SITE_BUCKET is required"):
        Settings.from_env({k: v for k, v in REQUIRED.items() if k != "SITE_BUCKET"})
