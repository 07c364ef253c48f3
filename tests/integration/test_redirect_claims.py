"""Earlier URLs on DynamoDB (moto), through the real handlers: claimed by two posts, and too many at once.

The same cases as tests/unit/test_redirect_claims.py on the memory catalog; here the claims are
DynamoDB items written in the commit's transaction, which holds at most 100 items.
"""

from __future__ import annotations

from typing import Any

from newsdrop import catalog
from tests.integration.sitecheck import delete, local_build, post, rejections, site, upload
from tests.support.redirects import redirect_target

A = "_posts/2021-12-08-a.md"
B = "_posts/2021-12-09-b.md"
A_PAGE, B_PAGE = "news/2021/12/08/a.html", "news/2021/12/09/b.html"
OLD = "old/place.html"


def claiming(title: str, date: str) -> bytes:
    return post(title, date, categories=["News"], extra={"redirect_from": "/old/place.html"})


POSTS = {A: claiming("A", "2021-12-08 10:00:00"), B: claiming("B", "2021-12-09 10:00:00")}


def drain(pump: Any) -> dict[str, bytes]:
    pump.drain()
    assert pump.errors == []
    return site()


def test_two_claimants_of_an_earlier_url_published_in_reverse_key_order(moto_stack: Any) -> None:
    for key in (B, A):  # A after B, and A is first by key: the redirect is A's, as in a fresh build
        upload(key, POSTS[key])
        objects = drain(moto_stack)
    assert redirect_target(objects[OLD]) == "/" + A_PAGE
    assert objects[OLD] == local_build(POSTS)[OLD]
    delete(A)
    assert redirect_target(drain(moto_stack)[OLD]) == "/" + B_PAGE
    delete(B)
    assert OLD not in drain(moto_stack)
    assert rejections(moto_stack) == []


def test_an_address_a_post_lists_no_more_goes_to_a_post_that_lists_it(moto_stack: Any) -> None:
    # The catalog item keeps which earlier URLs the post lists itself, apart from those it moved from.
    for key in (A, B):
        upload(key, POSTS[key])
        drain(moto_stack)
    unlisted = post("A", "2021-12-08 10:00:00", categories=["News"])
    upload(A, unlisted)
    objects = drain(moto_stack)
    assert redirect_target(objects[OLD]) == "/" + B_PAGE
    assert objects[OLD] == local_build({A: unlisted, B: POSTS[B]})[OLD]
    delete(B)
    assert OLD not in drain(moto_stack)
    assert rejections(moto_stack) == []


def test_a_change_too_large_for_one_transaction_is_rejected_with_its_key_and_reason(moto_stack: Any) -> None:
    labels = [f"l{i}" for i in range(20)]

    def many(date: str, prefix: str) -> bytes:
        earlier = {"redirect_from": "[" + ", ".join(f"/{prefix}/{i}.html" for i in range(20)) + "]"}
        return post("A", date, categories=labels, tags=[f"t{i}" for i in range(20)], extra=earlier)

    upload(A, many("2021-12-08 10:00:00", "x"))
    before = drain(moto_stack)
    upload(A, many("2021-12-09 10:00:00", "y"))  # leaves and joins 42 listings, and swaps 20 earlier URLs
    assert drain(moto_stack) == before
    [rejected] = rejections(moto_stack)
    assert rejected["key"] == A
    assert f"at most {catalog.MAX_TRANSACTION_ITEMS}" in rejected["reason"]


def test_a_post_refused_a_taken_permalink_is_published_once_the_holder_is_deleted(moto_stack: Any) -> None:
    # The wait is a DynamoDB item (WAIT#<the URL's site key>, one per refused post), ended by the re-read.
    same = {"permalink": "/same/page.html"}
    sources = {A: post("A", "2021-12-08 10:00:00", extra=same), B: post("B", "2021-12-09 10:00:00", extra=same)}
    for key in (A, B):
        upload(key, sources[key])
        drain(moto_stack)
    assert [r["key"] for r in rejections(moto_stack)] == [B]
    assert [item["sk"]["S"] for item in waits()] == [B]
    delete(A)
    objects = drain(moto_stack)
    assert objects["same/page.html"] == local_build({B: sources[B]})["same/page.html"]
    assert waits() == []


def waits() -> list[dict[str, Any]]:
    import boto3

    from newsdrop.local.stack import Names

    items = boto3.client("dynamodb", region_name="us-east-1").scan(TableName=Names().table)["Items"]
    return [item for item in items if item["pk"]["S"].startswith("WAIT#")]
