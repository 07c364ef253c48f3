"""Permalinks and site keys: the only way a post's name becomes a path on the site.

Every object key written to the site bucket for a post comes from `site_key`, which
refuses anything that could leave the site root (`..`, backslashes, control
characters, absolute URLs) or overwrite a page that the site itself owns.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import re
import unicodedata
from collections.abc import Callable
from urllib.parse import quote, unquote, urlsplit

from newsdrop import source_keys

MAX_KEY_BYTES = 900  # S3 allows 1,024; keep room for prefixes and index.html
MAX_SEGMENT_BYTES = 200  # below every file system's name limit, for `newsdrop build`
# A filled permalink's placeholders, escaped: a key of MAX_KEY_BYTES escapes to at most three times
# as many characters (`%E6`); past this, no post's address is being made.
MAX_FILLED_CHARS = 4 * MAX_KEY_BYTES

# Keys and top-level folders that belong to the site, never to a post.
RESERVED_FILES = frozenset({"index.html", "404.html", "feed.xml", "sitemap.xml", "robots.txt", "favicon.ico"})
RESERVED_DIRS = frozenset({"assets", "search", "tags", "archive", "sitemaps", "categories"})
# Of those, what a file may still take: `assets/` holds the theme's files, all of them CSS and
# JavaScript, types no file has (Jekyll sites keep their images there), and nothing writes a favicon.
FILE_MAY_TAKE = frozenset({"assets", "favicon.ico"})
_PAGE_SUFFIXES = (".html", ".htm", ".xml", ".json")  # what the site's own objects are named
_ARCHIVE_PAGE = re.compile(r"\A\d{4}/\d{2}(?:/\d{2})?/index\.html\Z")
# The search index's objects (newsdrop.search): the manifest names the runs and documents. Here,
# with the rest of the site's layout, so the writer knows them without importing the index.
SEARCH_PREFIX = "search/"
SEARCH_MANIFEST_KEY = SEARCH_PREFIX + "manifest.json"
SEARCH_RUN_PREFIX = SEARCH_PREFIX + "run/"
SEARCH_DOC_PREFIX = SEARCH_PREFIX + "doc/"

# A post's artifact (the parsed post as JSON, in the artifact bucket): named by its source key and
# its content, so concurrent parses of one key never overwrite each other's, and a body carried
# in an event can be checked against the key the catalog names (`stages.common.Artifacts`). The
# content's whole SHA-256, for that check: no body made to collide with an author's post can pass.
ARTIFACTS_PREFIX = "posts/"


def artifact_key(source_key: str, body: bytes) -> str:
    folder = hashlib.sha256(source_key.encode()).hexdigest()[:24]
    return f"{ARTIFACTS_PREFIX}{folder}/{hashlib.sha256(body).hexdigest()}.json"


JEKYLL_DEFAULT_PERMALINK = "/:categories/:year/:month/:day/:title:output_ext"
# Jekyll's built-in permalink styles, which `_config.yml` may name instead of a template.
JEKYLL_STYLES = {
    "date": JEKYLL_DEFAULT_PERMALINK,
    "pretty": "/:categories/:year/:month/:day/:title/",
    "ordinal": "/:categories/:year/:y_day/:title:output_ext",
    "weekdate": "/:categories/:year/W:week/:short_day/:title:output_ext",
    "none": "/:categories/:title:output_ext",
}


def site_permalink(setting: str) -> str:
    """The permalink template `_config.yml`'s `permalink:` stands for (Jekyll's default when empty)."""
    setting = setting.strip()
    return JEKYLL_STYLES.get(setting, setting) or JEKYLL_DEFAULT_PERMALINK


class PathError(ValueError):
    """A permalink or name cannot become a path inside the site."""


_PRETTY_KEEPS = "._~!$&'()+,;=@"
# ASCII text, the usual file name, slugified in C: its letters and digits are all the letters,
# marks and decimal digits it has, so these give what `slugify_any` gives, character for character.
_ASCII_NOT_PRETTY = re.compile(f"[^A-Za-z0-9{re.escape(_PRETTY_KEEPS)}]+")
_ASCII_NOT_DEFAULT = re.compile(r"[^A-Za-z0-9]+")


def slugify_any(text: str, keeps: str = "") -> str:
    """Every run of characters but letters, marks, decimal digits and `keeps` becomes one "-"."""
    out: list[str] = []
    run = False
    for ch in text:
        cat = unicodedata.category(ch)
        if cat[0] in "LM" or cat == "Nd" or ch in keeps:
            out.append(ch)
            run = False
        elif not run:
            out.append("-")
            run = True
    return "".join(out).strip("-")


def slugify_pretty(text: str) -> str:
    """Jekyll's `slugify(mode: "pretty", cased: true)`, which its `:title` placeholder uses."""
    if text.isascii():
        return _ASCII_NOT_PRETTY.sub("-", text).strip("-")
    return slugify_any(text, _PRETTY_KEEPS)


def slugify_default(text: str) -> str:
    """Jekyll's `slugify` in its default mode, which its `:slug`, `:name` and `:slugified_categories`
    use: every run of characters but letters, marks and decimal digits becomes "-", lower-cased."""
    if text.isascii():
        return _ASCII_NOT_DEFAULT.sub("-", text).strip("-").lower()
    return slugify_any(text).lower()


def _check_chars(text: str, what: str) -> None:
    # Printable text has none of the categories refused below (str.isprintable refuses them all,
    # and spaces but " " too): the loop, which names the character, runs only when it might.
    if "\\" not in text and text.isprintable():
        return
    for ch in text:
        if ch == "\\":
            raise PathError(f"{what} contains a backslash")
        if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Zl", "Zp"):
            raise PathError(f"{what} contains a control character U+{ord(ch):04X}")


# A permalink's date placeholders; only those the template names are computed.
_DATE_FIELDS: dict[str, Callable[[dt.datetime], str]] = {
    "year": lambda when: f"{when:%Y}",
    "short_year": lambda when: f"{when:%y}",
    "month": lambda when: f"{when:%m}",
    "i_month": lambda when: str(when.month),
    "day": lambda when: f"{when:%d}",
    "i_day": lambda when: str(when.day),
    "hour": lambda when: f"{when:%H}",
    "minute": lambda when: f"{when:%M}",
    "second": lambda when: f"{when:%S}",
    "y_day": lambda when: f"{when:%j}",
    "week": lambda when: f"{when:%V}",
    "short_day": lambda when: f"{when:%a}",
    "long_day": lambda when: f"{when:%A}",
    "long_month": lambda when: f"{when:%B}",
    "short_month": lambda when: f"{when:%b}",
    "w_year": lambda when: f"{when:%G}",  # the ISO week's year, with `:week`
    "w_day": lambda when: f"{when:%u}",  # the ISO weekday, 1 on Mondays
    "output_ext": lambda _: ".html",
}
# Longest names first, so `:i_month` is never read as `:i` + `_month`.
_PLACEHOLDER = re.compile(
    ":("
    + "|".join(
        sorted([*_DATE_FIELDS, "categories", "slugified_categories", "title", "slug", "name"], key=len, reverse=True)
    )
    + ")"
)


_PATH_SAFE = "/:@!$&'()*+,;=-._~"  # RFC 3986's characters of a path (Addressable's PATH class)
# What `quote(value, safe=_PATH_SAFE)` leaves as it is: most placeholders' values, which need no call.
_UNQUOTED = re.compile(r"[A-Za-z0-9/:@!$&'()*+,;=\-._~]*")


def quote_path(value: str) -> str:
    return value if _UNQUOTED.fullmatch(value) else quote(value, safe=_PATH_SAFE)


def jekyll_permalink(
    template: str,
    *,
    when: dt.datetime,
    slug: str,
    categories: list[str],
    explicit_slug: str | None = None,
    file_name: str = "",
) -> str:
    """Fill a Jekyll permalink template (the default one unless front matter gives `permalink:`).
    `file_name`: the post's file name without its extension, date included (`:name`)."""

    def title() -> str:
        return slugify_pretty(explicit_slug) if explicit_slug else slugify_pretty(slug) or slug

    # Like the dates', only the values the template names are computed: slugifying a name that is
    # not ASCII (most of the reference site's) goes character by character.
    named: dict[str, Callable[[], str]] = {
        "categories": lambda: "/".join(dict.fromkeys(c.lower() for c in categories)),
        "slugified_categories": lambda: "/".join(dict.fromkeys(slugify_default(c) for c in categories)),
        "title": title,
        "slug": lambda: slugify_default(explicit_slug or slug) or title(),
        "name": lambda: slugify_default(file_name or slug),
    }

    values: dict[str, str] = {}
    filled = 0

    def fill(match: re.Match[str]) -> str:
        nonlocal filled
        name = match.group(1)
        if name not in values:
            # Escaped as Jekyll escapes each placeholder's value, and decoded once with the whole path
            # (`normalise_url`): a category `C#` or `what?` is a folder of that name, not the start of
            # a fragment or a query, and `a%20b` stays as it is written.
            values[name] = quote_path(named[name]() if name in named else _DATE_FIELDS[name](when))
        # Checked as it grows: a template naming a long title thousands of times would otherwise
        # build hundreds of megabytes before the key's length is checked.
        filled += len(values[name])
        if filled > MAX_FILLED_CHARS:
            raise PathError(f"permalink is longer than {MAX_FILLED_CHARS} characters once its placeholders are filled")
        return values[name]

    # Like Jekyll's URL sanitising: an empty placeholder (no categories) leaves "//", which is one "/".
    return re.sub(r"/{2,}", "/", _PLACEHOLDER.sub(fill, template))


def normalise_url(raw: str) -> str:
    """A site path from a permalink: decoded once, `.`/`..`/empty segments dropped, leading `/`."""
    if not raw.strip():
        raise PathError("permalink is empty")
    # Checked before parsing: urlsplit silently drops tabs and newlines.
    _check_chars(raw.strip(), "permalink")
    try:
        parts = urlsplit(raw.strip())
    except ValueError as exc:  # e.g. "//[oops": an unbalanced IPv6 host
        raise PathError(f"permalink {raw[:80]!r} is not a valid URL path: {exc}") from exc
    if parts.scheme or parts.netloc:
        raise PathError(f"permalink {raw[:80]!r} is an absolute URL, not a path on this site")
    path = unquote(parts.path)
    _check_chars(path, "permalink")
    trailing = path.endswith("/")
    segments = [s for s in path.split("/") if s not in ("", ".", "..")]
    url = "/" + "/".join(segments)
    if trailing and segments:
        url += "/"
    return url


def key_for_url(url: str) -> str:
    """The site-bucket key that serves `url`, the way Jekyll names its output files."""
    if url == "/" or url.endswith("/"):
        key = url.lstrip("/") + "index.html"
    else:
        key = url.lstrip("/")
        if "." not in key.rsplit("/", 1)[-1]:
            key += ".html"
    return key


def _check_key(key: str, what: str, named: str) -> list[str]:
    """Refuse a site key that could leave the site or that no bucket or folder can hold; its segments.
    `what` names the kind of name ("permalink"), `named` the one refused."""
    _check_chars(key, what)
    segments = key.split("/")
    if any(seg in ("", ".", "..") for seg in segments):
        raise PathError(f"{named} does not name a file inside the site")
    if len(key.encode()) > MAX_KEY_BYTES:
        raise PathError(f"{what} is longer than {MAX_KEY_BYTES} bytes")
    if any(len(seg.encode()) > MAX_SEGMENT_BYTES for seg in segments):
        raise PathError(f"a {what} segment is longer than {MAX_SEGMENT_BYTES} bytes")
    return segments


def _in_page_folder(segments: list[str]) -> bool:
    """Whether a key lies below a folder named like one of the site's pages."""
    return any(seg.lower().endswith(_PAGE_SUFFIXES) for seg in segments[:-1])


def folded(key: str) -> str:
    """A key as a folder that ignores case and Unicode normalisation (macOS's, Windows') names it:
    `Feed.xml`, `FEED.XML` and `feed.xml` are one file there, and so are `ſearch/` and `search/`."""
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", key).casefold())


def post_key(url: str) -> str:
    """The key of a post page; refuses keys that escape or collide with the site's own pages, also
    where only case or normalisation tells them apart: built into such a folder, the post's page
    would be written over the site's own."""
    key = key_for_url(url)
    _check_key(key, "permalink", f"permalink {url[:80]!r}")
    same = folded(key)
    first = same.split("/", 1)[0]
    under_own = "/" in same and (first in RESERVED_DIRS or first in RESERVED_FILES)  # `robots.txt/x` too
    if same in RESERVED_FILES or under_own or _ARCHIVE_PAGE.match(same):
        raise PathError(f"permalink {url[:80]!r} collides with a page the site itself owns")
    if same.endswith("/index.html") and same.count("/") == 1:
        raise PathError(f"permalink {url[:80]!r} collides with a category page")
    segments = key.split("/")
    named = next((seg for seg in segments if source_keys.file_type(seg) is not None), None)
    if named is not None:  # a page, or a folder of pages, of a file's name
        raise PathError(f"permalink {url[:80]!r} names a file served as it is ({named[:80]}), not a page")
    if _in_page_folder(segments):  # `2024/05/23/index.html/x.html`
        # A folder cannot share its name with a file: built into a folder, the page of that name
        # (a day's page, a listing, another post's) could not be written.
        raise PathError(f"permalink {url[:80]!r} is in a folder named like a page")
    return key


def file_key(key: str) -> str:
    """The site key of a file served as it is (`source_keys.is_file_key`): its own, unless that
    leaves the site or takes a name the site's own pages use. Files and pages never share a key: a
    file's type is one no page has (`post_key`)."""
    segments = _check_key(key, "file name", f"file {key[:80]!r}")
    same = folded(key)
    first = same.split("/", 1)[0]
    own = same in RESERVED_FILES or ("/" in same and first in RESERVED_DIRS | RESERVED_FILES)
    if own and same != "favicon.ico" and first not in FILE_MAY_TAKE:
        raise PathError(f"file {key[:80]!r} takes a name the site's own pages use")
    if _in_page_folder(segments):  # `news/index.html/x.png`
        raise PathError(f"file {key[:80]!r} is in a folder named like a page")
    return key


def file_refusal(key: str, size: int | None) -> str | None:
    """Why a file of the source bucket (`source_keys.is_file_key`) cannot be served as it is, by its
    name or its size in bytes (None: not known, as when it is gone), or None when it can."""
    try:
        file_key(key)
    except PathError as exc:
        return str(exc)
    if size is not None and size > source_keys.MAX_FILE_BYTES:
        return f"file is {size} bytes; the limit is {source_keys.MAX_FILE_BYTES}"
    return None


def may_hold_post(url: str) -> bool:
    """Whether a post's page, or a redirect to one, may stand at `url` (`post_key` accepts it)."""
    try:
        post_key(url)
    except PathError:
        return False
    return True


@functools.lru_cache(maxsize=1 << 16)  # listings and feeds link the same URLs page after page
def href(url: str) -> str:
    """A site path as an `href`: percent-encoded UTF-8, safe characters kept."""
    return quote_path(url)


def absolute(site_url: str, baseurl: str, url: str) -> str:
    """A site path as the full address that the feed, the sitemaps and canonical links write."""
    return site_url.rstrip("/") + href(baseurl + url)


def _invisible(ch: str) -> bool:
    return unicodedata.category(ch)[0] == "C"  # control, format, private use, unassigned


def looks_like_another(name: str) -> bool:
    """Whether the name holds what a reader cannot see and `segment` drops (invisible or control
    characters, leading or trailing dots): its page would be that of a name that looks the same."""
    if name != name.strip().strip("."):
        return True
    # A printable name has none of the categories `_invisible` looks for (nor separators but " "):
    # one call in C, where the loop asks for each character's category.
    return not name.isprintable() and any(_invisible(ch) for ch in name)


_LIKE_DIGEST = re.compile(r"~[0-9a-f]{8}\Z")


@functools.lru_cache(maxsize=1 << 12)  # a site has few names, on every post's page and listing
def segment(name: str) -> str:
    """A listing name (category, tag) as one safe path segment, one per name: where the name cannot
    be the segment as it is (a "/" or "\\" dropped, a long name cut), a digest of the whole name is
    added, so that `美元/人民币` and `美元人民币`, or two long names that begin alike, keep pages of
    their own. A name that already ends like a digest (`美元人民币~978f9cc3`) gets one too: as it
    is, it would be the segment of another name, and the two listings would share one page."""
    if name.isprintable() and "/" not in name and "\\" not in name:  # nothing to drop (`looks_like_another`)
        cleaned = name
    else:
        cleaned = "".join(ch for ch in name if not _invisible(ch) and ch not in "/\\")
    cleaned = cleaned.strip().strip(".") or "-"
    if cleaned == name and len(cleaned.encode()) <= MAX_SEGMENT_BYTES and not _LIKE_DIGEST.search(name):
        return cleaned
    digest = "~" + hashlib.sha256(name.encode()).hexdigest()[:8]
    while len(cleaned.encode()) + len(digest) > MAX_SEGMENT_BYTES:
        cleaned = cleaned[:-1]
    return cleaned + digest
