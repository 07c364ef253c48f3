"""What the keys of the source bucket are: posts, the site settings and template overrides.

Kept apart from `posts` (which parses them) so that code that only sorts keys, such as the
fan-out, imports no Markdown, YAML or HTML library.
"""

from __future__ import annotations

POSTS_PREFIX = "_posts/"
CONFIG_KEY = "_config.yml"
TEMPLATES_PREFIX = "_templates/"  # overrides of the theme's templates (Jinja), by name
# Jekyll's default `markdown_ext` (markdown, mkdown, mkdn, mkd, md), and HTML posts.
POST_SUFFIXES = (".md", ".markdown", ".mkdown", ".mkdn", ".mkd", ".html")


def is_post_key(key: str) -> bool:
    return key.startswith(POSTS_PREFIX) and key.lower().endswith(POST_SUFFIXES) and "/." not in key


def is_config_key(key: str) -> bool:
    return key == CONFIG_KEY


def is_site_key(key: str) -> bool:
    """Keys that change the site settings: `_config.yml` and template overrides."""
    return is_config_key(key) or key.startswith(TEMPLATES_PREFIX)


def template_name(key: str) -> str:
    return key.removeprefix(TEMPLATES_PREFIX)
