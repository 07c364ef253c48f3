"""What the keys of the source bucket are: posts, the site settings, template overrides and files.

Kept apart from `posts` (which parses them) so that code that only sorts keys, such as the
fan-out, imports no Markdown, YAML or HTML library.
"""

from __future__ import annotations

POSTS_PREFIX = "_posts/"
CONFIG_KEY = "_config.yml"
TEMPLATES_PREFIX = "_templates/"  # overrides of the theme's templates (Jinja), by name
# Jekyll's default `markdown_ext` (markdown, mkdown, mkdn, mkd, md), and HTML posts.
POST_SUFFIXES = (".md", ".markdown", ".mkdown", ".mkdn", ".mkd", ".html")
# Files the site serves as they are, at their own key (Jekyll copies every file outside folders
# and names that start with `_` or `.`), by type: images, PDFs and plain text. Not SVG, HTML,
# JavaScript or CSS: served from the site's own origin, each could run script or restyle its pages.
FILE_TYPES = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "gif": "image/gif",
    "webp": "image/webp",
    "avif": "image/avif",
    "ico": "image/vnd.microsoft.icon",
    "pdf": "application/pdf",
    "txt": "text/plain; charset=utf-8",
    "csv": "text/csv; charset=utf-8",
}
MAX_FILE_BYTES = 20 * 2**20  # render holds a file in memory while it copies it
# Types a browser is to save rather than show: Chrome's PDF viewer has been reported not to show
# a PDF served with the site's Content-Security-Policy (`object-src 'none'`), which no page should
# lose for the sake of PDFs.
DOWNLOADED = frozenset({"pdf"})


def is_post_key(key: str) -> bool:
    return key.startswith(POSTS_PREFIX) and key.lower().endswith(POST_SUFFIXES) and "/." not in key


def is_config_key(key: str) -> bool:
    return key == CONFIG_KEY


def is_site_key(key: str) -> bool:
    """Keys that change the site settings: `_config.yml` and template overrides."""
    return is_config_key(key) or key.startswith(TEMPLATES_PREFIX)


def _extension(key: str) -> str:
    """The name's extension, lower-cased ("" for none: a name that is only an extension has none)."""
    stem, dot, ext = key.rsplit("/", 1)[-1].rpartition(".")
    return ext.lower() if dot and stem else ""


def file_type(key: str) -> str | None:
    """The content type a file of this name is served with, or None for a type the site never serves."""
    return FILE_TYPES.get(_extension(key))


LEFT_OUT = "_.#~"  # what the names of folders and files Jekyll does not copy start with
LEFT_OUT_ENDS = "~."  # and end with (a backup, to Jekyll; a name ending in a dot)


def file_disposition(key: str) -> str:
    """The Content-Disposition a file of this name is served with ("" for none)."""
    return "attachment" if _extension(key) in DOWNLOADED else ""


def is_file_key(key: str) -> bool:
    """A file the site serves as it is: a served type, in no folder and under no name Jekyll leaves out."""
    parts = key.split("/")
    return file_type(key) is not None and not any(not p or p[0] in LEFT_OUT or p[-1] in LEFT_OUT_ENDS for p in parts)


def template_name(key: str) -> str:
    return key.removeprefix(TEMPLATES_PREFIX)


def escaped(name: str) -> str:
    """A file's name as text any stream can write: its bytes that are not UTF-8 (which Python holds
    as lone surrogates, and no S3 key can take) as `\\udcff`."""
    return name.encode(errors="backslashreplace").decode()
