"""Serve the site bucket over HTTP the way CloudFront serves it.

Same key mapping as the distribution's viewer-request function (`/x/` -> `x/index.html`,
`/x` -> `x.html`), `404.html` with status 404 for anything missing, the stored
Content-Type and Cache-Control, and the security headers of the template's response
headers policy. A site with a `baseurl` is served under it, as whatever mounts the
distribution there would serve it.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

from newsdrop import paths
from newsdrop.ports import Blob, Catalog, ObjectStore

log = logging.getLogger(__name__)


def security_headers(template: dict[str, Any]) -> dict[str, str]:
    """The headers CloudFront adds, read from the template's ResponseHeadersPolicy."""
    headers: dict[str, str] = {}
    for resource in template["Resources"].values():
        if resource.get("Type") != "AWS::CloudFront::ResponseHeadersPolicy":
            continue
        config = resource["Properties"]["ResponseHeadersPolicyConfig"].get("SecurityHeadersConfig", {})
        if "ContentSecurityPolicy" in config:
            headers["Content-Security-Policy"] = config["ContentSecurityPolicy"]["ContentSecurityPolicy"]
        if "StrictTransportSecurity" in config:
            hsts = config["StrictTransportSecurity"]
            value = f"max-age={hsts['AccessControlMaxAgeSec']}"
            if hsts.get("IncludeSubdomains"):
                value += "; includeSubDomains"
            if hsts.get("Preload"):
                value += "; preload"
            headers["Strict-Transport-Security"] = value
        if "ContentTypeOptions" in config:
            headers["X-Content-Type-Options"] = "nosniff"
        if "ReferrerPolicy" in config:
            headers["Referrer-Policy"] = config["ReferrerPolicy"]["ReferrerPolicy"]
        if "FrameOptions" in config:
            headers["X-Frame-Options"] = config["FrameOptions"]["FrameOption"]
    return headers


def key_for_path(raw_path: str, base: str = "/") -> str:
    """The object a request path names; under `base` (a site's `baseurl`, mounted there by whatever
    serves it), the path below it."""
    try:
        path = unquote(urlsplit(raw_path).path) or "/"
    except ValueError as exc:  # no URL at all ("http://[x/"): nothing is there
        raise paths.PathError(f"{raw_path[:80]!r} is not a URL") from exc
    if base != "/":
        if not path.startswith(base):
            raise paths.PathError(f"{path[:80]!r} is outside {base}")
        path = path[len(base) - 1 :]
    return paths.key_for_url(path)


def mounted_at(catalog: Catalog, *, ttl_s: float = 1.0) -> Callable[[], str]:
    """Where the site lives: its current settings' `baseurl`, which a new `_config.yml` may change
    while the stack runs; read again at most every `ttl_s` seconds, not on every request."""
    last: list[tuple[float, str]] = []

    def base() -> str:
        now = time.monotonic()
        if not last or now - last[0][0] > ttl_s:
            record = catalog.get_config()
            last[:] = [(now, record.config.baseurl if record is not None else "")]
        return last[0][1]

    return base


IDLE_TIMEOUT_S = 30.0
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


def ranged(body: bytes, header: str | None) -> tuple[HTTPStatus, bytes, dict[str, str]]:
    """The answer to a GET of `body` with a `Range` header, as CloudFront gives it from S3: one
    range of bytes (206), or 416 when it starts past the end; the whole object (200) without one,
    or for several ranges or one it cannot read, which S3 answers whole as well."""
    whole = (HTTPStatus.OK, body, {"Accept-Ranges": "bytes"})
    found = _RANGE.fullmatch(header.strip()) if header else None
    if found is None or found.group(1) == found.group(2) == "":
        return whole
    size = len(body)
    first, last = found.group(1), found.group(2)
    if first == "":  # the last N bytes
        start, end = max(0, size - int(last)), size - 1
    else:
        start, end = int(first), min(size - 1, int(last)) if last else size - 1
    if first and last and int(last) < start:
        return whole  # not a range at all: ignored, as the standard says
    if start >= size or (first == "" and int(last) == 0):
        return HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE, b"", {"Content-Range": f"bytes */{size}"}
    return (
        HTTPStatus.PARTIAL_CONTENT,
        body[start : end + 1],
        {"Accept-Ranges": "bytes", "Content-Range": f"bytes {start}-{end}/{size}"},
    )


class SiteServer:
    def __init__(
        self,
        store: ObjectStore,
        host: str,
        port: int,
        headers: dict[str, str],
        *,
        base: str | Callable[[], str] = "/",
    ) -> None:
        self.store = store
        self.headers = headers
        self._base = base
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # A connection left idle is closed after this long: each holds a thread of its own.
            timeout = IDLE_TIMEOUT_S

            def do_GET(self) -> None:
                server.respond(self, with_body=True)

            def do_HEAD(self) -> None:
                server.respond(self, with_body=False)

            def log_message(self, format: str, *args: Any) -> None:
                log.debug(format, *args)

        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="site-server", daemon=True)

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    @property
    def base(self) -> str:
        """The site's path prefix, with its closing slash (`/` for a site at the root)."""
        base = self._base() if callable(self._base) else self._base
        return base.rstrip("/") + "/"

    def respond(self, request: BaseHTTPRequestHandler, *, with_body: bool) -> None:
        blob: Blob | None = None
        base = self.base
        if base != "/" and request.path.partition("?")[0] == "/":  # the stack's printed address: send the reader on
            request.send_response(HTTPStatus.FOUND)
            request.send_header("Location", base)
            request.send_header("Content-Length", "0")
            for name, value in self.headers.items():
                request.send_header(name, value)
            request.end_headers()
            return
        try:
            blob = self.store.get(key_for_path(request.path, base))
        except paths.PathError:
            blob = None
        extra: dict[str, str] = {}
        if blob is None:
            status = HTTPStatus.NOT_FOUND
            blob = self.store.get("404.html") or Blob(body=b"Not Found", etag="", content_type="text/plain")
            body = blob.body
        else:
            status, body, extra = ranged(blob.body, request.headers.get("Range"))
        request.send_response(status)
        request.send_header("Content-Type", blob.content_type or "application/octet-stream")
        request.send_header("Content-Length", str(len(body)))
        for name, value in extra.items():
            request.send_header(name, value)
        if blob.cache_control:
            request.send_header("Cache-Control", blob.cache_control)
        if blob.content_disposition:
            request.send_header("Content-Disposition", blob.content_disposition)
        if blob.etag:
            request.send_header("ETag", f'"{blob.etag}"')
        for name, value in self.headers.items():
            request.send_header(name, value)
        request.end_headers()
        if with_body:
            request.wfile.write(body)
