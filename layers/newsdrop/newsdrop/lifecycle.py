"""Where a post stands at a given instant: draft, scheduled, on the front pages, or archived.

A post's phase is a pure function of the post, the site settings and the time, so the
catalog can order its records by (source version, settings generation, phase): time only
moves a post forward through SCHEDULED -> FRONT -> ARCHIVED, and each step is made by a
one-time schedule at `next_change`, never by scanning the catalog.
"""

from __future__ import annotations

import datetime as dt
from enum import IntEnum

from newsdrop import model
from newsdrop.model import Post, SiteConfig


class Phase(IntEnum):
    DRAFT = 0  # `published: false`: on no public page
    SCHEDULED = 1  # dated in the future: published at its date
    FRONT = 2  # published, on the home and section front pages
    ARCHIVED = 3  # published, expired from the front pages: date archives, feed, sitemaps, search

    @property
    def public(self) -> bool:
        return self >= Phase.FRONT


def front_until(post: Post, config: SiteConfig) -> dt.datetime | None:
    """When the post leaves the front pages: its own `expires:`, or the site's `front_page_days`."""
    ends = []
    if post.expires:
        ends.append(dt.datetime.fromisoformat(post.expires))
    if config.front_page_days > 0:
        ends.append(post.when + dt.timedelta(days=config.front_page_days))
    return min(ends) if ends else None


def phase(post: Post, config: SiteConfig, now: dt.datetime) -> Phase:
    if not post.published:
        return Phase.DRAFT
    if now < post.when:
        return Phase.SCHEDULED
    until = front_until(post, config)
    if until is not None and now >= until:
        return Phase.ARCHIVED
    return Phase.FRONT


def next_change(post: Post, config: SiteConfig, current: Phase) -> dt.datetime | None:
    """The next instant at which the post's phase (`current`, now) changes by itself, if any."""
    if current is Phase.SCHEDULED:
        return post.when
    if current is Phase.FRONT:
        return front_until(post, config)
    return None


def lists(post: Post, current: Phase) -> list[str]:
    if not current.public:
        return []
    return model.lists_of(post, front=current is Phase.FRONT)
