"""What a catalog commit changes, independent of where the catalog lives.

Both catalog adapters apply the same plan, so the memory catalog of `newsdrop build`
and DynamoDB agree on every listing.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from newsdrop.paths import key_for_url
from newsdrop.ports import PostRecord


def url_claim(url: str) -> str:
    """What a post claims: the site object its URL is served from (`/a/b` and `/a/b.html` are one)."""
    return key_for_url(url)


# DynamoDB's limit on the items of one transaction. A commit's transaction grows with the listings
# the post leaves and joins and the earlier URLs it starts or stops redirecting from.
MAX_TRANSACTION_ITEMS = 100


@dataclass(frozen=True, slots=True)
class Plan:
    put: list[tuple[str, str]]  # (list id, sort key) entries to write with the record's entry
    delete: list[tuple[str, str]]  # (list id, sort key) entries to remove
    claim_key: str
    release_key: str
    redirect_put: list[str]  # claims of the earlier URLs the post redirects from (each put again)
    redirect_delete: list[str]  # and of those it stops redirecting from

    def items(self, *, settings_checked: bool) -> int:
        """The transaction's items: the record, these changes, the count of changes and the settings."""
        changes = len(self.put) + len(self.delete) + len(self.redirect_put) + len(self.redirect_delete)
        return 2 + bool(self.claim_key) + bool(self.release_key) + changes + settings_checked


def redirect_claims(record: PostRecord | None) -> set[str]:
    """What a post redirects from: the claims of its earlier URLs, while it is live."""
    if record is None or not record.live:
        return set()
    return {url_claim(alias) for alias in record.aliases}


def plan(record: PostRecord, previous: PostRecord | None) -> Plan:
    new = {(list_id, record.sort) for list_id in record.lists} if record.live else set()
    old = {(list_id, previous.sort) for list_id in previous.lists} if previous and previous.live else set()
    claim = url_claim(record.url) if record.live else ""
    previous_claim = url_claim(previous.url) if previous and previous.live else ""
    release = previous_claim if previous_claim != claim else ""
    redirects, redirected = redirect_claims(record), redirect_claims(previous)
    return Plan(
        put=sorted(new),
        delete=sorted(old - new),
        claim_key=claim,
        release_key=release,
        # Every claim of the record, not only its new ones: a Put that changes nothing costs one item,
        # and a catalog written before claims existed gains them as its posts are committed again.
        redirect_put=sorted(redirects),
        redirect_delete=sorted(redirected - redirects),
    )


def too_large(change: Plan, *, settings_checked: bool) -> str:
    """Why the change cannot be one transaction ("" when it can): both catalogs refuse it alike."""
    items = change.items(settings_checked=settings_checked)
    if items <= MAX_TRANSACTION_ITEMS:
        return ""
    return (
        f"this change touches {items} catalog items at once (listings it leaves and joins, earlier URLs);"
        f" at most {MAX_TRANSACTION_ITEMS}: publish it with fewer categories, tags or redirect_from URLs"
    )


# Earlier URLs that keep redirecting to a post: room for all of its `redirect_from:` (at most 20,
# and the address Jekyll gave it), which are never dropped; the oldest addresses it moved from are.
MAX_ALIASES = 24


def finalise(record: PostRecord, previous: PostRecord | None) -> PostRecord:
    """Record what this change touches, so that a redelivered event can be rebuilt from the catalog
    alone, and carry the post's earlier URLs forward (a published URL that changes keeps redirecting)."""
    old_lists = list(previous.lists) if previous and previous.live else []
    touched = tuple(dict.fromkeys([*old_lists, *record.lists]))
    previous_url = previous.url if previous and previous.live else ""
    listed = list(record.aliases)  # the post's own: `redirect_from`, kept while it lists them
    # The addresses the post moved from keep redirecting to it; one it only listed, and lists no
    # more, stops, as in a fresh build, and goes to any other post that lists it. (A record from
    # before `listed` was kept counts every earlier URL as one it moved from.)
    previous_listed = tuple(previous.listed) if previous else ()
    moved_from = [a for a in (previous.aliases if previous else ()) if a not in previous_listed]
    if previous_url and record.url and url_claim(previous_url) != url_claim(record.url):
        moved_from.append(previous_url)
    unlisted = [a for a in previous_listed if a not in listed and a not in moved_from]
    aliases = [a for a in moved_from if a not in listed]
    aliases += listed  # last, so that trimming drops the oldest addresses the post moved from first
    if record.url and record.live:
        # The post holds that URL now, so it no longer redirects from it. A post that is not live
        # holds none: its earlier URLs stay listed, so that their redirects (to the address it left)
        # are taken down with its pages, and come back should it be published again.
        aliases = [a for a in aliases if url_claim(a) != url_claim(record.url)]
    aliases = list(dict.fromkeys(aliases))
    # Those dropped are named in the change's event, so that their redirects are taken down too.
    released = tuple(dict.fromkeys([*aliases[:-MAX_ALIASES], *unlisted]))
    aliases = aliases[-MAX_ALIASES:]
    return replace(
        record,
        touched=touched,
        previous_url=previous_url,
        aliases=tuple(aliases),
        released=released,
        listed=tuple(a for a in listed if a not in moved_from),
    )
