"""The catalog's count of changes, which render reads before and after its writes (see
newsdrop.stages.render): every commit that changes posts or settings counts once, on DynamoDB (moto)
as in memory; a commit that changes nothing does not count."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from newsdrop.adapters.aws import DynamoCatalog
from newsdrop.adapters.memory import MemoryCatalog
from newsdrop.local.stack import Names
from newsdrop.model import SiteConfig
from newsdrop.ports import Catalog, ConfigRecord
from tests.unit.test_catalog import OTHER, live, tombstone


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
