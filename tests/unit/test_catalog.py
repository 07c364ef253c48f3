"""Catalog commits: plan/finalise, and MemoryCatalog's ordering, URL claims and listing entries."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from hypothesis import example, given
from hypothesis import strategies as st

from newsdrop import catalog, model, paths
from newsdrop.adapters.memory import MemoryCatalog
from newsdrop.model import Entry, Post
from newsdrop.ports import ConfigRecord, PostRecord, normalise_sequencer

KEY = "_posts/2021-12-08-a.md"
OTHER = "_posts/2021-12-08-b.md"


def seq(n: int) -> str:
    return normalise_sequencer(f"{n:X}")


def live(
    key: str = KEY,
    n: int = 1,
    *,
    url: str = "/news/2021/12/08/a.html",
    date: str = "2021-12-08T10:00:00+08:00",
    title: str = "A",
    categories: tuple[str, ...] = ("news",),
    tags: tuple[str, ...] = ("t1",),
) -> PostRecord:
    post = Post(
        key=key,
        title=title,
        date=date,
        slug=key.rsplit("/", 1)[-1],
        url=url,
        categories=list(categories),
        tags=list(tags),
    )
    return PostRecord(
        key=key,
        sequencer=seq(n),
        live=True,
        url=url,
        sort=model.sort_key(date, key),
        artifact=f"posts/{key}/{n}.json",
        lists=tuple(model.lists_of(post)),
        entry=Entry.of(post),
    )


def tombstone(key: str = KEY, n: int = 2) -> PostRecord:
    return PostRecord(key=key, sequencer=seq(n), live=False)


def keys_in(cat: MemoryCatalog, list_id: str) -> list[str]:
    return [e.key for e in cat.entries(list_id)]


def all_list_ids(cat: MemoryCatalog) -> set[str]:
    return {list_id for list_id, entries in cat.lists.items() if entries}


# --- plan / finalise


def test_plan_for_a_new_post_puts_every_listing_and_claims_the_url() -> None:
    record = live()
    change = catalog.plan(record, None)
    assert change.put == sorted((list_id, record.sort) for list_id in record.lists)
    assert change.delete == []
    assert change.claim_key == paths.key_for_url(record.url)
    assert change.release_key == ""


def test_plan_for_a_moved_post_deletes_old_entries_and_releases_the_old_url() -> None:
    old = live(date="2021-12-08T10:00:00+08:00", categories=("news",), tags=("t1",))
    new = live(
        n=2, url="/markets/2021/12/09/a.html", date="2021-12-09T10:00:00+08:00", categories=("markets",), tags=()
    )
    change = catalog.plan(new, old)
    assert set(change.put) == {(list_id, new.sort) for list_id in new.lists}
    assert set(change.delete) == {(list_id, old.sort) for list_id in old.lists}
    assert change.claim_key == paths.key_for_url(new.url)
    assert change.release_key == paths.key_for_url(old.url)


def test_plan_for_an_unmoved_post_deletes_nothing_and_releases_nothing() -> None:
    old = live(title="Old")
    new = live(n=2, title="New")
    change = catalog.plan(new, old)
    assert change.delete == []
    assert change.release_key == ""
    assert set(change.put) == {(list_id, new.sort) for list_id in new.lists}


def test_plan_for_a_tombstone_removes_everything() -> None:
    old = live()
    change = catalog.plan(tombstone(), old)
    assert change.put == []
    assert set(change.delete) == {(list_id, old.sort) for list_id in old.lists}
    assert change.claim_key == ""
    assert change.release_key == paths.key_for_url(old.url)


def test_plan_after_a_tombstone_touches_nothing_old() -> None:
    change = catalog.plan(live(n=3), tombstone(n=2))
    assert change.delete == []
    assert change.release_key == ""


def test_finalise_records_touched_lists_and_previous_url() -> None:
    old = live(tags=("t1", "t2"))
    new = live(n=2, url="/x/2021/12/08/a.html", categories=("x",), tags=("t2", "t3"))
    done = catalog.finalise(new, old)
    assert set(done.touched) == set(old.lists) | set(new.lists)
    assert len(done.touched) == len(set(done.touched))
    assert done.previous_url == old.url
    assert done.sequencer == new.sequencer
    assert done.lists == new.lists


def test_finalise_of_a_tombstone_touches_the_old_lists() -> None:
    old = live()
    done = catalog.finalise(tombstone(), old)
    assert set(done.touched) == set(old.lists)
    assert done.previous_url == old.url


def test_finalise_of_a_first_post() -> None:
    done = catalog.finalise(live(), None)
    assert list(done.touched) == list(live().lists)
    assert done.previous_url == ""


def test_trimming_earlier_urls_drops_the_oldest_moved_from_addresses_never_redirect_from() -> None:
    # 10 addresses moved from, the one left now, and 20 `redirect_from`: 31, of which MAX_ALIASES
    # (24) are kept. The 7 dropped are the oldest moved-from ones; every listed URL stays.
    moved = tuple(f"/moved/{n}.html" for n in range(10))
    listed = tuple(f"/listed/{n}.html" for n in range(20))
    old = replace(live(url="/news/2021/12/08/a.html"), aliases=moved)
    new = replace(live(n=2, url="/x/2021/12/08/a.html"), aliases=listed)
    done = catalog.finalise(new, old)
    assert catalog.MAX_ALIASES == 24
    assert done.aliases == (*moved[7:], "/news/2021/12/08/a.html", *listed)
    assert done.released == moved[:7]
    assert done.listed == listed


def test_an_earlier_url_serving_the_post_s_own_page_is_no_alias() -> None:
    # The post moved from /x/a.html and back to /x/a: one page, one claim (`x/a.html`), so that
    # address no longer redirects; the one it left, /y/a.html, does.
    old = replace(live(url="/y/a.html"), aliases=("/x/a.html",))
    done = catalog.finalise(live(n=2, url="/x/a"), old)
    assert done.aliases == ("/y/a.html",)
    # Nor does a `redirect_from` naming the post's page without its extension.
    listed = catalog.finalise(replace(live(url="/x/a.html"), aliases=("/x/a", "/old.html")), None)
    assert listed.aliases == ("/old.html",)


# --- MemoryCatalog.commit ordering


def test_first_commit_applies() -> None:
    cat = MemoryCatalog()
    result = cat.commit(live())
    assert result.status == "applied"
    assert result.current is not None
    assert list(result.current.touched) == list(live().lists)
    assert cat.get_post(KEY) == result.current
    assert cat.url_owner(live().url) == KEY


def test_newer_sequencer_applies() -> None:
    cat = MemoryCatalog()
    cat.commit(live(n=1, title="Old"))
    result = cat.commit(live(n=2, title="New"))
    assert result.status == "applied"
    assert [e.title for e in cat.entries(model.ALL)] == ["New"]


def test_equal_sequencer_is_a_duplicate_and_changes_nothing() -> None:
    cat = MemoryCatalog()
    first = cat.commit(live(n=5, title="First")).current
    result = cat.commit(live(n=5, title="Second"))
    assert result.status == "duplicate"
    assert result.current == first
    assert [e.title for e in cat.entries(model.ALL)] == ["First"]


def test_older_sequencer_is_stale_and_changes_nothing() -> None:
    cat = MemoryCatalog()
    cat.commit(live(n=5, title="Newer"))
    result = cat.commit(live(n=4, title="Older", url="/elsewhere.html"))
    assert result.status == "stale"
    assert result.current is not None
    assert result.current.sequencer == seq(5)
    assert [e.title for e in cat.entries(model.ALL)] == ["Newer"]
    assert cat.url_owner("/elsewhere.html") is None


def test_stale_tombstone_does_not_remove_a_newer_post() -> None:
    cat = MemoryCatalog()
    cat.commit(live(n=5))
    assert cat.commit(tombstone(n=3)).status == "stale"
    assert keys_in(cat, model.ALL) == [KEY]


def test_sequencers_of_different_lengths_compare_as_numbers() -> None:
    # S3 sequencers are hex strings whose length may differ; normalisation pads them to one width.
    cat = MemoryCatalog()
    cat.commit(PostRecord(key=KEY, sequencer=normalise_sequencer("FF"), live=False))
    result = cat.commit(live(n=0x100))
    assert result.status == "applied"


def test_normalise_sequencer_orders_like_the_numbers() -> None:
    values = [0x9, 0xA, 0xF, 0x10, 0xFF, 0x100, 0x0062E1F4B7A1B2C3D4]
    as_text = [normalise_sequencer(f"{v:x}") for v in values]
    assert as_text == sorted(as_text)
    assert normalise_sequencer(" 00ab ") == normalise_sequencer("AB")


# --- URL claims


def test_url_claimed_by_another_key_is_url_taken() -> None:
    cat = MemoryCatalog()
    cat.commit(live(KEY, 1, url="/same.html"))
    result = cat.commit(live(OTHER, 2, url="/same.html", title="B"))
    assert result.status == "url_taken"
    assert result.url_owner == KEY
    assert cat.get_post(OTHER) is None
    assert cat.url_owner("/same.html") == KEY
    assert keys_in(cat, model.ALL) == [KEY]


def test_url_taken_leaves_the_losers_previous_version_in_place() -> None:
    cat = MemoryCatalog()
    cat.commit(live(KEY, 1, url="/a.html"))
    cat.commit(live(OTHER, 1, url="/b.html", title="B1"))
    result = cat.commit(live(OTHER, 2, url="/a.html", title="B2"))
    assert result.status == "url_taken"
    assert cat.url_owner("/b.html") == OTHER
    assert [e.title for e in cat.entries(model.ALL) if e.key == OTHER] == ["B1"]


def test_same_key_may_keep_its_url() -> None:
    cat = MemoryCatalog()
    cat.commit(live(n=1))
    assert cat.commit(live(n=2, title="again")).status == "applied"
    assert cat.url_owner(live().url) == KEY


def test_changed_url_releases_the_old_one_for_others() -> None:
    cat = MemoryCatalog()
    cat.commit(live(KEY, 1, url="/old.html"))
    cat.commit(live(KEY, 2, url="/new.html"))
    assert cat.url_owner("/old.html") is None
    assert cat.url_owner("/new.html") == KEY
    assert cat.commit(live(OTHER, 3, url="/old.html")).status == "applied"
    assert cat.url_owner("/old.html") == OTHER


def test_tombstone_releases_the_url() -> None:
    cat = MemoryCatalog()
    cat.commit(live(KEY, 1, url="/same.html"))
    result = cat.commit(tombstone(KEY, 2))
    assert result.status == "applied"
    assert result.current is not None
    assert result.current.previous_url == "/same.html"
    assert cat.url_owner("/same.html") is None
    assert cat.commit(live(OTHER, 3, url="/same.html")).status == "applied"


# --- listing entries


def test_entries_are_newest_first_with_a_limit() -> None:
    cat = MemoryCatalog()
    for i, day in enumerate(["2021-12-07", "2021-12-09", "2021-12-08"]):
        key = f"_posts/{day}-p.md"
        cat.commit(live(key, i + 1, url=f"/{day}.html", date=f"{day}T10:00:00+08:00"))
    assert keys_in(cat, model.ALL) == ["_posts/2021-12-09-p.md", "_posts/2021-12-08-p.md", "_posts/2021-12-07-p.md"]
    assert [e.key for e in cat.entries(model.ALL, limit=2)] == keys_in(cat, model.ALL)[:2]


def test_entries_are_ordered_by_instant_not_by_offset() -> None:
    cat = MemoryCatalog()
    # 09:00 +08:00 is 01:00 UTC; 02:00 +00:00 is later although its wall clock is earlier.
    cat.commit(live(KEY, 1, url="/a.html", date="2021-12-08T09:00:00+08:00"))
    cat.commit(live(OTHER, 2, url="/b.html", date="2021-12-08T02:00:00+00:00"))
    assert keys_in(cat, model.ALL) == [OTHER, KEY]


def test_new_post_appears_on_all_its_listings() -> None:
    cat = MemoryCatalog()
    cat.commit(live(categories=("News",), tags=("t1", "红")))
    assert all_list_ids(cat) == {model.ALL, model.HOME, "day:2021-12-08", "cat:news", "tag:t1", "tag:红"}
    for list_id in all_list_ids(cat):
        assert keys_in(cat, list_id) == [KEY]


def test_date_change_moves_the_day_entry() -> None:
    cat = MemoryCatalog()
    cat.commit(live(n=1, date="2021-12-08T10:00:00+08:00"))
    cat.commit(live(n=2, date="2021-12-10T10:00:00+08:00"))
    assert keys_in(cat, "day:2021-12-08") == []
    assert keys_in(cat, "day:2021-12-10") == [KEY]
    assert len(cat.entries(model.ALL)) == 1
    assert cat.entries(model.ALL)[0].date == "2021-12-10T10:00:00+08:00"


def test_time_change_on_the_same_day_leaves_one_entry() -> None:
    cat = MemoryCatalog()
    cat.commit(live(n=1, date="2021-12-08T10:00:00+08:00"))
    cat.commit(live(n=2, date="2021-12-08T11:00:00+08:00"))
    assert len(cat.entries("day:2021-12-08")) == 1
    assert len(cat.entries("cat:news")) == 1


def test_tag_and_category_changes_move_entries() -> None:
    cat = MemoryCatalog()
    cat.commit(live(n=1, categories=("news",), tags=("a", "b")))
    cat.commit(live(n=2, categories=("markets",), tags=("b", "c")))
    assert keys_in(cat, "cat:news") == []
    assert keys_in(cat, "tag:a") == []
    assert keys_in(cat, "cat:markets") == [KEY]
    assert keys_in(cat, "tag:b") == [KEY]
    assert keys_in(cat, "tag:c") == [KEY]
    assert all_list_ids(cat) == {model.ALL, model.HOME, "day:2021-12-08", "cat:markets", "tag:b", "tag:c"}


def test_title_change_updates_the_entry_everywhere() -> None:
    cat = MemoryCatalog()
    cat.commit(live(n=1, title="Old"))
    cat.commit(live(n=2, title="New"))
    assert all_list_ids(cat) >= {model.ALL, model.HOME, "day:2021-12-08", "cat:news"}
    for list_id in all_list_ids(cat):
        assert [e.title for e in cat.entries(list_id)] == ["New"]


def test_tombstone_removes_every_entry() -> None:
    cat = MemoryCatalog()
    cat.commit(live(OTHER, 1, url="/b.html", tags=("t1",)))
    cat.commit(live(KEY, 2, tags=("t1", "t2")))
    result = cat.commit(tombstone(KEY, 3))
    assert result.status == "applied"
    assert result.current is not None
    assert not result.current.live
    assert set(result.current.touched) == set(live(tags=("t1", "t2")).lists)
    for list_id in cat.lists:
        assert KEY not in keys_in(cat, list_id)
    assert keys_in(cat, "tag:t1") == [OTHER]


def test_tombstone_for_an_unknown_key_applies_and_touches_nothing() -> None:
    cat = MemoryCatalog()
    result = cat.commit(tombstone())
    assert result.status == "applied"
    assert result.current is not None
    assert list(result.current.touched) == []
    assert all_list_ids(cat) == set()


def test_repost_after_tombstone() -> None:
    cat = MemoryCatalog()
    cat.commit(live(n=1))
    cat.commit(tombstone(n=2))
    assert cat.commit(live(n=3)).status == "applied"
    assert keys_in(cat, model.ALL) == [KEY]
    assert cat.url_owner(live().url) == KEY


def test_final_state_does_not_depend_on_history() -> None:
    final = live(n=9, url="/z.html", date="2021-11-01T08:00:00+08:00", categories=("z",), tags=("q",), title="Z")
    replayed = MemoryCatalog()
    replayed.commit(live(n=1))
    replayed.commit(live(n=2, url="/y.html", date="2021-12-20T08:00:00+08:00", categories=("y",), tags=("p",)))
    replayed.commit(tombstone(n=3))
    replayed.commit(live(n=4, tags=("r", "s")))
    replayed.commit(final)
    fresh = MemoryCatalog()
    fresh.commit(final)
    assert all_list_ids(replayed) == all_list_ids(fresh)
    for list_id in all_list_ids(fresh):
        assert replayed.entries(list_id) == fresh.entries(list_id)
    assert replayed.urls == fresh.urls


# --- site configuration


def test_settings_change_only_from_the_generation_they_were_read_at() -> None:
    cat = MemoryCatalog()
    assert not cat.put_config(ConfigRecord(2, model.SiteConfig(title="skips the first")))
    assert cat.put_config(ConfigRecord(1, model.SiteConfig(title="one")))
    assert not cat.put_config(ConfigRecord(1, model.SiteConfig(title="read the same generation, lost")))
    assert cat.put_config(ConfigRecord(2, model.SiteConfig(title="two"), {"_config.yml": seq(9)}))
    stored = cat.get_config()
    assert stored is not None
    assert (stored.generation, stored.config.title, dict(stored.sources)) == (2, "two", {"_config.yml": seq(9)})


def test_a_post_read_under_older_settings_is_not_committed() -> None:
    cat = MemoryCatalog()
    assert cat.commit(live(n=1), generation=0).status == "applied"
    assert cat.put_config(ConfigRecord(1, model.SiteConfig(title="new")))
    result = cat.commit(live(n=2), generation=0)
    assert result.status == "config_changed"
    stored = cat.get_post(KEY)
    assert stored is not None
    assert stored.sequencer == seq(1)
    assert cat.commit(live(n=2), generation=1).status == "applied"


# Every date a post may have (a year from 1000 to 9998 in the site's zone), at any offset.
instants = st.builds(
    lambda when, minutes: when.replace(tzinfo=dt.timezone(dt.timedelta(minutes=minutes))),
    st.datetimes(min_value=dt.datetime(1000, 1, 1), max_value=dt.datetime(9998, 12, 31, 23, 59, 59)),
    st.integers(min_value=-14 * 60, max_value=14 * 60),
)


EAST = dt.timezone(dt.timedelta(hours=8))


@given(instants, instants)
@example(dt.datetime(1000, 1, 1, 5, tzinfo=EAST), dt.datetime(2024, 5, 20, 10, tzinfo=EAST))
def test_listing_order_as_text_is_the_order_in_time(a: dt.datetime, b: dt.datetime) -> None:
    # A listing is a DynamoDB Query ordered by the sort key as text: it must order the instants.
    key_a, key_b = model.sort_key(a.isoformat(), "_posts/a.md"), model.sort_key(b.isoformat(), "_posts/b.md")
    if a != b:
        assert (key_a < key_b) == (a < b), (key_a, key_b)


# --- the catalog's limits at their documented values (README: 100 transaction items, 24 earlier URLs)


def _plan_of(changes: int) -> catalog.Plan:
    """A plan with `changes` listing entries to put, and no URL to claim or release."""
    entries = [(f"tag:t{i}", "2021-12-08#k") for i in range(changes)]
    return catalog.Plan(put=entries, delete=[], claim_key="", release_key="", redirect_put=[], redirect_delete=[])


def test_a_change_of_100_transaction_items_fits_and_one_of_101_is_refused() -> None:
    # The record, the count of changes and the settings item are three of the 100.
    at, past = _plan_of(97), _plan_of(98)
    assert at.items(settings_checked=True) == 100 and past.items(settings_checked=True) == 101
    assert catalog.too_large(at, settings_checked=True) == ""
    reason = catalog.too_large(past, settings_checked=True)
    assert reason.startswith("this change touches 101 catalog items at once") and "at most 100:" in reason


def test_a_post_keeps_24_earlier_urls_and_a_25th_drops_the_oldest() -> None:
    def moved(earlier: int) -> PostRecord:
        # A post with `earlier` addresses it moved from moves again: the one it leaves is one more.
        old = replace(live(url="/news/2021/12/08/a.html"), aliases=tuple(f"/m/{n}.html" for n in range(earlier - 1)))
        return catalog.finalise(live(n=2, url="/x/2021/12/08/a.html"), old)

    kept = moved(24)
    assert len(kept.aliases) == 24 and kept.aliases[0] == "/m/0.html" and kept.released == ()
    trimmed = moved(25)
    assert len(trimmed.aliases) == 24 and trimmed.released == ("/m/0.html",)
    assert trimmed.aliases[-1] == "/news/2021/12/08/a.html"
