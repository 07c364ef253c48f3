"""The one Jinja environment, and the site's static assets.

Templates and assets ship inside the package. Assets get content-hashed names, so
browsers and CloudFront may cache them forever and no invalidation is ever needed.
A site may override any template by uploading one of the same name under `_templates/`;
a site with overrides renders every template in Jinja's sandbox, so an override can shape
pages but cannot reach Python's internals, and arithmetic that would build huge values is
refused. The theme alone is this package's own code, as trusted as the Python that runs it,
and renders outside the sandbox, whose checks on every attribute and call take a quarter of
the time a post's page takes to render.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import subprocess  # nosec B404 - a trial render of a template override runs in a child process
import sys
from functools import cache, lru_cache
from importlib import resources
from typing import Any

from jinja2 import (
    BaseLoader,
    ChoiceLoader,
    DictLoader,
    Environment,
    PackageLoader,
    StrictUndefined,
    TemplateError,
    select_autoescape,
)
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from newsdrop import paths
from newsdrop.model import SiteConfig

STATIC_FILES = ("style.css", "search.js", "folder.js")
MAX_OUTPUT_CHARS = 5_000_000  # a rendered page larger than this is a runaway template
MAX_PRODUCT = 100_000  # `"x" * n`, `[..] * n`, `a ** b` in a template: no value past this size


class TemplateProblem(ValueError):
    """A template override that cannot be used: bad syntax, unknown names, or a runaway page."""


@cache
def template_names() -> frozenset[str]:
    """The theme's templates: the names an override may take."""
    folder = resources.files("newsdrop.rendering") / "templates"
    return frozenset(item.name for item in folder.iterdir() if item.is_file())


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


@lru_cache(maxsize=8)
def stamp(config: SiteConfig) -> str:
    """Changes whenever the theme or the site settings (template overrides included) change."""
    settings = hashlib.sha256(json.dumps(config.to_json(), sort_keys=True).encode()).hexdigest()[:16]
    return f"{fingerprint()}:{settings}"


@lru_cache(maxsize=1 << 14)  # a post's date is printed on every listing that shows it
def _date(value: str, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return dt.datetime.fromisoformat(value).strftime(fmt)


@lru_cache(maxsize=1 << 14)
def _isotime(value: str) -> str:
    """A time as HTML's `datetime` attribute takes it: whole seconds (HTML allows three decimals at most)."""
    return dt.datetime.fromisoformat(value).isoformat(timespec="seconds")


def _absolute(url: str, config: SiteConfig) -> str:
    return config.url.rstrip("/") + paths.href(config.baseurl + url)


class _Sandbox(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(right, int | float) and abs(right) > 64:
            raise SecurityError("exponent too large")
        if operator == "*":
            for value, times in ((left, right), (right, left)):
                if (
                    isinstance(value, str | list | tuple)
                    and isinstance(times, int)
                    and len(value) * times > MAX_PRODUCT
                ):
                    raise SecurityError("repetition too large")
        return super().call_binop(context, operator, left, right)


@cache
def environment(overrides: tuple[tuple[str, str], ...] = ()) -> Environment:
    """The environment for the theme, with a site's overrides first (one per set of overrides)."""
    loader: BaseLoader = PackageLoader("newsdrop.rendering", "templates")
    kind: type[Environment] = Environment
    if overrides:
        loader = ChoiceLoader([DictLoader(dict(overrides)), loader])
        kind = _Sandbox  # a template from the site's bucket: untrusted code
    env = kind(
        loader=loader,
        autoescape=select_autoescape(["html", "xml"], default_for_string=True),
        undefined=StrictUndefined,  # a template that names a missing value is a bug, not a blank
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        # The theme's files never change under a running process (and overrides make a new
        # environment): no file system check each time a page asks for a template.
        auto_reload=False,
    )
    env.filters["date"] = _date
    env.filters["isotime"] = _isotime
    env.filters["href"] = paths.href
    return env


def render(template: str, config: SiteConfig, **context: Any) -> bytes:
    env = environment(config.templates)

    def link(url: str) -> str:
        return paths.href(config.baseurl + url)

    def asset(name: str) -> str:
        return paths.href(config.baseurl + "/" + asset_key(name))

    def absolute(url: str) -> str:
        return _absolute(url, config)

    page = env.get_template(template).render(site=config, link=link, asset=asset, absolute=absolute, **context)
    if len(page) > MAX_OUTPUT_CHARS:
        raise TemplateProblem(f"{template} rendered {len(page)} characters; the limit is {MAX_OUTPUT_CHARS}")
    return page.encode()


TRIAL_SECONDS = 10  # a template that takes longer than this to render sample pages is a runaway


def check_template(name: str, source: str) -> None:
    """Raise TemplateProblem unless the override parses and every page kind renders with it.

    The pages are rendered in a child process with a time and memory limit: a template is a
    program, and one that loops without end or fills memory must cost a rejection, not the
    function that reads it."""
    try:
        # Parsing needs no loader: the theme's own environment, not a new cached one per upload.
        environment().parse(source)
    except TemplateError as exc:
        raise TemplateProblem(_describe(exc)) from exc
    request = json.dumps({"name": name, "source": source})
    # The child must find this package where this process found it: Lambda puts the layer
    # (/opt/python) on sys.path inside its bootstrap, not in PYTHONPATH, which a child inherits.
    environ = {**os.environ, "PYTHONPATH": os.pathsep.join(entry for entry in sys.path if entry)}
    try:
        child = subprocess.run(  # nosec B603 - this interpreter running a module of this package, no shell
            [sys.executable, "-m", "newsdrop.rendering.samples"],
            input=request,
            env=environ,
            capture_output=True,
            text=True,
            timeout=TRIAL_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise TemplateProblem(f"rendering sample pages took more than {TRIAL_SECONDS} s") from exc
    if child.returncode != 0:
        reason = child.stdout.strip() or f"rendering sample pages failed (exit {child.returncode})"
        raise TemplateProblem(reason[:500])


def trial_render(name: str, source: str) -> str:
    """Render every page kind with the override; '' when all render, else what went wrong (in the child)."""
    from newsdrop.rendering import samples  # sample pages only when an override is uploaded

    try:
        samples.render_all(SiteConfig(templates=((name, source),)))
    except TemplateProblem as exc:
        return str(exc)
    except TemplateError as exc:
        return _describe(exc)
    except MemoryError:
        return "rendering sample pages ran out of memory"
    except (TypeError, ValueError, AttributeError, KeyError, ArithmeticError, RecursionError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return ""


def _describe(exc: TemplateError) -> str:
    line = getattr(exc, "lineno", None)
    return f"{exc.message or exc}" + (f" (line {line})" if line else "")
