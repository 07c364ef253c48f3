"""The interfaces the domain code talks to: object stores, the catalog and the event bus.

AWS adapters (boto3) run in Lambda, the local stack and the moto tests; memory
adapters run `newsdrop build`. The stages never know which they have.
"""

from __future__ import annotations

import datetime as dt
import enum
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

from newsdrop.clock import Clock, ProcessClock
from newsdrop.model import Entry, Post, SiteConfig

if TYPE_CHECKING:
    from newsdrop.search import Document, Weights

# A post's size limit, unless MAX_POST_BYTES says otherwise: real posts are a few KB. At this size
# the slowest post to read, thousands of table rows, takes about 80 MB and 1.1 s of CPU on the
# benchmark machine, most of it sanitising and measuring its 1.3 MB of HTML.
DEFAULT_MAX_POST_BYTES = 256 * 1024


class PreconditionFailed(Exception):
    """A conditional write lost a race: someone changed the object since it was read."""


class TooLarge(Exception):
    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"{size} bytes; the limit is {limit}")
        self.size = size
        self.limit = limit


@dataclass(frozen=True, slots=True)
class Head:
    etag: str
    metadata: Mapping[str, str] = field(default_factory=dict)
    size: int | None = None  # bytes, where the store told it


@dataclass
class KnownHeads:
    """What an execution environment last wrote or read of each site object (`SiteWriter`): at most
    `limit` objects, the least recently seen forgotten first, so the listings every publish rewrites
    stay while a site-wide refresh's post pages pass through. Shared by the threads of the local
    stack's pollers, hence the lock."""

    limit: int = 4096
    # Wall time: the monotonic clock of an execution environment may stand still while it is frozen.
    clock: Callable[[], float] = time.time
    _heads: dict[str, tuple[Head, float]] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def get(self, key: str, *, within: float | None = None) -> Head | None:
        """The head remembered (with `within`: only if seen at most that many seconds ago)."""
        with self._lock:
            found = self._heads.get(key)
        if found is None or (within is not None and self.clock() - found[1] > within):
            return None
        return found[0]

    def remember(self, key: str, head: Head | None) -> None:
        """`head` as the object's latest (None: absent, or unknown: forget it)."""
        with self._lock:
            self._heads.pop(key, None)
            if head is not None:
                self._heads[key] = (head, self.clock())  # last in order
                if len(self._heads) > self.limit:
                    del self._heads[next(iter(self._heads))]

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._heads

    def __len__(self) -> int:
        with self._lock:
            return len(self._heads)


@dataclass(frozen=True, slots=True)
class Blob:
    body: bytes
    etag: str
    content_type: str = "application/octet-stream"
    cache_control: str = ""
    metadata: Mapping[str, str] = field(default_factory=dict)
    content_disposition: str = ""

    def __reduce__(self) -> tuple[type[Blob], tuple[Any, ...]]:
        # Pickled as its fields, in order: a build's forked index sends its writes back this way, and
        # the state that dataclasses give a slotted class (a dict for each object) takes half as long again.
        fields = (self.body, self.etag, self.content_type, self.cache_control, self.metadata, self.content_disposition)
        return Blob, fields


class ObjectStore(Protocol):
    def get(self, key: str, *, max_bytes: int | None = None) -> Blob | None:
        """The object, or None when absent; raises TooLarge before reading more than max_bytes."""

    def head(self, key: str) -> Head | None: ...

    def put(
        self,
        key: str,
        body: bytes,
        *,
        content_type: str,
        cache_control: str = "",
        metadata: Mapping[str, str] | None = None,
        if_match: str | None = None,
        if_none_match: bool = False,
        content_disposition: str = "",
    ) -> str | None:
        """Write; with if_match / if_none_match, raise PreconditionFailed when the condition does not hold.
        Returns the new object's ETag, where the store tells it."""

    def delete(self, key: str, *, if_match: str | None = None) -> None:
        """Delete; with if_match, raise PreconditionFailed when the object changed (absent is done)."""

    def list_keys(self, prefix: str) -> list[str]:
        """Every key under prefix, sorted."""

    def list_page(self, prefix: str, *, after: str = "", limit: int = 1000) -> list[str]:
        """Up to `limit` keys under prefix that sort after `after`, sorted (one LIST request)."""


def normalise_sequencer(sequencer: str) -> str:
    """S3 sequencers compare as hex strings of one width: pad, then compare."""
    return sequencer.strip().upper().rjust(32, "0")


def revision(sequencer: str, generation: int, phase: int) -> str:
    """The order of a post's catalog records: by source version (S3 sequencer), then by site settings
    generation, then by lifecycle phase. As one string, so the catalogs compare it as they compare
    sequencers: 32 hex digits first, so a newer upload outranks every later step of an older one."""
    return f"{sequencer}.{generation:010d}.{phase}"


def source_sequencer(rev: str) -> str:
    """The S3 sequencer a record's revision starts with."""
    return rev.split(".", 1)[0]


def generation_of(rev: str) -> int:
    parts = rev.split(".")
    return int(parts[1]) if len(parts) > 1 else 0


PostState = Literal["front", "archived", "scheduled", "draft", "deleted"]


@dataclass(frozen=True, slots=True)
class PostRecord:
    """The catalog's state for one source key; on no public page when `live` is false.

    `sequencer` is the record's revision (see `revision`). A record that is not live is a
    draft or a scheduled post (with its artifact, to be published later) or a tombstone.
    """

    key: str
    sequencer: str
    live: bool
    url: str = ""
    sort: str = ""
    artifact: str = ""
    lists: Sequence[str] = ()
    entry: Entry | None = None
    # What the change that produced this record touched, so a redelivered event can be re-emitted whole.
    touched: Sequence[str] = ()
    previous_url: str = ""
    state: PostState = "front"
    due: str = ""  # ISO 8601: when the post's phase next changes by itself (a schedule is set for it)
    aliases: Sequence[str] = ()  # earlier URLs of the post, which redirect to its current one
    released: Sequence[str] = ()  # earlier URLs this change dropped from `aliases`
    listed: Sequence[str] = ()  # of `aliases`, the post's own `redirect_from` (the others: URLs it moved from)


CommitStatus = Literal["applied", "duplicate", "stale", "url_taken", "config_changed", "too_large"]


@dataclass(frozen=True, slots=True)
class CommitResult:
    status: CommitStatus
    current: PostRecord | None = None
    url_owner: str = ""
    reason: str = ""  # why a "too_large" change cannot be committed
    previous: PostRecord | None = None  # the record an applied commit replaced


@dataclass(frozen=True, slots=True)
class ConfigRecord:
    """The site settings: `_config.yml` and template overrides, with the sequencer applied per
    source file. `generation` counts the changes, so every post record names the settings it was
    derived from."""

    generation: int
    config: SiteConfig
    sources: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RefreshJob:
    """Progress of the site-wide refresh that a settings change started."""

    generation: int
    listed: int = 0
    refreshed: int = 0
    complete: bool = False


@dataclass(frozen=True, slots=True)
class SearchState:
    """Which search document currently stands for a post, and what the index still owes it.

    `pending` is set while the manifest may not yet list `segment` or the `retired` ids as
    deleted; a retry redoes that step, which is idempotent.
    """

    doc: int | None = None
    digest: str = ""
    segment: str = ""
    retired: tuple[int, ...] = ()
    pending: bool = False
    version: int = 0  # bumped by every swap, so a swap can be conditional on it

    def __reduce__(self) -> tuple[type[SearchState], tuple[Any, ...]]:
        # As Blob's: a build's forked index sends back the search state of every post.
        return SearchState, (self.doc, self.digest, self.segment, self.retired, self.pending, self.version)


class Unread(enum.Enum):
    """The stored record was not read by the caller (`Catalog.commit`'s `stored`)."""

    UNREAD = "unread"


UNREAD = Unread.UNREAD


@dataclass(frozen=True, slots=True)
class Reads:
    """Catalog records to read at once (`Catalog.read`)."""

    posts: tuple[str, ...] = ()  # source keys: the posts' records
    search: tuple[str, ...] = ()  # source keys: the posts' search states
    urls: tuple[str, ...] = ()  # URLs: the keys of the posts that hold them
    rejected: tuple[str, ...] = ()  # source keys: which of them have a rejection on record
    config: bool = False
    changes: bool = False


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What `Catalog.read` found, for what it was asked (a missing record reads None)."""

    posts: dict[str, PostRecord | None] = field(default_factory=dict)
    search: dict[str, SearchState | None] = field(default_factory=dict)
    owners: dict[str, str | None] = field(default_factory=dict)
    rejected: frozenset[str] = frozenset()  # of `Reads.rejected`, those with a rejection on record
    config: ConfigRecord | None = None
    changes: int = 0
    # With `changes`: the newest settings generation the count has counted. The count and the
    # settings are two items, which one request need not read at one instant: a reader that finds
    # this ahead of the settings it read reads them again.
    counted_settings: int = 0


class Catalog(Protocol):
    def get_post(self, key: str) -> PostRecord | None: ...

    def read(self, reads: Reads) -> Snapshot:
        """Several records, each read consistently, in one request (DynamoDB: per 100 records). A stage
        that needs two records before it can act asks for both at once: one round trip, not two."""

    def commit(
        self, record: PostRecord, *, generation: int | None = None, stored: PostRecord | Unread | None = UNREAD
    ) -> CommitResult:
        """Atomically replace the stored record by `record` if record.sequencer is newer than the stored one.

        Listing entries, the URL claim and the claims of earlier URLs change in the same transaction
        (status "too_large", with the reason, when they are more than one may hold); `current` in the
        result is the stored record afterwards (with `touched`, `previous_url` and `aliases`
        filled in). With `generation`, only while the site settings are still that generation
        (status "config_changed" otherwise): a post is never committed as read under old settings.
        `stored` is the record as the caller has just read it (None: there was none); the commit
        plans against it instead of reading it again, and a conditional write catches a change
        since (the commit then reads and plans again).
        """

    def entries(self, list_id: str, *, limit: int | None = None) -> list[Entry]:
        """A listing's entries, newest first."""

    def url_owner(self, url: str) -> str | None:
        """The source key of the live post that holds `url`, if any."""

    def redirect_claimant(self, url: str) -> str | None:
        """The source key of the live post that `url` redirects to when no post holds it: of those that
        list it among their earlier URLs, the first by key, so that the answer depends on what is
        published, not on the order it was published in."""

    def wait_for_url(self, url: str, key: str, sequencer: str) -> None:
        """Note that the post `key` (the revision `sequencer` of its record) was refused `url`, which
        another post holds: when that one lets the URL go, the post is read again (`waiting_for_url`)."""

    def waiting_for_url(self, url: str) -> dict[str, str]:
        """The posts refused `url` while another held it: source key -> the revision refused."""

    def stop_waiting(self, url: str, key: str, sequencer: str) -> None:
        """Forget that `key` waits for `url`, unless it waits there with another revision than `sequencer`."""

    def note_rejection(self, key: str) -> None:
        """Record that `key` has a rejection report, before the report is written: a key without
        the note has no report, so its next publish need not delete one."""

    def clear_rejection(self, key: str) -> None:
        """Forget the note, once the report is deleted."""

    def get_config(self) -> ConfigRecord | None: ...

    def changes(self) -> int:
        """How many commits have changed posts or the site settings so far, read consistently. Render
        reads it before and after its writes: a change in between may have been rendered first."""

    def allocate_ids(self, count: int) -> int:
        """Reserve `count` consecutive search document ids (atomically); returns the first."""

    def search_state(self, key: str) -> SearchState | None: ...

    def swap_search_state(self, key: str, expected: SearchState | None, new: SearchState) -> bool:
        """Replace the state only if it is still `expected`; False when someone else changed it."""

    def put_config(self, record: ConfigRecord) -> bool:
        """Store the site settings if the stored ones are still generation `record.generation - 1`;
        False when someone else changed them first."""

    def refresh_job(self) -> RefreshJob | None:
        """The latest site-wide refresh."""

    def count_refresh(self, generation: int, *, listed: int = 0, refreshed: int = 0, complete: bool = False) -> None:
        """Add to the progress of the refresh for `generation`."""


@dataclass(frozen=True, slots=True)
class BusEvent:
    detail_type: str
    detail: dict[str, Any]
    source: str = "newsdrop.parse"


class EventBus(Protocol):
    def publish(self, events: Sequence[BusEvent]) -> None:
        """Publish all, or raise: a partial failure must not be mistaken for success."""


class Cdn(Protocol):
    def invalidate(self, paths: Sequence[str]) -> None:
        """Ask the CDN to drop its cached copies of these paths (one request)."""


class NoCdn:
    """No CDN in front (the local stack, `newsdrop build`): nothing to invalidate."""

    def invalidate(self, paths: Sequence[str]) -> None:
        return None


class Scheduler(Protocol):
    def schedule(self, name: str, at: dt.datetime, detail: dict[str, Any]) -> None:
        """Create (or replace) a one-time schedule that publishes a PostDue event with `detail` at `at`."""

    def cancel(self, name: str) -> None:
        """Delete a schedule; one that is gone (it fired, or never existed) is fine."""


class NoScheduler:
    """For deployments without a scheduler: a post that needs one fails with a clear reason."""

    def schedule(self, name: str, at: dt.datetime, detail: dict[str, Any]) -> None:
        raise RuntimeError("no scheduler is configured (SCHEDULE_GROUP), so a post cannot be scheduled")

    def cancel(self, name: str) -> None:
        return None


class PostReader(Protocol):
    """Reads one `_posts/` file into a Post, or raises `posts.Rejected` (as `posts.read_post` does)."""

    def __call__(self, key: str, body: bytes, config: SiteConfig, *, max_bytes: int) -> Post: ...


class PostingsAhead(Protocol):
    """A post's search document's {token: weight}, worked out ahead (`newsdrop build`'s read-ahead
    workers do), or None: then the index stage works them out itself (`Document.postings`)."""

    def __call__(self, key: str, document: Document) -> Weights | None: ...


@dataclass(frozen=True, slots=True)
class Ports:
    """Everything a stage may touch. Stages take only what they need from it."""

    source: ObjectStore
    site: ObjectStore
    artifacts: ObjectStore
    catalog: Catalog
    bus: EventBus
    max_post_bytes: int = DEFAULT_MAX_POST_BYTES
    cdn: Cdn = field(default_factory=NoCdn)
    clock: Clock = field(default_factory=ProcessClock)
    scheduler: Scheduler = field(default_factory=NoScheduler)
    read_post: PostReader | None = None  # None: posts.read_post; `newsdrop build` reads posts ahead
    postings_ahead: PostingsAhead | None = None  # and weighs their search documents' tokens there
    # Whether parse's events carry small artifacts, which saves render and index a GET each.
    # `newsdrop build` reads posts into memory adapters, where a GET costs less than carrying.
    carry_artifacts: bool = True
    # The site objects' heads as this execution environment last wrote or read them (`SiteWriter.known`).
    site_heads: KnownHeads = field(default_factory=KnownHeads)
    # Render's listings derived at once (`stages.common.run_all`): on AWS each is a query and a PUT,
    # round trips that threads overlap; on adapters in memory there is nothing to overlap.
    io_workers: int = 1
