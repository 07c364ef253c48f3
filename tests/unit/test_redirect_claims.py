"""Earlier URLs claimed by more than one post, moved past the aliases kept, or too many at once.

What an earlier URL holds must follow from what is published, whatever order it was published
in: of the live posts that list it among their earlier URLs, the first by source key.
"""

from __future__ import annotations

import itertools

import pytest

from newsdrop import catalog, posts
from newsdrop.local.inprocess import InProcessPipeline
from tests.support.redirects import redirect_target

A = "_posts/2021-12-08-a.md"
B = "_posts/2021-12-09-b.md"
A_URL = "/news/2021/12/08/a.html"
B_URL = "/news/2021/12/09/b.html"
OLD = "old/place.html"


def source(title: str, date: str, extra: str = "", *, categories: str = "news", tags: str = "t") -> bytes:
    head = f"title: {title}\ndate: {date}\ncategories: {categories}\ntags: {tags}\n{extra}"
    return f"---\n{head}---\n{title} 正文\n".encode()


def claiming(title: str, date: str) -> bytes:
    return source(title, date, "redirect_from: /old/place.html\n")


POSTS = {A: claiming("A", "2021-12-08 10:00:00"), B: claiming("B", "2021-12-09 10:00:00")}


def target(pipeline: InProcessPipeline, key: str = OLD) -> str | None:
    blob = pipeline.site.objects.get(key)
    return None if blob is None else redirect_target(blob.body)


@pytest.mark.parametrize("order", list(itertools.permutations(POSTS)))
def test_an_earlier_url_two_posts_claim_redirects_to_the_first_by_key_in_any_order(order: tuple[str, ...]) -> None:
    pipeline = InProcessPipeline()
    for key in order:
        pipeline.publish_all([(key, POSTS[key])])
    assert target(pipeline) == A_URL
    assert pipeline.rejections == []


@pytest.mark.parametrize("order", list(itertools.permutations(POSTS)))
def test_deleting_one_claimant_hands_the_redirect_to_the_other(order: tuple[str, ...]) -> None:
    pipeline = InProcessPipeline()
    pipeline.publish_all(POSTS.items())
    first, second = order
    pipeline.delete(first)
    pipeline.drain()
    assert target(pipeline) == (B_URL if second == B else A_URL)
    pipeline.delete(second)
    pipeline.drain()
    assert OLD not in pipeline.site.objects


def test_a_deleted_post_s_own_address_redirects_to_a_post_that_claims_it() -> None:
    pipeline = InProcessPipeline()
    pipeline.publish_all([(A, source("A", "2021-12-08 10:00:00"))])
    pipeline.publish_all([(B, source("B", "2021-12-09 10:00:00", f"redirect_from: {A_URL}\n"))])
    assert "A 正文" in pipeline.site.objects["news/2021/12/08/a.html"].body.decode()  # A holds it: its page
    pipeline.delete(A)
    pipeline.drain()
    assert target(pipeline, "news/2021/12/08/a.html") == B_URL


def test_an_unpublished_claimant_gives_the_redirect_up() -> None:
    pipeline = InProcessPipeline()
    pipeline.publish_all(POSTS.items())
    draft = source("A", "2021-12-08 10:00:00", "redirect_from: /old/place.html\npublished: false\n")
    pipeline.publish_all([(A, draft)])
    assert target(pipeline) == B_URL
    pipeline.publish_all([(A, POSTS[A])])
    assert target(pipeline) == A_URL


def test_an_address_dropped_past_the_aliases_kept_redirects_no_more() -> None:
    pipeline = InProcessPipeline()
    moves = catalog.MAX_ALIASES + 2
    for day in range(1, moves + 1):
        pipeline.publish_all([(A, source("A", f"2021-12-{day:02d} 10:00:00"))])
    current = f"/news/2021/12/{moves:02d}/a.html"
    earlier = [f"news/2021/12/{day:02d}/a.html" for day in range(1, moves)]
    dropped, kept = earlier[: moves - 1 - catalog.MAX_ALIASES], earlier[moves - 1 - catalog.MAX_ALIASES :]
    assert dropped and all(key not in pipeline.site.objects for key in dropped)
    assert all(target(pipeline, key) == current for key in kept)
    assert pipeline.catalog.redirect_claimant("/" + dropped[0]) is None


def test_a_change_too_large_for_one_catalog_transaction_is_rejected_and_the_post_stays() -> None:
    labels = "[" + ", ".join(f"l{i}" for i in range(20)) + "]"

    def urls(prefix: str) -> str:
        return "redirect_from: [" + ", ".join(f"/{prefix}/{i}.html" for i in range(20)) + "]\n"

    first = source("A", "2021-12-08 10:00:00", urls("x"), categories=labels, tags=labels.replace("l", "t"))
    pipeline = InProcessPipeline()
    pipeline.publish_all([(A, first)])
    published, url = dict(pipeline.site.objects), pipeline.catalog.posts[A].url
    # Another date leaves every listing and joins every one again, and 20 new earlier URLs replace the 20.
    moved = source("A", "2021-12-09 10:00:00", urls("y"), categories=labels, tags=labels.replace("l", "t"))
    pipeline.publish_all([(A, moved)])
    [(key, reason)] = pipeline.rejections
    assert key == A and "catalog items at once" in reason and f"at most {catalog.MAX_TRANSACTION_ITEMS}" in reason
    assert pipeline.catalog.posts[A].url == url
    assert pipeline.site.objects == published
    assert target(pipeline, "x/0.html") == url


def test_redirect_from_urls_keep_redirecting_however_often_the_post_moves_or_is_uploaded_again() -> None:
    assert catalog.MAX_ALIASES > posts.MAX_REDIRECTS  # and room for the address Jekyll gave the post
    listed = [f"r/{i}.html" for i in range(posts.MAX_REDIRECTS)]
    extra = "redirect_from: [" + ", ".join("/" + url for url in listed) + "]\n"
    pipeline = InProcessPipeline()
    for day in (8, 9, 9, 10, 10, 10):  # moves, uploads unchanged, moves again
        pipeline.publish_all([(A, source("A", f"2021-12-{day:02d} 10:00:00", extra))])
        url = pipeline.catalog.posts[A].url
        assert [target(pipeline, key) for key in listed] == [url] * len(listed)
        assert target(pipeline, "news/2021/12/08/a.html") == (url if day > 8 else None)


@pytest.mark.parametrize("b_first", [False, True])
def test_an_address_a_post_lists_no_more_redirects_no_more_and_goes_to_a_post_that_lists_it(b_first: bool) -> None:
    # As in a fresh build of the final sources: A without redirect_from holds no claim on OLD.
    pipeline = InProcessPipeline()
    pipeline.publish_all([(A, POSTS[A])])
    unlisted = source("A", "2021-12-08 10:00:00")
    steps = [(B, POSTS[B]), (A, unlisted)] if b_first else [(A, unlisted), (B, POSTS[B])]
    if not b_first:
        pipeline.publish_all(steps[:1])
        assert OLD not in pipeline.site.objects  # nothing lists it: the redirect is taken down
        steps = steps[1:]
    for step in steps:
        pipeline.publish_all([step])
    assert target(pipeline) == B_URL
    assert pipeline.catalog.posts[A].aliases == ()
    fresh = InProcessPipeline()
    fresh.publish_all([(A, unlisted), (B, POSTS[B])])
    assert pipeline.site.objects[OLD].body == fresh.site.objects[OLD].body
    # The addresses a post moved from still redirect to it, however its redirect_from changes.
    pipeline.publish_all([(A, source("A", "2021-12-10 10:00:00", "redirect_from: /x.html\n"))])
    pipeline.publish_all([(A, source("A", "2021-12-10 10:00:00"))])
    assert target(pipeline, "news/2021/12/08/a.html") == "/news/2021/12/10/a.html"
    assert "x.html" not in pipeline.site.objects


def test_an_address_the_post_moved_from_keeps_redirecting_when_its_redirect_from_drops_it() -> None:
    # Moving a post and listing its old address by hand, as Jekyll sites do, then dropping the line.
    moved_from = "news/2021/12/08/a.html"
    lists_it = f"redirect_from: /{moved_from}\n"
    for steps in (
        [source("A", "2021-12-08 10:00:00"), source("A", "2021-12-09 10:00:00", lists_it)],  # moved, then listed
        [source("A", "2021-12-08 10:00:00", lists_it)],  # listed while still there: only listed
    ):
        pipeline = InProcessPipeline()
        for body in steps:
            pipeline.publish_all([(A, body)])
        pipeline.publish_all([(A, source("A", "2021-12-09 10:00:00", lists_it))])
        pipeline.publish_all([(A, source("A", "2021-12-09 10:00:00"))])  # redirect_from dropped
        assert target(pipeline, moved_from) == "/news/2021/12/09/a.html"


def test_a_catalog_written_before_claims_gains_them_when_the_post_is_committed_again() -> None:
    pipeline = InProcessPipeline()
    pipeline.publish_all([(A, POSTS[A])])
    pipeline.catalog.redirects.clear()  # records with earlier URLs and no claims, as before claims existed
    pipeline.publish_all([(A, POSTS[A])])
    assert target(pipeline) == A_URL
