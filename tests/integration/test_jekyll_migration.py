"""Migrating a Jekyll site: after `newsdrop import` of the shared corpus, every post URL that a real
`jekyll build` of that corpus gives is served at the same path (through the local CloudFront-like
server, on the real handlers and moto)."""

from __future__ import annotations

import html
import re
import shutil
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import pytest

from newsdrop import markup, posts
from newsdrop.adapters.aws import S3Store
from newsdrop.cli.main import main
from newsdrop.local.siteserver import SiteServer, security_headers
from tests.conftest import IN_CI
from tests.integration.sitecheck import SITE, rejections
from tests.support.redirects import redirect_target

JEKYLL = shutil.which("jekyll")
# A page of the site Jekyll builds: the URL and source file of every post it published, one per line.
URL_LIST = (
    "---\nlayout: null\npermalink: /post-urls.txt\n---\n"
    "{% for post in site.posts %}{{ post.url }}\t{{ post.path }}\n{% endfor %}"
)
TITLE = re.compile(r'^title:\s*"(.*)"\s*$', re.M)
# The corpus post with a blank line before its front matter, which Jekyll therefore does not read.
UNREAD_FRONT_MATTER = "_posts/2021-12-08-202112082206703990.md"


def jekyll_post_urls(corpus: Path, work: Path) -> dict[str, str]:
    """URL -> source file (relative to the site) of every post a real `jekyll build` of the corpus publishes."""
    source = work / "jekyll"
    shutil.copytree(corpus / "_posts", source / "_posts")
    # The corpus names a remote theme and a plugin that are not installed here; neither changes URLs.
    config = (corpus / "_config.yml").read_text(encoding="utf-8")
    config = re.sub(r"(?m)^theme:.*$", "", config)
    config = re.sub(r"(?ms)^plugins:\n(?:\s+-.*\n)*", "", config)
    (source / "_config.yml").write_text(config, encoding="utf-8")
    return jekyll_build_post_urls(source, work / "_site")


def jekyll_build_post_urls(source: Path, out: Path) -> dict[str, str]:
    """`jekyll build` of the site in `source` into `out`: URL -> source file of every post it publishes."""
    (source / "post-urls.txt").write_text(URL_LIST, encoding="utf-8")
    assert JEKYLL is not None
    subprocess.run(
        [JEKYLL, "build", "--safe", "--quiet", "-s", str(source), "-d", str(out)],
        check=True,
        timeout=600,
        capture_output=True,
    )
    lines = (out / "post-urls.txt").read_text(encoding="utf-8").splitlines()
    return {unquote(url): path for url, path in (line.split("\t", 1) for line in lines if line.strip())}


def fetch(base: str, url: str) -> str:
    with urllib.request.urlopen(base + quote(url), timeout=10) as response:
        page: str = response.read().decode()
    return page


@pytest.mark.corpus
@pytest.mark.skipif(JEKYLL is None and not IN_CI, reason="jekyll (Debian's package) is not installed")
def test_every_jekyll_post_url_is_served_at_the_same_path(corpus: Path, tmp_path: Path, moto_stack: Any) -> None:
    expected = jekyll_post_urls(corpus, tmp_path)
    assert len(expected) > 100  # the corpus's posts, as Jekyll sees them

    assert main(["import", str(corpus)]) == 0
    moto_stack.drain()
    assert moto_stack.errors == []
    rejected = {r["key"] for r in rejections(moto_stack)}
    # Jekyll skips a file in _posts/ whose name has no date; newsdrop reports it instead.
    assert all(not re.match(r"_posts/\d{4}-\d{2}-\d{2}-", key) for key in rejected), rejected

    server = SiteServer(S3Store(SITE), "127.0.0.1", 0, security_headers({"Resources": {}}))
    server.start()
    base = f"http://127.0.0.1:{server.port}"
    missing, redirected = [], []
    try:
        for url, path in sorted(expected.items()):
            title = TITLE.search((corpus / path).read_text(encoding="utf-8"))
            assert title is not None, path
            try:
                page = fetch(base, url)
                if (moved := redirect_target(page.encode())) is not None:  # an old address: one hop to the post
                    redirected.append(url)
                    page = fetch(base, moved)
            except urllib.error.HTTPError as exc:
                missing.append(f"{url}: HTTP {exc.code}")
                continue
            if html.escape(title.group(1), quote=False) not in page:
                missing.append(f"{url}: does not show {title.group(1)!r} of {path}")
    finally:
        server.stop()
    assert missing == []
    # Only a post whose front matter Jekyll could not see (it must open the file) moved to a new URL.
    assert [expected[url] for url in redirected] == [UNREAD_FRONT_MATTER]


# Every post's excerpt as Jekyll prints it as text: its source file, a tab, the text.
EXCERPTS = (
    "---\nlayout: null\npermalink: /excerpts.txt\n---\n"
    "{% for post in site.posts %}{{ post.path }}\t{{ post.excerpt | strip_html | normalize_whitespace | strip }}\n"
    "{% endfor %}"
)


@pytest.mark.corpus
@pytest.mark.skipif(JEKYLL is None and not IN_CI, reason="jekyll (Debian's package) is not installed")
def test_every_excerpt_is_jekyll_s_first_paragraph(corpus: Path, tmp_path: Path) -> None:
    # Listings, the feed's <summary> and each page's description show it: Jekyll's post.excerpt, as
    # text, cut to newsdrop's length (posts whose first paragraph has no text keep the body's).
    source = tmp_path / "jekyll"
    shutil.copytree(corpus / "_posts", source / "_posts")
    (source / "excerpts.txt").write_text(EXCERPTS, encoding="utf-8")
    assert JEKYLL is not None
    subprocess.run(
        [JEKYLL, "build", "--safe", "--quiet", "-s", str(source), "-d", str(tmp_path / "_site")],
        check=True, timeout=600, capture_output=True,
    )  # fmt: skip
    lines = (tmp_path / "_site" / "excerpts.txt").read_text(encoding="utf-8").splitlines()
    jekyll = dict(line.split("\t", 1) for line in lines if "\t" in line)
    config = posts.read_config((corpus / "_config.yml").read_bytes(), max_bytes=1 << 20)
    compared, differing = 0, []
    for path, text in sorted(jekyll.items()):
        expected = markup.excerpt(" ".join(html.unescape(text).split()))
        post = posts.read_post(path, (corpus / path).read_bytes(), config, max_bytes=1 << 20)
        if not expected or path == UNREAD_FRONT_MATTER:
            continue
        compared += 1
        if post.excerpt != expected:
            differing.append(f"{path}: {post.excerpt!r} != {expected!r}")
    assert compared > 100
    assert differing == []
