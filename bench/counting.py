"""Counting the AWS requests a publish makes.

On the local adapters: subclasses of the memory adapters that count each call as the
request the AWS adapter (newsdrop.adapters.aws) makes for it, then delegate. Through
moto: a botocore hook on the functions' own clients counts the real requests.
Request names are AWS's (`s3:PutObject`, `dynamodb:TransactWriteItems`, ...), so both
runs report in the same terms.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from newsdrop import catalog as catalog_plan
from newsdrop.adapters.memory import MemoryBus, MemoryCatalog, MemoryStore
from newsdrop.model import Entry
from newsdrop.ports import (
    UNREAD,
    Blob,
    BusEvent,
    CommitResult,
    ConfigRecord,
    Head,
    PostRecord,
    RefreshJob,
    SearchState,
    Unread,
)

if TYPE_CHECKING:  # names a package from before Catalog.read lacks (bench.compare's "before")
    from newsdrop.ports import Reads, Snapshot

LIST_PAGE = 1000  # keys per ListObjectsV2 response
PUT_EVENTS_MAX = 10  # entries per PutEvents call
BATCH_GET_MAX = 100  # keys per BatchGetItem call
BYTES = "s3:PutObject.bytes"


@dataclass
class Meter:
    counts: Counter[str] = field(default_factory=Counter)

    def add(self, name: str, amount: int = 1) -> None:
        self.counts[name] += amount

    def reset(self) -> None:
        self.counts.clear()

    def snapshot(self) -> dict[str, int]:
        return dict(sorted(self.counts.items()))


# ------------------------------------------------------------------------------ local adapters


@dataclass
class CountingStore(MemoryStore):
    """A MemoryStore that counts S3 requests (and objects and bytes written per bucket role).

    Keyword arguments pass through untouched, so the counting survives new optional parameters.
    """

    meter: Meter = field(default_factory=Meter)
    role: str = "bucket"

    def get(self, key: str, **options: Any) -> Blob | None:
        self.meter.add("s3:GetObject")
        return super().get(key, **options)

    def head(self, key: str) -> Head | None:
        self.meter.add("s3:HeadObject")
        return super().head(key)

    def put(self, key: str, body: bytes, **options: Any) -> str:
        self.meter.add("s3:PutObject")
        self.meter.add(f"s3:PutObject[{self.role}]")
        self.meter.add(BYTES, len(body))
        return super().put(key, body, **options)

    def delete(self, key: str, **options: Any) -> None:
        self.meter.add("s3:DeleteObject")
        self.meter.add(f"s3:DeleteObject[{self.role}]")
        super().delete(key, **options)

    def list_keys(self, prefix: str) -> list[str]:
        keys = super().list_keys(prefix)
        self.meter.add("s3:ListObjectsV2", max(1, math.ceil(len(keys) / LIST_PAGE)))
        return keys

    def list_page(self, prefix: str, *, after: str = "", limit: int = 1000) -> list[str]:
        self.meter.add("s3:ListObjectsV2")
        return super().list_page(prefix, after=after, limit=limit)


@dataclass
class CountingCatalog(MemoryCatalog):
    """A MemoryCatalog that counts the DynamoDB requests DynamoCatalog makes for each call."""

    meter: Meter = field(default_factory=Meter)

    def get_post(self, key: str) -> PostRecord | None:
        self.meter.add("dynamodb:GetItem")
        return super().get_post(key)

    def read(self, reads: Reads) -> Snapshot:
        # DynamoCatalog.read: each item once, a GetItem for one, a BatchGetItem per 100 for more.
        items = (
            len(set(reads.posts))
            + len(set(reads.search))
            + len({catalog_plan.url_claim(url) for url in reads.urls})
            + reads.config
            + reads.changes
        )
        if items == 1:
            self.meter.add("dynamodb:GetItem")
        elif items:
            self.meter.add("dynamodb:BatchGetItem", math.ceil(items / BATCH_GET_MAX))
        return super().read(reads)

    def commit(
        self, record: PostRecord, *, generation: int | None = None, stored: PostRecord | Unread | None = UNREAD
    ) -> CommitResult:
        # DynamoCatalog.commit: GetItem of the stored record unless the caller read it, then one
        # transaction unless stale (here the caller's read is always current: one process).
        if stored is UNREAD:
            self.meter.add("dynamodb:GetItem")
        current = self.posts.get(record.key)
        if current is None or current.sequencer < record.sequencer:
            change = catalog_plan.plan(catalog_plan.finalise(record, current), current)
            self.meter.add("dynamodb:TransactWriteItems")
            # The count of changes (an Update), and a ConditionCheck when it checks the settings generation.
            checks = 1 + (generation is not None)
            self.meter.add("dynamodb:TransactWriteItems.items", transaction_items(change) + checks)
        return super().commit(record, generation=generation, stored=stored)

    def entries(self, list_id: str, **options: Any) -> list[Entry]:
        self.meter.add("dynamodb:Query")
        return super().entries(list_id, **options)

    def url_owner(self, url: str) -> str | None:
        self.meter.add("dynamodb:GetItem")
        return super().url_owner(url)

    def wait_for_url(self, url: str, key: str, sequencer: str) -> None:
        self.meter.add("dynamodb:PutItem")
        super().wait_for_url(url, key, sequencer)

    def waiting_for_url(self, url: str) -> dict[str, str]:
        self.meter.add("dynamodb:Query")
        return super().waiting_for_url(url)

    def stop_waiting(self, url: str, key: str, sequencer: str) -> None:
        self.meter.add("dynamodb:DeleteItem")
        super().stop_waiting(url, key, sequencer)

    # Rejection notes (DynamoCatalog: a PutItem to note a key, a DeleteItem to forget it).
    def note_rejection(self, key: str) -> None:
        self.meter.add("dynamodb:PutItem")
        super().note_rejection(key)

    def clear_rejection(self, key: str) -> None:
        self.meter.add("dynamodb:DeleteItem")
        super().clear_rejection(key)

    def get_config(self) -> ConfigRecord | None:
        self.meter.add("dynamodb:GetItem")
        return super().get_config()

    def put_config(self, record: ConfigRecord) -> bool:
        self.meter.add("dynamodb:PutItem")
        stored = super().put_config(record)
        if stored:  # then the count of changes
            self.meter.add("dynamodb:UpdateItem")
        return stored

    def changes(self) -> int:
        self.meter.add("dynamodb:GetItem")
        return super().changes()

    def refresh_job(self) -> RefreshJob | None:
        self.meter.add("dynamodb:Query")
        return super().refresh_job()

    def count_refresh(self, generation: int, *, listed: int = 0, refreshed: int = 0, complete: bool = False) -> None:
        self.meter.add("dynamodb:UpdateItem")
        super().count_refresh(generation, listed=listed, refreshed=refreshed, complete=complete)

    # The search index's state (DynamoCatalog: an UpdateItem counter, GetItem, conditional PutItem).
    def allocate_ids(self, count: int) -> int:
        self.meter.add("dynamodb:UpdateItem")
        return super().allocate_ids(count)

    def search_state(self, key: str) -> SearchState | None:
        self.meter.add("dynamodb:GetItem")
        return super().search_state(key)

    def swap_search_state(self, key: str, expected: SearchState | None, new: SearchState) -> bool:
        self.meter.add("dynamodb:PutItem")
        return super().swap_search_state(key, expected, new)


def transaction_items(change: Any) -> int:
    """Items of DynamoCatalog's commit transaction: the record, the URL claim and release, the listings."""
    claim = getattr(change, "claim_key", getattr(change, "claim_url", ""))
    release = getattr(change, "release_key", getattr(change, "release_url", ""))
    return 1 + bool(claim) + bool(release) + len(change.delete) + len(change.put)


@dataclass
class CountingBus(MemoryBus):
    """A MemoryBus that counts PutEvents calls (ten entries each at most) and entries."""

    meter: Meter = field(default_factory=Meter)

    def publish(self, events: Sequence[BusEvent]) -> None:
        if events:
            self.meter.add("events:PutEvents", math.ceil(len(events) / PUT_EVENTS_MAX))
            self.meter.add("events:PutEvents.entries", len(events))
        super().publish(events)


# ------------------------------------------------------------------------------ botocore (moto)


def hook_client(client: Any, meter: Meter, roles: Mapping[str, str]) -> None:
    """Count every request `client` makes; `roles` maps bucket names to source/site/artifacts."""
    service = client.meta.service_model.endpoint_prefix

    def count(params: dict[str, Any], model: Any, **_: Any) -> None:
        name = f"{service}:{model.name}"
        meter.add(name)
        bucket = roles.get(str(params.get("Bucket", "")), "")
        if model.name in ("PutObject", "DeleteObject") and bucket:
            meter.add(f"{name}[{bucket}]")
        if model.name == "PutObject":
            meter.add(BYTES, _size(params.get("Body", b"")))
        elif model.name == "TransactWriteItems":
            meter.add(f"{name}.items", len(params.get("TransactItems", [])))
        elif model.name == "PutEvents":
            meter.add(f"{name}.entries", len(params.get("Entries", [])))
        elif model.name == "CreateInvalidation":
            paths = params.get("InvalidationBatch", {}).get("Paths", {}).get("Items", [])
            meter.add("cloudfront:CreateInvalidation.paths", len(paths))

    # First, before botocore's own handlers wrap a PutObject body in a file object.
    client.meta.events.register_first("before-parameter-build", count)


def _size(body: Any) -> int:
    if isinstance(body, bytes | bytearray):
        return len(body)
    if isinstance(body, str):
        return len(body.encode())
    getbuffer = getattr(body, "getbuffer", None)
    return int(getbuffer().nbytes) if getbuffer is not None else 0


@dataclass
class CountingCdn:
    """Counts CreateInvalidation requests and paths (CloudFrontCdn sends up to 1,000 paths per request)."""

    meter: Meter = field(default_factory=Meter)

    def invalidate(self, paths: Sequence[str]) -> None:
        unique = set(paths)
        if unique:
            self.meter.add("cloudfront:CreateInvalidation", math.ceil(len(unique) / LIST_PAGE))
            self.meter.add("cloudfront:CreateInvalidation.paths", len(unique))
