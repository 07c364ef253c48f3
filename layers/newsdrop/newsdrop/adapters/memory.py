"""In-process adapters: the same semantics as S3, DynamoDB and EventBridge, held in memory."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from newsdrop import catalog as catalog_plan
from newsdrop.adapters.folder import LinkInOutput, OutputFolder
from newsdrop.adapters.sortedmap import SortedKeyMap
from newsdrop.model import Entry
from newsdrop.ports import (
    UNREAD,
    Blob,
    BusEvent,
    CommitResult,
    CommitStatus,
    ConfigRecord,
    Head,
    PostRecord,
    PreconditionFailed,
    Reads,
    RefreshJob,
    SearchState,
    Snapshot,
    TooLarge,
    Unread,
)


@dataclass
class MemoryStore:
    """An object store with S3's ETag conditions (an ETag is the MD5 of the body, as on S3 with SSE-S3).

    Its keys are kept sorted, so a LIST costs in proportion to the keys it returns, as on S3.
    With a `mirror` folder, every change is also made to the file of that key under it, as it
    happens: a build writes its files while it computes, in whichever process made the change.
    The body of an object its file holds is then not kept in memory as well (a build's pages would
    otherwise all stay there until it exits: a sixth of a 10,000-post build's memory): its Blob
    here has an empty body, `on_disk` has its size, and `get` reads the file. A key once read (the
    search manifest, read by every index batch) keeps its bodies in memory from then on.
    """

    objects: SortedKeyMap[Blob] = field(default_factory=SortedKeyMap)
    mirror: Path | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _out: OutputFolder | None = field(init=False, default=None, repr=False)
    # Keys the mirror could not hold as files, and why: on S3 `a/b.html` and `a/b.html/c.html` are
    # two keys, but a file system cannot have a file and a folder of one name.
    unwritable: dict[str, str] = field(default_factory=dict)
    on_disk: dict[str, int] = field(default_factory=dict)  # key -> size, of the objects held by their file alone
    _read: set[str] = field(default_factory=set, repr=False)

    def __post_init__(self) -> None:
        if self.mirror is not None:
            self._out = OutputFolder(self.mirror)

    def get(self, key: str, *, max_bytes: int | None = None) -> Blob | None:
        blob = self.objects.get(key)
        if blob is None:
            return None
        size = self._size(key, blob)
        if max_bytes is not None and size > max_bytes:
            raise TooLarge(size, max_bytes)
        if key not in self.on_disk:
            return blob
        self._read.add(key)  # its later versions stay in memory too
        return replace(blob, body=self._from_file(key, blob.etag))

    def head(self, key: str) -> Head | None:
        blob = self.objects.get(key)
        if blob is None:
            return None
        return Head(etag=blob.etag, metadata=dict(blob.metadata), size=self._size(key, blob))

    def _size(self, key: str, blob: Blob) -> int:
        return self.on_disk.get(key, len(blob.body))

    def take(self, key: str, blob: Blob | None, *, on_disk: int | None = None, unwritable: str | None = None) -> None:
        """Hold what another process holding a copy of this store wrote, or deleted (None): `on_disk`,
        the size of an object its file alone holds, in the mirror both write to; `unwritable`, why
        the mirror could not hold it."""
        with self._lock:
            if blob is None:
                self.objects.pop(key, None)
            else:
                self.objects[key] = blob
            if blob is not None and on_disk is not None:
                self.on_disk[key] = on_disk
            else:
                self.on_disk.pop(key, None)
            if unwritable is not None:
                self.unwritable[key] = unwritable
            else:
                self.unwritable.pop(key, None)

    def _from_file(self, key: str, etag: str) -> bytes:
        if self._out is None:
            raise RuntimeError(f"{key}: only a store with a mirror holds objects in files")
        body = self._out.path(key).read_bytes()
        if hashlib.md5(body, usedforsecurity=False).hexdigest() != etag:
            raise RuntimeError(f"{self._out.path(key)} changed outside the build while it ran")
        return body

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
    ) -> str:
        with self._lock:
            current = self.objects.get(key)
            if if_none_match and current is not None:
                raise PreconditionFailed(key)
            if if_match is not None and (current is None or current.etag != if_match):
                raise PreconditionFailed(key)
            etag = hashlib.md5(body, usedforsecurity=False).hexdigest()
            held = self._out is not None and self._mirror(self._out, key, body) and key not in self._read
            self.objects[key] = Blob(
                body=b"" if held else body,
                etag=etag,
                content_type=content_type,
                cache_control=cache_control,
                metadata=dict(metadata or {}),
                content_disposition=content_disposition,
            )
            if held:
                self.on_disk[key] = len(body)
            else:
                self.on_disk.pop(key, None)
            return etag

    def delete(self, key: str, *, if_match: str | None = None) -> None:
        with self._lock:
            current = self.objects.get(key)
            if if_match is not None and current is not None and current.etag != if_match:
                raise PreconditionFailed(key)
            self.on_disk.pop(key, None)
            if self.objects.pop(key, None) is not None and self._out is not None:
                self.unwritable.pop(key, None)  # a key never written as a file is not there to remove
                self._out.remove(key)

    def list_keys(self, prefix: str) -> list[str]:
        return self.objects.with_prefix(prefix)

    def list_page(self, prefix: str, *, after: str = "", limit: int = 1000) -> list[str]:
        return self.objects.page(prefix, after=after, limit=limit)

    def _mirror(self, out: OutputFolder, key: str, body: bytes) -> bool:
        """Write the key's file; whether it was written."""
        try:
            fd = out.open(key)
        except LinkInOutput as exc:
            self.unwritable[key] = f"{exc.strerror}: {exc.filename}"
            return False
        except (FileExistsError, IsADirectoryError, NotADirectoryError) as exc:
            self.unwritable[key] = f"a file and a folder of the same name ({exc.strerror})"
            return False
        self.unwritable.pop(key, None)
        try:
            view = memoryview(body)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
        return True


@dataclass
class MemoryCatalog:
    posts: dict[str, PostRecord] = field(default_factory=dict)
    # Each list's entries by sort key, kept sorted: a newest-n read costs n, as a DynamoDB Query.
    lists: dict[str, SortedKeyMap[Entry]] = field(default_factory=dict)
    urls: dict[str, str] = field(default_factory=dict)
    redirects: dict[str, set[str]] = field(default_factory=dict)  # an earlier URL's claim -> the keys listing it
    waiting: dict[str, dict[str, str]] = field(default_factory=dict)  # a URL's claim -> key -> sequencer refused it
    rejected: set[str] = field(default_factory=set)  # the keys with a rejection report
    config: ConfigRecord | None = None
    search: dict[str, SearchState] = field(default_factory=dict)
    next_id: int = 0
    jobs: dict[int, RefreshJob] = field(default_factory=dict)
    change_count: int = 0
    counted_settings: int = 0  # the newest settings generation counted (`Snapshot.counted_settings`)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def get_post(self, key: str) -> PostRecord | None:
        return self.posts.get(key)

    def read(self, reads: Reads) -> Snapshot:
        with self._lock:  # between commits: each record as it stands
            return Snapshot(
                posts={key: self.posts.get(key) for key in reads.posts},
                search={key: self.search.get(key) for key in reads.search},
                owners={url: self.urls.get(catalog_plan.url_claim(url)) for url in reads.urls},
                rejected=frozenset(self.rejected.intersection(reads.rejected)),
                config=self.config if reads.config else None,
                changes=self.change_count if reads.changes else 0,
                counted_settings=self.counted_settings if reads.changes else 0,
            )

    @property
    def _generation(self) -> int:
        """The stored settings' generation (0: none stored yet)."""
        return self.config.generation if self.config else 0

    def commit(
        self, record: PostRecord, *, generation: int | None = None, stored: PostRecord | Unread | None = UNREAD
    ) -> CommitResult:
        del stored  # read under the lock: always the current record
        with self._lock:
            stored = self.posts.get(record.key)
            if stored is not None and stored.sequencer >= record.sequencer:
                status: CommitStatus = "duplicate" if stored.sequencer == record.sequencer else "stale"
                return CommitResult(status, current=stored)
            record = catalog_plan.finalise(record, stored)
            change = catalog_plan.plan(record, stored)
            # In DynamoCatalog's order: its size is known before the transaction, the rest from it.
            if reason := catalog_plan.too_large(change, settings_checked=generation is not None):
                return CommitResult("too_large", current=stored, reason=reason)
            if generation is not None and generation != self._generation:
                return CommitResult("config_changed", current=stored)
            owner = self.urls.get(change.claim_key)
            if change.claim_key and owner not in (None, record.key):
                return CommitResult("url_taken", current=stored, url_owner=owner or "")
            self.posts[record.key] = record
            for list_id, sort in change.delete:
                if (listing := self.lists.get(list_id)) is not None:
                    listing.pop(sort, None)
            assert record.entry is not None or not change.put
            for list_id, sort in change.put:
                if (listing := self.lists.get(list_id)) is None:  # not setdefault: a map made per put
                    listing = self.lists[list_id] = SortedKeyMap()
                listing[sort] = record.entry  # type: ignore[assignment]
            if change.release_key and self.urls.get(change.release_key) == record.key:
                del self.urls[change.release_key]
            if change.claim_key:
                self.urls[change.claim_key] = record.key
            for claim in change.redirect_put:
                self.redirects.setdefault(claim, set()).add(record.key)
            for claim in change.redirect_delete:
                if (keys := self.redirects.get(claim)) is not None:
                    keys.discard(record.key)
                    if not keys:
                        del self.redirects[claim]
            self.change_count += 1
            return CommitResult("applied", current=record, previous=stored)

    def entries(self, list_id: str, *, limit: int | None = None) -> list[Entry]:
        listing = self.lists.get(list_id)
        return [] if listing is None else [listing[s] for s in listing.largest(limit)]

    def url_owner(self, url: str) -> str | None:
        return self.urls.get(catalog_plan.url_claim(url))

    def redirect_claimant(self, url: str) -> str | None:
        with self._lock:
            return min(self.redirects.get(catalog_plan.url_claim(url), ()), default=None)

    def wait_for_url(self, url: str, key: str, sequencer: str) -> None:
        with self._lock:
            self.waiting.setdefault(catalog_plan.url_claim(url), {})[key] = sequencer

    def waiting_for_url(self, url: str) -> dict[str, str]:
        with self._lock:
            return dict(self.waiting.get(catalog_plan.url_claim(url), {}))

    def note_rejection(self, key: str) -> None:
        with self._lock:
            self.rejected.add(key)

    def clear_rejection(self, key: str) -> None:
        with self._lock:
            self.rejected.discard(key)

    def stop_waiting(self, url: str, key: str, sequencer: str) -> None:
        claim = catalog_plan.url_claim(url)
        with self._lock:
            waiting = self.waiting.get(claim, {})
            if waiting.get(key) == sequencer:
                del waiting[key]
                if not waiting:
                    del self.waiting[claim]

    def get_config(self) -> ConfigRecord | None:
        return self.config

    def changes(self) -> int:
        return self.change_count

    def allocate_ids(self, count: int) -> int:
        with self._lock:
            first = self.next_id
            self.next_id += count
            return first

    def search_state(self, key: str) -> SearchState | None:
        return self.search.get(key)

    def swap_search_state(self, key: str, expected: SearchState | None, new: SearchState) -> bool:
        with self._lock:
            if self.search.get(key) != expected:
                return False
            self.search[key] = new
            return True

    def put_config(self, record: ConfigRecord) -> bool:
        with self._lock:
            if record.generation != self._generation + 1:
                return False
            self.config = record
            self.change_count += 1
            self.counted_settings = max(self.counted_settings, record.generation)
            return True

    def refresh_job(self) -> RefreshJob | None:
        return self.jobs[max(self.jobs)] if self.jobs else None

    def count_refresh(self, generation: int, *, listed: int = 0, refreshed: int = 0, complete: bool = False) -> None:
        with self._lock:
            job = self.jobs.get(generation, RefreshJob(generation))
            self.jobs[generation] = replace(
                job,
                listed=job.listed + listed,
                refreshed=job.refreshed + refreshed,
                complete=job.complete or complete,
            )


@dataclass
class MemoryScheduler:
    """One-time schedules held in memory; `due` hands over those whose time has come, as they fire."""

    schedules: dict[str, tuple[dt.datetime, dict[str, Any]]] = field(default_factory=dict)

    def schedule(self, name: str, at: dt.datetime, detail: dict[str, Any]) -> None:
        self.schedules[name] = (at, dict(detail))

    def cancel(self, name: str) -> None:
        self.schedules.pop(name, None)

    def due(self, now: dt.datetime) -> list[dict[str, Any]]:
        """The details of every schedule due at `now`, in time order; they are deleted, as
        EventBridge Scheduler deletes a one-time schedule after it runs."""
        fired = sorted((at, name) for name, (at, _) in self.schedules.items() if at <= now)
        return [self.schedules.pop(name)[1] for _, name in fired]


@dataclass
class MemoryBus:
    """Routes each published event to the subscribers whose rule matches, like the bus rules:
    by detail type, and by the event's lane when the rule names one."""

    routes: list[tuple[frozenset[str], str | None, Callable[[BusEvent], None]]] = field(default_factory=list)
    published: list[BusEvent] = field(default_factory=list)

    def subscribe(
        self, detail_types: Sequence[str], deliver: Callable[[BusEvent], None], *, lane: str | None = None
    ) -> None:
        self.routes.append((frozenset(detail_types), lane, deliver))

    def publish(self, events: Sequence[BusEvent]) -> None:
        for event in events:
            self.published.append(event)
            sent = replace(event)  # one event to every matching rule's target, as EventBridge sends it
            for types, lane, deliver in self.routes:
                if event.detail_type in types and (lane is None or event.detail.get("lane") == lane):
                    deliver(sent)
