"""`newsdrop dev` says when the posts' `url:` is this machine at a port the stack does not serve the
site on: the site's canonical, feed and sitemap links would lead nowhere."""

from __future__ import annotations

from pathlib import Path

import pytest

from newsdrop.local.dev import DevStack, address_warning


def posts_with(tmp_path: Path, config: str | None) -> Path:
    if config is not None:
        (tmp_path / "_config.yml").write_text(config, encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080", "http://localhost:8080/", "http://[::1]:8080", "http://0.0.0.0:8080"]
)
def test_this_machine_at_another_port_is_named(tmp_path: Path, url: str) -> None:
    posts = posts_with(tmp_path, f"title: t\nurl: {url}\n")
    warning = address_warning(posts, 8081)
    assert warning is not None
    assert url.rstrip("/") in warning and "port 8081" in warning and str(posts / "_config.yml") in warning


def test_the_port_the_stack_serves_on_is_quiet(tmp_path: Path) -> None:
    assert address_warning(posts_with(tmp_path, "url: http://127.0.0.1:8081\n"), 8081) is None
    assert address_warning(posts_with(tmp_path, "url: http://localhost\n"), 80) is None


def test_the_deployed_address_is_meant(tmp_path: Path) -> None:
    assert address_warning(posts_with(tmp_path, "url: https://news.example.com\n"), 8081) is None


def test_without_settings_the_default_address_counts(tmp_path: Path) -> None:
    warning = address_warning(posts_with(tmp_path, None), 9000)
    assert warning is not None and "no _config.yml" in warning and "http://localhost:8080" in warning
    assert address_warning(posts_with(tmp_path, None), 8080) is None


def test_settings_the_stack_rejects_are_left_to_its_report(tmp_path: Path) -> None:
    assert address_warning(posts_with(tmp_path, "url: [unclosed\n"), 9000) is None


@pytest.mark.parametrize("url", ["http://127.0.0.1:99999", "https://localhost:9000", "https://127.0.0.1"])
def test_no_port_or_https_on_this_machine_leads_nowhere(tmp_path: Path, url: str) -> None:
    """The stack serves plain HTTP, and no port is 99999."""
    warning = address_warning(posts_with(tmp_path, f"url: {url}\n"), 9000)
    assert warning is not None and url in warning


def test_the_sample_site_matches_make_runs_port(root: Path) -> None:
    assert address_warning(root / "samples" / "site", 8080) is None
    assert address_warning(root / "samples" / "site", 8081) is not None


@pytest.mark.parametrize(
    ("host", "reached"),
    [("0.0.0.0", "127.0.0.1"), ("::", "[::1]"), ("127.0.0.1", "127.0.0.1"), ("::1", "[::1]"), ("box.lan", "box.lan")],
)
def test_the_banner_names_an_address_this_machine_reaches(tmp_path: Path, host: str, reached: str) -> None:
    # A stack listening on every address (`--host 0.0.0.0`) is reached at the loopback one: the
    # banner's commands and the functions' endpoint must not name the wildcard.
    stack = DevStack(tmp_path, host=host, s3_port=4590, site_port=8090)
    assert stack.endpoint == f"http://{reached}:4590"
    assert stack.site_url == f"http://{reached}:8090/"
    assert f"--endpoint-url http://{reached}:4590 " in stack.banner()
