"""Index: keeps the client-side search index in step with the catalog (see newsdrop.search).

A batch writes one document file per new or changed post and the manifest, whose log takes
the posts' postings; the previous documents of changed or removed posts are listed as
deleted. Everything else is compaction, and a publish leaves it to the scheduled compaction
(`compact`, the Compact function, once a minute): a publish writes its documents and the
manifest and nothing else, so it makes the same requests whatever the index's size. Only when
the log outgrows `log_max_postings` (publishes faster than the schedule keeps up with) does a
publish compact, as bulk work always does (a batch of the bulk lane, or of more than a few
posts): at most `steps_per_post` files written per post in the batch, so no batch rewrites a
large part of the index. A publish that opens or closes a day does none of that (up to
`defer_max` such publishes in a row): render then rewrites the archive page and the sitemap
index, which take compaction's share.

Compaction (`plan`, a pure function of the manifest): when the log outgrows a few posts it is
flushed into a run at level 0; when a level holds more postings than its capacity
(`level0_postings * fanout ** level`), a job merges it into the next level's run, one output
shard per step, and the output replaces its inputs once every shard is written. Levels grow
geometrically, so a query reads one shard of about `shard_postings` postings per level.

Which document stands for a post is recorded in the catalog (`SearchState`), changed only
by a conditional swap. The swap is marked pending until the manifest holds the new postings
and the retired ids, so an invocation that dies in between leaves a debt that the retry (SQS
redelivers the batch) pays: no document is lost, none is left showing twice.
"""

from __future__ import annotations

import bisect
import contextlib
import functools
import hashlib
import json
import logging
import math
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Mapping, Set
from dataclasses import dataclass, field, replace
from typing import Any

from newsdrop import events, model, search
from newsdrop.model import Post
from newsdrop.ports import Blob, Ports, Reads, SearchState, Snapshot
from newsdrop.rendering.writer import DIGEST, KEEP, MAX_ATTEMPTS, Keep, SiteWriter
from newsdrop.search import Deleted, Document, Job, Manifest, Run, Trash
from newsdrop.stages.common import Artifacts, Message, Outcome, messages, process_batch

log = logging.getLogger(__name__)

MAX_ROUNDS = 5
# Up to this many posts, a batch is one or a few publishes, each of which must stay within its
# object budget; a larger one is bulk work, whose average per post is what counts.
OPENING_CHECK_MAX = 10


@dataclass(frozen=True)
class Tuning:
    log_postings: int = 1200  # the manifest's log: about four posts, a few kilobytes compressed
    level0_postings: int = 2400  # level 0's capacity; level n holds fanout ** n times as much
    fanout: int = 6
    shard_postings: int = 2000  # a shard a query reads: a few kilobytes compressed
    short_postings: int = 10000  # short tokens' lists are long and dense: larger shards cost as much
    steps_per_post: int = 2  # files compaction may write per post in the batch
    deletes_per_post: int = 4  # replaced files it may delete per post in the batch
    grace_s: int = 900  # a deleted id stays listed at least this long (longer than any invocation)
    defer_max: int = 3  # publishes in a row that may leave their compaction to the next (see Compactor)
    # Publishes leave compaction to the scheduled `compact` until the log holds this many postings
    # (about eight posts): a cold query reads the log with the manifest, so a burst of publishes
    # between two runs of the schedule adds a few kilobytes to it at the most.
    scheduled: bool = True  # False: every batch compacts as it goes, as a bulk batch does
    log_max_postings: int = 2400
    tick_steps: int = 48  # files one round of `compact` may write; it deletes as many times deletes_per_post
    tick_rounds: int = 8  # manifest commits one `compact` may make (a finished job can start the next)
    tick_round_s: float = 20.0  # time a round may take at the most: the next starts only with this left

    def capacity(self, level: int) -> int:
        return int(self.level0_postings * self.fanout**level)

    def shards(self, postings: int, short: int) -> tuple[int, int]:
        """Shards for these postings, and apart for the short tokens' (0: none apart, in a small run)."""
        if postings <= 2 * self.shard_postings:
            return max(1, math.ceil(postings / self.shard_postings)), 0
        long = postings - short
        return max(1, math.ceil(long / self.shard_postings)), max(1, math.ceil(short / self.short_postings))


TUNING = Tuning()


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
    days: set[str] = field(default_factory=set)
    bulk: bool = False  # a record came in the bulk lane: the batch is bulk work, whatever its size
    owed_docs: dict[int, search.Weights] = field(default_factory=dict)
    owed_deleted: set[int] = field(default_factory=set)
    settled: list[tuple[str, SearchState]] = field(default_factory=list)
    artifacts: Artifacts = field(init=False)

    def __post_init__(self) -> None:
        self.artifacts = Artifacts(self.ports.artifacts)

    def handle(self, record: Message) -> None:
        event = events.publishing_event(record.json_body)
        if event.detail_type == events.FILE_CHANGED:
            return  # files are not searched (the template routes them to render alone)
        self.bulk = self.bulk or event.bulk
        if event.detail_type != events.SITE_CONFIGURED:
            self.artifacts.carry(event)
            self.keys.add(event.key)
            self.days.update(list_id for list_id in event.lists if list_id.startswith(model.DAY_PREFIX))

    def current(self, key: str, found: Snapshot) -> Plan:
        state = found.search[key]
        record = found.posts[key]
        post = None
        if record is not None and record.live:
            body = self.artifacts.read(record.artifact)
            if body is None:
                raise RuntimeError(f"artifact {record.artifact} of {key} is missing")
            post = Post.from_json(json.loads(body))
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
        posts = max(1, len(self.keys))
        # A publish or a few leave compaction to the schedule; bulk work (its lane's batches, or more
        # posts than a few publishes: `newsdrop build`'s) does its share as it goes.
        publish = not self.bulk and len(self.keys) <= OPENING_CHECK_MAX and TUNING.scheduled
        compactor = Compactor(
            self.ports, self.writer, TUNING, posts, lambda: min(posts, self.days_turning()), leave_to_schedule=publish
        )
        compactor.commit(self.owed_docs, self.owed_deleted)
        # A deleted post's text must not stay on the site; a reader still holding the old
        # manifest skips a document it cannot fetch.
        for doc in sorted(self.owed_deleted):
            self.writer.remove(search.doc_key(doc))
        for key, state in self.settled:  # the manifest holds what they owed: clear the debt
            self.ports.catalog.swap_search_state(
                key, state, replace(state, retired=(), pending=False, version=state.version + 1)
            )

    def days_turning(self) -> int:
        """Days this batch opens or closes. Render then also rewrites the archive page and the
        sitemap index, so compaction gives way to keep the publish within its object budget."""
        if len(self.keys) > OPENING_CHECK_MAX:
            return 0
        return sum(1 for day in self.days if len(self.ports.catalog.entries(day, limit=2)) < 2)

    def round(self, keys: list[str]) -> list[str]:
        # Every post's record and search state at once: one request per 50 posts, not two per post.
        found = self.ports.catalog.read(Reads(posts=tuple(keys), search=tuple(keys)))
        plans = [self.current(key, found) for key in keys]
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
                    self.owe(plan.key, state, plan.post)  # and perhaps before its document was written
                continue
            changed.append(plan)
        live = [plan for plan in changed if plan.post is not None]
        first = self.ports.catalog.allocate_ids(len(live)) if live else 0
        ids = {plan.key: first + n for n, plan in enumerate(live)}
        retry = []
        for plan in changed:
            placed = ids.get(plan.key)
            old = plan.state
            retired: tuple[int, ...] = ()
            if old is not None:
                retired = (*old.retired, old.doc) if old.doc is not None else tuple(old.retired)
            new = SearchState(
                doc=placed,
                digest=plan.digest,
                segment="",  # the postings go to the manifest's log
                retired=retired,
                pending=True,
                version=0 if old is None else old.version + 1,
            )
            # The state names its document before the document is written: a document no state
            # names would never be deleted, and its text, a deleted post's too, stay public.
            # Readers see neither until the manifest names the document, after this.
            if self.ports.catalog.swap_search_state(plan.key, old, new):
                self.owe(plan.key, new, plan.post)
            else:  # another batch changed this post meanwhile: look again (its id stays unused)
                retry.append(plan.key)
        return retry

    def owe(self, key: str, state: SearchState, post: Post | None) -> None:
        """For a state the catalog holds: its document, written under the id it names (created once:
        a retry finds it); what the manifest must hold for it, its document's postings (the post has
        the state's digest, so they are the same as the document's) and its retired ids; and the
        state, to be cleared once the manifest holds them (`settled`)."""
        if state.doc is not None and post is not None:
            document = _document(state.doc, post)
            self.writer.put_immutable(search.doc_key(state.doc), search.dumps(document.to_json()))
            ahead = self.ports.postings_ahead
            known = ahead(key, document) if ahead is not None else None
            self.owed_docs[state.doc] = known if known is not None else document.postings()
        self.owed_deleted.update(state.retired)
        self.settled.append((key, state))


# ----------------------------------------------------------------------------------- compaction


@dataclass
class Delta:
    """What one invocation changes in the manifest; `apply` replays it on whatever manifest is current."""

    add: Mapping[int, search.Weights]
    delete: set[int]
    now: int
    deletes: int  # trash files this invocation may delete
    # True: this invocation left owed compaction to the next; False: it did its share; None: neither
    # (it gave way with nothing owed, or changed nothing), so the count of deferrals stays as it is.
    deferring: bool | None = False
    flushed: Run | None = None
    flushed_ids: frozenset[int] = frozenset()
    progress: dict[str, tuple[int, int]] = field(default_factory=dict)  # job output id -> (done before, after)

    @functools.cached_property
    def add_table(self) -> dict[str, str]:
        return search.table_of(self.add)


def _documents(table: Mapping[str, str]) -> dict[int, dict[str, int]]:
    documents: dict[int, dict[str, int]] = {}
    for token, encoded in table.items():
        for doc, weight in search.decode_postings(encoded).items():
            documents.setdefault(doc, {})[token] = weight
    return documents


def _log(current: Mapping[str, str], delta: Delta, deleted: Mapping[int, Deleted], leaving: Set[int]) -> dict[str, str]:
    """The log without the documents `leaving` it (flushed, or deleted by this delta), with the
    delta's new ones that are not deleted. Documents deleted before are never in the log: the
    delta that deleted them took them out, and no later delta adds them back. So the log is
    decoded only when documents leave it, and a publish, which usually removes none, merges its
    postings into the log as text: decoding the whole log took a third of a publish's index time."""
    log = dict(current)
    if log and leaving:
        documents = _documents(log)
        kept = {doc: tokens for doc, tokens in documents.items() if doc not in leaving}
        if len(kept) < len(documents):
            log = search.table_of(kept)
    added = {doc: tokens for doc, tokens in delta.add.items() if doc not in leaving and doc not in deleted}
    table = delta.add_table if len(added) == len(delta.add) else search.table_of(added)
    for token, encoded in table.items():
        log[token] = search.merge_postings([log[token], encoded], None) if token in log else encoded
    return log


def apply(current: Manifest, delta: Delta, tuning: Tuning) -> tuple[Manifest, list[str]]:
    """The manifest after `delta`, compacted by the policy; and the replaced files this invocation deletes."""
    clock = current.clock + 1
    newly_deleted = {doc for doc in delta.delete if doc not in current.deleted}
    deleted = dict(current.deleted)
    for doc in newly_deleted:
        deleted[doc] = Deleted(clock, delta.now)
    runs = list(current.runs)
    flushed = frozenset[int]()
    if delta.flushed is not None and _still_logged(current.log, delta):
        flushed = delta.flushed_ids
        if all(r.id != delta.flushed.id for r in runs):
            runs.append(delta.flushed)
    log = _log(current.log, delta, deleted, flushed | newly_deleted)
    deferred = current.deferred  # the count of publishes in a row that left their compaction owed
    if delta.deferring is not None:
        deferred = deferred + 1 if delta.deferring else 0
    manifest = Manifest(current.clock, log, runs, list(current.jobs), list(current.trash), deleted, deferred)
    plan(manifest, tuning)  # the jobs this invocation worked on may start here, as they did when it planned
    for n, job in enumerate(manifest.jobs):
        before, after = delta.progress.get(job.output.id, (0, 0))
        if job.done >= before:
            manifest.jobs[n] = replace(job, done=max(job.done, after))
    plan(manifest, tuning)
    manifest.clock = clock
    _purge(manifest, delta.now, tuning)
    return manifest, _claim_trash(manifest, delta.deletes)


def _still_logged(log: Mapping[str, str], delta: Delta) -> bool:
    """Whether the log still holds every document the delta's flush took from it. One that left it
    since was deleted (and, past the grace period, forgotten) or flushed by another invocation:
    the flushed run would bring it back, or hold it twice. Then the flush is dropped (its file is
    deleted with this invocation's other unused files) and the log keeps the delta's documents."""
    taken = delta.flushed_ids - delta.add.keys()
    return not taken or taken <= search.table_ids(log)


def plan(manifest: Manifest, tuning: Tuning) -> None:
    """The policy: finish complete jobs; then, deepest level first (so a full level moves down
    before the one above merges into it), move down or merge every level over capacity."""
    for job in [j for j in manifest.jobs if j.done >= j.output.files]:
        manifest.jobs.remove(job)
        replaced = [r for r in manifest.runs if r.id in job.inputs]
        manifest.runs = [r for r in manifest.runs if r.id not in job.inputs] + [job.output]
        manifest.trash += [Trash(r) for r in replaced]
    busy = {name for job in manifest.jobs for name in job.inputs}
    merging = {job.output.level for job in manifest.jobs}
    deepest = max([r.level for r in manifest.runs] + [j.output.level for j in manifest.jobs], default=-1)
    for level in range(deepest, -1, -1):
        free = [r for r in manifest.runs if r.level == level and r.id not in busy]
        if not free or level + 1 in merging or sum(r.postings for r in free) < tuning.capacity(level):
            continue
        if (
            level == deepest
            and len(free) == 1
            and (free[0].shards, free[0].short) == tuning.shards(free[0].postings, free[0].short_postings)
        ):
            # Nothing below to merge with: the run itself becomes the next level, unchanged.
            manifest.runs = [r for r in manifest.runs if r is not free[0]] + [replace(free[0], level=level + 1)]
            continue
        inputs = free + [r for r in manifest.runs if r.level == level + 1 and r.id not in busy]
        manifest.jobs.append(_job(manifest, inputs, level + 1, tuning))
        busy.update(r.id for r in inputs)
        merging.add(level + 1)


def _job(manifest: Manifest, inputs: list[Run], level: int, tuning: Tuning) -> Job:
    postings = sum(r.postings for r in inputs)
    short = sum(r.short_postings for r in inputs)
    low, high = min(r.low for r in inputs), max(r.high for r in inputs)
    since = manifest.clock
    dropped = sorted(d for d, when in manifest.deleted.items() if when.clock <= since and low <= d <= high)
    shards, apart = tuning.shards(postings, short)
    names = sorted(r.id for r in inputs)
    # The output is a function of the inputs and the ids it leaves out: its name says which.
    name = search.digest("job", search.VERSION, names, since, dropped, shards, apart, level)
    return Job(Run(name, shards, apart, level, postings, short, since, low, high), tuple(names))


def _purge(manifest: Manifest, now: int, tuning: Tuning) -> None:
    """Forget deleted ids no run may hold any more. The grace period covers an invocation that
    read a post's state before the id was retired and adds its postings back afterwards."""
    runs = manifest.runs + [j.output for j in manifest.jobs]

    def held(doc: int, when: Deleted) -> bool:
        return any(r.since < when.clock and r.low <= doc <= r.high for r in runs)

    manifest.deleted = {
        doc: when for doc, when in manifest.deleted.items() if now - when.at < tuning.grace_s or held(doc, when)
    }


def _claim_trash(manifest: Manifest, budget: int) -> list[str]:
    claimed: list[str] = []
    kept = []
    for entry in manifest.trash:
        take = max(0, min(budget - len(claimed), entry.run.files - entry.next))
        claimed += [entry.run.key(n) for n in range(entry.next, entry.next + take)]
        if entry.next + take < entry.run.files:
            kept.append(replace(entry, next=entry.next + take))
    manifest.trash = kept
    return claimed


class TableCache:
    """Run files are immutable and named by their content or their inputs, so a parsed copy can be
    kept for the next step (one input shard feeds several output shards) and the next batch. And
    the manifest as this execution environment last read or wrote it (`Compactor.commit`)."""

    def __init__(self, limit_bytes: int) -> None:
        self.limit = limit_bytes
        self.size = 0
        self.tables: OrderedDict[tuple[str, int], tuple[int, dict[tuple[int, bool], dict[str, str]]]] = OrderedDict()
        self.manifest: Blob | None = None
        # The local stack runs index and the scheduled compaction in threads of one process.
        self.lock = threading.Lock()

    def split(
        self, key: str, shards: int, within: int | None, load: Callable[[], bytes]
    ) -> dict[tuple[int, bool], dict[str, str]]:
        """The file's tokens by their shard among `shards` (all in shard `within`, when given), and
        whether they are short."""
        with self.lock:
            found = self.tables.get((key, shards))
            if found is not None:
                self.tables.move_to_end((key, shards))
                return found[1]
        body = load()
        parts: dict[tuple[int, bool], dict[str, str]] = {}
        for token, encoded in json.loads(body)["t"].items():
            shard = search.shard_of(token, shards) if within is None else within
            parts.setdefault((shard, search.is_short(token)), {})[token] = encoded
        with self.lock:
            if (key, shards) not in self.tables:
                self.tables[(key, shards)] = (len(body), parts)
                self.size += len(body)
            while self.size > self.limit and len(self.tables) > 1:
                _, (size, _) = self.tables.popitem(last=False)
                self.size -= size
        return parts


_CACHES: dict[int, tuple[weakref.ref[Any], TableCache]] = {}


def cache_of(store: Any) -> TableCache:
    """One cache per object store, kept as long as the store: on Lambda, for the life of the execution
    environment (newsdrop.runtime keeps its ports); in a build, for the build."""
    found = _CACHES.get(id(store))
    if found is not None and found[0]() is store:
        return found[1]
    cache = TableCache(limit_bytes=4_000_000)  # as read; some times more once parsed
    key = id(store)
    with contextlib.suppress(TypeError):  # a store that cannot be referenced weakly is not cached for
        _CACHES[key] = (weakref.ref(store, lambda _: _CACHES.pop(key, None)), cache)
    return cache


class _Replan(Exception):
    """The manifest moved on under a commit in a way its plan did not allow for (`Compactor.commit`)."""


@dataclass
class Compactor:
    ports: Ports
    writer: SiteWriter
    tuning: Tuning
    posts: int  # in this batch: the budget is per post
    # Of them, posts whose share of the writes the archive pages take. They leave their compaction
    # to later publishes, but only `defer_max` in a row: on a site where every post opens a day,
    # compaction still runs, if at a slower pace. Asked only when the batch compacts: the answer
    # costs a catalog query per day the batch touches.
    giving_way: Callable[[], int] = lambda: 0
    # A publish: compaction is left to the schedule while the log is within `log_max_postings`.
    leave_to_schedule: bool = False
    steps: int | None = None  # files it may write (None: `steps_per_post` per post, see `commit`)
    written: list[str] = field(default_factory=list)

    def read(self) -> Blob | None:
        blob = self.ports.site.get(search.MANIFEST_KEY)
        self.remember(blob)
        return blob

    def remember(self, blob: Blob | None) -> None:
        cache = cache_of(self.ports.site)
        with cache.lock:
            cache.manifest = blob

    def remembered(self) -> Blob | None:
        cache = cache_of(self.ports.site)
        with cache.lock:
            return cache.manifest

    def split(self, run: Run, file: int, shards: int) -> dict[tuple[int, bool], dict[str, str]]:
        """File `file` of `run`, its tokens by their shard among `shards`."""
        key = run.key(file)

        def load() -> bytes:
            blob = self.ports.site.get(key)
            if blob is None:
                raise RuntimeError(f"search index file {key} is missing")
            return blob.body

        low, high = search.hash_range(*run.shard(file))
        first, last = (low * shards) >> 32, (high * shards) >> 32
        within = first if first == last else None
        return cache_of(self.ports.site).split(key, shards, within, load)

    def put(self, key: str, table: Mapping[str, str]) -> None:
        self.writer.put_immutable(key, search.dumps({"t": table}))
        self.written.append(key)

    def commit(self, add: Mapping[int, search.Weights], delete: set[int]) -> bool:
        """Write this batch's postings and deletions and a bounded amount of compaction: one manifest
        write. Returns whether compaction is still owed (`owes`).

        A publish first tries the manifest as this execution environment last read or wrote it,
        which saves a GET: its write is conditional, so it lands only if that is still the
        bucket's. Only a commit that writes no index file tries it: steps planned on a manifest
        another environment has moved on (the schedule's compaction) could read files since
        deleted. Refused, or with steps to take, it reads the manifest and plans again. And a
        manifest that owes compaction is read: the schedule is likely to have moved it on, and
        a refused PUT costs more than the GET it would save."""
        remembered = self.remembered() if self.leave_to_schedule else None
        if remembered is not None and not owes(_manifest(remembered), self.tuning):
            with contextlib.suppress(_Replan):
                owed = self._commit(remembered, add, delete, recalled=True)
                if owed is not None:
                    return owed
        for _ in range(MAX_ATTEMPTS):
            with contextlib.suppress(_Replan):
                owed = self._commit(self.read(), add, delete, recalled=False)
                assert owed is not None
                return owed
        raise RuntimeError(f"{search.MANIFEST_KEY}: its log kept passing its bound under this commit")

    def _commit(
        self, read: Blob | None, add: Mapping[int, search.Weights], delete: set[int], *, recalled: bool
    ) -> bool | None:
        """commit() against `read`; None when `read` is `recalled` and cannot do (see commit)."""
        seen = _manifest(read)
        if self.steps is not None and not (add or delete) and not owes(seen, self.tuning):
            return False  # the schedule with nothing to do: no write (expired deletions wait for one)
        delta = Delta(add, set(delete), int(time.time()), deletes=0)
        planned, _ = apply(seen, delta, self.tuning)
        logged = search.table_postings(planned.log)
        log_full = logged > self.tuning.log_postings
        leaving = self.leave_to_schedule and logged <= self.tuning.log_max_postings
        if recalled and not leaving:
            return None  # it would take steps: planned on the manifest as it is, not as remembered
        if leaving:
            # The count of deferrals bounds publishes that give way while compacting: not this one.
            steps, delta.deferring = 0, None
        elif self.steps is not None:
            steps, delta.deletes = self.steps, self.steps * self.tuning.deletes_per_post
        else:
            giving_way = self.giving_way() if seen.deferred < self.tuning.defer_max else 0
            steps = self.tuning.steps_per_post * (self.posts - giving_way)
            delta.deletes = self.tuning.deletes_per_post * self.posts
            if giving_way:
                owed = bool(planned.jobs) or log_full
                delta.deferring = True if owed and (add or delete) else None
        # With no budget the log stays in the manifest, a post longer, for the schedule or the next
        # batch to flush.
        if steps > 0 and log_full:
            ids = search.table_ids(seen.log) | set(add)
            run = self.flush(planned.log, seen.clock, ids)
            delta.flushed, delta.flushed_ids = run, frozenset(ids)
            steps -= 1
            planned, _ = apply(seen, delta, self.tuning)
        for job in sorted(planned.jobs, key=lambda j: j.output.level):  # small, often-read levels first
            done = job.done
            while steps > 0 and done < job.output.files:
                self.step(planned, job, done)
                done, steps = done + 1, steps - 1
            if done > job.done:
                delta.progress[job.output.id] = (job.done, done)
        outcome: list[tuple[Manifest, list[str]]] = []
        last: list[tuple[Blob | None, bytes | None]] = []  # what `change` was given, and answered

        def change(blob: Blob | None) -> bytes | Keep:
            now = _manifest(blob)
            new, claimed = apply(now, delta, self.tuning)
            if leaving and search.table_postings(new.log) > self.tuning.log_max_postings:
                # Another writer grew the log since the read this commit planned on: plan again,
                # so that this commit flushes it rather than pass the bound.
                raise _Replan
            outcome[:] = [(new, claimed)]
            if replace(new, clock=now.clock).to_bytes() == now.to_bytes():
                last[:] = [(blob, None)]
                return KEEP  # nothing to change
            body = new.to_bytes()
            last[:] = [(blob, body)]
            return body

        self.remember(None)  # until the write is known to have landed
        if recalled:
            assert read is not None
            if self.writer.update_once(search.MANIFEST_KEY, change, remembered=read) is None:
                return None
        else:
            # Written only if no other invocation changed it since this one read it (else read again).
            self.writer.update(search.MANIFEST_KEY, change, read=read)
        self.remember(self._landed(*last[0]) if last else None)
        if not outcome:
            return False
        committed, claimed = outcome[0]
        # Only the runs this invocation wrote files of: naming every file of the index would cost
        # a publish time in proportion to the index's size.
        ours = {key.removeprefix(search.RUN_PREFIX).partition("/")[0] for key in self.written}
        named = {key for r in committed.runs if r.id in ours for key in r.file_keys()}
        named |= {j.output.key(n) for j in committed.jobs if j.output.id in ours for n in range(j.done)}
        # Files of ours a concurrent invocation's manifest made useless, and replaced runs' files.
        for key in [k for k in self.written if k not in named] + claimed:
            self.writer.remove(key)
        return owes(committed, self.tuning)

    def _landed(self, given: Blob | None, body: bytes | None) -> Blob | None:
        """The manifest after the write: as given to the last `change` when that kept it, else the
        body that change answered, with the head the writer knows of it (None: not known)."""
        if body is None:
            return given
        head = self.writer.known.get(search.MANIFEST_KEY)
        if head is None or head.metadata.get(DIGEST) != hashlib.sha256(body).hexdigest():
            return None
        return Blob(body, head.etag, metadata=dict(head.metadata))

    def flush(self, table: Mapping[str, str], since: int, ids: set[int]) -> Run:
        """The log as a run at level 0 (one file), named by its content."""
        body = search.dumps({"t": table})
        postings, short = search.table_postings(table), search.table_postings(table, short=True)
        run = Run(
            search.digest("log", search.VERSION, body.decode()), 1, 0, 0, postings, short, since, min(ids), max(ids)
        )
        self.put(run.key(0), table)
        return run

    def step(self, manifest: Manifest, job: Job, n: int) -> None:
        """Write file n of the job's output: its inputs' postings of the tokens that file holds."""
        out = job.output
        dropped = sorted(d for d, when in manifest.deleted.items() if when.clock <= out.since)

        def drop(low: int, high: int) -> bool:
            at = bisect.bisect_left(dropped, low)
            return at < len(dropped) and dropped[at] <= high

        # Which tokens: all of hash range `shard` of `count`, or only the short ones, or only the others.
        short: bool | None = None if not out.short else n >= out.shards
        shard, count = out.shard(n)
        lists: dict[str, list[str]] = {}
        runs = {r.id: r for r in manifest.runs}
        for name in job.inputs:
            run = runs[name]
            files = [] if short is True and run.short else list(search.shard_range(shard, count, run.shards))
            if run.short and short is not False:
                files += [run.shards + k for k in search.shard_range(shard, count, run.short)]
            for file in files:
                parts = self.split(run, file, count)
                for family in (False, True) if short is None else (short,):
                    for token, encoded in parts.get((shard, family), {}).items():
                        lists.setdefault(token, []).append(encoded)
        table = {}
        for token, found in lists.items():
            merged = search.merge_postings(found, drop if dropped else None)
            if merged:
                table[token] = merged
        self.put(out.key(n), table)


def owes(manifest: Manifest, tuning: Tuning) -> bool:
    """Whether compaction has work in this manifest: a log to flush, jobs, replaced files to delete,
    or a run the policy moves down a level (one level a commit)."""
    if manifest.jobs or manifest.trash or search.table_postings(manifest.log) > tuning.log_postings:
        return True
    planned = replace(manifest, runs=list(manifest.runs), jobs=[], trash=[])
    plan(planned, tuning)
    return bool(planned.jobs) or planned.runs != manifest.runs


def _manifest(blob: Blob | None) -> Manifest:
    return Manifest.from_bytes(blob.body if blob else None)


def _document(doc_id: int, post: Post) -> Document:
    return Document(doc_id, post.url, post.title, post.date, post.text, search.labels(post.categories, post.tags))


def _digest(post: Post) -> str:
    """What the post's document is made of: another document is written only when it changes."""
    fields = [search.TOKENIZER, post.url, post.title, post.date, post.text, search.labels(post.categories, post.tags)]
    return hashlib.sha256(json.dumps(fields, ensure_ascii=False).encode()).hexdigest()[:24]


def run(event: dict[str, Any], ports: Ports) -> Outcome:
    batch = IndexBatch(ports=ports, writer=SiteWriter(ports.site))
    response = process_batch(messages(event), batch.handle)
    batch.finish()
    return _outcome(response, batch.writer)


def compact(ports: Ports, tuning: Tuning | None = None, *, seconds_left: Callable[[], float] | None = None) -> Outcome:
    """The scheduled compaction: the work publishes left, a bounded amount per call. With nothing
    owed it reads the manifest and writes nothing. `seconds_left` (the invocation's remaining time)
    stops it between rounds while a round still fits: what a round claims to delete is dropped
    from the manifest before it is deleted, so a round cut short would leave files behind."""
    tuning = tuning or TUNING
    writer = SiteWriter(ports.site)
    owed = False
    for _ in range(tuning.tick_rounds):
        if seconds_left is not None and seconds_left() < tuning.tick_round_s:
            break
        compactor = Compactor(ports, writer, tuning, posts=0, steps=tuning.tick_steps)
        owed = compactor.commit({}, set())
        if not owed:
            break
    if writer.counts.written or writer.counts.deleted:
        extra = {"written": writer.counts.written, "deleted": writer.counts.deleted, "still_owed": owed}
        log.info("search index compacted", extra=extra)
    return _outcome({}, writer)


def _outcome(response: dict[str, Any], writer: SiteWriter) -> Outcome:
    # Nothing to invalidate: every index file has a new name when its content changes, but the
    # manifest, which lives ten seconds at the edge, as listings do (`writer.LISTING_CACHE`).
    counts = writer.counts
    return Outcome(
        response=response,
        counts={"index_objects_written": counts.written, "index_objects_deleted": counts.deleted},
        changed_keys=list(counts.changed_keys),
    )
