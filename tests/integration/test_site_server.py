"""The local stack's site server follows the site's `baseurl` as the settings change, over loopback HTTP."""

from __future__ import annotations

import http.client
import socket
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from newsdrop.local.inprocess import InProcessPipeline
from newsdrop.local.siteserver import SiteServer, mounted_at

POST_KEY = "_posts/2024-05-23-mounted.md"
POST = "---\ntitle: 挂载 Mounted\ndate: 2024-05-23 10:00:00\ncategories: news\n---\nBody.\n"


@contextmanager
def site(pipeline: InProcessPipeline) -> Iterator[http.client.HTTPConnection]:
    # ttl_s=0: every request reads the settings, so the test needs no sleep after a change.
    server = SiteServer(
        pipeline.site, "127.0.0.1", 0, {"X-Frame-Options": "DENY"}, base=mounted_at(pipeline.catalog, ttl_s=0)
    )
    server.start()
    try:
        yield http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    finally:
        server.stop()


def get(conn: http.client.HTTPConnection, path: str) -> tuple[int, dict[str, str], str]:
    conn.request("GET", path)
    response = conn.getresponse()
    return response.status, dict(response.getheaders()), response.read().decode()


def publish(pipeline: InProcessPipeline, files: dict[str, str]) -> None:
    for key, text in files.items():
        pipeline.upload(key, text.encode())
    pipeline.drain()


def test_a_site_with_a_baseurl_is_served_under_it_and_moves_when_the_setting_changes() -> None:
    pipeline = InProcessPipeline()
    publish(pipeline, {"_config.yml": "title: Blog\nbaseurl: /blog\n", POST_KEY: POST})
    with site(pipeline) as conn:
        status, _, page = get(conn, "/blog/news/2024/05/23/mounted.html")
        assert status == 200 and "挂载 Mounted" in page
        assert 'href="/blog/' in page  # the page's own links lead under the mount point
        status, _, home = get(conn, "/blog/")
        assert status == 200 and "/blog/news/2024/05/23/mounted.html" in home
        status, headers, _ = get(conn, "/")  # the address the stack prints
        assert status == 302 and headers["Location"] == "/blog/" and headers["X-Frame-Options"] == "DENY"
        assert get(conn, "/news/2024/05/23/mounted.html")[0] == 404  # outside the mount point

        publish(pipeline, {"_config.yml": "title: Blog\n"})  # the site moves to the root
        status, _, page = get(conn, "/news/2024/05/23/mounted.html")
        assert status == 200 and 'href="/blog/' not in page
        assert get(conn, "/")[0] == 200
        assert get(conn, "/blog/news/2024/05/23/mounted.html")[0] == 404


def test_ranges_are_answered_as_cloudfront_answers_them() -> None:
    pipeline = InProcessPipeline()
    publish(pipeline, {POST_KEY: POST})
    with site(pipeline) as conn:
        status, headers, whole = get(conn, "/robots.txt")
        assert status == 200 and headers["Accept-Ranges"] == "bytes"
        size = len(whole.encode())
        for asked, expected in (
            ("bytes=0-4", (0, 4)),
            ("bytes=3-", (3, size - 1)),
            ("bytes=-5", (size - 5, size - 1)),
            ("bytes=2-99999", (2, size - 1)),
        ):
            conn.request("GET", "/robots.txt", headers={"Range": asked})
            response = conn.getresponse()
            body = response.read()
            assert response.status == 206, asked
            assert response.getheader("Content-Range") == f"bytes {expected[0]}-{expected[1]}/{size}"
            assert body == whole.encode()[expected[0] : expected[1] + 1]
        for asked, status in (("bytes=99999-", 416), ("bytes=0-1,4-5", 200), ("bytes=5-2", 200), ("lines=1-2", 200)):
            conn.request("GET", "/robots.txt", headers={"Range": asked})
            response = conn.getresponse()
            body = response.read()
            assert response.status == status, asked
            assert body == (b"" if status == 416 else whole.encode())
        conn.request("GET", "/no-such-page", headers={"Range": "bytes=0-4"})
        response = conn.getresponse()
        assert response.status == 404 and b"<html" in response.read()  # the whole 404 page


def test_an_idle_connection_is_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    from newsdrop.local import siteserver

    monkeypatch.setattr(siteserver, "IDLE_TIMEOUT_S", 0.5)
    pipeline = InProcessPipeline()
    publish(pipeline, {POST_KEY: POST})
    with site(pipeline) as conn:
        assert get(conn, "/robots.txt")[0] == 200
        idle = socket.create_connection(("127.0.0.1", conn.port), timeout=10)
        with idle:
            idle.sendall(b"GET /robots.txt HTTP/1.1\r\nHost: x\r\n")  # and never the end of the headers
            assert idle.recv(1024) == b""  # closed by the server, long before the client's 10 s
