"""The AWS adapters against answers AWS gives and moto does not: S3's short listing pages,
PutEvents' size limit, and CloudFront refusing an invalidation. Each answer is stubbed
(botocore's Stubber: no network)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.stub import ANY, Stubber

from newsdrop.adapters import aws
from newsdrop.ports import BusEvent
from newsdrop.rendering.writer import invalidation_paths


@pytest.fixture
def stubbed(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Stubber]]:
    """aws.client(service) answers with a stubbed client, one per service."""
    aws.client.cache_clear()
    stubs: dict[str, Stubber] = {}
    make = aws.client.make

    def client(service: str) -> Any:
        if service not in stubs:
            real = make(service)
            stubs[service] = Stubber(real)
            stubs[service].activate()
        return stubs[service].client

    monkeypatch.setattr(aws, "client", client)
    yield stubs
    for stub in stubs.values():
        stub.assert_no_pending_responses()


def test_a_short_listing_page_with_more_to_come_is_read_on(stubbed: dict[str, Stubber]) -> None:
    store = aws.S3Store("source")
    s3 = aws.client("s3")
    stub = stubbed["s3"]
    # S3 may answer fewer keys than asked for, even none, and say there are more.
    stub.add_response(
        "list_objects_v2",
        {"IsTruncated": True, "NextContinuationToken": "t1", "KeyCount": 0},
        {"Bucket": "source", "Prefix": "_posts/", "MaxKeys": 3, "StartAfter": "_posts/a.md"},
    )
    stub.add_response(
        "list_objects_v2",
        {"IsTruncated": True, "NextContinuationToken": "t2", "Contents": [{"Key": "_posts/b.md"}]},
        {"Bucket": "source", "Prefix": "_posts/", "MaxKeys": 3, "StartAfter": "_posts/a.md", "ContinuationToken": "t1"},
    )
    stub.add_response(
        "list_objects_v2",
        {
            "IsTruncated": True,
            "NextContinuationToken": "t3",
            "Contents": [{"Key": "_posts/c.md"}, {"Key": "_posts/d.md"}],
        },
        {"Bucket": "source", "Prefix": "_posts/", "MaxKeys": 2, "StartAfter": "_posts/a.md", "ContinuationToken": "t2"},
    )
    assert s3 is stub.client
    # A full page, though the listing goes on: the fan-out asks for the next page after the last key.
    assert store.list_page("_posts/", after="_posts/a.md", limit=3) == ["_posts/b.md", "_posts/c.md", "_posts/d.md"]


def test_the_last_page_of_a_listing_is_short() -> None:
    """Without IsTruncated the page ends the listing, however short (the memory store agrees)."""
    from newsdrop.adapters.memory import MemoryStore

    store = MemoryStore()
    for key in ("_posts/a.md", "_posts/b.md"):
        store.put(key, b"x", content_type="text/markdown")
    assert store.list_page("_posts/", limit=3) == ["_posts/a.md", "_posts/b.md"]


def test_events_are_sent_in_requests_under_put_events_limits(stubbed: dict[str, Stubber]) -> None:
    bus = aws.EventBridgeBus("publishing")
    aws.client("events")
    stub = stubbed["events"]
    big = [BusEvent("PostUpserted", {"key": f"k{i}", "pad": "长" * 30_000}) for i in range(5)]  # ~90 KB each
    small = [BusEvent("PostUpserted", {"key": f"s{i}"}) for i in range(12)]
    sent: list[list[dict[str, Any]]] = []
    for _ in range(4):
        stub.add_response("put_events", {"FailedEntryCount": 0, "Entries": []}, {"Entries": ANY})
    original = stub.client.put_events

    def record(**kwargs: Any) -> Any:
        sent.append(kwargs["Entries"])
        return original(**kwargs)

    stub.client.put_events = record  # type: ignore[method-assign]
    bus.publish(big + small)

    assert [e["Detail"] for chunk in sent for e in chunk] == [
        json.dumps(e.detail, ensure_ascii=False) for e in big + small
    ]
    for chunk in sent:
        assert len(chunk) <= 10
        size = sum(14 + len((e["Source"] + e["DetailType"] + e["Detail"]).encode()) for e in chunk)
        assert size <= 256 * 1024
    # Two ~90 KB events fit in a request, not three; the fifth goes with nine small ones (ten entries).
    assert [len(chunk) for chunk in sent] == [2, 2, 10, 3]


def test_a_refused_invalidation_does_not_fail_the_batch(stubbed: dict[str, Stubber], caplog: Any) -> None:
    cdn = aws.CloudFrontCdn("E123")
    aws.client("cloudfront")
    stubbed["cloudfront"].add_client_error(
        "create_invalidation", service_error_code="TooManyInvalidationsInProgress", http_status_code=400
    )
    cdn.invalidate(["/index.html"])  # the pages are written; their max-age bounds the staleness
    assert "TooManyInvalidationsInProgress" in str([r.__dict__.get("code") for r in caplog.records])


def test_invalidation_paths_encode_what_cloudfront_asks_and_end_at_a_wildcard() -> None:
    assert invalidation_paths(["tags/财经/index.html"]) == ["/tags/%E8%B4%A2%E7%BB%8F/index.html"]
    assert invalidation_paths(["notes/~draft.html"]) == ["/notes/%7Edraft.html"]
    # `*` is a wildcard, allowed last only: a *ST tag's page is covered by one that ends there.
    assert invalidation_paths(["tags/*ST华仪/index.html", "index.html"]) == ["/index.html", "/tags/*"]
    assert invalidation_paths(["assets/style.0123456789.css"]) == []


def test_settings_written_while_a_commit_holds_their_items_are_written_again(
    stubbed: dict[str, Stubber], monkeypatch: pytest.MonkeyPatch
) -> None:
    from newsdrop.model import SiteConfig
    from newsdrop.ports import ConfigRecord

    monkeypatch.setattr(aws, "_back_off", lambda attempt: None)
    catalog = aws.DynamoCatalog("catalog")
    aws.client("dynamodb")
    stub = stubbed["dynamodb"]
    # A commit's transaction holds the settings item, then the count of changes: DynamoDB refuses
    # each single write once (nothing written), and the SDK does not retry that.
    stub.add_client_error("put_item", service_error_code="TransactionConflictException", http_status_code=400)
    stub.add_response("put_item", {})
    stub.add_client_error("update_item", service_error_code="TransactionConflictException", http_status_code=400)
    stub.add_response("update_item", {})
    record = ConfigRecord(generation=2, config=SiteConfig(title="财经快讯"), sources={"_config.yml": "00A1"})
    assert catalog.put_config(record) is True


def test_a_search_state_write_the_sdk_retried_after_it_landed_counts_as_done(stubbed: dict[str, Stubber]) -> None:
    from newsdrop.ports import SearchState

    catalog = aws.DynamoCatalog("catalog")
    aws.client("dynamodb")
    new = SearchState(doc=7, digest="d1", segment="s", retired=(), pending=False, version=3)
    mine = {"pk": {"S": "SEARCH#_posts/a.md"}, "sk": {"S": "STATE"}, "doc": {"N": "7"}, "digest": {"S": "d1"}}
    mine |= {"segment": {"S": "s"}, "retired": {"L": []}, "pending": {"BOOL": False}, "version": {"N": "3"}}
    theirs = mine | {"doc": {"N": "8"}, "version": {"N": "4"}}
    for found in (mine, theirs):  # the refused retry finds this write's item, or another's
        stubbed["dynamodb"].add_client_error(
            "put_item",
            service_error_code="ConditionalCheckFailedException",
            http_status_code=400,
            modeled_fields={"Item": found},
        )
    assert catalog.swap_search_state("_posts/a.md", None, new) is True
    assert catalog.swap_search_state("_posts/a.md", None, new) is False


def test_an_sdk_without_s3_conditional_writes_is_refused_at_once() -> None:
    import botocore.session

    s3 = botocore.session.get_session().create_client("s3", region_name="us-east-1")
    aws.require_conditional_writes(s3)  # this SDK has them
    shape = s3.meta.service_model.operation_model("PutObject").input_shape
    members = dict(shape.members)
    members.pop("IfMatch")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(type(shape), "members", property(lambda self: members))
        with pytest.raises(RuntimeError, match=r"lacks S3 conditional writes \(PutObject\.IfMatch"):
            aws.require_conditional_writes(s3)
