"""The whole pipeline in one process: uploads, deletes and edits end to end, and history independence.

Expected keys follow Jekyll's default permalink (/:categories/:year/:month/:day/:title.html) and the
site layout (/<category>/, /tags/<tag>/, /YYYY/MM/DD/, feed.xml, sitemaps/<day>.xml, search/posts/<day>.json).
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from typing import Any

import pytest

from newsdrop import paths, search
from newsdrop.local.inprocess import BULK_BATCH_SIZES, InProcessPipeline
from newsdrop.search import differences
from tests.support.redirects import broken_redirects, redirects, without_redirects


def post(
    title: str,
    *,
    date: str = "2021-12-08 10:00:00 +0800",
    categories: str = "news",
    tags: str = "",
    body: str = "Some body text.",
    permalink: str = "",
) -> bytes:
    lines = ["---", "layout: post", f"title: '{title}'", f"date: {date}", f"categories: {categories}"]
    if tags:
        lines.append(f"tags: {tags}")
    if permalink:
        lines.append(f"permalink: {permalink}")
    lines += ["---", body, ""]
    return "\n".join(lines).encode()


def run(*steps: tuple[str, bytes | None], pipeline: InProcessPipeline | None = None) -> InProcessPipeline:
    """Upload (bytes) or delete (None) each key in order, draining after each step like a real deploy would."""
    pipeline = pipeline or InProcessPipeline()
    for key, body in steps:
        if body is None:
            pipeline.delete(key)
        else:
            pipeline.upload(key, body)
        pipeline.drain()
    return pipeline


def site(pipeline: InProcessPipeline) -> dict[str, bytes]:
    return {key: blob.body for key, blob in pipeline.site.objects.items()}


def indexed(pipeline: InProcessPipeline) -> dict[str, Any]:
    """URL -> (document, postings) of every post the search index finds."""
    objects = site(pipeline)
    return search.logical_index(objects.get)


def mentioning(pipeline: InProcessPipeline, *needles: str) -> set[str]:
    return {key for key, body in site(pipeline).items() if any(n.encode() in body for n in needles)}


def assert_healthy(pipeline: InProcessPipeline) -> None:
    assert pipeline.dead_letters == {}
    assert pipeline.rejections == []
    assert_pages_match_catalog(pipeline)


def assert_pages_match_catalog(pipeline: InProcessPipeline) -> None:
    """Every live post's page exists and shows that post."""
    objects = site(pipeline)
    for record in pipeline.catalog.posts.values():
        if not record.live:
            continue
        assert record.entry is not None
        page = paths.key_for_url(record.url)
        assert page in objects, f"{record.key}: page {page} is missing"
        assert html.escape(record.entry.title).encode() in objects[page], f"{page} does not show {record.key}"


A = "_posts/2021-12-08-alpha.md"
B = "_posts/2021-12-08-bravo.md"
C = "_posts/2021-11-30-charlie.md"


# --- upload


def test_upload_publishes_the_page_and_its_listings() -> None:
    p = run((A, post("Alpha Title", categories="EmNews", tags="tagone tagtwo")))
    assert_healthy(p)
    objects = site(p)
    page = "emnews/2021/12/08/alpha.html"
    assert page in objects
    assert b"Alpha Title" in objects[page]
    assert b"Some body text." in objects[page]
    url = "/" + page
    for key in (
        "index.html",
        "feed.xml",
        "emnews/index.html",
        "tags/tagone/index.html",
        "tags/tagtwo/index.html",
        "2021/12/08/index.html",
        "sitemaps/2021-12-08.xml",
    ):
        assert key in objects, key
        assert url.encode() in objects[key], key
    assert url in indexed(p)
    # The archive lists the day under its month, and the day page leads there.
    archive = objects["archive/index.html"].decode()
    assert 'href="/2021/12/08/"' in archive[archive.index('id="m2021-12"') :]
    assert b'href="/archive/#m2021-12"' in objects["2021/12/08/index.html"]
    assert b"sitemaps/2021-12-08.xml" in objects["sitemap.xml"]
    for key in ("404.html", "robots.txt", "search/index.html", "archive/index.html"):
        assert key in objects, key


def test_reference_site_url() -> None:
    key = "_posts/2021-12-08-202112082206742097.md"
    p = run((key, post("东财", categories="emnews", tags="东财滚动新闻")))
    assert_healthy(p)
    assert "emnews/2021/12/08/202112082206742097.html" in site(p)


def test_post_without_categories_is_published_at_the_date_path() -> None:
    body = b"---\ntitle: Plain Post\ndate: 2021-12-08 10:00:00 +0800\n---\nText\n"
    p = run((A, body))
    assert_healthy(p)
    assert "2021/12/08/alpha.html" in site(p)


def test_page_for_a_post_in_another_zone_uses_the_site_day() -> None:
    p = InProcessPipeline()
    run(("_config.yml", b"timezone: Asia/Shanghai\n"), pipeline=p)
    run((A, post("Late Post", date="2021-12-08 20:00:00 +0000")), pipeline=p)
    assert_healthy(p)
    objects = site(p)
    assert "news/2021/12/09/alpha.html" in objects
    assert "2021/12/09/index.html" in objects
    assert "2021/12/08/index.html" not in objects


def test_uploading_the_same_file_twice_changes_nothing() -> None:
    p = run((A, post("Alpha")))
    before = site(p)
    run((A, post("Alpha")), pipeline=p)
    assert site(p) == before


def test_rejected_post_is_reported_and_not_published() -> None:
    p = run((A, b"---\ntitle: [broken\n---\nx\n"))
    assert [key for key, _ in p.rejections] == [A]
    assert "YAML" in p.rejections[0][1]
    assert mentioning(p, "alpha") == set()
    assert p.dead_letters == {}


def test_hostile_permalink_does_not_crash_the_pipeline() -> None:
    p = run((A, post("Alpha", permalink="'//[oops'")))
    assert p.dead_letters == {}
    assert [key for key, _ in p.rejections] == [A]


# --- delete


def test_delete_removes_the_page_and_every_mention() -> None:
    p = run(
        (B, post("Bravo Stays", categories="news", tags="shared")),
        (A, post("Alpha Goes", categories="gonecat", tags="shared gonetag")),
    )
    assert_healthy(p)
    assert "gonecat/2021/12/08/alpha.html" in site(p)
    run((A, None), pipeline=p)
    assert_healthy(p)
    objects = site(p)
    assert "gonecat/2021/12/08/alpha.html" not in objects
    assert "gonecat/index.html" not in objects
    assert "tags/gonetag/index.html" not in objects
    assert mentioning(p, "Alpha Goes", "/gonecat/", "gonetag", "alpha.html") == set()
    # The surviving post is still everywhere it was.
    for key in ("index.html", "feed.xml", "tags/shared/index.html", "2021/12/08/index.html", "sitemaps/2021-12-08.xml"):
        assert b"Bravo Stays" in objects[key] or b"/news/2021/12/08/bravo.html" in objects[key], key


def test_deleting_the_only_post_leaves_no_dated_objects() -> None:
    p = run((A, post("Only One", tags="solo")), (A, None))
    assert_healthy(p)
    objects = site(p)
    for key in (
        "news/2021/12/08/alpha.html",
        "news/index.html",
        "tags/solo/index.html",
        "2021/12/08/index.html",
        "2021/12/index.html",
        "sitemaps/2021-12-08.xml",
    ):
        assert key not in objects, key
    assert mentioning(p, "Only One", "alpha.html", "2021-12-08", "2021/12") == set()
    assert indexed(p) == {}


def test_delete_then_reupload_restores_the_post() -> None:
    p = run((A, post("Alpha")), (A, None), (A, post("Alpha")))
    assert_healthy(p)
    assert "news/2021/12/08/alpha.html" in site(p)
    fresh = run((A, post("Alpha")))
    assert differences(site(p), site(fresh)) == []


def test_out_of_order_delivery_keeps_the_newest_change() -> None:
    # The delete's notification is processed before the upload's; the older upload must be ignored.
    p = InProcessPipeline()
    p.upload(A, post("Alpha"))
    p.delete(A)
    p.queues["parse"].messages.reverse()
    p.drain()
    assert p.dead_letters == {}
    assert mentioning(p, "Alpha", "alpha.html") == set()


# --- re-upload with changes


@pytest.mark.parametrize(
    ("before", "after", "old_page", "new_page", "gone"),
    [
        (
            post("Old Title Here"),
            post("New Title Here"),
            "news/2021/12/08/alpha.html",
            "news/2021/12/08/alpha.html",
            ["Old Title Here"],
        ),
        (
            post("Alpha", date="2021-12-08 10:00:00 +0800"),
            post("Alpha", date="2021-11-02 10:00:00 +0800"),
            "news/2021/12/08/alpha.html",
            "news/2021/11/02/alpha.html",
            ["2021/12/08", "2021-12-08"],
        ),
        (
            post("Alpha", categories="oldcat"),
            post("Alpha", categories="newcat"),
            "oldcat/2021/12/08/alpha.html",
            "newcat/2021/12/08/alpha.html",
            ["oldcat"],
        ),
        (
            post("Alpha", tags="oldtag keeptag"),
            post("Alpha", tags="keeptag newtag"),
            "news/2021/12/08/alpha.html",
            "news/2021/12/08/alpha.html",
            ["oldtag"],
        ),
        (
            post("Alpha", permalink="/first/place.html"),
            post("Alpha", permalink="/second/place.html"),
            "first/place.html",
            "second/place.html",
            ["/first/"],
        ),
    ],
    ids=["title", "date", "category", "tags", "permalink"],
)
def test_changed_post_leaves_no_stale_page_listing_feed_or_sitemap(
    before: bytes, after: bytes, old_page: str, new_page: str, gone: list[str]
) -> None:
    p = run((B, post("Bystander", date="2021-12-07 09:00:00 +0800", tags="keeptag")), (A, before))
    assert_healthy(p)
    assert old_page in site(p)
    run((A, after), pipeline=p)
    assert_healthy(p)
    objects = site(p)
    assert new_page in objects
    if old_page != new_page:  # the old URL now only redirects to the new one
        assert redirects(objects) == {old_page: "/" + new_page}
        assert mentioning(p, "/" + old_page) == set()
    else:
        assert redirects(objects) == {}
    assert mentioning(p, *gone) == set()
    fresh = run((B, post("Bystander", date="2021-12-07 09:00:00 +0800", tags="keeptag")), (A, after))
    assert differences(without_redirects(objects), site(fresh)) == []


# --- history independence


def final_files() -> list[tuple[str, bytes]]:
    return [
        (A, post("Alpha Final", date="2021-12-09 08:00:00 +0800", categories="markets", tags="红 blue")),
        (B, post("Bravo Final", date="2021-12-08 23:59:59 +0800", categories="news Markets", tags="blue")),
        (C, post("Charlie Final", date="2021-11-30 12:00:00 +0800", categories="news")),
    ]


def history() -> Iterable[tuple[str, bytes | None]]:
    d = "_posts/2021-10-01-delta.md"
    yield A, post("Alpha v1", categories="news", tags="old 红")
    yield B, post("Bravo v1", date="2021-10-05 10:00:00 +0800", categories="misc", tags="blue green")
    yield d, post("Delta", date="2021-10-01 10:00:00 +0800", categories="misc", tags="green")
    yield C, post("Charlie v1", date="2021-11-30 12:00:00 +0800", categories="news", permalink="/c/one.html")
    yield A, post("Alpha v2", date="2021-12-20 08:00:00 +0800", categories="markets", tags="红")
    yield d, None
    yield B, None
    yield B, post("Bravo v2", date="2021-12-08 23:59:59 +0800", categories="news", tags="blue")
    yield from final_files()


def assert_same_site(replayed: InProcessPipeline, fresh: InProcessPipeline) -> None:
    """The same site, but for the redirects only a history can leave, each of which must lead somewhere."""
    a, b = replayed.site.objects, fresh.site.objects
    assert broken_redirects(site(replayed)) == []
    assert differences(without_redirects(site(replayed)), site(fresh)) == []
    for key in set(a) & set(b):
        assert a[key].content_type == b[key].content_type, key
        assert a[key].cache_control == b[key].cache_control, key


def test_site_after_a_sequence_of_changes_equals_a_fresh_build_one_step_at_a_time() -> None:
    replayed = run(*history())
    fresh = run(*final_files())
    assert_healthy(replayed)
    assert_healthy(fresh)
    assert_same_site(replayed, fresh)


def test_site_after_a_sequence_of_changes_equals_a_fresh_build_in_batches() -> None:
    replayed = InProcessPipeline()
    for key, body in history():
        if body is None:
            replayed.delete(key)
        else:
            replayed.upload(key, body)
    replayed.drain()
    fresh = InProcessPipeline()
    fresh.publish_all(final_files())
    assert_healthy(replayed)
    assert_same_site(replayed, fresh)


def test_fresh_build_does_not_depend_on_upload_order() -> None:
    forward = InProcessPipeline()
    forward.publish_all(final_files())
    backward = InProcessPipeline()
    backward.publish_all(reversed(final_files()))
    assert_same_site(forward, backward)


def test_a_build_in_large_batches_is_the_same_site_as_in_batches_of_ten() -> None:
    # Enough posts over enough days that batches of ten flush the search log and merge its runs
    # many times, and each batch touches listings another batch touches too.
    files = [
        (
            f"_posts/2021-12-{1 + n % 9:02d}-post-{n}.md",
            post(
                f"Post {n} 第{n}号",
                date=f"2021-12-{1 + n % 9:02d} {n % 24:02d}:00:00 +0800",
                categories=("news", "markets", "news markets")[n % 3],
                tags=("红 blue", "green", "")[n % 3],
                body=f"北向资金 {n} 流入，代码 {600000 + n}。 Body text number {n}, repeated {n % 7} times.",
            ),
        )
        for n in range(120)
    ]
    tens = InProcessPipeline()
    tens.publish_all(files)
    for sizes in (BULK_BATCH_SIZES, {"parse": 7, "render": 13, "index": 33}):
        bulk = InProcessPipeline(batch_sizes=sizes)
        bulk.publish_all(files)
        assert_healthy(bulk)
        assert sum(bulk.invocations.values()) < sum(tens.invocations.values())
        assert_same_site(bulk, tens)
    assert len(indexed(tens)) == 120


# --- URL ownership


def test_two_posts_with_the_same_permalink_one_is_rejected() -> None:
    p = run((A, post("Alpha", permalink="/same/page.html")), (B, post("Bravo", permalink="/same/page.html")))
    assert [key for key, _ in p.rejections] == [B]
    assert "/same/page.html" in p.rejections[0][1]
    assert b"Alpha" in site(p)["same/page.html"]


ALIASES = [("/x/y", "/x/y.html"), ("/x/z/", "/x/z/index.html")]


@pytest.mark.parametrize(("first", "second"), ALIASES)
def test_permalinks_that_name_the_same_object_are_one_url(first: str, second: str) -> None:
    # Both permalinks are served from one site key, so the second post must be refused like a duplicate URL,
    # not silently replace the first post's page.
    p = run((A, post("Alpha Page", permalink=first)), (B, post("Bravo Page", permalink=second)))
    assert [key for key, _ in p.rejections] == [B]
    assert_pages_match_catalog(p)


@pytest.mark.parametrize(("first", "second"), ALIASES)
def test_deleting_a_post_never_deletes_the_page_of_a_live_post(first: str, second: str) -> None:
    p = run((A, post("Alpha Page", permalink=first)), (B, post("Bravo Page", permalink=second)), (A, None))
    assert_pages_match_catalog(p)


def test_a_moved_post_that_is_unpublished_at_its_first_address_leaves_no_redirect_behind() -> None:
    # At /news/.../a.html, then moved to /moved/a.html (the first address redirecting there), then
    # back to its first address as a draft: neither address may serve anything, redirects included.
    first = post("Alpha", permalink="")
    moved = post("Alpha", permalink="/moved/a.html")
    draft = post("Alpha").replace(b"layout: post", b"layout: post\npublished: false")
    bystander = (B, post("Bravo", date="2021-12-07 09:00:00 +0800"))
    p = run(bystander, (A, first), (A, moved))
    assert redirects(site(p)) == {"news/2021/12/08/alpha.html": "/moved/a.html"}
    run((A, draft), pipeline=p)
    assert broken_redirects(site(p)) == []
    assert differences(site(p), site(run(bystander, (A, draft)))) == []
    run((A, first), pipeline=p)  # published again, at its first address: the one it left redirects there
    assert "news/2021/12/08/alpha.html" in site(p)
    assert redirects(site(p)) == {"moved/a.html": "/news/2021/12/08/alpha.html"}


def test_names_that_a_page_address_would_make_alike_keep_their_own_pages() -> None:
    # `a/b` and `ab`: removing the one's last post takes its page down, never the other's.
    p = run(
        (B, post("Bravo", categories="ab", tags="美元人民币")), (A, post("Alpha", categories="a/b", tags="美元/人民币"))
    )
    pages = [k for k in site(p) if k.endswith("/index.html") and ("ab" in k or "人民币" in k)]
    assert len(pages) == 4  # two category pages, two tag pages
    run((A, None), pipeline=p)
    assert "ab/index.html" in site(p) and "tags/美元人民币/index.html" in site(p)
    assert b"Bravo" in site(p)["ab/index.html"]
    assert differences(site(p), site(run((B, post("Bravo", categories="ab", tags="美元人民币"))))) == []


def test_a_post_page_is_served_as_a_page_whatever_its_name_ends_in() -> None:
    # Named by the extension, `/v1.2` would be a download and `/x.js` a script of the site's own origin.
    permalinks = {"/v1.2": "v1.2", "/x.js": "x.js", "/s.css": "s.css", "/p.htm": "p.htm", "/d.json": "d.json"}
    steps = [(f"_posts/2021-12-08-p{i}.md", post(f"P{i}", permalink=p)) for i, p in enumerate(permalinks)]
    moved = post("Moved", permalink="/news/moved/")
    steps += [("_posts/2021-12-08-moved.md", moved.replace(b"permalink:", b"redirect_from: /old.js\npermalink:"))]
    pipeline = run(*steps)
    assert pipeline.rejections == []
    for key in [*permalinks.values(), "old.js", "news/moved/index.html"]:
        blob = pipeline.site.objects[key]
        assert blob.content_type == "text/html; charset=utf-8", key
        assert blob.body.startswith(b"<!DOCTYPE html>"), key
    # Everything else keeps the type its name gives.
    assert pipeline.site.objects["feed.xml"].content_type.startswith("application/atom+xml")
    assert pipeline.site.objects["sitemap.xml"].content_type.startswith("application/xml")
    assert any(k.startswith("assets/") and k.endswith(".js") for k in pipeline.site.objects)
    for key, blob in pipeline.site.objects.items():
        if key.startswith("assets/") and key.endswith(".js"):
            assert blob.content_type.startswith("text/javascript"), key


def _fresh_site(sources: dict[str, bytes]) -> dict[str, bytes]:
    fresh = InProcessPipeline()
    fresh.publish_all(sources.items())
    return site(fresh)


def test_a_post_refused_a_taken_permalink_is_published_once_the_holder_lets_it_go() -> None:
    same = "/same/page.html"
    a, b, c = (f"_posts/2021-12-0{n}-{name}.md" for n, name in ((8, "a"), (9, "b"), (9, "c")))
    sources = {key: post(key[-4].upper(), permalink=same) for key in (a, b, c)}
    pipeline = run(*sources.items())
    assert [key for key, _ in pipeline.rejections] == [b, c]
    assert b"A" in pipeline.site.objects["same/page.html"].body
    pipeline = run((a, None), pipeline=pipeline)  # B first by key: it takes the URL, C waits on
    assert differences(site(pipeline), _fresh_site({b: sources[b], c: sources[c]})) == []
    assert "<h1>B</h1>" in pipeline.site.objects["same/page.html"].body.decode()
    pipeline = run((b, post("B", permalink="/elsewhere/b.html")), pipeline=pipeline)  # B moves away: C's turn
    final = {b: post("B", permalink="/elsewhere/b.html"), c: sources[c]}
    assert differences(site(pipeline), _fresh_site(final)) == []
    assert pipeline.catalog.waiting == {}
    assert pipeline.dead_letters == {}


def test_two_posts_swap_permalinks_through_a_third_address() -> None:
    # Each of the two uploads is refused while the other post holds the address it asks for, and
    # uploading either again as it is changes nothing: a swap takes a third address (README).
    a, b = "_posts/2021-12-08-a.md", "_posts/2021-12-08-b.md"
    one, two, third = "/p/one.html", "/p/two.html", "/p/third.html"
    pipeline = run((a, post("A", permalink=one)), (b, post("B", permalink=two)))
    swapped = {a: post("A", permalink=two), b: post("B", permalink=one)}
    pipeline = run(*swapped.items(), *swapped.items(), pipeline=pipeline)
    assert [key for key, _ in pipeline.rejections] == [a, b] * 2
    assert "<h1>A</h1>" in pipeline.site.objects["p/one.html"].body.decode()
    # A to an address neither holds: B, waiting for the one A leaves, takes it; then A takes B's old one.
    pipeline = run((a, post("A", permalink=third)), pipeline=pipeline)
    assert "<h1>B</h1>" in pipeline.site.objects["p/one.html"].body.decode()
    pipeline = run((a, swapped[a]), pipeline=pipeline)
    assert broken_redirects(site(pipeline)) == []
    assert redirects(site(pipeline)) == {"p/third.html": two}
    assert differences(without_redirects(site(pipeline)), _fresh_site(swapped)) == []
    assert pipeline.catalog.waiting == {}
    assert pipeline.dead_letters == {}


def test_a_post_renamed_by_copying_then_deleting_stays_published() -> None:
    # `aws s3 mv` copies to the new key, then deletes the old one: the copy is refused the URL at first.
    old, new = "_posts/2021-12-08-alpha.md", "_posts/2021-12-08-alpha.markdown"
    pipeline = run((old, post("Alpha")), (new, post("Alpha")), (old, None))
    assert [key for key, _ in pipeline.rejections] == [new]
    assert differences(site(pipeline), _fresh_site({new: post("Alpha")})) == []
    assert "news/2021/12/08/alpha.html" in pipeline.site.objects


def test_the_last_good_version_kept_after_a_broken_upload_takes_a_new_site_title() -> None:
    key, page = "_posts/2021-12-08-alpha.md", "news/2021/12/08/alpha.html"
    broken = post("Alpha").replace(b"title: 'Alpha'", b"title: ''")
    pipeline = run(("_config.yml", b"title: Old Site\n"), (key, post("Alpha")), (key, broken))
    kept = pipeline.site.objects[page].body
    assert b"Old Site" in kept and [k for k, _ in pipeline.rejections] == [key]
    run(("_config.yml", b"title: New Site\n"), pipeline=pipeline)  # every post is read again: Alpha is refused again
    assert [k for k, _ in pipeline.rejections] == [key, key]
    now = pipeline.site.objects[page].body.decode()
    assert "New Site" in now and "Old Site" not in now and "Alpha" in now
    assert pipeline.dead_letters == {}


def test_a_holder_that_lets_the_url_go_while_the_refused_post_writes_its_wait_still_hands_it_over() -> None:
    # Parse runs several invocations at once: the holder's delete may commit and look for waiting posts
    # between another post's refused commit and that post's wait being written.
    from dataclasses import dataclass

    from newsdrop.adapters.memory import MemoryCatalog

    old, new = "_posts/2021-12-08-alpha.md", "_posts/2021-12-08-alpha.markdown"

    @dataclass
    class Interleaved(MemoryCatalog):
        pipeline: InProcessPipeline | None = None

        def wait_for_url(self, url: str, key: str, sequencer: str) -> None:
            if self.pipeline is not None:
                pipeline, self.pipeline = self.pipeline, None
                pipeline.delete(old)  # the delete event, handled by another invocation meanwhile
                pipeline._run_batch("parse", pipeline.queues["parse"])
            super().wait_for_url(url, key, sequencer)

    catalog = Interleaved()
    pipeline = run((old, post("Alpha")), pipeline=InProcessPipeline(catalog=catalog))
    catalog.pipeline = pipeline
    run((new, post("Alpha")), pipeline=pipeline)
    assert pipeline.rejections == []
    assert differences(site(pipeline), _fresh_site({new: post("Alpha")})) == []


def test_a_post_refused_a_url_by_a_settings_change_takes_it_once_it_is_free() -> None:
    a, b = "_posts/2021-12-08-a.md", "_posts/2021-12-09-b.md"
    sources = {a: post("A", permalink="/b.html"), b: post("B")}
    pipeline = run(*sources.items())
    config = b"permalink: /:title.html\n"  # B's URL becomes /b.html, which A holds
    run(("_config.yml", config), pipeline=pipeline)
    assert [key for key, _ in pipeline.rejections] == [b]
    run((a, None), pipeline=pipeline)
    assert pipeline.catalog.posts[b].url == "/b.html"
    fresh = _fresh_site({"_config.yml": config, b: sources[b]})
    assert pipeline.site.objects["b.html"].body == fresh["b.html"]
    assert pipeline.catalog.waiting == {}


def test_a_scheduled_post_refused_its_url_when_it_falls_due_takes_it_once_it_is_free() -> None:
    import datetime as dt

    from newsdrop.clock import ManualClock

    due = dt.datetime(2021, 12, 9, 2, 0, tzinfo=dt.UTC)  # 10:00 in Shanghai
    clock = ManualClock(due - dt.timedelta(hours=2))
    a, b = "_posts/2021-12-08-a.md", "_posts/2021-12-09-b.md"
    later = post("Later", date="2021-12-09 10:00:00 +0800", permalink="/same.html")
    pipeline = run((b, later), (a, post("Now", permalink="/same.html")), pipeline=InProcessPipeline(clock=clock))
    clock.set(due)
    pipeline.run_schedules()
    assert [key for key, _ in pipeline.rejections] == [b]
    run((a, None), pipeline=pipeline)
    assert pipeline.catalog.posts[b].live
    assert "Later" in pipeline.site.objects["same.html"].body.decode()
