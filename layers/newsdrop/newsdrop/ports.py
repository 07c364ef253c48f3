"""The interfaces the domain code talks to: object stores, the catalog and the event bus.

AWS adapters (boto3) run in Lambda, the local stack and the moto tests; memory
adapters run `newsdrop build`. The stages never know which they have.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from newsdrop.model import Entry, SiteConfig


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


@dataclass(frozen=True, slots=True)
class Blob:
    body: bytes
    etag: str
    content_type: str = "application/octet-stream"
    cache_control: str = ""
    metadata: Mapping[str, str] = field(default_factory=dict)


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
    ) -> None:
        """Write; with if_match / if_none_match, raise PreconditionFailed when the condition does not hold."""

    def delete(self, key: str, *, if_match: str | None = None) -> None:
        """Delete; with if_match, raise PreconditionFailed when the object changed (absent is done)."""

    def list_keys(self, prefix: str) -> list[str]:
        """Every key under prefix, sorted."""


def normalise_sequencer(sequencer: str) -> str:
    """S3 sequencers compare as hex strings of one width: pad, then compare."""
    return sequencer.strip().upper().rjust(32, "0")


@dataclass(frozen=True, slots=True)
class PostRecord:
    """The catalog's state for one source key; a tombstone when `live` is false."""

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


CommitStatus = Literal["applied", "duplicate", "stale", "url_taken"]


@dataclass(frozen=True, slots=True)
class CommitResult:
    status: CommitStatus
    current: PostRecord | None = None
    url_owner: str = ""


@dataclass(frozen=True, slots=True)
class ConfigRecord:
    sequencer: str
    config: SiteConfig


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


class Catalog(Protocol):
    def get_post(self, key: str) -> PostRecord | None: ...

    def commit(self, record: PostRecord) -> CommitResult:
        """Atomically replace the stored record by `record` if record.sequencer is newer than the stored one.

        Listing entries and the URL claim change in the same transaction; `current` in the
        result is the stored record afterwards (with `touched` and `previous_url` filled in).
        """

    def entries(self, list_id: str, *, limit: int | None = None) -> list[Entry]:
        """A listing's entries, newest first."""

    def url_owner(self, url: str) -> str | None:
        """The source key of the live post that holds `url`, if any."""

    def get_config(self) -> ConfigRecord | None: ...

    def allocate_ids(self, count: int) -> int:
        """Reserve `count` consecutive search document ids (atomically); returns the first."""

    def search_state(self, key: str) -> SearchState | None: ...

    def swap_search_state(self, key: str, expected: SearchState | None, new: SearchState) -> bool:
        """Replace the state only if it is still `expected`; False when someone else changed it."""

    def put_config(self, record: ConfigRecord) -> bool:
        """Store the site configuration if its sequencer is newer; False when stale or repeated."""


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


@dataclass(frozen=True, slots=True)
class Ports:
    """Everything a stage may touch. Stages take only what they need from it."""

    source: ObjectStore
    site: ObjectStore
    artifacts: ObjectStore
    catalog: Catalog
    bus: EventBus
    max_post_bytes: int = 1_000_000
    cdn: Cdn = field(default_factory=NoCdn)
