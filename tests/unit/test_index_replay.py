"""An index invocation's manifest change replayed on a manifest that moved on meanwhile.

An invocation that flushes the log into a run writes the run's file, then applies its change to
whatever manifest is current when it writes. If a concurrent invocation deleted a document of
that log meanwhile (and, past the grace period, forgot the deletion), the run must not bring it
back: the flush is dropped and the log keeps the invocation's own documents.
"""

from __future__ import annotations

from dataclasses import replace

from newsdrop import search
from newsdrop.search import Manifest, Run
from newsdrop.stages import index

TUNING = replace(index.TUNING, grace_s=0)  # a deletion is forgotten as soon as no run holds it


def tokens(doc: int) -> dict[str, int]:
    return {f"only{doc}": 1, "shared": 2}


def flush_of(seen: Manifest, add: dict[int, dict[str, int]]) -> index.Delta:
    """The change of an invocation that read `seen`, adds `add` and flushed the whole log."""
    ids = search.table_ids(seen.log) | set(add)
    table = search.table_of({**{doc: tokens(doc) for doc in search.table_ids(seen.log)}, **add})
    run = Run("flushed", 1, 0, 0, search.table_postings(table), 0, seen.clock, min(ids), max(ids))
    return index.Delta(add=add, delete=set(), now=1_000, deletes=0, flushed=run, flushed_ids=frozenset(ids))


def test_a_flush_lands_on_the_log_it_was_made_from() -> None:
    seen = Manifest(clock=2, log=search.table_of({1: tokens(1), 2: tokens(2)}))
    after, _ = index.apply(seen, flush_of(seen, {3: tokens(3)}), TUNING)
    assert [r.id for r in after.runs] == ["flushed"]
    assert after.log == {}


def test_a_flush_does_not_bring_back_a_document_deleted_since() -> None:
    # GIVEN an invocation that read a log of documents 1 and 2 and flushed it with its document 3
    seen = Manifest(clock=2, log=search.table_of({1: tokens(1), 2: tokens(2)}))
    flushing = flush_of(seen, {3: tokens(3)})
    # and, before it wrote, another one that deleted document 2 (no run held it: forgotten at once)
    current, _ = index.apply(seen, index.Delta(add={}, delete={2}, now=1_000, deletes=0), TUNING)
    assert 2 not in current.deleted and search.table_ids(current.log) == {1}

    # WHEN the first one's change is applied to the manifest as it is now
    after, _ = index.apply(current, flushing, TUNING)

    # THEN no run holds document 2 again, and the log holds document 1 and the new document 3
    assert after.runs == current.runs == []
    assert search.table_ids(after.log) == {1, 3}
    assert search.decode_postings(after.log["only3"]) == {3: 1}


def test_a_document_deleted_earlier_stays_out_of_the_log() -> None:
    # GIVEN a log of documents 1 and 2, and a delta that deletes 2 (kept as deleted for the grace period)
    seen = Manifest(clock=2, log=search.table_of({1: tokens(1), 2: tokens(2)}))
    current, _ = index.apply(seen, index.Delta(add={}, delete={2}, now=1_000, deletes=0), index.TUNING)
    assert 2 in current.deleted and search.table_ids(current.log) == {1}

    # WHEN an invocation that read the post before it was deleted adds it, beside a new document 3,
    # and another deletes it again
    late, _ = index.apply(
        current, index.Delta(add={2: tokens(2), 3: tokens(3)}, delete=set(), now=1_001, deletes=0), index.TUNING
    )
    again, _ = index.apply(late, index.Delta(add={}, delete={2}, now=1_002, deletes=0), index.TUNING)

    # THEN the log holds 1 and 3 throughout, and every posting of 3 is there
    assert search.table_ids(late.log) == search.table_ids(again.log) == {1, 3}
    assert search.decode_postings(again.log["shared"]) == {1: 2, 3: 2}
