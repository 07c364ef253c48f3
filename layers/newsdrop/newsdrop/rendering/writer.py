"""Writing derived objects to the site bucket so that concurrent writers converge.

Every site object is a pure function of catalog state. `SiteWriter.derive` reads the
object's ETag first, then computes the content from the catalog, then writes only
if the ETag is unchanged (S3 conditional write). A writer that read older state
therefore always loses to one that read newer state and wrote, and retries with fresh
state. One that read newer state and found nothing to write leaves no new ETag behind;
render covers that case by deriving again what it wrote when the catalog changed
meanwhile (newsdrop.stages.render).

The ETag read first need not be a HEAD made just now: any ETag seen of the object before the
computation serves, since a conditional write against it holds only if the object is still as
it was seen. (An ETag is the content's MD5: a write of the very content seen, in between, lets
it pass, the longer the while the likelier; the catalog changed meanwhile, then, and render's
`settle` derives again.) So a writer starts from what its execution environment last wrote or
read of each object (`known`), and makes a HEAD only for an object it knows nothing of, or
once a write against what it knew was refused. A listing every publish rewrites costs one PUT,
not a HEAD and a PUT. A decision not to write, and a delete (which succeeds on an object
already gone), are not taken on a remembered head alone: a HEAD confirms it first.

Nor need absence be seen: a caller may name keys it expects to be new (a new post's page), which
are then written with `If-None-Match: *` straight away. That write holds only if the object is
absent when it lands, exactly what a HEAD that found nothing followed by the same write would
establish; when the guess is wrong, the write is refused and the next attempt reads the head.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Final, Literal
from urllib.parse import quote

from newsdrop import source_keys
from newsdrop.paths import SEARCH_MANIFEST_KEY, SEARCH_PREFIX, SEARCH_RUN_PREFIX
from newsdrop.ports import Blob, Head, KnownHeads, ObjectStore, PreconditionFailed

MAX_ATTEMPTS: Final = 8
DIGEST: Final = "sha256"
INPUTS: Final = "inputs"  # metadata: the digest of what a Fingerprinted object was made from

# How long browsers and CloudFront keep each kind of object. What every publish rewrites (the home
# page, the feed, listings, sitemaps, the search manifest) lives ten seconds at the edge and is
# never invalidated: an invalidation path costs money past the first thousand a month, and a site
# publishing hundreds of posts a day would pay for ten of them a post. What changes only when its
# post or the settings do (post pages, static pages) lives longer and is invalidated when it
# changes; a page created new needs nothing, as CloudFront keeps a 404 for ten seconds.
HTML_CACHE = "public, max-age=60, s-maxage=300"
LISTING_CACHE = "public, max-age=10, s-maxage=10"
SHORT_CACHE = "public, max-age=30, s-maxage=60"
IMMUTABLE = "public, max-age=31536000, immutable"
# Files served as they are (images, PDFs) rarely change and are invalidated when they do; a browser
# may show the one it has for ten minutes more.
FILE_CACHE = "public, max-age=600, s-maxage=86400"

PAGE_TYPE: Final = "text/html; charset=utf-8"
_TYPES = {
    "html": PAGE_TYPE,
    "htm": PAGE_TYPE,
    "xml": "application/xml; charset=utf-8",
    "json": "application/json; charset=utf-8",
    "css": "text/css; charset=utf-8",
    "js": "text/javascript; charset=utf-8",
    "txt": "text/plain; charset=utf-8",
}


class Keep:
    """Returned by a compute function: leave the object as it is (another owner writes it)."""


KEEP: Final = Keep()


def content_type(key: str) -> str:
    if key == "feed.xml":
        return "application/atom+xml; charset=utf-8"
    return _TYPES.get(key.rsplit(".", 1)[-1].lower()) or source_keys.file_type(key) or "application/octet-stream"


def cache_control(key: str) -> str:
    if key.startswith(("assets/", SEARCH_RUN_PREFIX)):  # named by their content: a new name for new content
        return IMMUTABLE
    if key == SEARCH_MANIFEST_KEY:
        return LISTING_CACHE
    if key.startswith(SEARCH_PREFIX):
        return SHORT_CACHE
    return HTML_CACHE


@dataclass
class WriteCounts:
    written: int = 0
    deleted: int = 0
    unchanged: int = 0
    retried: int = 0
    changed_keys: list[str] = field(default_factory=list)
    # Of the changed keys, those that did not exist before and those that exist no more.
    created_keys: list[str] = field(default_factory=list)
    deleted_keys: list[str] = field(default_factory=list)
    # Of the changed keys, those the CDN may hold an older copy of for longer than a listing lives:
    # they existed before, and are not listings. What to invalidate.
    stale_keys: list[str] = field(default_factory=list)
    # Render derives its listings in threads (`stages.common.run_all`): adding one to a count reads
    # it and stores it again, which two threads could interleave (a list's append cannot).
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, count: Literal["written", "deleted", "unchanged", "retried"]) -> None:
        with self._lock:
            setattr(self, count, getattr(self, count) + 1)


@dataclass(frozen=True)
class Fingerprinted:
    """A compute's answer for content that is costly to render: a digest of everything the content
    depends on (`inputs`), and how to render it. An object already made from the same inputs is kept
    as it is, unrendered."""

    inputs: str
    render: Callable[[], bytes]


Answer = bytes | Keep | None | Fingerprinted
Compute = Callable[[], Answer]


@dataclass
class SiteWriter:
    store: ObjectStore
    counts: WriteCounts = field(default_factory=WriteCounts)
    # Each object's head as this execution environment last wrote or read it (`Ports.site_heads`,
    # kept from one batch to the next): a hint, which no write is made on without its condition.
    known: KnownHeads = field(default_factory=KnownHeads)
    # Conditional PUTs refused, by key: (the digest written, whether the object existed, the inputs
    # of a Fingerprinted answer). The SDK retries a PUT whose answer it lost, and the retry is
    # refused when the first one landed; the next attempt then finds this content (or these
    # inputs) in place, and counts it as written, not as unchanged.
    _refused: dict[str, tuple[str, bool, str | None]] = field(default_factory=dict, repr=False)

    def derive(
        self,
        key: str,
        compute: Compute,
        *,
        extra: dict[str, str] | None = None,
        cache: str | None = None,
        media: str | None = None,
        new: bool = False,
    ) -> bool:
        """Make `key` hold compute()'s result (None: absent). compute must read its inputs when called.
        `cache`: its Cache-Control, and `media` its Content-Type, when not the ones its key gives
        (`cache_control`, `content_type`); `new`: the object is expected not to exist yet.

        Returns False when compute chose to keep the object as it is."""
        expected = (key,) if new else ()
        return self.derive_together(lambda: {key: compute}, extra=extra, cache=cache, media=media, new=expected)[key]

    def derive_together(
        self,
        make: Callable[[], Mapping[str, Compute]],
        *,
        extra: dict[str, str] | None = None,
        cache: str | None = None,
        media: str | None = None,
        new: Collection[str] = (),
    ) -> dict[str, bool]:
        """derive() for objects whose computes share what they read: `make` returns fresh computes (and
        a fresh shared cache) for each attempt, and every object's ETag is read before any of them
        computes, so whatever they share is read after all of them. `new`: keys expected not to exist
        yet, taken as absent on the first attempt unless this writer knows better."""
        done: dict[str, bool] = {}
        lost: list[str] = []
        for attempt in range(MAX_ATTEMPTS):
            computes = {key: compute for key, compute in make().items() if key not in done}
            # After a lost race, a fresh HEAD: what was known is what the race was lost against.
            heads = {key: self._head(key, recall=attempt == 0, new=key in new) for key in computes}
            for key, compute in computes.items():
                head, recalled = heads[key]
                cached = cache or cache_control(key)
                outcome = self._write(key, head, compute(), extra or {}, cached, recalled=recalled, media=media)
                if outcome is None:
                    self.counts.add("retried")
                else:
                    done[key] = outcome
            lost = sorted(key for key in computes if key not in done)
            if not lost:
                return done
        raise RuntimeError(f"{', '.join(lost)}: kept losing conditional writes after {MAX_ATTEMPTS} attempts")

    def update(self, key: str, change: Callable[[Blob | None], Answer], *, read: Blob | None) -> bool:
        """derive() for an object that is its own input (the search manifest): `change` gets the object
        as read and answers what it must become, written only if the object is still the one read.
        The read carries the ETag, so this is a GET and a PUT where derive() makes a HEAD, a GET and
        a PUT; `read` is the caller's own fresh read of `key`, taken for the first attempt."""
        blob = read
        for _ in range(MAX_ATTEMPTS):
            head = None if blob is None else Head(etag=blob.etag, metadata=dict(blob.metadata))
            outcome = self._write(key, head, change(blob), {}, cache_control(key))
            if outcome is not None:
                return outcome
            self.counts.add("retried")
            blob = self.store.get(key)
        raise RuntimeError(f"{key}: kept losing conditional writes after {MAX_ATTEMPTS} attempts")

    def update_once(self, key: str, change: Callable[[Blob | None], Answer], *, remembered: Blob) -> bool | None:
        """update()'s first attempt against the object as the caller remembers it, not read just now:
        True when it holds the answer, None when the caller must read it and answer again: another
        writer changed it since (the write is conditional and checks for itself), or the answer is
        to keep it (the object itself may have moved on without this change)."""
        answer = change(remembered)
        if isinstance(answer, Keep):
            return None
        head = Head(etag=remembered.etag, metadata=dict(remembered.metadata))
        outcome = self._write(key, head, answer, {}, cache_control(key), recalled=True)
        if outcome is None:
            self.counts.add("retried")
        return outcome

    def _head(self, key: str, *, recall: bool, new: bool = False) -> tuple[Head | None, bool]:
        """The object's head, and whether it is remembered (or expected) rather than read just now."""
        known = self.known.get(key) if recall else None
        if known is not None:
            return known, True
        if recall and new:
            return None, True
        head = self.store.head(key)
        self.known.remember(key, head)
        return head, False

    def _still(self, key: str, head: Head) -> bool:
        """Whether the object is still the one a remembered `head` describes (one HEAD). Its metadata
        too: the ETag is the body's MD5, and the same body may be stored with other metadata (another
        theme stamp, other inputs)."""
        now = self.store.head(key)
        self.known.remember(key, now)
        return now is not None and now.etag == head.etag and dict(now.metadata) == dict(head.metadata)

    def _write(
        self,
        key: str,
        head: Head | None,
        answer: Answer,
        extra: dict[str, str],
        cache: str,
        *,
        recalled: bool = False,
        media: str | None = None,
    ) -> bool | None:
        """Make `key` hold `answer`, if it is still as `head` found it: True when it does (or did
        already), False when the answer is to keep it, None when another writer changed it meanwhile.
        `recalled`: `head` is remembered, not read just now, so finding the object already right (or
        gone) takes a HEAD to confirm; a write or a delete is conditional, and so checks for itself."""
        if isinstance(answer, Keep):
            return False
        if answer is None:
            if head is None and recalled:
                # Expected absent, not seen so: only a HEAD tells that there is nothing to delete.
                head = self.store.head(key)
                self.known.remember(key, head)
                recalled = False
            if head is not None:
                # A conditional delete of an object already gone succeeds: on a remembered head, make
                # sure it is there, or its path would be invalidated and its day's indexes derived for nothing.
                if recalled and not self._still(key, head):
                    return None
                self.known.remember(key, None)  # gone, or changed by another writer: unknown either way
                try:
                    self.store.delete(key, if_match=head.etag)
                except PreconditionFailed:
                    return None
                self._changed(key, existed=True, cache=cache)
                self.counts.add("deleted")
                self.counts.deleted_keys.append(key)
            return True
        inputs = None
        if isinstance(answer, Fingerprinted):
            inputs = answer.inputs
            if head is not None and head.metadata.get(INPUTS) == inputs:
                if recalled and not self._still(key, head):
                    return None
                refused = self._refused.pop(key, None)
                if refused is not None and refused[2] == inputs:  # this writer's own PUT, landed after all
                    self._written(key, existed=refused[1], cache=cache)
                else:
                    self.counts.add("unchanged")
                return True
            extra = {**extra, INPUTS: inputs}
            answer = answer.render()
        digest = hashlib.sha256(answer).hexdigest()
        metadata = {DIGEST: digest, **extra}
        refused = self._refused.pop(key, None)
        if head is not None and all(head.metadata.get(k) == v for k, v in metadata.items()):
            if recalled and not self._still(key, head):
                return None
            if refused is not None and refused[0] == digest:  # this writer's own PUT, landed after all
                self._written(key, existed=refused[1], cache=cache)
            else:
                self.counts.add("unchanged")
            return True
        try:
            etag = self.store.put(
                key,
                answer,
                content_type=media or content_type(key),
                cache_control=cache,
                metadata=metadata,
                if_match=head.etag if head is not None else None,
                if_none_match=head is None,
                content_disposition=source_keys.file_disposition(key),
            )
        except PreconditionFailed:
            self.known.remember(key, None)
            self._refused[key] = (digest, head is not None, inputs)
            return None
        self.known.remember(key, None if etag is None else Head(etag=etag, metadata=metadata))
        self._written(key, existed=head is not None, cache=cache)
        return True

    def _written(self, key: str, *, existed: bool, cache: str) -> None:
        self.counts.add("written")
        self._changed(key, existed=existed, cache=cache)
        if not existed:
            self.counts.created_keys.append(key)

    def _changed(self, key: str, *, existed: bool, cache: str) -> None:
        self.counts.changed_keys.append(key)
        if existed and cache not in (LISTING_CACHE, IMMUTABLE):
            self.counts.stale_keys.append(key)

    def remove(self, key: str) -> None:
        """Delete an object nothing refers to any more (unconditionally)."""
        self.store.delete(key)
        self.counts.add("deleted")

    def put_immutable(self, key: str, body: bytes) -> None:
        """Content-addressed objects: the key names the content, so an existing one is already right."""
        if not create_once(self.store, key, body, content_type=content_type(key), cache_control=cache_control(key)):
            self.counts.add("unchanged")
            return
        self._written(key, existed=False, cache=IMMUTABLE)


def create_once(store: ObjectStore, key: str, body: bytes, *, content_type: str, cache_control: str = "") -> bool:
    """Create a content-addressed object unless it exists: True when this call created it.

    One PUT with `If-None-Match: *`, rather than a HEAD and then a PUT, as a new object is the
    usual case (an artifact, a search document, a compaction step's file). S3 also refuses such a
    PUT while another write of the key is in flight (409); that write may yet fail, so a refusal
    counts as "already there" only once a HEAD finds the object."""
    for _ in range(MAX_ATTEMPTS):
        try:
            store.put(key, body, content_type=content_type, cache_control=cache_control, if_none_match=True)
        except PreconditionFailed:
            if store.head(key) is not None:
                return False
            continue
        return True
    raise RuntimeError(f"{key}: could not be created after {MAX_ATTEMPTS} attempts")


def invalidation_paths(stale_keys: list[str]) -> list[str]:
    """The CDN paths to invalidate for these keys (`WriteCounts.stale_keys`): the theme's content-hashed
    assets never need it (a file kept under `assets/` does: its name stays when it changes)."""
    return sorted({_cdn_path(key) for key in stale_keys if not key.startswith("assets/") or source_keys.file_type(key)})


def _cdn_path(key: str) -> str:
    """CloudFront wants what RFC 1738 calls unsafe (`~` among it) percent-encoded, nothing else, and
    reads `*` as a wildcard, allowed only at the end: a key with one (a tag like `*ST`, as listed
    Chinese shares are marked) is invalidated with everything that starts as it does."""
    path = "/" + quote(key, safe="/-._!$&'()*+,;=:@").replace("~", "%7E")  # quote keeps `~` always
    star = path.find("*")
    return path if star < 0 else path[: star + 1]
