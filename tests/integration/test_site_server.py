"""The local stack's site server follows the site's `baseurl` as the settings change, over loopback HTTP."""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from contextlib import contextmanager

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
