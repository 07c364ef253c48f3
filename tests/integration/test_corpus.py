"""`newsdrop build` on the shared finews corpus, checked against Jekyll's rules.

The expected site is computed here from the source files alone: file names, front matter
and `_config.yml`, with Jekyll's permalink rule and newsdrop's documented defaults.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import html
import io
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote
from zoneinfo import ZoneInfo

import pytest
import yaml

from newsdrop.cli.main import main
from newsdrop.model import SiteConfig
from tests.support.redirects import redirects

pytestmark = pytest.mark.corpus

BROKEN = "_posts/-202205262391921712.md"
ATOM = "{http://www.w3.org/2005/Atom}"
SITEMAP = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
DEFAULTS = SiteConfig()  # documented defaults; the corpus's _config.yml sets none of these sizes
POST_URL = re.compile(r"\A/(?:[^/]+/)*\d{4}/\d{2}/\d{2}/[^/]+\.html\Z")
# Jekyll's front-matter dates: "YYYY-MM-DD[ HH:MM[:SS]][ +ZZZZ]".
JEKYLL_DATE = re.compile(
    r"\A(\d{4})-(\d{2})-(\d{2})"
    r"(?:[ T](\d{2}):(\d{2})(?::(\d{2}))?)?"
    r"(?:\s*([+-])(\d{2}):?(\d{2}))?\Z"
)
FILE_NAME = re.compile(r"\A(\d{4})-(\d{2})-(\d{2})-(.+)\.md\Z")


@dataclass(frozen=True)
class Expected:
    key: str
    title: str
    when: dt.datetime  # in the site's time zone
    url: str
    categories: tuple[str, ...]
    tags: tuple[str, ...]

    @property
    def order(self) -> tuple[dt.datetime, str]:
        """Newest first: by instant, then by source key (both descending)."""
        return (self.when.astimezone(dt.UTC), self.key)

    @property
    def day(self) -> str:
        return f"{self.when:%Y-%m-%d}"


def front_matter(text: str) -> dict[str, object]:
    _, block, _ = text.split("---\n", 2)
    data = yaml.safe_load(block)
    assert isinstance(data, dict)
    return data


def jekyll_date(raw: object, tz: ZoneInfo) -> dt.datetime | None:
    if isinstance(raw, dt.datetime):  # unquoted in YAML: Jekyll's reader (Ruby's Psych) takes no offset as UTC
        return (raw if raw.tzinfo else raw.replace(tzinfo=dt.UTC)).astimezone(tz)
    if isinstance(raw, dt.date):
        return dt.datetime(raw.year, raw.month, raw.day, tzinfo=tz)
    match = JEKYLL_DATE.match(str(raw or "").strip())
    if not match:
        return None
    y, mo, d, h, mi, s, sign, oh, om = match.groups()
    zone: dt.tzinfo = tz
    if sign:
        offset = dt.timedelta(hours=int(oh), minutes=int(om))
        zone = dt.timezone(offset if sign == "+" else -offset)
    value = dt.datetime(int(y), int(mo), int(d), int(h or 0), int(mi or 0), int(s or 0), tzinfo=zone)
    return value.astimezone(tz)


def words(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, list):
        return tuple(str(v) for v in value)
    return tuple(str(value).split())


@dataclass(frozen=True)
class Corpus:
    site_url: str
    valid: list[Expected]  # newest first
    invalid: list[str]


@pytest.fixture(scope="module")
def expected(corpus: Path) -> Corpus:
    config = yaml.safe_load((corpus / "_config.yml").read_text(encoding="utf-8"))
    tz = ZoneInfo(config["timezone"])
    valid: list[Expected] = []
    invalid: list[str] = []
    for path in sorted((corpus / "_posts").iterdir()):
        key = f"_posts/{path.name}"
        meta = front_matter(path.read_text(encoding="utf-8"))
        title = str(meta.get("title") or "").strip()
        when = jekyll_date(meta.get("date"), tz)
        name = FILE_NAME.match(path.name)
        if not title or when is None or not name:
            invalid.append(key)
            continue
        categories = words(meta.get("categories", meta.get("category")))
        # Jekyll's default permalink: /:categories/:year/:month/:day/:title.html, categories lower-cased.
        folders = "".join(f"/{c.lower()}" for c in categories)
        url = f"{folders}/{when:%Y}/{when:%m}/{when:%d}/{name.group(4)}.html"
        tags = words(meta.get("tags", meta.get("tag")))
        valid.append(Expected(key, title, when, url, categories, tags))
    valid.sort(key=lambda e: e.order, reverse=True)
    return Corpus(site_url=str(config["url"]).rstrip("/"), valid=valid, invalid=invalid)


@pytest.fixture(scope="module")
def built(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int, str]:
    """One `newsdrop build CORPUS --out DIR` for the module: (DIR, exit code, stderr)."""
    out = tmp_path_factory.mktemp("site")
    err = io.StringIO()
    with contextlib.redirect_stderr(err):  # capsys is per test; this fixture is per module
        code = main(["build", str(corpus), "--out", str(out)])
    return out, code, err.getvalue()


class Links(HTMLParser):
    """Post links (`<a href>` to post URLs) in document order, with their text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[tuple[str, str]] = []
        self._href: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        href = dict(attrs).get("href")
        if tag == "a" and href and POST_URL.match(unquote(href)):
            self._href, self._text = unquote(href), []

    def handle_data(self, data: str) -> None:
        if self._href is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._href is not None:
            self.links.append((self._href, "".join(self._text).strip()))
            self._href = None


def post_links(path: Path) -> list[str]:
    parser = Links()
    parser.feed(path.read_text(encoding="utf-8"))
    return [href for href, _ in parser.links]


def page(out: Path, url: str) -> Path:
    return out.joinpath(*url.strip("/").split("/"), "index.html") if url.endswith("/") else out / url.lstrip("/")


def newest(posts: list[Expected], n: int) -> list[str]:
    return [p.url for p in posts[:n]]


def test_corpus_is_what_the_brief_says(expected: Corpus) -> None:
    assert len(expected.valid) + len(expected.invalid) == 151
    assert expected.invalid == [BROKEN]


def test_build_exit_code_and_rejection_report(built: tuple[Path, int, str], expected: Corpus) -> None:
    _, code, stderr = built
    assert code == 0
    rejected = [line for line in stderr.splitlines() if line.startswith("rejected ")]
    assert len(rejected) == len(expected.invalid) == 1
    assert rejected[0].startswith(f"rejected {BROKEN}: ")
    reason = rejected[0].removeprefix(f"rejected {BROKEN}: ")
    assert "title" in reason and "date" in reason  # both problems of that file are named


def test_strict_build_exits_1(corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["build", str(corpus), "--out", str(tmp_path / "strict"), "--strict"]) == 1
    assert f"rejected {BROKEN}: " in capsys.readouterr().err


def test_build_reports_on_stderr_through_capsys(
    corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["build", str(corpus), "--out", str(tmp_path / "plain")]) == 0
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.startswith("rejected ")]
    assert len(lines) == 1 and lines[0].startswith(f"rejected {BROKEN}: ") and len(lines[0]) > len(BROKEN) + 12
    assert "rejected" not in captured.out


def test_every_valid_post_has_its_page(built: tuple[Path, int, str], expected: Corpus) -> None:
    out, _, _ = built
    missing, wrong = [], []
    for post in expected.valid:
        path = page(out, post.url)
        if not path.is_file():
            missing.append(post.url)
            continue
        text = path.read_text(encoding="utf-8")
        shown = [
            html.escape(post.title, quote=False) in text,
            f"{post.when:%Y-%m-%d %H:%M}" in text,
            post.when.isoformat() in text,  # machine-readable date, with the site's offset
        ]
        if not all(shown):
            wrong.append((post.url, shown))
    assert missing == []
    assert wrong == []
    # And no other post pages: the broken post has none anywhere. One post has a blank line before its
    # front matter, so Jekyll published it without categories: that address redirects to its page.
    html_files = {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*.html")}
    moved = redirects(html_files)
    assert moved == {"2021/12/08/202112082206703990.html": "/emnews/2021/12/08/202112082206703990.html"}
    pages = {"/" + key for key in html_files if not key.endswith("index.html") and key not in moved}
    assert {u for u in pages if POST_URL.match(u)} == {p.url for p in expected.valid}


def test_home_page_lists_the_newest_posts(built: tuple[Path, int, str], expected: Corpus) -> None:
    out, _, _ = built
    links = post_links(out / "index.html")
    assert links[: DEFAULTS.feed_size] == newest(expected.valid, DEFAULTS.feed_size)
    # Besides the latest, one section per tag with its newest posts.
    allowed = set(newest(expected.valid, DEFAULTS.feed_size))
    for tag in {t for p in expected.valid for t in p.tags}:
        allowed |= set(newest([p for p in expected.valid if tag in p.tags], DEFAULTS.home_per_tag))
    assert set(links) == allowed


def test_category_and_tag_pages(built: tuple[Path, int, str], expected: Corpus) -> None:
    out, _, _ = built
    categories = {c for p in expected.valid for c in p.categories}
    tags = {t for p in expected.valid for t in p.tags}
    assert categories == {"emnews", "sitenews"}
    for name in categories:
        members = [p for p in expected.valid if name in p.categories]
        assert post_links(out / name.lower() / "index.html") == newest(members, DEFAULTS.page_size), name
    for name in tags:
        members = [p for p in expected.valid if name in p.tags]
        assert post_links(out / "tags" / name / "index.html") == newest(members, DEFAULTS.page_size), name
    # No listing for a name that only the broken post carries, and no other category folders.
    assert sorted(p.name for p in (out / "tags").iterdir()) == sorted(tags)


def test_day_archives(built: tuple[Path, int, str], expected: Corpus) -> None:
    out, _, _ = built
    days = sorted({p.day for p in expected.valid})
    found = sorted(
        "-".join(p.relative_to(out).parts[:3])
        for p in out.glob("[0-9][0-9][0-9][0-9]/[0-9][0-9]/[0-9][0-9]/index.html")
    )
    assert found == days
    for day in days:
        members = [p for p in expected.valid if p.day == day]
        listed = post_links(out.joinpath(*day.split("-"), "index.html"))
        assert listed == [p.url for p in members], day


def test_feed_is_atom_with_the_newest_entries(built: tuple[Path, int, str], expected: Corpus) -> None:
    out, _, _ = built
    feed = ET.parse(out / "feed.xml").getroot()
    assert feed.tag == f"{ATOM}feed"
    entries = feed.findall(f"{ATOM}entry")
    wanted = expected.valid[: DEFAULTS.feed_size]
    assert len(entries) == len(wanted)
    links = [e.find(f"{ATOM}link").get("href") for e in entries]  # type: ignore[union-attr]
    assert links == [expected.site_url + p.url for p in wanted]
    assert [e.findtext(f"{ATOM}title") for e in entries] == [p.title for p in wanted]
    published = [dt.datetime.fromisoformat(e.findtext(f"{ATOM}published") or "") for e in entries]
    assert published == [p.when for p in wanted]
    assert published == sorted(published, reverse=True)
    assert feed.findtext(f"{ATOM}updated") is not None
    assert dt.datetime.fromisoformat(feed.findtext(f"{ATOM}updated") or "") == wanted[0].when


def test_daily_sitemaps_list_exactly_the_valid_posts(built: tuple[Path, int, str], expected: Corpus) -> None:
    out, _, _ = built
    days = sorted({p.day for p in expected.valid})
    assert sorted(p.stem for p in (out / "sitemaps").glob("*.xml")) == days
    listed: list[str] = []
    for day in days:
        root = ET.parse(out / "sitemaps" / f"{day}.xml").getroot()
        assert root.tag == f"{SITEMAP}urlset"
        locs = [u.findtext(f"{SITEMAP}loc") or "" for u in root.findall(f"{SITEMAP}url")]
        assert sorted(locs) == sorted(expected.site_url + p.url for p in expected.valid if p.day == day), day
        listed += locs
    assert sorted(listed) == sorted(expected.site_url + p.url for p in expected.valid)
    index = ET.parse(out / "sitemap.xml").getroot()
    maps = sorted(s.findtext(f"{SITEMAP}loc") or "" for s in index.findall(f"{SITEMAP}sitemap"))
    assert maps == sorted(f"{expected.site_url}/sitemaps/{day}.xml" for day in days)
