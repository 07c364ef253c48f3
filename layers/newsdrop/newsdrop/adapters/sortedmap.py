"""Sorted string keys, for range reads like S3's LIST and DynamoDB's Query.

S3 lists the keys under a prefix and DynamoDB queries a partition in sort-key order, in time
proportional to what they return. A plain dict makes the memory adapters scan and sort every
key instead, which grows with the site. SortedKeys is a sorted list maintained with the stdlib's
bisect (an insert or delete is a binary search and a memmove: microseconds at a million keys),
so that a prefix or a "largest n" read costs O(log n + result); SortedKeyMap is a dict with one
beside it. (The local stack's moto patches use SortedKeys the same way for moto's buckets.)

Order: Python compares strings by code point, which is the UTF-8 byte order that S3 lists in
and DynamoDB sorts string keys by.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import ItemsView, Iterable, Iterator, KeysView, Mapping, MutableMapping, ValuesView
from typing import TypeVar, overload

V = TypeVar("V")
T = TypeVar("T")

_MAX_CHAR = 0x10FFFF


class SortedKeys:
    """A set of strings kept in ascending order, with range reads in proportion to their result."""

    __slots__ = ("_keys",)

    def __init__(self, keys: Iterable[str] = ()) -> None:
        self._keys: list[str] = sorted(set(keys))

    def add(self, key: str) -> None:
        at = bisect_left(self._keys, key)
        if at == len(self._keys) or self._keys[at] != key:
            self._keys.insert(at, key)

    def discard(self, key: str) -> None:
        at = bisect_left(self._keys, key)
        if at < len(self._keys) and self._keys[at] == key:
            del self._keys[at]

    def __len__(self) -> int:
        return len(self._keys)

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def with_prefix(self, prefix: str) -> list[str]:
        """The keys that start with prefix, in ascending order."""
        start = bisect_left(self._keys, prefix)
        bound = _successor(prefix)
        end = len(self._keys) if bound is None else bisect_left(self._keys, bound, start)
        return self._keys[start:end]

    def page(self, prefix: str, *, after: str = "", limit: int = 1000) -> list[str]:
        """The first limit keys that start with prefix and sort after `after` (S3's StartAfter)."""
        start = max(bisect_left(self._keys, prefix), bisect_right(self._keys, after))
        bound = _successor(prefix)
        end = len(self._keys) if bound is None else max(start, bisect_left(self._keys, bound, start))
        return self._keys[start : min(end, start + limit)] if limit >= 0 else self._keys[start:end][:limit]

    def largest(self, count: int | None = None) -> list[str]:
        """The count largest keys (all with None), in descending order."""
        if count is None:
            return self._keys[::-1]
        if count < 0:
            raise ValueError(f"count must be at least 0, not {count}")
        return self._keys[max(0, len(self._keys) - count) :][::-1]


class SortedKeyMap(MutableMapping[str, V]):
    """A str-keyed mapping (iterated in insertion order, like dict) with SortedKeys' range reads."""

    __slots__ = ("_items", "_keys")

    def __init__(self, items: Mapping[str, V] | None = None) -> None:
        self._items: dict[str, V] = dict(items or {})
        self._keys = SortedKeys(self._items)

    def __getitem__(self, key: str) -> V:
        return self._items[key]

    def __setitem__(self, key: str, value: V) -> None:
        if key not in self._items:
            self._keys.add(key)
        self._items[key] = value

    def __delitem__(self, key: str) -> None:
        del self._items[key]
        self._keys.discard(key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._items!r})"

    # dict's own views and get: the mixins' versions would go through __getitem__ in Python.
    def keys(self) -> KeysView[str]:
        return self._items.keys()

    def values(self) -> ValuesView[V]:
        return self._items.values()

    def items(self) -> ItemsView[str, V]:
        return self._items.items()

    @overload
    def get(self, key: str, /) -> V | None: ...
    @overload
    def get(self, key: str, default: V | T, /) -> V | T: ...
    def get(self, key: str, default: object = None, /) -> object:
        return self._items.get(key, default)

    def with_prefix(self, prefix: str) -> list[str]:
        """The keys that start with prefix, in ascending order."""
        return self._keys.with_prefix(prefix)

    def page(self, prefix: str, *, after: str = "", limit: int = 1000) -> list[str]:
        """The first limit keys that start with prefix and sort after `after` (S3's StartAfter)."""
        return self._keys.page(prefix, after=after, limit=limit)

    def largest(self, count: int | None = None) -> list[str]:
        """The count largest keys (all with None), in descending order."""
        return self._keys.largest(count)


def _successor(prefix: str) -> str | None:
    """The least string above every string that starts with prefix; None when there is none.

    The strings that start with prefix are exactly those in [prefix, successor): drop the
    trailing U+10FFFF characters (no character follows them) and raise the last one left. A
    prefix of only U+10FFFF (or empty) has no such bound: every string from it on matches.
    """
    stem = prefix.rstrip(chr(_MAX_CHAR))
    return stem[:-1] + chr(ord(stem[-1]) + 1) if stem else None
