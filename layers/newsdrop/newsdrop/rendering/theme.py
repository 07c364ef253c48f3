"""The one Jinja environment, and the site's static assets.

Templates and assets ship inside the package. Assets get content-hashed names, so
browsers and CloudFront may cache them forever and no invalidation is ever needed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from functools import cache
from importlib import resources
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from newsdrop import paths
from newsdrop.model import SiteConfig

STATIC_FILES = ("style.css", "search.js")


@cache
def static_source(name: str) -> bytes:
    return (resources.files("newsdrop.rendering") / "static" / name).read_bytes()


@cache
def asset_key(name: str) -> str:
    """`assets/style.3f2a9c1e.css`: the name carries a hash of the content."""
    stem, _, ext = name.rpartition(".")
    digest = hashlib.sha256(static_source(name)).hexdigest()[:10]
    return f"assets/{stem}.{digest}.{ext}"


@cache
def fingerprint() -> str:
    """Changes whenever any template or asset changes."""
    digest = hashlib.sha256()
    root = resources.files("newsdrop.rendering")
    for folder in ("templates", "static"):
        for item in sorted((root / folder).iterdir(), key=lambda p: p.name):
            digest.update(item.name.encode() + b"\0" + item.read_bytes())
    return digest.hexdigest()[:16]


def _date(value: str, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return dt.datetime.fromisoformat(value).strftime(fmt)


def _absolute(url: str, config: SiteConfig) -> str:
    return config.url.rstrip("/") + config.baseurl + paths.href(url)


@cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("newsdrop.rendering", "templates"),
        autoescape=select_autoescape(["html", "xml"], default_for_string=True),
        undefined=StrictUndefined,  # a template that names a missing value is a bug, not a blank
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["date"] = _date
    env.filters["href"] = paths.href
    return env


def render(template: str, config: SiteConfig, **context: Any) -> bytes:
    env = environment()

    def link(url: str) -> str:
        return config.baseurl + paths.href(url)

    def asset(name: str) -> str:
        return config.baseurl + "/" + asset_key(name)

    def absolute(url: str) -> str:
        return _absolute(url, config)

    return env.get_template(template).render(site=config, link=link, asset=asset, absolute=absolute, **context).encode()
