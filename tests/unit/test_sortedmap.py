"""SortedKeyMap against a plain dict scanned and sorted (what the memory adapters did before), and
the memory adapters' range reads built on it (list_keys, entries) against the same naive model."""

from __future__ import annotations

from bisect import bisect_right
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from newsdrop.adapters.memory import MemoryCatalog, MemoryStore
from newsdrop.adapters.sortedmap import SortedKeyMap, SortedKeys
from newsdrop.model import Entry
from newsdrop.ports import PostRecord, normalise_sequencer

# Few characters, so keys share prefixes, with the edges of the successor computation:
# U+10FFFF (no successor), its neighbour, the surrogate gap, NUL and a multi-byte character.
CHARS = st.sampled_from(["a", "b", "/", "\x00", "é", "\ud7ff", "\ue000", "\U0010fffe", "\U0010ffff"])
KEYS = st.text(alphabet=CHARS, max_size=5)
OPERATIONS = st.lists(st.tuples(st.sampled_from(["set", "delete", "pop"]), KEYS, st.integers()), max_size=60)


def naive_prefix(model: dict[str, int], prefix: str) -> list[str]:
    return sorted(k for k in model if k.startswith(prefix))


def naive_largest(model: dict[str, int], count: int | None) -> list[str]:
    ordered = sorted(model, reverse=True)
    return ordered if count is None else ordered[:count]


def apply(operations: list[tuple[str, str, int]]) -> tuple[SortedKeyMap[int], dict[str, int]]:
    mapping: SortedKeyMap[int] = SortedKeyMap()
    model: dict[str, int] = {}
    for op, key, value in operations:
        if op == "set":
            mapping[key] = value
            model[key] = value
        elif op == "pop":
            assert mapping.pop(key, None) == model.pop(key, None)
        elif key in model:
            del mapping[key]
            del model[key]
        else:
            with pytest.raises(KeyError):
                del mapping[key]
    return mapping, model


@settings(max_examples=400, deadline=None)
@given(operations=OPERATIONS, prefixes=st.lists(KEYS, max_size=8), counts=st.lists(st.integers(0, 70), max_size=4))
def test_range_reads_equal_a_scan_and_sort(
    operations: list[tuple[str, str, int]], prefixes: list[str], counts: list[int]
) -> None:
    mapping, model = apply(operations)
    assert dict(mapping.items()) == model
    assert len(mapping) == len(model)
    assert mapping == model
    # Prefixes of stored keys as well as arbitrary ones, so that most reads find something.
    for prefix in [*prefixes, *(k[:n] for k in model for n in range(len(k) + 1))]:
        assert mapping.with_prefix(prefix) == naive_prefix(model, prefix), prefix
    for count in [*counts, None, len(model), len(model) + 1]:
        assert mapping.largest(count) == naive_largest(model, count)


@settings(max_examples=300, deadline=None)
@given(
    operations=OPERATIONS,
    pages=st.lists(st.tuples(KEYS, KEYS, st.integers(-2, 8)), max_size=8),
)
def test_pages_equal_a_slice_of_the_listing(operations: list[tuple[str, str, int]], pages: list[Any]) -> None:
    mapping, model = apply(operations)
    for prefix, after, limit in pages:
        listing = naive_prefix(model, prefix)
        expected = listing[bisect_right(listing, after) :][:limit]
        assert mapping.page(prefix, after=after, limit=limit) == expected, (prefix, after, limit)


@given(operations=st.lists(st.tuples(st.booleans(), KEYS), max_size=40))
def test_sorted_keys_add_and_discard_like_a_set(operations: list[tuple[bool, str]]) -> None:
    keys = SortedKeys(["b", "a", "b"])
    model = {"a", "b"}
    for add, key in operations:
        if add:
            keys.add(key)
            model.add(key)
        else:
            keys.discard(key)
            model.discard(key)
    assert list(keys) == sorted(model)
    assert len(keys) == len(model)


@given(keys=st.lists(st.text(), max_size=30))
def test_code_point_order_is_utf8_byte_order(keys: list[str]) -> None:
    # Why sorting str keys gives S3's and DynamoDB's order (both compare UTF-8 bytes).
    assert sorted(keys) == sorted(keys, key=lambda k: k.encode("utf-8"))


def test_built_from_a_mapping_and_iterated_like_a_dict() -> None:
    mapping = SortedKeyMap({"b": 1, "a": 2})
    mapping["c"] = 3
    assert list(mapping) == ["b", "a", "c"]  # insertion order, as dict
    assert mapping.with_prefix("") == ["a", "b", "c"]
    assert mapping.get("z") is None
    assert mapping.get("z", 0) == 0
    assert "a" in mapping
    assert "z" not in mapping


def test_largest_rejects_a_negative_count() -> None:
    with pytest.raises(ValueError, match="at least 0"):
        SortedKeyMap({"a": 1}).largest(-1)


@settings(max_examples=200, deadline=None)
@given(operations=OPERATIONS, prefixes=st.lists(KEYS, max_size=6))
def test_store_lists_like_a_scan(operations: list[tuple[str, str, int]], prefixes: list[str]) -> None:
    store = MemoryStore()
    model: dict[str, int] = {}
    for op, key, value in operations:
        if op == "set":
            store.put(key, str(value).encode(), content_type="text/plain")
            model[key] = value
        else:
            store.delete(key)
            model.pop(key, None)
    for prefix in [*prefixes, *(k[:2] for k in model)]:
        assert store.list_keys(prefix) == naive_prefix(model, prefix)


def record(key: str, sort: str, n: int, *, lists: tuple[str, ...], live: bool = True) -> PostRecord:
    entry = Entry(key=key, title=key, url=f"/{key}.html", date="2021-12-08T10:00:00+08:00")
    return PostRecord(
        key=key,
        sequencer=normalise_sequencer(f"{n:X}"),
        live=live,
        sort=sort,
        lists=lists if live else (),
        url=f"/{key}.html" if live else "",
        entry=entry if live else None,
    )


SORTS = st.text(alphabet=st.sampled_from(["0", "1", "2", "#"]), min_size=1, max_size=4)
CATALOG_OPS = st.lists(
    st.tuples(st.sampled_from(["p1", "p2", "p3", "p4"]), SORTS, st.sampled_from([("x",), ("x", "y"), ("y",), ()])),
    max_size=25,
)


@settings(max_examples=200, deadline=None)
@given(operations=CATALOG_OPS, limits=st.lists(st.integers(0, 6), max_size=3))
def test_catalog_entries_like_a_sort(operations: list[tuple[str, str, tuple[str, ...]]], limits: list[int]) -> None:
    catalog = MemoryCatalog()
    model: dict[str, dict[str, str]] = {}  # list id -> sort key -> post key
    for n, (key, sort, lists) in enumerate(operations, start=1):
        sort = f"{sort}#{key}"  # a post's own sort key, as the real ones end with the post's key
        result = catalog.commit(record(key, sort, n, lists=lists, live=bool(lists)))
        if result.status != "applied":
            continue
        for listing in model.values():
            for s in [s for s, owner in listing.items() if owner == key]:
                del listing[s]
        for list_id in lists:
            model.setdefault(list_id, {})[sort] = key
    for list_id in ("x", "y", "z"):
        listing = model.get(list_id, {})
        for limit in [*limits, None]:
            expected = [listing[s] for s in naive_largest(dict.fromkeys(listing, 0), limit)]
            assert [e.key for e in catalog.entries(list_id, limit=limit)] == expected
