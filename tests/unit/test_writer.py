"""SiteWriter.derive: HEAD, compute from current state, conditional PUT; retry with fresh state on a lost race."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from newsdrop.adapters.memory import MemoryStore
from newsdrop.ports import Blob, Head, KnownHeads, PreconditionFailed
from newsdrop.rendering import writer
from newsdrop.rendering.writer import KEEP, SiteWriter


@dataclass
class Spy:
    """A MemoryStore that records calls and can run a 'concurrent writer' between HEAD and the write."""

    inner: MemoryStore = field(default_factory=MemoryStore)
    puts: list[str] = field(default_factory=list)
    deletes: list[str] = field(default_factory=list)
    gets: list[str] = field(default_factory=list)
    before_write: list[Callable[[], None]] = field(default_factory=list)
    heads: list[str] = field(default_factory=list)

    def _race(self) -> None:
        if self.before_write:
            self.before_write.pop(0)()

    def get(self, key: str, *, max_bytes: int | None = None) -> Blob | None:
        self.gets.append(key)
        return self.inner.get(key, max_bytes=max_bytes)

    def head(self, key: str) -> Head | None:
        self.heads.append(key)
        return self.inner.head(key)

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
        self._race()
        self.puts.append(key)
        return self.inner.put(
            key,
            body,
            content_type=content_type,
            cache_control=cache_control,
            metadata=metadata,
            content_disposition=content_disposition,
            if_match=if_match,
            if_none_match=if_none_match,
        )

    def delete(self, key: str, *, if_match: str | None = None) -> None:
        self._race()
        self.deletes.append(key)
        self.inner.delete(key, if_match=if_match)

    def list_keys(self, prefix: str) -> list[str]:
        return self.inner.list_keys(prefix)


def race(store: Spy, key: str, state: dict[str, str], name: str, newer: str) -> None:
    """Before the store's next write, another function reads newer state (`newer`) and writes `key` first."""

    def concurrent_writer() -> None:
        state[name] = newer
        store.inner.put(key, f"{newer}-by-other".encode(), content_type=writer.content_type(key))

    store.before_write.append(concurrent_writer)


def body_of(store: Spy | MemoryStore, key: str) -> bytes | None:
    blob = (store.inner if isinstance(store, Spy) else store).get(key)
    return None if blob is None else blob.body


def test_new_object_is_written_with_type_cache_and_digest() -> None:
    store = MemoryStore()
    w = SiteWriter(store)
    w.derive("a/index.html", lambda: b"<p>hi</p>")
    blob = store.get("a/index.html")
    assert blob is not None
    assert blob.body == b"<p>hi</p>"
    assert blob.content_type.startswith("text/html")
    assert blob.cache_control == writer.HTML_CACHE
    assert blob.metadata[writer.DIGEST] == hashlib.sha256(b"<p>hi</p>").hexdigest()
    assert w.counts.written == 1
    assert w.counts.changed_keys == ["a/index.html"]


def test_unchanged_content_is_not_rewritten() -> None:
    store = Spy()
    SiteWriter(store).derive("page.html", lambda: b"same")
    assert store.puts == ["page.html"]
    w = SiteWriter(store)
    w.derive("page.html", lambda: b"same")
    assert store.puts == ["page.html"]
    assert w.counts.unchanged == 1
    assert w.counts.written == 0
    assert w.counts.changed_keys == []


def test_changed_content_is_rewritten() -> None:
    store = Spy()
    SiteWriter(store).derive("page.html", lambda: b"one")
    SiteWriter(store).derive("page.html", lambda: b"two")
    assert body_of(store, "page.html") == b"two"
    assert store.puts == ["page.html", "page.html"]


def test_extra_metadata_change_forces_a_write() -> None:
    store = Spy()
    SiteWriter(store).derive("404.html", lambda: b"x", extra={"theme": "1"})
    SiteWriter(store).derive("404.html", lambda: b"x", extra={"theme": "2"})
    assert len(store.puts) == 2
    assert store.inner.objects["404.html"].metadata["theme"] == "2"


def test_object_without_digest_is_rewritten_even_with_same_body() -> None:
    store = Spy()
    store.inner.put("page.html", b"same", content_type="text/html")
    SiteWriter(store).derive("page.html", lambda: b"same")
    assert store.puts == ["page.html"]
    assert writer.DIGEST in store.inner.objects["page.html"].metadata


def test_concurrent_write_between_head_and_put_causes_a_retry_with_fresh_state() -> None:
    store = Spy()
    SiteWriter(store).derive("feed.xml", lambda: b"v1")
    state = {"posts": "v2"}
    race(store, "feed.xml", state, "posts", "v3")
    calls: list[str] = []

    def compute() -> bytes:
        calls.append(state["posts"])
        return state["posts"].encode()

    w = SiteWriter(store)
    w.derive("feed.xml", compute)
    # The first attempt read v2 and lost; the retry read v3 again from state.
    assert calls == ["v2", "v3"]
    assert body_of(store, "feed.xml") == b"v3"
    assert w.counts.retried == 1
    assert w.counts.written == 1


def test_concurrent_create_between_head_and_put_causes_a_retry() -> None:
    store = Spy()
    state = {"v": "mine"}

    def concurrent_writer() -> None:
        state["v"] = "newer"
        store.inner.put("new.html", b"other", content_type="text/html")

    store.before_write.append(concurrent_writer)
    w = SiteWriter(store)
    w.derive("new.html", lambda: state["v"].encode())
    assert body_of(store, "new.html") == b"newer"
    assert w.counts.retried == 1


def test_concurrent_write_with_same_result_ends_unchanged() -> None:
    store = Spy()
    SiteWriter(store).derive("x.html", lambda: b"old")

    def concurrent_writer() -> None:
        SiteWriter(store.inner).derive("x.html", lambda: b"new")

    store.before_write.append(concurrent_writer)
    w = SiteWriter(store)
    w.derive("x.html", lambda: b"new")
    assert body_of(store, "x.html") == b"new"
    assert w.counts.retried == 1
    # Its refused PUT had this very content: the writer cannot tell another's write of it from its
    # own that landed before the SDK's retry was refused, and counts it as written, the safe side
    # (a changed page is invalidated, a new day's sitemap listed).
    assert w.counts.written == 1 and w.counts.unchanged == 0


def test_compute_is_called_after_head() -> None:
    order: list[str] = []
    store = Spy()
    original_head = store.head

    def head(key: str) -> Head | None:
        order.append("head")
        return original_head(key)

    store.head = head  # type: ignore[method-assign]

    def compute() -> bytes:
        order.append("compute")
        return b"x"

    SiteWriter(store).derive("k.html", compute)
    assert order == ["head", "compute"]


def test_none_deletes_an_existing_object() -> None:
    store = Spy()
    SiteWriter(store).derive("gone.html", lambda: b"x")
    w = SiteWriter(store)
    w.derive("gone.html", lambda: None)
    assert body_of(store, "gone.html") is None
    assert w.counts.deleted == 1
    assert w.counts.changed_keys == ["gone.html"]


def test_none_for_an_absent_object_does_nothing() -> None:
    store = Spy()
    w = SiteWriter(store)
    w.derive("never.html", lambda: None)
    assert store.deletes == []
    assert store.puts == []
    assert w.counts.deleted == 0
    assert w.counts.changed_keys == []


def test_concurrent_write_between_head_and_delete_is_not_lost() -> None:
    # Writer A reads the ETag and state "absent"; writer B then reads newer state ("present") and writes.
    # A's stale delete must not win: the object must end up as the newer state says.
    store = Spy()
    SiteWriter(store).derive("page.html", lambda: b"v1")
    state: dict[str, bytes | None] = {"page": None}

    def concurrent_writer() -> None:
        state["page"] = b"v3"
        SiteWriter(store.inner).derive("page.html", lambda: state["page"])

    store.before_write.append(concurrent_writer)
    SiteWriter(store).derive("page.html", lambda: state["page"])
    assert body_of(store, "page.html") == b"v3"


def test_keep_leaves_the_object() -> None:
    store = Spy()
    SiteWriter(store).derive("k.html", lambda: b"owned by someone else")
    w = SiteWriter(store)
    w.derive("k.html", lambda: KEEP)
    w.derive("absent.html", lambda: KEEP)
    assert body_of(store, "k.html") == b"owned by someone else"
    assert body_of(store, "absent.html") is None
    assert store.puts == ["k.html"]
    assert store.deletes == []
    assert w.counts.changed_keys == []


def test_endless_races_give_up_with_an_error() -> None:
    store = Spy()
    SiteWriter(store).derive("hot.html", lambda: b"0")
    counter = iter(range(1, 1000))

    def always_race() -> None:
        store.inner.put("hot.html", str(next(counter)).encode(), content_type="text/html")
        store.before_write.append(always_race)

    store.before_write.append(always_race)
    with pytest.raises(RuntimeError, match=r"hot\.html"):
        SiteWriter(store).derive("hot.html", lambda: b"mine")
    assert len(store.puts) == writer.MAX_ATTEMPTS + 1


def test_put_immutable_creates_once() -> None:
    store = Spy()
    w = SiteWriter(store)
    w.put_immutable("assets/style.abc.css", b"body{}")
    w.put_immutable("assets/style.abc.css", b"body{} /* again */")  # the name says it exists already
    assert (w.counts.written, w.counts.unchanged, w.counts.changed_keys) == (1, 1, ["assets/style.abc.css"])
    assert body_of(store, "assets/style.abc.css") == b"body{}"
    blob = store.inner.get("assets/style.abc.css")
    assert blob is not None
    assert blob.cache_control == writer.IMMUTABLE
    assert blob.content_type.startswith("text/css")


@pytest.mark.parametrize(
    ("key", "prefix"),
    [
        ("index.html", "text/html"),
        ("feed.xml", "application/atom+xml"),
        ("sitemap.xml", "application/xml"),
        ("search/manifest.json", "application/json"),
        ("assets/search.1.js", "text/javascript"),
        ("robots.txt", "text/plain"),
        ("weird.bin", "application/octet-stream"),
    ],
)
def test_content_types(key: str, prefix: str) -> None:
    assert writer.content_type(key).startswith(prefix)


def test_memory_store_conditions() -> None:
    store = MemoryStore()
    store.put("k", b"1", content_type="t")
    etag = store.objects["k"].etag
    with pytest.raises(PreconditionFailed):
        store.put("k", b"2", content_type="t", if_none_match=True)
    with pytest.raises(PreconditionFailed):
        store.put("k", b"2", content_type="t", if_match="not-the-etag")
    with pytest.raises(PreconditionFailed):
        store.put("absent", b"2", content_type="t", if_match=etag)
    store.put("k", b"2", content_type="t", if_match=etag)
    assert store.objects["k"].body == b"2"


# ------------------------------------------------------------------ objects that share their reads


def test_objects_derived_together_read_what_they_share_after_every_head() -> None:
    order: list[str] = []
    store = Spy()
    original_head = store.head

    def head(key: str) -> Head | None:
        order.append(f"head {key}")
        return original_head(key)

    store.head = head  # type: ignore[method-assign]

    def make() -> dict[str, writer.Compute]:
        shared: dict[str, str] = {}

        def read() -> str:
            if not shared:
                order.append("read")
                shared["v"] = "days"
            return shared["v"]

        return {"a.xml": lambda: read().encode(), "b.html": lambda: read().encode()}

    assert SiteWriter(store).derive_together(make) == {"a.xml": True, "b.html": True}
    assert order == ["head a.xml", "head b.html", "read"]


def test_a_lost_race_on_one_object_derived_together_retries_it_with_fresh_reads() -> None:
    store = Spy()
    state = {"days": "1"}

    def concurrent_writer() -> None:  # another batch opens a day and writes the second object first
        state["days"] = "1,2"
        store.inner.put("b.html", b"1,2", content_type="text/html")

    def make() -> dict[str, writer.Compute]:
        seen = state["days"]  # one read per attempt, shared by both
        return {"a.xml": lambda: seen.encode(), "b.html": lambda: seen.encode()}

    store.before_write += [lambda: None, concurrent_writer]  # before a.xml's put, before b.html's put
    w = SiteWriter(store)
    w.derive_together(make)
    assert body_of(store, "b.html") == b"1,2"  # not the older read's "1"
    assert body_of(store, "a.xml") == b"1"  # written before the race: the other batch rewrites it
    assert w.counts.retried == 1


def test_a_fingerprinted_object_is_rendered_only_when_its_inputs_change() -> None:
    store = Spy()
    rendered: list[str] = []

    def answer(inputs: str) -> writer.Compute:
        def render() -> bytes:
            rendered.append(inputs)
            return f"page of {inputs}".encode()

        return lambda: writer.Fingerprinted(inputs, render)

    SiteWriter(store).derive("archive/index.html", answer("days-1"))
    w = SiteWriter(store)
    w.derive("archive/index.html", answer("days-1"))
    assert rendered == ["days-1"] and w.counts.unchanged == 1
    SiteWriter(store).derive("archive/index.html", answer("days-2"))
    assert rendered == ["days-1", "days-2"]
    assert body_of(store, "archive/index.html") == b"page of days-2"
    assert store.inner.objects["archive/index.html"].metadata[writer.INPUTS] == "days-2"


def _append(line: bytes) -> Callable[[Blob | None], bytes]:
    """A change that keeps what the object held and adds a line: a lost update would drop one."""
    return lambda blob: (blob.body if blob else b"") + line


def test_update_writes_from_the_callers_read_with_one_put() -> None:
    store = Spy()
    store.inner.put("search/manifest.json", b"a\n", content_type="application/json")
    read = store.inner.get("search/manifest.json")
    SiteWriter(store).update("search/manifest.json", _append(b"b\n"), read=read)
    assert (store.gets, store.puts) == ([], ["search/manifest.json"])
    assert body_of(store, "search/manifest.json") == b"a\nb\n"


def test_update_reads_again_when_another_writer_came_first() -> None:
    store = Spy()
    store.inner.put("search/manifest.json", b"a\n", content_type="application/json")
    read = store.inner.get("search/manifest.json")
    # Between this writer's read and its write, another one adds its own line.
    store.before_write.append(lambda: store.inner.put("search/manifest.json", b"a\nc\n", content_type="x"))
    w = SiteWriter(store)
    assert w.update("search/manifest.json", _append(b"b\n"), read=read)
    assert body_of(store, "search/manifest.json") == b"a\nc\nb\n"
    assert w.counts.retried == 1 and store.gets == ["search/manifest.json"]


def test_update_creates_only_if_still_absent() -> None:
    store = Spy()
    store.before_write.append(lambda: store.inner.put("search/manifest.json", b"c\n", content_type="x"))
    SiteWriter(store).update("search/manifest.json", _append(b"b\n"), read=None)
    assert body_of(store, "search/manifest.json") == b"c\nb\n"


@dataclass
class Conflicted(MemoryStore):
    """A store whose first create of each key is refused as if another write of it were in flight
    (S3's 409), a write that then never lands."""

    refused: set[str] = field(default_factory=set)

    def put(self, key: str, body: bytes, **options: Any) -> None:
        if options.get("if_none_match") and key not in self.refused:
            self.refused.add(key)
            raise PreconditionFailed(key)
        super().put(key, body, **options)


def test_a_create_refused_for_a_write_that_never_lands_is_tried_again() -> None:
    store = Conflicted()
    assert writer.create_once(store, "posts/a/1.json", b"{}", content_type="application/json")
    assert store.get("posts/a/1.json") is not None
    w = SiteWriter(Conflicted())
    w.put_immutable("search/doc/7.json", b"{}")
    assert w.counts.created_keys == ["search/doc/7.json"]


@dataclass
class LostAnswer(MemoryStore):
    """S3 whose first answer to a PUT is lost: the SDK retries, and the retry is refused (412),
    though the first attempt landed."""

    lost: set[str] = field(default_factory=set)

    def put(self, key: str, body: bytes, **kwargs: Any) -> None:
        super().put(key, body, **kwargs)
        if key not in self.lost:
            self.lost.add(key)
            raise PreconditionFailed(key)


def test_a_write_whose_retry_was_refused_after_it_landed_counts_as_written() -> None:
    store = LostAnswer()
    site = SiteWriter(store)
    assert site.derive("sitemaps/2024-05-20.xml", lambda: b"<urlset/>") is True
    # A new day's sitemap must count as created: the sitemap index is derived again only then.
    assert site.counts.created_keys == ["sitemaps/2024-05-20.xml"] and site.counts.unchanged == 0
    assert site.derive("x.html", lambda: b"v1") and site.derive("x.html", lambda: b"v2")
    assert site.counts.stale_keys == ["x.html"]  # an existing page changed: invalidated, though refused once


def test_a_refused_write_then_met_by_another_writer_s_content_is_not_counted_as_this_writer_s() -> None:
    # This writer's PUT of the page of days-1 is refused: another writer stored the page of days-2
    # first. Read again, this writer's inputs are days-2 too, and the object already holds them:
    # unchanged, for the other writer wrote it; the refused PUT (of days-1) never landed.
    store = Spy()
    key = "archive/index.html"

    def page(days: str) -> writer.Compute:
        return lambda: writer.Fingerprinted(days, lambda: f"page of {days}".encode())

    SiteWriter(store).derive(key, page("days-0"))
    state = {"days": "days-1"}

    def other_writer() -> None:
        state["days"] = "days-2"
        SiteWriter(store.inner).derive(key, page("days-2"))

    store.before_write.append(other_writer)
    w = SiteWriter(store)
    assert w.derive(key, lambda: page(state["days"])()) is True
    assert body_of(store, key) == b"page of days-2"
    assert w.counts.retried == 1
    assert (w.counts.written, w.counts.unchanged) == (0, 1)
    assert w.counts.changed_keys == [] and w.counts.stale_keys == []


# ----------------------------------------------------------------------------- remembered heads
# Writers of one execution environment share what they last wrote or read of each object
# (`known`), so a listing every publish rewrites costs a PUT, not a HEAD and a PUT.


def remembering(key: str, answer: writer.Answer) -> tuple[Spy, KnownHeads]:
    """A store holding `key` as a writer of this execution environment wrote it, and what the
    environment remembers of it (the store's record of HEADs cleared)."""
    store, known = Spy(), KnownHeads()
    SiteWriter(store, known=known).derive(key, lambda: answer)
    store.heads.clear()
    return store, known


def test_a_remembered_head_saves_the_head_of_an_object_written_before() -> None:
    store, known = remembering("index.html", b"one")
    w = SiteWriter(store, known=known)
    w.derive("index.html", lambda: b"two")
    assert store.heads == [] and store.puts == ["index.html", "index.html"]
    assert body_of(store, "index.html") == b"two" and w.counts.written == 1


def test_a_remembered_head_of_an_object_changed_since_loses_its_write_and_reads_afresh() -> None:
    store, known = remembering("feed.xml", b"v1")
    store.inner.put("feed.xml", b"v2-by-another-environment", content_type="application/xml")
    state = {"posts": "v3"}
    calls: list[str] = []

    def compute() -> bytes:
        calls.append(state["posts"])
        return state["posts"].encode()

    w = SiteWriter(store, known=known)
    w.derive("feed.xml", compute)
    # The PUT against the remembered ETag is refused; the retry reads the head and the state afresh.
    assert calls == ["v3", "v3"] and w.counts.retried == 1
    assert body_of(store, "feed.xml") == b"v3"


def test_no_write_is_skipped_on_a_remembered_head_alone() -> None:
    """The object was this content when remembered, then another environment wrote something else
    (from older state): finding nothing to write on the word of the remembered head would leave
    that older content up for good."""
    store, known = remembering("tags/a/index.html", b"new")
    store.inner.put("tags/a/index.html", b"old-by-another", content_type="text/html")
    w = SiteWriter(store, known=known)
    w.derive("tags/a/index.html", lambda: b"new")
    assert body_of(store, "tags/a/index.html") == b"new"
    assert w.counts.written == 1 and w.counts.unchanged == 0


def test_an_object_still_as_remembered_is_left_as_it_is_after_one_head() -> None:
    store, known = remembering("tags/a/index.html", b"same")
    w = SiteWriter(store, known=known)
    w.derive("tags/a/index.html", lambda: b"same")
    assert store.heads == ["tags/a/index.html"] and store.puts == ["tags/a/index.html"]
    assert w.counts.unchanged == 1


def test_a_fingerprinted_object_changed_since_it_was_remembered_is_rendered_again() -> None:
    store, known = Spy(), KnownHeads()
    made = writer.Fingerprinted("days-1", lambda: b"<sitemapindex>1</sitemapindex>")
    SiteWriter(store, known=known).derive("sitemap.xml", lambda: made)
    store.inner.put("sitemap.xml", b"<sitemapindex/>", content_type="application/xml")
    w = SiteWriter(store, known=known)
    w.derive("sitemap.xml", lambda: made)
    assert body_of(store, "sitemap.xml") == b"<sitemapindex>1</sitemapindex>" and w.counts.written == 1


def test_a_remembered_object_deleted_since_is_created_again() -> None:
    store, known = remembering("2024/05/20/index.html", b"day")
    store.inner.delete("2024/05/20/index.html")
    w = SiteWriter(store, known=known)
    w.derive("2024/05/20/index.html", lambda: b"day")
    assert body_of(store, "2024/05/20/index.html") == b"day"
    assert w.counts.created_keys == ["2024/05/20/index.html"]


def test_a_delete_forgets_the_object() -> None:
    store, known = remembering("tags/gone/index.html", b"x")
    SiteWriter(store, known=known).derive("tags/gone/index.html", lambda: None)
    assert "tags/gone/index.html" not in known and body_of(store, "tags/gone/index.html") is None


def test_the_remembered_heads_are_bounded_and_forget_the_least_recently_seen() -> None:
    known = KnownHeads(limit=4)
    w = SiteWriter(MemoryStore(), known=known)
    for key in ("index.html", "a.html", "b.html", "c.html"):
        w.derive(key, lambda key=key: key.encode())
    w.derive("index.html", lambda: b"home, again")  # seen again: the latest now
    w.derive("d.html", lambda: b"d")
    assert len(known) == 4
    assert "index.html" in known and "a.html" not in known and "d.html" in known


def test_an_object_stored_since_with_the_same_body_but_other_metadata_is_written() -> None:
    """The ETag is the body's MD5: the same page stored by another environment with another theme
    stamp has the remembered ETag, and only its metadata tells it apart."""
    store, known = Spy(), KnownHeads()
    SiteWriter(store, known=known).derive("404.html", lambda: b"not found", extra={"theme": "1"})
    SiteWriter(store.inner).derive("404.html", lambda: b"not found", extra={"theme": "2"})
    w = SiteWriter(store, known=known)
    w.derive("404.html", lambda: b"not found", extra={"theme": "1"})
    assert store.inner.objects["404.html"].metadata["theme"] == "1"


def test_a_remembered_object_gone_since_is_not_counted_as_deleted() -> None:
    store, known = remembering("tags/x/index.html", b"x")
    store.inner.delete("tags/x/index.html")
    w = SiteWriter(store, known=known)
    w.derive("tags/x/index.html", lambda: None)
    assert w.counts.deleted_keys == [] and w.counts.stale_keys == [] and store.deletes == []


def test_a_remembered_object_changed_since_is_deleted_after_a_fresh_head() -> None:
    store, known = remembering("x.html", b"x")
    store.inner.put("x.html", b"changed by another", content_type="text/html")
    w = SiteWriter(store, known=known)
    w.derive("x.html", lambda: None)
    assert body_of(store, "x.html") is None and w.counts.deleted_keys == ["x.html"]


def test_a_write_whose_store_tells_no_etag_leaves_nothing_remembered() -> None:
    @dataclass
    class Silent(MemoryStore):
        def put(self, key: str, body: bytes, **options: Any) -> None:  # type: ignore[override]
            super().put(key, body, **options)

    known = KnownHeads()
    SiteWriter(Silent(), known=known).derive("index.html", lambda: b"home")
    assert "index.html" not in known


def test_together_a_remembered_object_that_lost_its_race_is_derived_again_alone() -> None:
    store, known = remembering("2024/05/20/index.html", b"day v1")
    state = {"v": "v2"}
    race(store, "2024/05/20/index.html", state, "v", "v3")
    computed: list[str] = []

    def make() -> dict[str, writer.Compute]:
        def page() -> bytes:
            computed.append("page")
            return f"day {state['v']}".encode()

        def sitemap() -> bytes:
            computed.append("sitemap")
            return f"<urlset>{state['v']}</urlset>".encode()

        return {"2024/05/20/index.html": page, "sitemaps/2024-05-20.xml": sitemap}

    w = SiteWriter(store, known=known)
    w.derive_together(make)
    assert computed == ["page", "sitemap", "page"] and w.counts.retried == 1
    assert body_of(store, "2024/05/20/index.html") == b"day v3"
    assert body_of(store, "sitemaps/2024-05-20.xml") == b"<urlset>v3</urlset>"  # computed after the race


def test_an_object_expected_new_is_created_without_a_head() -> None:
    store = Spy()
    w = SiteWriter(store)
    w.derive("a.html", lambda: b"page", new=True)
    assert store.heads == [] and store.puts == ["a.html"]
    assert body_of(store, "a.html") == b"page" and w.counts.created_keys == ["a.html"]


def test_an_object_expected_new_that_exists_is_written_against_a_fresh_head() -> None:
    store = Spy()
    store.inner.put("a.html", b"old", content_type="text/html")
    w = SiteWriter(store)
    w.derive("a.html", lambda: b"new", new=True)
    # The create is refused, the retry reads the head and replaces the object: an update, to invalidate.
    assert store.heads == ["a.html"] and body_of(store, "a.html") == b"new"
    assert w.counts.written == 1 and w.counts.retried == 1 and w.counts.stale_keys == ["a.html"]


def test_an_object_expected_new_already_right_is_left_as_it_is() -> None:
    store = Spy()
    SiteWriter(store.inner).derive("a.html", lambda: b"same")
    w = SiteWriter(store)
    w.derive("a.html", lambda: b"same", new=True)
    assert body_of(store, "a.html") == b"same" and store.puts == ["a.html"] and w.counts.stale_keys == []
    # The refused create cannot be told from this writer's own PUT landed and retried by the SDK, so it
    # counts as written (render then derives it again if the catalog changed meanwhile): the safe side.
    assert w.counts.written == 1 and w.counts.changed_keys == ["a.html"]


def test_absence_expected_is_no_reason_to_leave_an_object_that_must_go() -> None:
    """Expecting an object to be new says nothing of whether it exists: deciding there is nothing to
    delete takes a HEAD, or a page that must go (its post was deleted meanwhile) would stay."""
    store = Spy()
    store.inner.put("a.html", b"page of a post deleted since", content_type="text/html")
    w = SiteWriter(store)
    w.derive("a.html", lambda: None, new=True)
    assert store.heads == ["a.html"] and body_of(store, "a.html") is None and w.counts.deleted == 1


def test_what_the_writer_knows_of_an_object_wins_over_expecting_it_new() -> None:
    store, known = remembering("a.html", b"one")
    w = SiteWriter(store, known=known)
    w.derive("a.html", lambda: b"two", new=True)
    # Written against the remembered ETag (an If-None-Match would be refused), in one request.
    assert store.heads == [] and store.puts == ["a.html", "a.html"] and w.counts.retried == 0
