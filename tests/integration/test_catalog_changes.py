"""The catalog's count of changes, which render reads before and after its writes (see
newsdrop.stages.render): every commit that changes posts or settings counts once, on DynamoDB (moto)
as in memory; a commit that changes nothing does not count. And records read together
(`Catalog.read`) are the records read one by one, in one request."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from newsdrop.adapters.aws import DynamoCatalog
from newsdrop.adapters.memory import MemoryCatalog
from newsdrop.local.stack import Names
from newsdrop.model import SiteConfig
from newsdrop.ports import Catalog, ConfigRecord, Reads, SearchState
from tests.unit.test_catalog import KEY, OTHER, live, tombstone


@pytest.fixture(params=["memory", "dynamodb"])
def catalog(request: pytest.FixtureRequest) -> Iterator[Catalog]:
    if request.param == "memory":
        yield MemoryCatalog()
    else:
        stack: Any = request.getfixturevalue("moto_stack")
        assert stack is not None
        yield DynamoCatalog(Names().table)


def test_every_commit_that_changes_something_counts_once(catalog: Catalog) -> None:
    assert catalog.changes() == 0
    assert catalog.commit(live(n=1)).status == "applied"
    assert catalog.changes() == 1
    assert catalog.commit(live(n=1)).status == "duplicate"
    assert catalog.commit(live(n=0, title="Older")).status == "stale"
    assert catalog.changes() == 1
    assert catalog.commit(live(OTHER, n=1, url="/news/2021/12/08/b.html")).status == "applied"
    assert catalog.commit(tombstone(n=2)).status == "applied"
    assert catalog.changes() == 3


def test_new_settings_count_and_refused_ones_do_not(catalog: Catalog) -> None:
    assert catalog.put_config(ConfigRecord(generation=1, config=SiteConfig(title="One")))
    assert catalog.changes() == 1
    assert not catalog.put_config(ConfigRecord(generation=1, config=SiteConfig(title="Again")))
    assert catalog.commit(live(n=1), generation=0).status == "config_changed"
    assert catalog.changes() == 1
    assert catalog.commit(live(n=1), generation=1).status == "applied"
    assert catalog.changes() == 2


def test_the_count_keeps_the_newest_settings_it_counted(catalog: Catalog) -> None:
    assert catalog.read(Reads(changes=True)).counted_settings == 0
    assert catalog.put_config(ConfigRecord(generation=1, config=SiteConfig(title="One")))
    assert catalog.commit(live(n=1), generation=1).status == "applied"  # a post's commit keeps it
    found = catalog.read(Reads(changes=True, config=True))
    assert (found.changes, found.counted_settings) == (2, 1)
    assert catalog.put_config(ConfigRecord(generation=2, config=SiteConfig(title="Two")))
    assert catalog.read(Reads(changes=True)).counted_settings == 2


def test_dynamodb_keeps_the_newest_settings_counted_when_an_older_one_is_counted_after_it(moto_stack: Any) -> None:
    """Generation 3 counted after a later one was (its parse was slower): it still counts, and the
    count keeps the later generation."""
    from newsdrop.adapters import aws

    catalog = DynamoCatalog(Names().table)
    assert catalog.put_config(ConfigRecord(generation=1, config=SiteConfig(title="One")))
    assert catalog.put_config(ConfigRecord(generation=2, config=SiteConfig(title="Two")))
    aws.client("dynamodb").update_item(  # as if generation 4 had been counted already
        TableName=Names().table,
        Key={"pk": {"S": "CATALOG"}, "sk": {"S": "CHANGES"}},
        UpdateExpression="SET gen = :gen",
        ExpressionAttributeValues={":gen": {"N": "4"}},
    )
    assert catalog.put_config(ConfigRecord(generation=3, config=SiteConfig(title="Three")))
    found = catalog.read(Reads(changes=True))
    assert (found.changes, found.counted_settings) == (3, 4)


def test_a_commit_planned_against_a_stale_read_reads_again(catalog: Catalog, monkeypatch: pytest.MonkeyPatch) -> None:
    """`stored` saves the commit its own read; a stale one costs a retry, never a wrong catalog."""
    first = catalog.commit(live(n=1, date="2021-12-08T10:00:00+08:00")).current
    assert first is not None
    # Planned against "no record" while one exists: the conditional write refuses, the commit reads again
    # and moves the post's listing entries rather than adding a second set.
    moved = catalog.commit(live(n=3, date="2021-12-09T10:00:00+08:00"), stored=None)
    assert moved.status == "applied"
    assert moved.previous == first
    assert [entry.date for entry in catalog.entries("all")] == ["2021-12-09T10:00:00+08:00"]
    # Planned against an older record than the stored one: still refused as stale.
    assert catalog.commit(live(n=2), stored=first).status == "stale"
    current = catalog.get_post(first.key)
    assert current is not None and current.sequencer == moved.current.sequencer  # type: ignore[union-attr]

    reads: list[str] = []
    original = type(catalog).get_post
    monkeypatch.setattr(type(catalog), "get_post", lambda self, key: reads.append(key) or original(self, key))
    assert catalog.commit(live(n=4, title="Fresh"), stored=current).status == "applied"
    assert reads == []  # planned against the caller's read: no read of its own
    assert catalog.commit(live(n=5, title="Unread")).status == "applied"
    assert reads == ([] if isinstance(catalog, MemoryCatalog) else [first.key])


def test_records_read_together_are_the_records_read_one_by_one(catalog: Catalog) -> None:
    # GIVEN settings, a live post, a deleted one, a search state and keys, a URL and a state that do not exist
    assert catalog.put_config(ConfigRecord(generation=1, config=SiteConfig(title="Together")))
    catalog.commit(live(n=1))
    catalog.commit(live(OTHER, n=1, url="/news/2021/12/08/b.html"))
    catalog.commit(tombstone(OTHER, n=2))
    assert catalog.swap_search_state(KEY, None, SearchState(doc=7, digest="d", segment="s", version=1))
    missing = "_posts/2021-12-08-missing.md"
    urls = ("/news/2021/12/08/a.html", "/news/2021/12/08/b.html", "/news/nowhere.html")

    # WHEN they are read together, a key asked twice among them, and each alone
    found = catalog.read(
        Reads(posts=(KEY, OTHER, missing, KEY), search=(KEY, OTHER), urls=urls, config=True, changes=True)
    )

    # THEN each answer is what its own getter answers, and the records are there to compare
    assert found.posts == {key: catalog.get_post(key) for key in (KEY, OTHER, missing)}
    assert found.search == {KEY: catalog.search_state(KEY), OTHER: None}
    assert found.owners == {url: catalog.url_owner(url) for url in urls}
    assert found.config == catalog.get_config()
    assert found.changes == catalog.changes() == 4
    assert found.posts[KEY] is not None and found.posts[KEY].live
    assert found.owners[urls[0]] == KEY and found.owners[urls[1]] is None
    assert found.search[KEY] == SearchState(doc=7, digest="d", segment="s", version=1)
    assert found.config is not None and found.config.config.title == "Together"
    # and what was not asked stays empty
    assert catalog.read(Reads(posts=(KEY,))).config is None


def test_dynamodb_reads_records_together_in_one_request_per_hundred(moto_stack: Any) -> None:
    from newsdrop.adapters.aws import client

    catalog = DynamoCatalog(Names().table)
    catalog.commit(live(n=1))
    calls: list[str] = []
    client("dynamodb").meta.events.register("before-call.dynamodb", lambda model, **kw: calls.append(model.name))

    catalog.read(Reads(posts=(KEY,), urls=("/news/2021/12/08/a.html",), config=True, changes=True))
    assert calls == ["BatchGetItem"]
    calls.clear()
    catalog.read(Reads(posts=(KEY,)))
    assert calls == ["GetItem"]
    calls.clear()
    keys = tuple(f"_posts/2021-12-08-n{n}.md" for n in range(150))
    found = catalog.read(Reads(posts=(KEY, *keys), search=keys[:49]))
    assert calls == ["BatchGetItem", "BatchGetItem"]
    assert found.posts[KEY] == catalog.get_post(KEY) and found.posts[keys[-1]] is None


def test_dynamodb_reads_again_what_a_batch_read_leaves_unprocessed(
    moto_stack: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from newsdrop.adapters import aws

    catalog = DynamoCatalog(Names().table)
    catalog.commit(live(n=1))
    catalog.commit(live(OTHER, n=1, url="/news/2021/12/08/b.html"))
    ddb = aws.client("dynamodb")
    real = ddb.batch_get_item
    requests: list[int] = []

    def throttled(RequestItems: dict[str, Any]) -> dict[str, Any]:
        # DynamoDB's answer when throttled: the first key read, the others handed back to ask again
        ((table, request),) = RequestItems.items()
        requests.append(len(request["Keys"]))
        first, rest = request["Keys"][:1], request["Keys"][1:]
        answer = real(RequestItems={table: {**request, "Keys": first}})
        answer["UnprocessedKeys"] = {table: {**request, "Keys": rest}} if rest else {}
        return answer

    monkeypatch.setattr(ddb, "batch_get_item", throttled)
    monkeypatch.setattr(aws, "CONFLICT_WAIT_S", 0.0)
    found = catalog.read(Reads(posts=(KEY, OTHER), config=True))
    assert requests == [3, 2, 1]
    assert found.posts == {KEY: catalog.get_post(KEY), OTHER: catalog.get_post(OTHER)}
    assert None not in found.posts.values() and found.config is None


def test_rejection_notes_are_read_with_the_other_records(catalog: Catalog) -> None:
    assert catalog.read(Reads(rejected=(KEY, OTHER))).rejected == frozenset()
    catalog.note_rejection(KEY)
    catalog.note_rejection(KEY)  # noted twice, noted once
    found = catalog.read(Reads(posts=(KEY,), rejected=(KEY, OTHER), config=True))
    assert found.rejected == {KEY}
    assert found.posts == {KEY: None}
    catalog.clear_rejection(KEY)
    catalog.clear_rejection(OTHER)  # never noted: nothing to forget, no error
    assert catalog.read(Reads(rejected=(KEY,))).rejected == frozenset()
