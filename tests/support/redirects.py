"""Redirect pages: what a post's earlier URLs hold once it has moved.

They are the one part of a site that depends on history rather than on the final sources
(a fresh build never knew the old URL), so the tests that compare a replayed site with a
fresh build compare everything else, and check the redirects on their own.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from urllib.parse import unquote

from newsdrop import paths

_REFRESH = re.compile(rb'<meta http-equiv="refresh" content="0; url=([^"]*)">')


def redirect_target(body: bytes) -> str | None:
    """The site path a redirect page sends readers to (None: not a redirect page)."""
    match = _REFRESH.search(body)
    return None if match is None else unquote(html.unescape(match.group(1).decode()))


def redirects(objects: Mapping[str, bytes]) -> dict[str, str]:
    """Key of each redirect page -> the site path it sends readers to."""
    found = {}
    for key, body in objects.items():
        if key.endswith(".html") and (target := redirect_target(body)) is not None:
            found[key] = target
    return found


def without_redirects(objects: Mapping[str, bytes]) -> dict[str, bytes]:
    moved = redirects(objects)
    return {key: body for key, body in objects.items() if key not in moved}


def broken_redirects(objects: Mapping[str, bytes]) -> list[str]:
    """Redirects whose target is not a page of the site, or that point at themselves."""
    return [
        f"{key} -> {target}"
        for key, target in redirects(objects).items()
        if paths.key_for_url(target) not in objects or paths.key_for_url(target) == key
    ]
