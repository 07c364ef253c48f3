"""Index: keeps the client-side search index in step with the catalog (see newsdrop.search).

A batch writes one segment with the postings of its new or changed posts, one document
file per post, and the manifest; the previous documents of changed or removed posts are
listed as deleted. When the log grows, compaction folds it into the first level; when the
first level grows to a quarter of the base, into a new base generation.

Which document stands for a post is recorded in the catalog (`SearchState`), changed only
by a conditional swap. The swap is marked pending until the manifest has taken the new
segment and the retired ids, so an invocation that dies in between leaves a debt that the
retry (SQS redelivers the batch) pays: no document is lost, none is left showing twice.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field, replace
from typing import Any

from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from newsdrop import events, search
from newsdrop.model import Post
from newsdrop.ports import Ports, SearchState
from newsdrop.rendering.writer import KEEP, Keep, SiteWriter, invalidation_paths
from newsdrop.search import Document, Level, Manifest
from newsdrop.stages.common import Outcome, process_batch

log = logging.getLogger(__name__)

MAX_SEGMENTS = 3  # every query reads every segment: keep the log short
MIN_BASE_MERGE = 256  # the first level folds into the base at this size, or a quarter of the base
MAX_ROUNDS = 5


@dataclass
class Plan:
    key: str
    state: SearchState | None
    post: Post | None
    digest: str


@dataclass
class IndexBatch:
    ports: Ports
    writer: SiteWriter
    keys: set[str] = field(default_factory=set)
    owed_segments: set[str] = field(default_factory=set)
    owed_deleted: set[int] = field(default_factory=set)
    settled: list[tuple[str, SearchState]] = field(default_factory=list)

    def handle(self, record: SQSRecord) -> None:
        event = events.publishing_event(record.json_body)
        if event.detail_type != events.SITE_CONFIGURED:
            self.keys.add(event.key)

    def current(self, key: str) -> Plan:
        state = self.ports.catalog.search_state(key)
        record = self.ports.catalog.get_post(key)
        post = None
        if record is not None and record.live:
            blob = self.ports.artifacts.get(record.artifact)
            if blob is None:
                raise RuntimeError(f"artifact {record.artifact} of {key} is missing")
            post = Post.from_json(json.loads(blob.body))
        digest = "" if post is None else _digest(post)
        return Plan(key, state, post, digest)

    def finish(self) -> None:
        todo = sorted(self.keys)
        for _ in range(MAX_ROUNDS):
            if not todo:
                break
            todo = self.round(todo)
        if todo:
            raise RuntimeError(f"search index: {len(todo)} posts kept changing under this batch")
        if self.owed_segments or self.owed_deleted:
            self.writer.derive(search.MANIFEST_KEY, self.amend(self.owed_segments, self.owed_deleted))
            # A deleted post's text must not stay on the site; a reader still holding the old
            # manifest skips a document it cannot fetch.
            for doc in sorted(self.owed_deleted):
                self.writer.remove(search.doc_key(doc))
        for key, state in self.settled:  # the manifest holds what they owed: clear the debt
            self.ports.catalog.swap_search_state(
                key, state, replace(state, retired=(), pending=False, version=state.version + 1)
            )
        Compactor(self.ports, self.writer).run()

    def round(self, keys: list[str]) -> list[str]:
        plans = [self.current(key) for key in keys]
        changed = []
        for plan in plans:
            state = plan.state
            same = (
                state is not None and state.digest == plan.digest and (state.doc is not None) == (plan.post is not None)
            )
            if plan.post is None and state is None:
                continue  # never indexed, nothing to remove
            if same and state is not None:
                if state.pending:  # an earlier attempt died before the manifest took its changes
                    self.owe(state)
                    self.settled.append((plan.key, state))
                continue
            changed.append(plan)
        live = [plan for plan in changed if plan.post is not None]
        first = self.ports.catalog.allocate_ids(len(live)) if live else 0
        documents = {
            plan.key: Document(first + n, plan.post.url, plan.post.title, plan.post.date, plan.post.text)
            for n, plan in enumerate(live)
            if plan.post is not None
        }
        segment = ""
        if documents:
            # Files first: they are immutable and unreferenced until the manifest names them.
            for document in documents.values():
                self.writer.put_immutable(search.doc_key(document.id), search.dumps(document.to_json()))
            body = search.build_segment(documents.values())
            segment = search.content_name("seg", body)
            self.writer.put_immutable(segment, body)
        retry = []
        for plan in changed:
            placed = documents.get(plan.key)
            old = plan.state
            retired: tuple[int, ...] = ()
            if old is not None:
                retired = (*old.retired, old.doc) if old.doc is not None else tuple(old.retired)
            new = SearchState(
                doc=None if placed is None else placed.id,
                digest=plan.digest,
                segment=segment if placed is not None else "",
                retired=retired,
                pending=True,
                version=0 if old is None else old.version + 1,
            )
            if self.ports.catalog.swap_search_state(plan.key, old, new):
                self.owe(new)
                self.settled.append((plan.key, new))
            else:  # another batch changed this post meanwhile: ours must never show; look again
                if placed is not None:
                    self.owed_deleted.add(placed.id)
                retry.append(plan.key)
        return retry

    def owe(self, state: SearchState) -> None:
        if state.segment:
            self.owed_segments.add(state.segment)
        self.owed_deleted.update(state.retired)

    def amend(self, segments: set[str], deleted: set[int]) -> Any:
        site = self.ports.site

        def compute() -> bytes:
            current = site.get(search.MANIFEST_KEY)
            manifest = Manifest.from_bytes(current.body if current else None)
            manifest.segments = sorted(set(manifest.segments) | segments)
            manifest.deleted = sorted(set(manifest.deleted) | deleted)
            return manifest.to_bytes()

        return compute


@dataclass
class Compactor:
    ports: Ports
    writer: SiteWriter

    def manifest(self) -> Manifest:
        blob = self.ports.site.get(search.MANIFEST_KEY)
        return Manifest.from_bytes(blob.body if blob else None)

    def read_level(self, name: str, level: Level) -> dict[int, dict[str, str]]:
        if not level.gen:
            return {}
        shards = {}
        for shard in range(level.shards):
            blob = self.ports.site.get(level.key(name, shard))
            if blob is None:
                raise RuntimeError(f"search index file {level.key(name, shard)} is missing")
            shards[shard] = json.loads(blob.body)["t"]
        return shards

    def read_segments(self, keys: list[str]) -> list[dict[str, Any]]:
        found = []
        for key in keys:
            blob = self.ports.site.get(key)
            if blob is None:
                raise RuntimeError(f"search segment {key} is missing")
            found.append(json.loads(blob.body))
        return found

    def write_level(self, name: str, shards: dict[int, dict[str, str]], inputs: str) -> Level:
        gen = hashlib.sha256(inputs.encode()).hexdigest()[:12]
        docs = {doc for tokens in shards.values() for p in tokens.values() for doc in search.decode_postings(p)}
        level = Level(gen=gen, shards=len(shards), docs=len(docs))
        for shard, tokens in shards.items():
            self.writer.put_immutable(level.key(name, shard), search.dumps({"t": tokens}))
        return level

    def run(self) -> None:
        manifest = self.manifest()
        if len(manifest.segments) > MAX_SEGMENTS:
            self.fold_log(manifest)
            manifest = self.manifest()
        if manifest.l1.docs >= max(MIN_BASE_MERGE, manifest.base.docs // 4):
            self.fold_level(manifest)

    def fold_log(self, seen: Manifest) -> None:
        segments = sorted(seen.segments)
        level_shards = self.read_level("l1", seen.l1)
        logged = self.read_segments(segments)
        postings = sum(p.count(",") + 1 for shard in level_shards.values() for p in shard.values())
        postings += sum(p.count(",") + 1 for segment in logged for p in segment["t"].values())
        merged = search.merge(level_shards.values(), logged, set(seen.deleted), search.shard_count(postings))
        level = self.write_level("l1", merged, f"{seen.l1.gen}|{','.join(segments)}|{len(seen.deleted)}")

        def compute() -> bytes | Keep:
            now = self.manifest()
            if now.l1.gen != seen.l1.gen:
                return KEEP  # someone else compacted first: theirs stands
            now.l1 = level
            now.segments = [s for s in now.segments if s not in segments]
            return now.to_bytes()

        if self.writer.derive(search.MANIFEST_KEY, compute):
            self.remove([seen.l1.key("l1", n) for n in range(seen.l1.shards)] if seen.l1.gen else [])
            self.remove(segments)

    def remove(self, keys: list[str]) -> None:
        """Files a newer manifest no longer names. A reader holding the old manifest gets a 404
        and reloads the manifest (search.js does), so nothing is kept for it."""
        for key in keys:
            self.writer.remove(key)

    def fold_level(self, seen: Manifest) -> None:
        deleted = set(seen.deleted)
        l1 = self.read_level("l1", seen.l1)
        base = self.read_level("base", seen.base)
        postings = sum(p.count(",") + 1 for shard in (*l1.values(), *base.values()) for p in shard.values())
        merged = search.merge([*l1.values(), *base.values()], [], deleted, search.shard_count(postings))
        level = self.write_level("base", merged, f"{seen.base.gen}|{seen.l1.gen}|{len(deleted)}")

        def compute() -> bytes | Keep:
            now = self.manifest()
            if now.l1.gen != seen.l1.gen or now.base.gen != seen.base.gen:
                return KEEP
            now.base = level
            now.l1 = Level()
            now.deleted = sorted(set(now.deleted) - deleted)  # applied everywhere now
            return now.to_bytes()

        if self.writer.derive(search.MANIFEST_KEY, compute):
            old = [seen.l1.key("l1", n) for n in range(seen.l1.shards)] if seen.l1.gen else []
            old += [seen.base.key("base", n) for n in range(seen.base.shards)] if seen.base.gen else []
            self.remove(old + [search.doc_key(doc) for doc in sorted(deleted)])


def _digest(post: Post) -> str:
    fields = [post.url, post.title, post.date, post.text]
    return hashlib.sha256(json.dumps(fields, ensure_ascii=False).encode()).hexdigest()[:24]


def run(event: dict[str, Any], ports: Ports) -> Outcome:
    batch = IndexBatch(ports=ports, writer=SiteWriter(ports.site))
    response = process_batch(event, batch.handle)
    batch.finish()
    counts = batch.writer.counts
    # Only the manifest changes in place; every other index file has a new name when its content changes.
    invalidate = [path for path in invalidation_paths(counts.changed_keys) if path == "/" + search.MANIFEST_KEY]
    if invalidate:
        ports.cdn.invalidate(invalidate)
    return Outcome(
        response=response,
        counts={
            "index_objects_written": counts.written,
            "index_objects_deleted": counts.deleted,
            "invalidation_paths": len(invalidate),
        },
        changed_keys=list(counts.changed_keys),
    )
