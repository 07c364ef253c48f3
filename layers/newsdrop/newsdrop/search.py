"""The client-side search index: tokens, postings, runs and the manifest.

Tokens. Chinese text has no spaces, and any segmenter splits some names differently from
the way a reader types them, so CJK text is indexed as its characters and overlapping
character bigrams. Latin letters and digits are indexed as their 1-, 2- and 3-grams, so a
query is found in the middle of a word or a number too (`2858` in `002858`). A query needs
only enough of its grams to cover it (`北向资金`: 北向 + 资金), and every post containing the
query as a substring holds all of them; the reader's browser then checks the text itself.

Layout (all JSON, under `search/`):
- `manifest.json`: the only mutable file, short-lived in caches. It names the runs, lists
  the deleted document ids, and carries the log: the postings of the last few posts, so
  that a publish writes the post's document and the manifest, nothing more.
- `run/<id>/<shard>.json`: a run is an immutable set of postings, sharded by token hash
  range (`{"t": {token: postings}}`); a query reads the one shard of each run that holds
  its token. Every document's postings are in exactly one run (or the log).
- `doc/<id>.json`: one document (URL, title, date, text for the snippet), fetched only
  for the results shown.

Runs are leveled (see stages/index.py for the policy): the log is flushed into a small run
at level 0; when a level holds more than its capacity, a job merges it into the next level,
a bounded number of shards per publish. A job's output stays invisible to readers until it
is complete; then it replaces its inputs in the manifest. The tokenizer, the hash, the
sharding and the postings format are mirrored in `static/search.js`.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import operator
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from newsdrop import paths

TITLE_WEIGHT = 5
BODY_MAX = TITLE_WEIGHT - 1  # a token's occurrences in the body count up to this: below one in the title
MAX_WEIGHT = 35  # one base-36 digit
DOC_TEXT_CHARS = 20000  # the whole text of a news post, so a snippet can show any match
LATIN_GRAMS = 3  # Latin letters and digits: 1-, 2- and 3-grams

PREFIX = paths.SEARCH_PREFIX
MANIFEST_KEY = paths.SEARCH_MANIFEST_KEY
RUN_PREFIX = paths.SEARCH_RUN_PREFIX
DOC_PREFIX = paths.SEARCH_DOC_PREFIX
VERSION = 2
# What a document's tokens are made by: a document indexed by another tokenizer is indexed again
# when its post is read again (a site-wide refresh), as its digest (stages/index.py) names this.
TOKENIZER = 3
# A query's tokens beyond this are left out, spread evenly over it: each costs a reader a file of
# every run, and a pasted sentence names dozens. Fewer tokens find every document more do (the
# browser checks the text), and a handful spread over a query already leave few to check.
MAX_QUERY_TOKENS = 6

Get = Callable[[str], bytes | None]


# Hiragana and katakana, CJK ideographs (with extension A and the compatibility block), Hangul
# syllables, and the supplementary ideograph planes.
_CJK_RANGES = ((0x3040, 0x30FF), (0x3400, 0x9FFF), (0xAC00, 0xD7AF), (0xF900, 0xFAFF), (0x20000, 0x2FFFF))
_CJK = "".join(f"{chr(low)}-{chr(high)}" for low, high in _CJK_RANGES)  # as a character class's ranges
# A run of CJK characters, or of letters and digits that are not CJK (`[^\W_]` is str.isalnum).
# A point or a comma between two digits belongs to the run (`1.8`, `10,000`; `600519.SH` is two),
# so the grams of a number cross it: `1.8%` is looked for by `1.8`, which few posts hold, not by
# `1` and `8`, which nearly all do. A query and a text split alike, since whether the two sides
# join depends only on the characters next to the point.
_WORD = f"[^\\W_{_CJK}]"


@functools.cache
def _run_pattern() -> re.Pattern[str]:
    # Compiled when first used, not on import: it takes Python's compiler about 8 ms, and the
    # Compact function, which merges postings, never splits a text into runs.
    return re.compile(f"([{_CJK}]+)|({_WORD}+(?:(?<=\\d)[.,](?=\\d){_WORD}+)*)")


def _is_cjk(ch: str) -> bool:
    # Compared by code point, not by a regular expression: compiling a class of these ranges takes
    # Python's compiler 3 to 5 ms, a tenth of the index and compact functions' own imports.
    code = ord(ch)
    return any(low <= code <= high for low, high in _CJK_RANGES)


# What a reader does not see in a word, and text copied from the web carries inside one: Unicode's
# format characters (Cf, as of Unicode 15: a zero-width space, a soft hyphen, a byte-order mark,
# direction marks), the combining grapheme joiner and the variation selectors; and the dot that
# lower-casing leaves on `İ` (`i̇`). A final sigma is a sigma. search.js folds the same ones.
_INVISIBLE_RANGES = (
    (0x00AD, 0x00AD), (0x034F, 0x034F), (0x0600, 0x0605), (0x061C, 0x061C), (0x06DD, 0x06DD), (0x070F, 0x070F),
    (0x0890, 0x0891), (0x08E2, 0x08E2), (0x180B, 0x180F), (0x200B, 0x200F), (0x202A, 0x202E), (0x2060, 0x2064),
    (0x2066, 0x206F), (0xFE00, 0xFE0F), (0xFEFF, 0xFEFF), (0xFFF9, 0xFFFB), (0x110BD, 0x110BD), (0x110CD, 0x110CD),
    (0x13430, 0x1343F), (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A), (0xE0001, 0xE0001), (0xE0020, 0xE007F),
    (0xE0100, 0xE01EF), (0x0307, 0x0307),
)  # fmt: skip
_FOLDS = {0x03C2: "σ", **{code: None for low, high in _INVISIBLE_RANGES for code in range(low, high + 1)}}


@functools.cache
def _fold_pattern() -> re.Pattern[str]:
    # Looked for before folding: most texts hold none, and a scan in C costs less than translating.
    return re.compile("[ς" + "".join(f"{chr(low)}-{chr(high)}" for low, high in _INVISIBLE_RANGES) + "]")


def normalise(text: str) -> str:
    folded = unicodedata.normalize("NFKC", text).lower()
    if folded.isascii() or _fold_pattern().search(folded) is None:
        return folded
    return folded.translate(_FOLDS)


def _runs(text: str) -> Iterable[tuple[str, str]]:
    """("cjk" | "word", run) for each maximal run of CJK characters or of letters and digits."""
    for match in _run_pattern().finditer(text):
        cjk = match.group(1)
        yield ("cjk", cjk) if cjk is not None else ("word", match.group(2))


def index_tokens(text: str) -> Counter[str]:
    """Every token a document is findable by, with how often it occurs."""
    return Counter(_grams(normalise(text)))  # counted in C, in one call


def _grams(text: str) -> list[str]:
    """Every occurrence of every token of normalised text."""
    grams: list[str] = []
    for cjk, word in _run_pattern().findall(text):  # the runs as a list, made in C
        run = cjk or word
        if word and ("." in run or "," in run):
            # A query covers such a run with 3-grams: a point or comma alone, or in a bigram, is
            # never looked for.
            grams += [ch for ch in run if ch not in ".,"]
            grams += [a + b for a, b in itertools.pairwise(run) if a not in ".," and b not in ".,"]
        else:
            grams += run
            grams += map(operator.add, run, run[1:])  # bigrams, joined in C
        if word:
            grams += [run[i : i + n] for n in range(3, LATIN_GRAMS + 1) for i in range(len(run) - n + 1)]
    return grams


def _cover(run: str, n: int) -> list[str]:
    """The fewest n-grams of `run` that together cover every character of it (the run itself if shorter)."""
    if len(run) <= n:
        return [run]
    starts = list(range(0, len(run) - n + 1, n))
    if starts[-1] != len(run) - n:
        starts.append(len(run) - n)
    return [run[i : i + n] for i in starts]


def query_tokens(query: str) -> list[str]:
    """Tokens every document containing the query holds (a superset filter: the browser verifies the text)."""
    tokens: list[str] = []
    for kind, run in _runs(normalise(query)):
        tokens += _cover(run, 2 if kind == "cjk" else LATIN_GRAMS)
    unique = list(dict.fromkeys(tokens))
    if len(unique) <= MAX_QUERY_TOKENS:
        return unique
    last = len(unique) - 1
    return [unique[i * last // (MAX_QUERY_TOKENS - 1)] for i in range(MAX_QUERY_TOKENS)]


@functools.lru_cache(maxsize=1 << 17)
def token_hash(token: str) -> int:
    """FNV-1a (32 bit) over code points: cheap, and the same in JavaScript."""
    value = 0x811C9DC5
    for ch in token:
        value = ((value ^ ord(ch)) * 0x01000193) & 0xFFFFFFFF
    return value


def shard_of(token: str, shards: int) -> int:
    """Shards split the hash range evenly: a shard's tokens lie in few shards of a run sharded otherwise."""
    return (token_hash(token) * shards) >> 32


def hash_range(shard: int, shards: int) -> tuple[int, int]:
    """The first and the last token hash of a shard."""
    return -(-(shard << 32) // shards), -(-((shard + 1) << 32) // shards) - 1


def shard_range(shard: int, shards: int, other: int) -> range:
    """The shards of a run with `other` shards that hold tokens of `shard` (of `shards`)."""
    low, high = hash_range(shard, shards)
    return range((low * other) >> 32, ((high * other) >> 32) + 1)


def weights(title: str, text: str, labels: str = "") -> dict[str, int]:
    """Token -> weight: each title occurrence counts TITLE_WEIGHT, the body's up to BODY_MAX together,
    so a post with a query in its title ranks above every post with it in the body alone (a query's
    score is its tokens' weights summed). The post's categories and tags (`labels`) count as its
    title does: a reader searching for a tag (the 404 page offers that search) finds its posts.

    Only the text a document carries (`DOC_TEXT_CHARS`) is indexed: the browser shows a post only
    once it finds the query in that text, so tokens past it would find nothing it could show, and
    a long post would put tens of thousands of them into the manifest's log."""
    counts = Counter(_grams(normalise(text[:DOC_TEXT_CHARS])))  # counted in C, in one call
    if counts and max(counts.values()) > BODY_MAX:  # only the tokens past it are visited
        for token in [token for token, n in counts.items() if n > BODY_MAX]:
            counts[token] = BODY_MAX
    titled = _grams(normalise(f"{title} {labels}"))
    counts.update(titled * TITLE_WEIGHT)  # each title occurrence adds TITLE_WEIGHT: counted in C, in one call
    if titled and max(map(counts.__getitem__, titled)) > MAX_WEIGHT:
        for token in set(titled):
            counts[token] = min(counts[token], MAX_WEIGHT)
    return counts


_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


@functools.lru_cache(maxsize=1 << 16)  # ids and the distances between them repeat a great deal
def _b36(value: int) -> str:
    out = ""
    while True:
        value, rest = divmod(value, 36)
        out = _DIGITS[rest] + out
        if value == 0:
            return out


# Most gaps between a token's documents are small: their digits looked up, not computed.
_SMALL_B36 = [_b36(n) for n in range(36 * 36)]
_WEIGHTED = ["", ""] + [":" + _b36(weight) for weight in range(2, MAX_WEIGHT + 1)]  # weight -> its suffix


def _part(value: int, weight: int) -> str:
    return _b36(value) + ("" if weight == 1 else ":" + _b36(weight))


def encode_postings(postings: Mapping[int, int]) -> str:
    """Ids newest first, in base 36: the first whole, then each as its distance below the previous
    one; `:weight` when the weight is not 1. {12: 1, 9: 5, 2: 1} -> "c,3:5,7"."""
    parts, previous = [], -1
    for doc in sorted(postings, reverse=True):
        parts.append(_part(doc if previous < 0 else previous - doc, postings[doc]))
        previous = doc
    return ",".join(parts)


def decode_postings(text: str) -> dict[int, int]:
    postings: dict[int, int] = {}
    doc = -1
    for part in filter(None, text.split(",")):
        value, _, weight = part.partition(":")
        doc = int(value, 36) if doc < 0 else doc - int(value, 36)
        postings[doc] = int(weight, 36) if weight else 1
    return postings


def _first(text: str) -> int:
    return int(text.partition(",")[0].partition(":")[0], 36)


def _last(text: str) -> int:
    parts = text.split(",")
    return int(parts[0].partition(":")[0], 36) - sum(int(p.partition(":")[0], 36) for p in parts[1:])


def _below(text: str, low: int) -> str:
    """A list whose ids all lie below `low`, its first id written as its distance below `low`: the
    rest of a list that `low` ends."""
    head, comma, rest = text.partition(",")
    value, colon, weight = head.partition(":")
    return _b36(low - int(value, 36)) + colon + weight + comma + rest


def merge_postings(lists: list[str], drop: Callable[[int, int], bool] | None) -> str:
    """One postings list from several (a document in more than one keeps one entry), without the
    documents for which drop(lowest, highest) says a deleted id may lie in that range.

    Runs merge newer documents into older ones, so the lists usually cover disjoint id ranges:
    then they are joined as text, and only the newer ones are read through; the oldest, longest
    list is copied, its first id rewritten as a distance."""
    if len(lists) == 1 and drop is None:
        return lists[0]
    if len(lists) == 2 and drop is None:  # the usual case: one list from a newer run, one from an older
        newer, older = lists if _first(lists[0]) > _first(lists[1]) else lists[::-1]
        low = _last(newer)
        if low > _first(older):
            return newer + "," + _below(older, low)
    ordered = sorted(((_first(text), text) for text in lists), reverse=True)
    highs = [high for high, _ in ordered]
    lows = [_last(text) for _, text in ordered[:-1]]
    disjoint = all(lows[i] > highs[i + 1] for i in range(len(lows)))
    if disjoint and (
        drop is None or not (any(drop(lo, hi) for lo, hi in zip(lows, highs, strict=False)) or drop(0, highs[-1]))
    ):
        out = [ordered[0][1]]
        for low, (_, text) in zip(lows, ordered[1:], strict=True):
            out.append(_below(text, low))
        return ",".join(out)
    merged: dict[int, int] = {}
    for _, text in ordered:
        merged.update(decode_postings(text))
    return encode_postings({doc: w for doc, w in merged.items() if drop is None or not drop(doc, doc)})


def dumps(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()


def digest(*parts: Any) -> str:
    return hashlib.sha256(dumps(parts)).hexdigest()[:16]


def doc_key(doc_id: int) -> str:
    return f"{DOC_PREFIX}{doc_id}.json"


@dataclass(frozen=True)
class Document:
    id: int
    url: str
    title: str
    date: str
    text: str
    labels: str = ""  # its categories and tags, space-separated: found, and checked, as the text is

    def to_json(self) -> dict[str, Any]:
        document = {"u": self.url, "t": self.title, "d": self.date, "x": self.text[:DOC_TEXT_CHARS]}
        return {**document, "k": self.labels} if self.labels else document

    def postings(self) -> dict[str, int]:
        return weights(self.title, self.text, self.labels)


def labels(categories: Iterable[str], tags: Iterable[str]) -> str:
    """A post's categories and tags as a document holds them: each name once, in order."""
    return " ".join(dict.fromkeys(name for name in (*categories, *tags) if name))


class Weights(Protocol):
    """A document's {token: weight} as `table_of` takes it: a mapping, or `Packed`."""

    def items(self) -> Iterable[tuple[str, int]]: ...


@dataclass(frozen=True, slots=True)
class Packed:
    """A document's weights as they travel between processes: its tokens joined by NUL (which no
    token holds) and their weights (each at most MAX_WEIGHT) as bytes. Read as they are: a build's
    index took a tenth of its time turning 10,000 of them into dictionaries first."""

    tokens: str
    weights: bytes

    @classmethod
    def of(cls, weights: Mapping[str, int]) -> Packed | None:
        """None when the weights cannot be packed (a token with a NUL, a weight past MAX_WEIGHT)."""
        if not weights:
            return cls("", b"")
        tokens = "\0".join(weights)
        if tokens.count("\0") != len(weights) - 1 or max(weights.values()) > MAX_WEIGHT:
            return None
        return cls(tokens, bytes(weights.values()))

    def items(self) -> Iterable[tuple[str, int]]:
        # No tokens and no weights is an empty document; tokens without weights fail as any mismatch does.
        tokens = self.tokens.split("\0") if self.tokens or self.weights else ()
        return zip(tokens, self.weights, strict=True)


def table_of(documents: Mapping[int, Weights]) -> dict[str, str]:
    """{token: postings} of these documents' {token: weight}, encoded as `encode_postings` does.

    Documents are taken newest first, so each token's list grows in its encoded order and is
    written as it grows: no per-token dictionary to sort afterwards (a build's batches hold a
    quarter of a million postings). Each token's list starts with the last document added to it,
    which the next one's distance is counted from: one dictionary lookup a posting, not three."""
    lists: dict[str, list[Any]] = {}  # token -> [its last document, its entries...]
    found_for = lists.get
    b36, small, limit, weighted = _b36, _SMALL_B36, len(_SMALL_B36), _WEIGHTED
    for doc in sorted(documents, reverse=True):
        first = b36(doc)  # once a document, not once a posting
        for token, weight in documents[doc].items():
            suffix = weighted[weight] if weight <= MAX_WEIGHT else ":" + b36(weight)
            found = found_for(token)
            if found is None:
                lists[token] = [doc, first + suffix]
            else:
                gap = found[0] - doc
                found[0] = doc
                found.append((small[gap] if gap < limit else b36(gap)) + suffix)
    return {token: ",".join(found[1:]) for token, found in lists.items()}


def table_ids(table: Mapping[str, str]) -> set[int]:
    return {doc for encoded in table.values() for doc in decode_postings(encoded)}


def table_postings(table: Mapping[str, str], *, short: bool | None = None) -> int:
    """How many postings the table holds (of short tokens only, or of the others, if `short` says)."""
    return sum(text.count(",") + 1 for token, text in table.items() if short is None or is_short(token) == short)


@functools.lru_cache(maxsize=1 << 17)
def is_short(token: str) -> bool:
    """Tokens only one-character CJK and one- or two-character Latin queries need: their long, dense
    lists are kept apart in larger runs, so that the others' shards stay small."""
    return len(token) == 1 or (len(token) == 2 and not _is_cjk(token[0]))


@dataclass(frozen=True)
class Run:
    """An immutable, token-sharded set of postings. Files `search/run/<id>/<n>.json` hold the tokens
    of hash range n of `shards`; when `short` is not 0, short tokens are apart, in `<id>/s<n>.json`."""

    id: str
    shards: int
    short: int
    level: int
    postings: int  # how many (token, document) pairs: the measure of a level's size
    short_postings: int  # how many of them are of short tokens
    since: int  # written without the ids deleted at or before this manifest clock
    low: int  # the lowest and highest document id it may hold
    high: int

    @property
    def files(self) -> int:
        return self.shards + self.short

    def shard(self, n: int) -> tuple[int, int]:
        """File n as (shard, shards of its kind): the shards, then the short tokens' shards."""
        return (n, self.shards) if n < self.shards else (n - self.shards, self.short)

    def key(self, n: int) -> str:
        """File n: the shards, then the short tokens' shards."""
        name = str(n) if n < self.shards else f"s{n - self.shards}"
        return f"{RUN_PREFIX}{self.id}/{name}.json"

    def file_keys(self) -> list[str]:
        return [self.key(n) for n in range(self.files)]

    def key_for(self, token: str) -> str:
        if self.short and is_short(token):
            return self.key(self.shards + shard_of(token, self.short))
        return self.key(shard_of(token, self.shards))

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "s": self.shards,
            "u": self.short,
            "l": self.level,
            "n": self.postings,
            "m": self.short_postings,
            "c": self.since,
            "lo": self.low,
            "hi": self.high,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Run:
        return cls(data["id"], data["s"], data["u"], data["l"], data["n"], data["m"], data["c"], data["lo"], data["hi"])


@dataclass(frozen=True)
class Job:
    """Merging `inputs` into `output`, one shard at a time; readers see the inputs until it is done."""

    output: Run
    inputs: tuple[str, ...]
    done: int = 0  # output shards written: 0..done-1

    def to_json(self) -> dict[str, Any]:
        return {"out": self.output.to_json(), "in": list(self.inputs), "done": self.done}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Job:
        return cls(Run.from_json(data["out"]), tuple(data["in"]), data["done"])


@dataclass(frozen=True)
class Trash:
    """A replaced run's files, deleted a few per publish, from `next` on."""

    run: Run
    next: int = 0

    def to_json(self) -> list[Any]:
        return [self.run.to_json(), self.next]


@dataclass(frozen=True)
class Deleted:
    """A deleted document id: the manifest clock and the time (seconds) it was deleted at."""

    clock: int
    at: int


@dataclass
class Manifest:
    """What a query needs (the log, the runs, the deleted ids) and the compaction's own state."""

    clock: int = 0
    log: dict[str, str] = field(default_factory=dict)
    runs: list[Run] = field(default_factory=list)
    jobs: list[Job] = field(default_factory=list)
    trash: list[Trash] = field(default_factory=list)
    deleted: dict[int, Deleted] = field(default_factory=dict)
    deferred: int = 0  # publishes in a row that left their share of compaction to the next

    def to_bytes(self) -> bytes:
        return dumps(
            {
                "v": VERSION,
                "clock": self.clock,
                "log": self.log,
                "runs": [r.to_json() for r in sorted(self.runs, key=lambda r: (r.level, r.id))],
                "jobs": [j.to_json() for j in sorted(self.jobs, key=lambda j: (j.output.level, j.output.id))],
                "trash": [t.to_json() for t in self.trash],
                "deleted": [[doc, d.clock, d.at] for doc, d in sorted(self.deleted.items())],
                "deferred": self.deferred,
            }
        )

    @classmethod
    def from_bytes(cls, body: bytes | None) -> Manifest:
        if not body:
            return cls()
        data = json.loads(body)
        if data.get("v") != VERSION:
            raise ValueError(f"search manifest version {data.get('v')} is not {VERSION}: rebuild the index")
        return cls(
            clock=data["clock"],
            log=dict(data["log"]),
            runs=[Run.from_json(r) for r in data["runs"]],
            jobs=[Job.from_json(j) for j in data["jobs"]],
            trash=[Trash(Run.from_json(r), n) for r, n in data["trash"]],
            deleted={doc: Deleted(clock, at) for doc, clock, at in data["deleted"]},
            deferred=data.get("deferred", 0),
        )


def read_index(get: Get) -> Manifest:
    """The manifest, through `get(key) -> bytes | None` (an object store, a folder, HTTP)."""
    return Manifest.from_bytes(get(MANIFEST_KEY))


def _table(get: Get, key: str) -> dict[str, str]:
    body = get(key)
    if body is None:
        raise FileNotFoundError(key)
    table: dict[str, str] = json.loads(body)["t"]
    return table


def search(get: Get, query: str) -> list[int]:
    """What the browser does (static/search.js), in Python: candidate ids, best first, for tests and the bench."""
    tokens = query_tokens(query)
    if not tokens:
        return []
    manifest = read_index(get)
    tables = [manifest.log]
    keys = {run.key_for(token) for run in manifest.runs for token in tokens}
    tables += [_table(get, key) for key in sorted(keys)]
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
        if doc in manifest.deleted or any(doc not in other for other in lists[1:]):
            continue
        scored.append((weight + sum(other[doc] for other in lists[1:]), doc))
    return [doc for _, doc in sorted(scored, key=lambda pair: (-pair[0], -pair[1]))]


def files_read(get: Get, query: str) -> list[str]:
    """The index files a query reads after the manifest (for the bench)."""
    manifest = read_index(get)
    tokens = query_tokens(query)
    return sorted({run.key_for(token) for run in manifest.runs for token in tokens})


def live_postings(get: Get) -> dict[int, dict[str, int]]:
    """Every live document id with its tokens and weights, read from the log and every run's files."""
    manifest = read_index(get)
    tables = [manifest.log] + [_table(get, key) for run in manifest.runs for key in run.file_keys()]
    documents: dict[int, dict[str, int]] = {}
    for table in tables:
        for token, encoded in table.items():
            for doc, weight in decode_postings(encoded).items():
                if doc not in manifest.deleted:
                    documents.setdefault(doc, {})[token] = weight
    return documents


def logical_index(get: Get) -> dict[str, tuple[dict[str, Any], dict[str, int]]]:
    """URL -> (document, postings): the index's content with its layout (ids, runs) left out."""
    result = {}
    for doc, postings in live_postings(get).items():
        document = json.loads(get(doc_key(doc)) or b"null")
        if document is None:
            raise ValueError(f"search document {doc} is indexed but missing")
        if document["u"] in result:
            raise ValueError(f"{document['u']} is indexed twice")
        result[document["u"]] = (document, postings)
    return result


# Comparing sites: every page, feed and sitemap is a pure function of the catalog, so two
# sites of the same sources must match byte for byte. The search index is a log with
# compaction: which run holds a post, and its document id, depend on the batches that built
# it; its content (each URL with its document, tokens and weights) must match.
LAYOUT = (RUN_PREFIX, DOC_PREFIX, MANIFEST_KEY)


def differences(actual: Mapping[str, bytes], expected: Mapping[str, bytes]) -> list[str]:
    """Keys whose bytes differ (the index layout aside), plus "search index" when its content differs."""
    left = {k: v for k, v in actual.items() if not k.startswith(LAYOUT)}
    right = {k: v for k, v in expected.items() if not k.startswith(LAYOUT)}
    found = sorted(k for k in set(left) | set(right) if left.get(k) != right.get(k))
    if logical_index(actual.get) != logical_index(expected.get):
        found.append("search index")
    return found
