"""Every kind of page, rendered from sample posts: how a template override is tried out before it
is accepted, through the same page functions the site is rendered with.

A template is a program whose cost may grow with what it renders (`{% for c in post.text %}` over a
post's whole text): the samples are as large as the limits let a site's own be, so that an override
which renders them within the trial's time and memory renders any page of the site within them. The
sample post has the longest title, the most and longest labels and the longest text a post can
have; its day holds as many posts as a day's page lists; the settings list the most posts they can.
"""

from __future__ import annotations

import dataclasses
import json
import sys

from newsdrop import markup, model, posts
from newsdrop.adapters.memory import MemoryCatalog, MemoryStore
from newsdrop.model import Entry, Post, SiteConfig
from newsdrop.ports import DEFAULT_MAX_POST_BYTES, PostRecord
from newsdrop.rendering import isolated, pages, urls
from newsdrop.rendering.writer import Fingerprinted

_TEXT = ("正文 body text，样例。" * (DEFAULT_MAX_POST_BYTES // 8))[:DEFAULT_MAX_POST_BYTES]
SAMPLE = Post(
    key="_posts/2024-05-20-sample.md",
    title=("样例Sample" * posts.MAX_TITLE_CHARS)[: posts.MAX_TITLE_CHARS],
    date="2024-05-20T23:59:59+08:00",  # the newest of its day: first on every listing
    slug="sample",
    url="/news/2024/05/20/sample.html",
    categories=["news"] + [f"分类{n:02d}".ljust(posts.MAX_LABEL_CHARS, "c") for n in range(1, posts.MAX_LABELS)],
    tags=[f"样例{n:02d}".ljust(posts.MAX_LABEL_CHARS, "t") for n in range(posts.MAX_LABELS)],
    body_html=f"<p>{_TEXT}</p>",
    text=_TEXT,
    excerpt=markup.excerpt(_TEXT),
)


def _others() -> list[Post]:
    """The rest of the sample day's posts, small ones: the size that matters here is how many."""
    day = SAMPLE.date[:10]
    return [
        dataclasses.replace(
            SAMPLE,
            key=f"_posts/{day}-sample-{n}.md",
            title=f"样例 {n}",
            date=f"{day}T{n % 24:02d}:{n % 60:02d}:00+08:00",
            url=f"/news/{day.replace('-', '/')}/sample-{n}.html",
            categories=["news"],
            tags=[SAMPLE.tags[n % posts.MAX_LABELS]],
            body_html="<p>正文 body</p>",
            text="正文 body",
            excerpt="正文 body",
        )
        for n in range(1, pages.MAX_DAY_ENTRIES)
    ]


def sample_catalog() -> MemoryCatalog:
    """A catalog holding the sample post and the rest of its day's."""
    catalog = MemoryCatalog()
    for post in [SAMPLE, *_others()]:
        catalog.commit(
            PostRecord(
                key=post.key,
                sequencer="0" * 32,
                live=True,
                url=post.url,
                sort=model.sort_key(post.date, post.key),
                lists=tuple(model.lists_of(post)),
                entry=Entry.of(post),
            )
        )
    return catalog


def render_all(config: SiteConfig) -> None:
    """Render each page kind with `config` (and its template overrides), listing as many posts as
    settings can ask for; raises what rendering raises."""
    most = posts.MAX_LISTED
    config = dataclasses.replace(config, page_size=most, feed_size=most, home_per_tag=most)
    catalog = sample_catalog()
    day = SAMPLE.date[:10]
    site = MemoryStore()
    site.put(urls.day_sitemap_key(day), b"", content_type="application/xml")
    pages.post_body(SAMPLE, config)
    for compute in (
        pages.home_page(catalog, config),
        pages.feed(catalog, config),
        pages.listing_page(model.category_list("news"), catalog, config),
        pages.listing_page(model.tag_list(SAMPLE.tags[0]), catalog, config),
        *pages.day_pages(day, catalog, config).values(),
        *pages.day_indexes(site, config).values(),
    ):
        answer = compute()
        if isinstance(answer, Fingerprinted):
            answer.render()
    pages.static_pages(config)
    pages.redirect_page("/old.html", SAMPLE.url, config)


def main() -> int:
    """Child process of `theme.check_template`: the override on stdin, the problem (if any) on stdout."""
    isolated.limit_child()  # the trial's answer is its problem, if any: a filter it could not install is not one
    from newsdrop.rendering import theme

    request = json.loads(sys.stdin.read())
    problem = theme.trial_render(str(request["name"]), str(request["source"]))
    print(problem)
    return 1 if problem else 0


if __name__ == "__main__":
    sys.exit(main())
