"""The client-side search index: tokens, postings, segments and compaction.

Chinese text has no spaces, and any segmenter splits some names differently from the
way a reader types them, so CJK text is indexed as overlapping character bigrams (and
unigrams, for one-character queries): every substring of two or more characters
contains the bigrams of the query. Latin words and numbers (stock codes) are indexed
by their prefixes, so `0028` finds `002858` as the reader types.

Layout (all JSON, under `search/`):
- `manifest.json`: the only mutable file, short-lived in caches. Names the base
  generation, the live segments and the deleted document ids.
- `base/<gen>/<shard>.json` and `l1/<gen>/<shard>.json`: compacted postings, sharded by
  token hash (`{"t": {token: postings}}`); a query reads one shard per token and level.
- `seg/<hash>.json`: one small segment per index batch (the log), read by every query
  until compaction folds it into a new base generation.
- `doc/<id>.json`: one document (URL, title, date, text for the snippet), fetched only
  for the results shown.
The tokenizer, the hash and the postings format are mirrored in `static/search.js`.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

MAX_WORD = 20  # longer Latin words are indexed (and queried) by their first 20 characters
MIN_PREFIX = 2
TITLE_WEIGHT = 5
MAX_WEIGHT = 35  # one base-36 digit
DOC_TEXT_CHARS = 20000  # the whole text of a news post, so a snippet can show any match
MIN_SHARDS = 16
MAX_SHARDS = 4096
POSTINGS_PER_SHARD = 6000  # aim: a shard a query reads stays a few kilobytes compressed

PREFIX = "search/"
MANIFEST_KEY = PREFIX + "manifest.json"


def _is_cjk(ch: str) -> bool:
    code = ord(ch)
    return (
        0x3400 <= code <= 0x9FFF
        or 0xF900 <= code <= 0xFAFF
        or 0x3040 <= code <= 0x30FF
        or 0xAC00 <= code <= 0xD7AF
        or 0x20000 <= code <= 0x2FFFF
    )


def _is_word(ch: str) -> bool:
    return ch.isalnum() and not _is_cjk(ch)


def normalise(text: str) -> str:
    return unicodedata.normalize("NFKC", text).lower()


def _runs(text: str) -> Iterable[tuple[str, str]]:
    """("cjk" | "word", run) for each maximal run of CJK characters or of letters and digits."""
    kind, start = "", 0
    for i, ch in enumerate(text + " "):
        now = "cjk" if _is_cjk(ch) else "word" if _is_word(ch) else ""
        if now != kind:
            if kind:
                yield kind, text[start:i]
            kind, start = now, i


def index_tokens(text: str) -> Counter[str]:
    """Every token a document is findable by, with how often it occurs."""
    counts: Counter[str] = Counter()
    for kind, run in _runs(normalise(text)):
        if kind == "cjk":
            counts.update(run)
            counts.update(run[i : i + 2] for i in range(len(run) - 1))
        else:
            word = run[:MAX_WORD]
            counts.update(word[:n] for n in range(min(MIN_PREFIX, len(word)), len(word) + 1))
    return counts


def query_tokens(query: str) -> list[str]:
    """The tokens every matching document must hold (a superset filter; the client verifies)."""
    tokens: list[str] = []
    for kind, run in _runs(normalise(query)):
        if kind == "cjk":
            tokens += [run] if len(run) == 1 else [run[i : i + 2] for i in range(len(run) - 1)]
        else:
            tokens.append(run[:MAX_WORD])
    return list(dict.fromkeys(tokens))


def token_hash(token: str) -> int:
    """FNV-1a (32 bit) over code points: cheap, and the same in JavaScript."""
    value = 0x811C9DC5
    for ch in token:
        value = ((value ^ ord(ch)) * 0x01000193) & 0xFFFFFFFF
    return value


def shard_of(token: str, shards: int) -> int:
    return token_hash(token) % shards


def weights(title: str, text: str) -> dict[str, int]:
    """Token -> weight: title occurrences count five times, so title matches rank first."""
    result: Counter[str] = Counter()
    for token, n in index_tokens(title).items():
        result[token] += n * TITLE_WEIGHT
    result.update(index_tokens(text))
    return {token: min(n, MAX_WEIGHT) for token, n in result.items()}


def _b36(value: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        value, rest = divmod(value, 36)
        out = digits[rest] + out
        if value == 0:
            return out


def encode_postings(postings: Mapping[int, int]) -> str:
    """Sorted ids as base-36 deltas, each with `:weight` when the weight is not 1: "1z,3:5,a"."""
    parts, previous = [], 0
    for doc in sorted(postings):
        weight = postings[doc]
        parts.append(_b36(doc - previous) + ("" if weight == 1 else ":" + _b36(weight)))
        previous = doc
    return ",".join(parts)


def decode_postings(text: str) -> dict[int, int]:
    postings: dict[int, int] = {}
    doc = 0
    for part in filter(None, text.split(",")):
        delta, _, weight = part.partition(":")
        doc += int(delta, 36)
        postings[doc] = int(weight, 36) if weight else 1
    return postings


def dumps(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()


def content_name(folder: str, body: bytes) -> str:
    return f"{PREFIX}{folder}/{hashlib.sha256(body).hexdigest()[:20]}.json"


@dataclass(frozen=True)
class Document:
    id: int
    url: str
    title: str
    date: str
    text: str

    def to_json(self) -> dict[str, Any]:
        return {"u": self.url, "t": self.title, "d": self.date, "x": self.text[:DOC_TEXT_CHARS]}

    def postings(self) -> dict[str, int]:
        return weights(self.title, self.text)


def build_segment(documents: Iterable[Document]) -> bytes:
    """One batch's postings: {"ids": [...], "t": {token: postings}}."""
    table: dict[str, dict[int, int]] = {}
    ids = []
    for document in documents:
        ids.append(document.id)
        for token, weight in document.postings().items():
            table.setdefault(token, {})[document.id] = weight
    return dumps({"ids": sorted(ids), "t": {token: encode_postings(p) for token, p in table.items()}})


@dataclass
class Level:
    """A compacted, token-sharded level: files `search/<name>/<gen>/<shard>.json`."""

    gen: str = ""
    shards: int = MIN_SHARDS
    docs: int = 0

    def key(self, name: str, shard: int) -> str:
        return f"{PREFIX}{name}/{self.gen}/{shard}.json"

    def to_json(self) -> dict[str, Any]:
        return {"gen": self.gen, "shards": self.shards, "docs": self.docs}


@dataclass
class Manifest:
    """What a query needs to find every file it reads: two compacted levels and the log."""

    base: Level = field(default_factory=Level)
    l1: Level = field(default_factory=Level)
    segments: list[str] = field(default_factory=list)
    deleted: list[int] = field(default_factory=list)

    def to_bytes(self) -> bytes:
        return dumps(
            {
                "v": 1,
                "base": self.base.to_json(),
                "l1": self.l1.to_json(),
                "segments": sorted(set(self.segments)),
                "deleted": sorted(set(self.deleted)),
            }
        )

    @classmethod
    def from_bytes(cls, body: bytes | None) -> Manifest:
        if not body:
            return cls()
        data = json.loads(body)
        return cls(
            base=Level(**data.get("base", {})),
            l1=Level(**data.get("l1", {})),
            segments=list(data.get("segments", [])),
            deleted=list(data.get("deleted", [])),
        )


def doc_key(doc_id: int) -> str:
    return f"{PREFIX}doc/{doc_id}.json"


def merge(
    shards_in: Iterable[Mapping[str, str]], segments: Iterable[Mapping[str, Any]], deleted: set[int], shards: int
) -> dict[int, dict[str, str]]:
    """Fold level shards and segments together, drop deleted ids, re-shard: shard -> {token: postings}."""
    table: dict[str, dict[int, int]] = {}
    for shard_tokens in shards_in:
        for token, encoded in shard_tokens.items():
            table.setdefault(token, {}).update(decode_postings(encoded))
    for segment in segments:
        for token, encoded in segment["t"].items():
            table.setdefault(token, {}).update(decode_postings(encoded))
    result: dict[int, dict[str, str]] = {n: {} for n in range(shards)}
    for token, postings in table.items():
        live = {doc: w for doc, w in postings.items() if doc not in deleted}
        if live:
            result[shard_of(token, shards)][token] = encode_postings(live)
    return result


def shard_count(total_postings: int) -> int:
    count = MIN_SHARDS
    while count < MAX_SHARDS and total_postings / count > POSTINGS_PER_SHARD:
        count *= 2
    return count


def read_index(get: Any) -> Manifest:
    """The manifest, through `get(key) -> bytes | None` (an object store, a folder, HTTP)."""
    return Manifest.from_bytes(get(MANIFEST_KEY))


def search(get: Any, query: str) -> list[int]:
    """What the browser does (static/search.js), in Python: candidate ids, best first, for tests and the bench."""
    tokens = query_tokens(query)
    if not tokens:
        return []
    manifest = read_index(get)
    tables: list[dict[str, str]] = []
    paths = set(manifest.segments)
    for name, level in (("base", manifest.base), ("l1", manifest.l1)):
        if level.gen:
            paths |= {level.key(name, shard_of(token, level.shards)) for token in tokens}
    for path in sorted(paths):
        tables.append(json.loads(get(path))["t"])
    deleted = set(manifest.deleted)
    lists = []
    for token in tokens:
        merged: dict[int, int] = {}
        for table in tables:
            if token in table:
                merged.update(decode_postings(table[token]))
        lists.append(merged)
    lists.sort(key=len)
    scored = []
    for doc, weight in lists[0].items():
        if doc in deleted or any(doc not in other for other in lists[1:]):
            continue
        scored.append((weight + sum(other[doc] for other in lists[1:]), doc))
    return [doc for _, doc in sorted(scored, key=lambda pair: (-pair[0], -pair[1]))]


def live_postings(get: Any) -> dict[int, dict[str, int]]:
    """Every live document id with its tokens and weights, read from every file the manifest names."""
    manifest = read_index(get)
    paths = list(manifest.segments)
    for name, level in (("base", manifest.base), ("l1", manifest.l1)):
        if level.gen:
            paths += [level.key(name, shard) for shard in range(level.shards)]
    deleted = set(manifest.deleted)
    documents: dict[int, dict[str, int]] = {}
    for path in paths:
        for token, encoded in json.loads(get(path))["t"].items():
            for doc, weight in decode_postings(encoded).items():
                if doc not in deleted:
                    documents.setdefault(doc, {})[token] = weight
    return documents


def logical_index(get: Any) -> dict[str, tuple[dict[str, Any], dict[str, int]]]:
    """URL -> (document, postings): the index's content with its layout (ids, segments) left out."""
    result = {}
    for doc, postings in live_postings(get).items():
        document = json.loads(get(doc_key(doc)))
        if document["u"] in result:
            raise ValueError(f"{document['u']} is indexed twice")
        result[document["u"]] = (document, postings)
    return result


# Comparing sites: every page, feed and sitemap is a pure function of the catalog, so two
# sites of the same sources must match byte for byte. The search index is a log with
# compaction: which segment holds a post, and its document id, depend on the batches that
# built it; its content (each URL with its document, tokens and weights) must match.
LAYOUT = ("search/seg/", "search/l1/", "search/base/", "search/doc/", MANIFEST_KEY)


def differences(actual: Mapping[str, bytes], expected: Mapping[str, bytes]) -> list[str]:
    """Keys whose bytes differ (the index layout aside), plus "search index" when its content differs."""
    left = {k: v for k, v in actual.items() if not k.startswith(LAYOUT)}
    right = {k: v for k, v in expected.items() if not k.startswith(LAYOUT)}
    found = sorted(k for k in set(left) | set(right) if left.get(k) != right.get(k))
    if logical_index(actual.get) != logical_index(expected.get):
        found.append("search index")
    return found
