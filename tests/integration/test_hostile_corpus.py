"""`newsdrop build` on the hostile corpus (tests/fixtures/hostile) and on the shared finews corpus.

Both must come out safe: no script, handler, script or data URL, frame, form or `<base>` in any
site object. And sanitising must not cost the feed its markup: the hostile corpus's real-markup
section survives, and every image and link of every real post is still on its page.
"""

from __future__ import annotations

import contextlib
import io
import shutil
from pathlib import Path

import frontmatter
import pytest
from markupsafe import escape

from newsdrop import markup, paths, posts, source_keys
from newsdrop.cli.main import main
from newsdrop.local.sources import source_files
from tests.conftest import ROOT
from tests.support.safety import audit_page, audit_site, read_site

HOSTILE = ROOT / "tests" / "fixtures" / "hostile"
LIMIT = 262_144  # MAX_POST_BYTES, the template's default

# Generated here rather than stored: a post over the size limit and one nesting 50,000 elements.
GENERATED = {
    "_posts/2024-05-01-oversized.md": b"---\ntitle: Big\ncategories: markets\n---\n" + b"a" * LIMIT,
    "_posts/2024-05-01-50k-divs.md": b"---\ntitle: Deeper\ncategories: markets\n---\n" + b"<div>" * 50_000,
    "_posts/2024-05-01-huge-front-matter.md": b"---\ntitle: T\nx: '" + b"y" * 70_000 + b"'\n---\nbody\n",
}
REJECTED = {
    "_posts/2024-05-01-oversized.md": "the limit is 262144",
    "_posts/2024-05-01-50k-divs.md": "body HTML nests deeper than 100 elements",
    "_posts/2024-05-01-huge-front-matter.md": "front matter is 70",
    "_posts/2024-05-01-deep-nesting.md": "body HTML nests deeper than 100 elements",
    "_posts/2024-05-01-deep-misnested.md": "body HTML nests deeper than 100 elements",
    "_posts/2024-05-01-alias-bomb.md": "YAML aliases",
    "_posts/2024-05-01-" + "a" * 200 + ".md": "longer than 200 bytes",
    "_posts/2024-05-01-permalink-3.md": "backslash",
    "_posts/2024-05-01-permalink-5.md": "absolute URL",
    "_posts/2024-05-01-permalink-6.md": "absolute URL",
    "_posts/2024-05-01-permalink-7.md": "collides with a page the site itself owns",
    "_posts/2024-05-01-permalink-8.md": "absolute URL",
}


def build(source: Path, out: Path) -> tuple[dict[str, bytes], dict[str, str]]:
    """`newsdrop build SOURCE --out OUT`: the site's objects, and the rejections by key."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert main(["build", str(source), "--out", str(out)]) == 0
    rejected = {}
    for line in err.getvalue().splitlines():
        if line.startswith("rejected "):
            key, _, reason = line.removeprefix("rejected ").partition(": ")
            rejected[key] = reason
    return read_site(out), rejected


@pytest.fixture(scope="module")
def hostile_site(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, bytes], dict[str, str]]:
    source = tmp_path_factory.mktemp("hostile") / "src"
    shutil.copytree(HOSTILE, source)
    for key, body in GENERATED.items():
        (source / key).write_bytes(body)
    return build(source, tmp_path_factory.mktemp("hostile-site"))


def test_no_site_object_can_run_script(hostile_site: tuple[dict[str, bytes], dict[str, str]]) -> None:
    objects, _ = hostile_site
    assert audit_site(objects) == []
    # No payload reached a page as markup: each one that survives is text (escaped) or an attribute value.
    for key, body in objects.items():
        if key.endswith(".html"):
            audit = audit_page(key, body)
            assert not [src for src in audit.images if "__xss" in src and not src.startswith(("x`", "`"))], key


def test_hostile_files_are_rejected_with_their_reasons(hostile_site: tuple[dict[str, bytes], dict[str, str]]) -> None:
    _, rejected = hostile_site
    assert set(rejected) == set(REJECTED)
    for key, part in REJECTED.items():
        assert part in rejected[key], (key, rejected[key])


def test_every_key_stays_inside_the_site(hostile_site: tuple[dict[str, bytes], dict[str, str]]) -> None:
    objects, _ = hostile_site
    for key in objects:
        assert paths.normalise_url("/" + key) == "/" + key, key  # already normal: no dot segments, no escapes
    # Path tricks in file names become plain slugs under the post's own folder.
    post_pages = {k for k in objects if k.startswith("markets/2024/05/01/")}
    assert "markets/2024/05/01/2e-2e-2f-2e-2e-2fescape.html" in post_pages
    assert "markets/2024/05/01/..-..-windows.html" in post_pages
    assert "markets/2024/05/01/ｅｔｃ-passwd.html" in post_pages
    # Dot-dot permalinks are normalised inside the root; look-alike dots and slashes are just characters.
    assert "etc/passwd.html" in objects and "encoded.html" in objects and "slash.html" in objects
    assert "ｅｖｉｌ／．．／lookalike.html" in objects
    assert objects["feed.xml"].startswith(b"<?xml")  # the site's own feed, not a post


def test_the_feeds_real_markup_is_kept(hostile_site: tuple[dict[str, bytes], dict[str, str]]) -> None:
    objects, _ = hostile_site
    page = objects["markets/2024/05/01/owasp-body.html"].decode()
    audit = audit_page("owasp-body", page.encode())
    assert "https://dfscdn.dfcfw.com/download/D24676903417074885805_w800h555.jpg" in audit.images
    assert 'style="border:#d1d1d1 1px solid;padding:3px;margin:5px 0"' in page
    assert '<p style="text-align:center">' in page
    assert '<span class="em_stock" data-code="0,002594" web="1">' in page
    assert "http://quote.eastmoney.com/unify/r/0.002594" in audit.links
    assert "https://example.com/ok" in audit.links
    assert "http://finance.eastmoney.com/news/1354,202112082206972753.html" in audit.links
    assert "<center><strong>REAL-CENTRED</strong></center>" in page
    assert "<th>代码</th><td>REAL-CELL</td>" in page
    assert "SAFE-MARKER" in page


def test_names_are_shown_as_text(hostile_site: tuple[dict[str, bytes], dict[str, str]]) -> None:
    objects, _ = hostile_site
    title = frontmatter.loads((HOSTILE / "_posts/2024-05-01-owasp-names.md").read_text())["title"]
    assert title.startswith("<script>window.__xss='title'</script>")
    pages = [k for k, v in objects.items() if k.endswith("owasp-names.html")]
    assert len(pages) == 1
    assert f"<h1>{escape(title)}</h1>" in objects[pages[0]].decode()
    assert str(escape("<script>window.__xss='config'</script>")) in objects["index.html"].decode()


@pytest.mark.corpus
def test_the_shared_corpus_is_safe_and_keeps_its_images_and_links(corpus: Path, tmp_path: Path) -> None:
    objects, _ = build(corpus, tmp_path / "site")
    assert audit_site(objects) == []
    config = posts.read_config((corpus / "_config.yml").read_bytes(), max_bytes=LIMIT)
    checked_images = checked_links = 0
    for key, path in source_files(corpus):
        if not source_keys.is_post_key(key):
            continue
        try:
            post = posts.read_post(key, path.read_bytes(), config, max_bytes=LIMIT)
        except posts.Rejected:
            continue
        # What the post's Markdown renders to before sanitising: its images and links, all of them.
        unsanitised = markup.render_markdown(frontmatter.loads(path.read_text()).content, trusted=True)
        raw = audit_page(key, unsanitised.encode())
        page = audit_page(key, objects[paths.post_key(post.url)])
        for src in raw.images:
            if src.startswith("https://"):
                assert src in page.images, f"{key}: image {src} is gone"
                checked_images += 1
        for href in raw.links:
            if not href.lower().startswith(("javascript:", "data:", "vbscript:")):
                assert href in page.links, f"{key}: link {href} is gone"
                checked_links += 1
    assert checked_images >= 4 and checked_links >= 150
