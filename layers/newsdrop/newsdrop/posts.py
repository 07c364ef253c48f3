"""Reading a source file into a normalised post, the way Jekyll reads `_posts/`.

`read_post` is the only place that interprets a post's bytes. It either returns a
`Post` or raises `Rejected` with a reason a person can act on; it never half-succeeds.
"""

from __future__ import annotations

import datetime as dt
import functools
import posixpath
import re
from collections.abc import Callable
from typing import Any

import frontmatter
import yaml
from frontmatter.default_handlers import YAMLHandler

from newsdrop import markup, paths
from newsdrop.model import Post, SiteConfig
from newsdrop.source_keys import template_name

MAX_FRONT_MATTER_BYTES = 64 * 1024
MAX_YAML_ALIASES = 10
MAX_YAML_DEPTH = 20
MAX_TITLE_CHARS = 300
MIN_YEAR, MAX_YEAR = 1000, 9998
# RFC 4646's shape, which Atom's xml:lang takes (RFC 4287's atomLanguageTag).
_LANGUAGE_TAG = re.compile(r"[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*")
MAX_ADDRESS_CHARS = 2047
MAX_DATE_CHARS = 64  # "2021-12-08 10:40:58.123456789 +08:00" is 36
# A post's key ends up in DynamoDB sort keys (the listings' `<date>#<key>`), which take 1,024 bytes.
MAX_KEY_BYTES = 900
MAX_LABELS = 20  # categories, and tags, per post
MAX_LABEL_CHARS = 100
MAX_LISTED = 500  # the largest value of page_size, feed_size, home_per_tag and front_page_days

MAX_TEMPLATE_BYTES = 64 * 1024
_FILENAME = re.compile(r"\A(\d{2,4}-\d{1,2}-\d{1,2})-(.*)\Z")
# What Ruby reads in a date and ISO parsing does not, made ISO: any spaces or a "t" between the day
# and the time; a one-digit offset hour (`+8`, after the time's minutes or seconds); a one-digit
# month or day (after a "-") or hour (after the date's " " or "T").
_DATE_TIME_GAP = re.compile(r"\A(\d{4}-\d{1,2}-\d{1,2})(?:[ \t]+|t)(?=\d)")
_ONE_DIGIT_OFFSET = re.compile(r"(?<=:\d\d)\s*([+-])(\d)(:\d\d)?\Z")
# From the first space of a run only: from each, the run would be read again to its end.
_SPACED_OFFSET = re.compile(r"(?<!\s)\s+([+-]\d{2}:?\d{2}|Z)$")
_ONE_DIGIT = re.compile(r"(?<=\d)(-|[ T])?(?<![\d:])(\d)(?=[-: T]|\Z)")
# Front matter opens the file; a byte-order mark or blank lines before it are forgiven (feeds emit both).
_FRONT_MATTER = re.compile(r"\A\ufeff?(?:[ \t]*\r?\n)*(?=---[ \t]*\r?\n)")
_CLOSING = re.compile(r"^(?:---|\.\.\.)[ \t]*\r?$", re.M)


class Rejected(Exception):
    """A source file that cannot be published; `reason` says why, in words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def read_template(key: str, body: bytes) -> str:
    """A template override: one of the theme's template names, valid Jinja, within the size limit."""
    from newsdrop.rendering import theme  # Jinja only when a template is uploaded, not on every cold start

    name = template_name(key)
    if name not in theme.template_names():
        known = ", ".join(sorted(theme.template_names()))
        raise Rejected(f"{name!r} is not a template of the theme; overrides may replace: {known}")
    if len(body) > MAX_TEMPLATE_BYTES:
        raise Rejected(f"template is {len(body)} bytes; the limit is {MAX_TEMPLATE_BYTES}")
    source = decode_text(body, what="template")
    try:
        theme.check_template(name, source)
    except theme.TemplateProblem as exc:
        raise Rejected(f"template {name} cannot be used: {exc}") from exc
    return source


class SafeYAML(YAMLHandler):
    """python-frontmatter's YAML handler with limits, so front matter cannot exhaust memory."""

    def load(self, fm: str, **kwargs: object) -> Any:
        data = load_yaml(fm, what="front matter")
        # python-frontmatter would quietly drop anything but a mapping; say what is wrong instead.
        if data is not None and not isinstance(data, dict):
            raise Rejected(f"front matter must be a mapping of names to values, not a {type(data).__name__}")
        # python-frontmatter passes the names as keyword arguments: `1: x` would fail there as a TypeError.
        unnamed = [name for name in data or () if not isinstance(name, str)]
        if unnamed:
            raise Rejected(f"front matter names must be text, not {str(unnamed[0])[:40]!r}")
        return data


# libyaml's parser when PyYAML was built with it (its wheels are): the same safe constructor,
# several times faster than the pure-Python parser, which dominated parsing a post.
_SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_SafeLoader):  # type: ignore[valid-type,misc]
    """SafeLoader that leaves dates as text: they are parsed by Jekyll's rules, with a clear reason when wrong."""


class YamlTime(str):
    """An unquoted date with a time (`date: 2021-12-08 20:00:00`), which Jekyll's YAML reader (Ruby's
    Psych) reads as a time, in UTC when it has no offset; a quoted one is text, read in the site's
    time zone. Kept as text, marked, so that `_parse_date` reads each as Jekyll does."""


_YAML_TIME = "tag:newsdrop,2024:yaml-time"
# Psych's pattern for a time (ScalarScanner::TIME): seconds required, an offset optional.
_PSYCH_TIME = re.compile(
    r"^-?\d{4}-\d{1,2}-\d{1,2}(?:[Tt]|[ \t]+)\d{1,2}:\d\d:\d\d(?:\.\d*)?(?:[ \t]*(?:Z|[-+]\d{1,2}:?(?:\d\d)?))?$"
)
_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
for _first in "-0123456789":
    _Loader.yaml_implicit_resolvers.setdefault(_first, []).insert(0, (_YAML_TIME, _PSYCH_TIME))
_Loader.add_constructor(_YAML_TIME, lambda loader, node: YamlTime(loader.construct_scalar(node)))


class _PlainResolver(yaml.resolver.BaseResolver):
    """The loader's own implicit typing of a plain value (`yes` a bool, `1.5` a float, a time a YamlTime)."""

    yaml_implicit_resolvers = _Loader.yaml_implicit_resolvers


_resolver = _PlainResolver()


@functools.lru_cache(maxsize=1 << 12)  # names, layouts and labels repeat from post to post
def _plain_tag(value: str) -> str:
    return str(_resolver.resolve(yaml.ScalarNode, value, (True, False)))  # type: ignore[no-untyped-call]


_STR_TAG = "tag:yaml.org,2002:str"
# Front matter as nearly every post writes it: one `name: value` per line, each value a double-quoted
# string without escapes or a plain one that starts with no YAML indicator. `_simple_mapping` reads
# it in one pass and leaves everything else to PyYAML, whose C parser and Python constructor took
# ~70 µs of each post's ~370.
# A plain value runs to its last character that is not a space (greedy: a lazy `.*?` before the
# trailing `[ ]*` tried that run of spaces again from each of its places, quadratic in its length).
_SIMPLE_LINE = re.compile(
    r"""([A-Za-z_][\w-]{0,127}):[ ]+(?:"([^"\\]*)"|([^\s"'\-?:,\[\]{}#&*!|>%@`](?:.*[^ ])?))[ ]*"""
)


def _simple_mapping(text: str) -> dict[str, Any] | None:
    """What `yaml.load(text, Loader=_Loader)` gives for the simple front matter above, or None for any other."""
    data: dict[str, Any] = {}
    for line in text.split("\n"):
        if not line:
            continue
        # Printable: no tab, "\r", control or format character, which YAML reads otherwise or refuses.
        match = _SIMPLE_LINE.fullmatch(line)
        if match is None or not line.isprintable():
            return None
        key, quoted, plain = match.groups()
        if _plain_tag(key) != _STR_TAG:  # `yes:`, `null:`
            return None
        if quoted is not None:
            data[key] = quoted
            continue
        if ": " in plain or " #" in plain or plain.endswith(":"):  # a nested mapping, a comment
            return None
        tag = _plain_tag(plain)
        if tag == _STR_TAG:
            data[key] = plain
        elif tag == _YAML_TIME:
            data[key] = YamlTime(plain)
        else:  # a number, a bool, a null...: built by PyYAML
            return None
    return data or None


# Every collection opens at one of these characters of its own (a sequence entry's "-", a key's "?"
# or ":", "[" or "{"), and every alias at a "*": text with no more of them than the limits allow
# cannot pass them, and needs no walk of its events. Most front matter has a handful.
_OPENERS = "-?:[{"


def within_yaml_limits_at_a_glance(text: str) -> bool:
    return text.count("*") <= MAX_YAML_ALIASES and sum(map(text.count, _OPENERS)) <= MAX_YAML_DEPTH


def load_yaml(text: str, *, what: str) -> Any:
    size = len(text.encode())
    if size > MAX_FRONT_MATTER_BYTES:
        raise Rejected(f"{what} is {size} bytes; the limit is {MAX_FRONT_MATTER_BYTES}")
    simple = _simple_mapping(text)
    if simple is not None:
        return simple
    aliases = 0
    depth = 0
    try:
        # Walk the event stream first, unless a glance shows the limits cannot be passed: counting
        # aliases and nesting there builds nothing, while constructing an alias bomb ("billion
        # laughs") would expand it.
        events = () if within_yaml_limits_at_a_glance(text) else yaml.parse(text, Loader=_Loader)
        for event in events:
            if isinstance(event, yaml.AliasEvent):
                aliases += 1
                if aliases > MAX_YAML_ALIASES:
                    raise Rejected(f"{what} uses more than {MAX_YAML_ALIASES} YAML aliases (possible alias bomb)")
            elif isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_YAML_DEPTH:
                    raise Rejected(f"{what} nests deeper than {MAX_YAML_DEPTH} levels")
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader  # nosec B506
    except (ValueError, TypeError, OverflowError, RecursionError) as exc:  # a value YAML recognised but cannot build
        raise Rejected(f"{what} holds a value that cannot be read: {exc}") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise Rejected(f"{what} is not valid YAML: {problem}{where}") from exc


# Characters XML 1.0 does not allow (C0 controls but tab, newline and carriage return; lone
# surrogates, which YAML escapes can make; U+FFFE and U+FFFF): one in a title or a summary would
# make the feed unreadable to every reader. Pasted and scraped news carries them now and then.
def xml_text(text: str) -> str:
    """`text` without the characters XML cannot hold."""
    return markup.NOT_XML.sub("", text)


def decode_text(body: bytes, *, what: str = "file") -> str:
    nul = body.find(b"\x00")
    if nul >= 0:
        raise Rejected(f"{what} is binary (NUL byte at offset {nul}), not a text post")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Rejected(f"{what} is not UTF-8 text: invalid byte 0x{body[exc.start]:02x} at offset {exc.start}") from exc


def _yaml_text(value: Any) -> str:
    """A YAML scalar as text the way Jekyll prints it: null is nothing, booleans are `true` and `false`."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _optional_date(meta: dict[str, Any], name: str, config: SiteConfig, problems: list[str]) -> dt.datetime | None:
    """A date the front matter may give (`expires:`, `last_modified_at:`); what is wrong with it goes to `problems`."""
    raw = meta.get(name)
    if raw is None or not str(raw).strip():
        return None
    try:
        return _parse_date(raw, config.tz)
    except Rejected as exc:
        problems.append(f"{name}: {exc.reason}")
        return None


def _label_items(raw: Any, plural: str, *, split: bool) -> list[Any]:
    if raw is None:
        return []
    if isinstance(raw, str):
        return raw.split() if split else [raw]
    if isinstance(raw, list):
        return raw
    if isinstance(raw, int | float):
        return [raw]
    raise Rejected(f"{plural} must be a list or a space-separated string, not {type(raw).__name__}")


def _labels(meta: dict[str, Any], plural: str, singular: str, *, merged: bool) -> list[str]:
    """Names as Jekyll reads them: the plural's string is split at spaces, the singular's is one name
    (`category: Hong Kong`). Categories take both, the plural's first (`merged`); tags the singular
    when it is there, else the plural."""
    one = meta.get(singular)
    given = one is not None and one is not False  # Jekyll passes over an empty or false singular
    items: list[Any] = []
    if merged or not given:
        items += _label_items(meta.get(plural), plural, split=True)
    if given:
        items += _label_items(one, plural, split=False)
    labels: list[str] = []
    for item in items:
        if isinstance(item, dict | list):
            raise Rejected(f"{plural} must hold plain names, found a {type(item).__name__}")
        label = xml_text(_yaml_text(item)).strip()
        if not label:
            continue
        if len(label) > MAX_LABEL_CHARS:
            raise Rejected(f"a {singular} is longer than {MAX_LABEL_CHARS} characters")
        if paths.looks_like_another(label):
            # "news\u200b" would take over the page of "news", under a heading that reads the same.
            raise Rejected(
                f"{singular} {label[:40]!r} has an invisible or control character, or a leading or trailing "
                "dot, which its page's address cannot hold"
            )
        labels.append(label)
    labels = list(dict.fromkeys(labels))
    if len(labels) > MAX_LABELS:
        raise Rejected(f"{len(labels)} {plural}; at most {MAX_LABELS} allowed")
    return labels


def _parse_date(raw: Any, tz: dt.tzinfo) -> dt.datetime:
    if isinstance(raw, dt.datetime):
        value = raw
    elif isinstance(raw, dt.date):
        value = dt.datetime(raw.year, raw.month, raw.day)
    else:
        text = str(raw).strip()
        if len(text) > MAX_DATE_CHARS:  # before any pattern reads it
            raise Rejected(f"date {text[:60]!r}... is not a date (it is {len(text)} characters long)")
        # Jekyll (Ruby) also reads any spaces or a "t" between the date and the time, a one-digit
        # offset (`+8`), and one-digit months, days and hours (`2021-1-5-x.md`, `9:05:00`).
        text = _DATE_TIME_GAP.sub(r"\1 ", text, count=1)
        text = _ONE_DIGIT_OFFSET.sub(lambda m: f" {m[1]}{m[2].zfill(2)}{m[3] or ':00'}", text)
        # Jekyll's usual "2021-12-08 10:40:58 +0800": drop the space before the offset for ISO parsing.
        text = _SPACED_OFFSET.sub(r"\1", text)
        text = _ONE_DIGIT.sub(lambda m: (m[1] or "") + m[2].zfill(2), text)
        try:
            value = dt.datetime.fromisoformat(text)
        except ValueError:
            raise Rejected(f"date {str(raw)[:60]!r} is not a date (expected YYYY-MM-DD[ HH:MM[:SS]][ +ZZZZ])") from None
    if value.tzinfo is None:
        # Jekyll reads an unquoted time without an offset as UTC (see YamlTime), anything else in
        # the site's time zone: the post's day, and so its URL, is the one Jekyll gives it.
        value = value.replace(tzinfo=dt.UTC if isinstance(raw, YamlTime) else tz)
    try:
        value = value.astimezone(tz)
    except OverflowError:
        raise Rejected(f"date {str(raw)[:60]!r} is out of range") from None
    # Four-digit years only: listings sort dates as text and name days by them.
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise Rejected(f"date {str(raw)[:60]!r} is out of range: the year must be from {MIN_YEAR} to {MAX_YEAR}")
    return value


def read_post(key: str, body: bytes, config: SiteConfig, *, max_bytes: int) -> Post:
    """Parse one `_posts/` file; raise `Rejected` with every problem found."""
    if len(key.encode()) > MAX_KEY_BYTES:
        raise Rejected(f"the file's name is {len(key.encode())} bytes long; the limit is {MAX_KEY_BYTES}")
    if len(body) > max_bytes:
        raise Rejected(f"post is {len(body)} bytes; the limit is {max_bytes}")
    try:
        return _read_post(key, body, config)
    except (ValueError, OverflowError) as exc:  # a value no check above foresaw: still the post's fault
        raise Rejected(f"post cannot be read: {str(exc)[:200]}") from exc


def _read_post(key: str, body: bytes, config: SiteConfig) -> Post:
    text = decode_text(body, what="post")
    opening = _FRONT_MATTER.match(text)
    if not opening:
        raise Rejected("no front matter: a post must start with a '---' line")
    if not _CLOSING.search(text, opening.end() + 3):
        raise Rejected("front matter is not closed: no second '---' line after the opening one")
    try:
        parsed = frontmatter.loads(text[opening.end() :], handler=SafeYAML())
    except Rejected:
        raise
    except ValueError as exc:
        raise Rejected(f"front matter cannot be read: {exc}") from exc
    meta = parsed.metadata
    if not isinstance(meta, dict):
        raise Rejected("front matter must be a mapping of names to values")

    stem = posixpath.splitext(posixpath.basename(key))[0]
    name = _FILENAME.match(stem)
    slug = name.group(2) if name else stem
    problems: list[str] = []

    title_raw = meta.get("title")
    title = "" if isinstance(title_raw, dict | list) else xml_text(_yaml_text(title_raw)).strip()
    if not title:
        problems.append("title is missing or empty")
    elif len(title) > MAX_TITLE_CHARS:
        problems.append(f"title is longer than {MAX_TITLE_CHARS} characters")

    when: dt.datetime | None = None
    raw_date = meta.get("date")
    try:
        if raw_date is not None and str(raw_date).strip():
            when = _parse_date(raw_date, config.tz)
        elif name:
            when = _parse_date(name.group(1), config.tz)
        else:
            problems.append("no date: neither the front matter nor the file name (YYYY-MM-DD-slug.md) gives one")
    except Rejected as exc:
        problems.append(exc.reason)
    if raw_date is not None and not str(raw_date).strip() and not name:
        problems[-1] = "date is empty and the file name (YYYY-MM-DD-slug.md) gives none"

    try:
        categories = _labels(meta, "categories", "category", merged=True)
        tags = _labels(meta, "tags", "tag", merged=False)
    except Rejected as exc:
        problems.append(exc.reason)
        categories, tags = [], []

    published = meta.get("published", True)
    if not isinstance(published, bool):
        problems.append(f"published must be true or false, not {str(published)[:40]!r}")
    expires = _optional_date(meta, "expires", config, problems)
    # A correction's time, as jekyll-feed and jekyll-sitemap read it: the feed's <updated> and the
    # sitemap's <lastmod>, so readers and crawlers learn that a published item changed.
    updated = _optional_date(meta, "last_modified_at", config, problems)
    if updated is not None and when is not None and updated <= when:
        # A correction is later than the post: Atom's <updated> (RFC 4287 4.2.15) and the sitemap's
        # <lastmod> must never say a post changed before it was published.
        updated = None

    try:
        redirect_from = _redirect_from(meta.get("redirect_from"))
    except Rejected as exc:
        problems.append(exc.reason)
        redirect_from = []

    if problems or when is None:
        raise Rejected("; ".join(problems))

    explicit = meta.get("permalink")
    explicit_template = isinstance(explicit, str) and bool(explicit.strip())
    template = str(explicit) if explicit_template else paths.site_permalink(config.permalink)
    explicit_slug = meta.get("slug")
    try:
        if explicit_template:
            paths.normalise_url(template)  # refuse "http://..." and "//host/..." before placeholders are filled
        filled = paths.jekyll_permalink(
            template,
            when=when,
            slug=slug,
            categories=categories,
            explicit_slug=str(explicit_slug) if isinstance(explicit_slug, str | int) else None,
            file_name=stem,
        )
        url = paths.normalise_url(filled)
        paths.post_key(url)
    except paths.PathError as exc:
        raise Rejected(str(exc)) from exc
    # The address as the feed, the sitemap and the canonical link write it: a sitemap's <loc> "must be
    # less than 2,048 characters" (sitemaps.org), and percent-encoding triples a Chinese path.
    address = paths.absolute(config.url, config.baseurl, url)
    if len(address) > MAX_ADDRESS_CHARS:
        raise Rejected(f"the post's address is {len(address)} characters long; at most {MAX_ADDRESS_CHARS}")
    if name and text[: opening.end()].lstrip("\ufeff"):
        # Jekyll needs `---` on the very first line: with blank lines before it, it reads no front
        # matter and publishes the file at the default URL without categories. Links to that URL
        # exist, so it redirects here.
        jekyll_url = paths.normalise_url(
            paths.jekyll_permalink(
                paths.site_permalink(config.permalink),
                when=_parse_date(name.group(1), config.tz),
                slug=slug,
                categories=[],
            )
        )
        if paths.may_hold_post(jekyll_url):  # never a redirect in place of the site's own pages
            redirect_from.append(jekyll_url)
    redirect_from = [u for u in dict.fromkeys(redirect_from) if paths.key_for_url(u) != paths.key_for_url(url)]

    try:
        # A `.html` post is published as it is written, as Jekyll publishes it: an indented line is
        # not code, and `#` starts no heading (what WordPress exports through jekyll-import hold).
        render = markup.render_html if key.lower().endswith(".html") else markup.render_markdown
        content = xml_text(parsed.content)
        body_html = render(content, trusted=config.trust_html)
        text_only = markup.plain_text(body_html)
        summary = _excerpt(meta, content, text_only, render)
    except markup.Unbuildable as exc:
        raise Rejected(str(exc)) from exc
    return Post(
        key=key,
        title=title,
        date=when.isoformat(),
        slug=slug,
        url=url,
        categories=categories,
        tags=tags,
        body_html=body_html,
        text=text_only,
        excerpt=summary,
        published=bool(published),
        expires=expires.isoformat() if expires is not None else "",
        updated=updated.isoformat() if updated is not None else "",
        redirect_from=redirect_from,
    )


def _excerpt(meta: dict[str, Any], content: str, text: str, render: Callable[..., str]) -> str:
    """The post's summary (listings, the feed's <summary>, the page's description), as Jekyll reads
    `post.excerpt`: the front matter's `excerpt:`, else the body up to the first
    `excerpt_separator` (a blank line unless the front matter names another), as plain text, cut
    to EXCERPT_CHARS. A first paragraph with no text (an image alone) gives the body's text instead."""
    given = meta.get("excerpt")
    if isinstance(given, str | int | float) and not isinstance(given, bool) and str(given).strip():
        summary = xml_text(str(given))
        markup.check(summary, what="excerpt")  # HTML, as the body is: its limits, before the sanitiser builds it
        return markup.excerpt(markup.plain_text(summary))
    separator = meta.get("excerpt_separator")
    separator = separator if isinstance(separator, str) and separator else "\n\n"
    first, found, _rest = content.strip("\n").partition(separator)
    # Rendered as untrusted: an excerpt is text, and the body around it was sanitised the same way.
    lead = markup.fragment_text(first, render) if found else text
    return markup.excerpt(lead or text)


MAX_REDIRECTS = 20


def _redirect_from(raw: Any) -> list[str]:
    """Front matter `redirect_from:` (as the jekyll-redirect-from plugin reads it): earlier URLs of the post."""
    if raw is None:
        return []
    items = [raw] if isinstance(raw, str) else raw
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        raise Rejected("redirect_from must be a URL path or a list of them")
    if len(items) > MAX_REDIRECTS:
        raise Rejected(f"redirect_from lists {len(items)} URLs; at most {MAX_REDIRECTS} allowed")
    urls = []
    for item in items:
        try:
            url = paths.normalise_url(item)
            paths.post_key(url)
        except paths.PathError as exc:
            raise Rejected(f"redirect_from: {exc}") from exc
        urls.append(url)
    return urls


# Names the time zone database resolves to whatever the machine is set to, or to no real zone: a
# site's dates, and so its posts' URLs, would follow the machine that reads them.
MACHINE_ZONES = frozenset({"localtime", "posixrules", "Factory"})


def read_config(body: bytes, *, max_bytes: int) -> SiteConfig:
    """Parse `_config.yml`; unknown keys are ignored, as Jekyll plugins' keys would be."""
    if len(body) > max_bytes:
        raise Rejected(f"_config.yml is {len(body)} bytes; the limit is {max_bytes}")
    try:
        return _read_config(body)
    except (ValueError, OverflowError) as exc:  # as in read_post
        raise Rejected(f"_config.yml cannot be read: {str(exc)[:200]}") from exc


def _read_config(body: bytes) -> SiteConfig:
    data = load_yaml(decode_text(body, what="_config.yml"), what="_config.yml")
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise Rejected("_config.yml must be a mapping of names to values")
    defaults = SiteConfig()
    values: dict[str, Any] = {}
    if isinstance(data.get("author"), dict):
        data = {**data, "author": data["author"].get("name", "")}
    for name in ("title", "description", "url", "baseurl", "lang", "timezone", "author"):
        if name in data and data[name] is not None:
            if isinstance(data[name], dict | list):
                raise Rejected(f"_config.yml: {name} must be a plain value")
            value = str(data[name])
            # The text is written into the feed and the sitemaps: what XML cannot hold is dropped, as
            # from a post's fields. The addresses are checked whole below instead.
            values[name] = (value if name in ("url", "baseurl") else xml_text(value)).strip()
    for name, lowest in (("page_size", 1), ("home_per_tag", 1), ("feed_size", 1), ("front_page_days", 0)):
        if name in data:
            number = data[name]
            if not isinstance(number, int) or isinstance(number, bool) or not lowest <= number <= MAX_LISTED:
                raise Rejected(f"_config.yml: {name} must be a whole number from {lowest} to {MAX_LISTED}")
            values[name] = number
    if data.get("permalink") is not None:
        permalink = data["permalink"]
        if not isinstance(permalink, str):
            raise Rejected("_config.yml: permalink must be a template or a style name (date, pretty, ordinal, none)")
        template = paths.site_permalink(permalink)
        try:
            paths.normalise_url(template)  # no "http://..." or "//host/..."
        except paths.PathError as exc:
            raise Rejected(f"_config.yml: {exc}") from exc
        # Jekyll reads "year/:title" as "/year/:title": its URLs always start at the root.
        values["permalink"] = template if template.startswith("/") else "/" + template
    if "trust_html" in data:
        if not isinstance(data["trust_html"], bool):
            raise Rejected("_config.yml: trust_html must be true or false")
        values["trust_html"] = data["trust_html"]
    config = SiteConfig(**{**defaults.to_json(), **values})
    if config.timezone in MACHINE_ZONES:
        raise Rejected(
            f"_config.yml: timezone {config.timezone!r} is this machine's, not a zone: name one (Asia/Shanghai)"
        )
    try:
        config.tz  # noqa: B018 - validates the zone name now, not at render time
    except (KeyError, ValueError) as exc:
        raise Rejected(f"_config.yml: timezone {config.timezone!r} is not a known time zone") from exc
    url = config.url.rstrip("/")
    if not url.isprintable():  # `\S` takes control characters, which no address holds
        raise Rejected(f"_config.yml: url {config.url!r} contains a control character")
    if not re.match(r"\Ahttps?://[^\s/]+(?:/\S*)?\Z", url):
        raise Rejected(f"_config.yml: url {config.url!r} must be an http(s) address")
    if "?" in url or "#" in url:  # every page's address is written after it
        raise Rejected(f"_config.yml: url {config.url!r} must be the site's address, without a query or fragment")
    if not url.isascii():
        # An address holds ASCII alone (RFC 3986): a host by its IDNA name, a path percent-encoded.
        scheme, _, rest = url.partition("://")
        host, slash, path = rest.partition("/")
        name, colon, port = host.rpartition(":")
        name, port = (name, colon + port) if colon and port.isdigit() else (host, "")
        try:
            name = name.encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise Rejected(f"_config.yml: url {config.url!r} names no host a browser can reach: {exc}") from exc
        if not re.fullmatch(r"[A-Za-z0-9.-]+", name):
            raise Rejected(f"_config.yml: url {config.url!r} names no host a browser can reach")
        url = f"{scheme}://{name}{port}{paths.href(slash + path) if slash else ''}"
    # `zh_CN`, as locales write it, is the language tag `zh-CN` (the feed's xml:lang, the pages' lang).
    lang = config.lang.replace("_", "-")
    if not _LANGUAGE_TAG.fullmatch(lang):
        raise Rejected(f"_config.yml: lang {config.lang[:40]!r} is not a language tag (zh-CN, en)")
    try:
        baseurl = paths.normalise_url(config.baseurl).rstrip("/") if config.baseurl.strip() else ""
    except paths.PathError as exc:
        raise Rejected(f"_config.yml: baseurl {config.baseurl[:80]!r} is not a path on this site: {exc}") from exc
    return SiteConfig(**{**config.to_json(), "url": url, "baseurl": baseurl, "lang": lang})
