"""Every kind of page, rendered once from a sample post: how a template override is tried out
before it is accepted, through the same page functions the site is rendered with."""

from __future__ import annotations

import json
import resource
import sys

from newsdrop import model
from newsdrop.adapters.memory import MemoryCatalog, MemoryStore
from newsdrop.model import Entry, Post, SiteConfig
from newsdrop.ports import PostRecord
from newsdrop.rendering import pages, urls
from newsdrop.rendering.writer import Fingerprinted

SAMPLE = Post(
    key="_posts/2024-05-20-sample.md",
    title="样例 Sample",
    date="2024-05-20T10:00:00+08:00",
    slug="sample",
    url="/news/2024/05/20/sample.html",
    categories=["news"],
    tags=["样例"],
    body_html="<p>正文 body</p>",
    text="正文 body",
    excerpt="正文 body",
)


def sample_catalog() -> MemoryCatalog:
    """A catalog holding the sample post."""
    catalog = MemoryCatalog()
    catalog.commit(
        PostRecord(
            key=SAMPLE.key,
            sequencer="0" * 32,
            live=True,
            url=SAMPLE.url,
            sort=model.sort_key(SAMPLE.date, SAMPLE.key),
            lists=tuple(model.lists_of(SAMPLE)),
            entry=Entry.of(SAMPLE),
        )
    )
    return catalog


def render_all(config: SiteConfig) -> None:
    """Render each page kind with `config` (and its template overrides); raises what rendering raises."""
    catalog = sample_catalog()
    day = SAMPLE.date[:10]
    site = MemoryStore()
    site.put(urls.day_sitemap_key(day), b"", content_type="application/xml")
    pages.post_body(SAMPLE, config)
    for compute in (
        pages.home_page(catalog, config),
        pages.feed(catalog, config),
        pages.listing_page(model.category_list("news"), catalog, config),
        *pages.day_pages(day, catalog, config).values(),
        *pages.day_indexes(site, config).values(),
    ):
        answer = compute()
        if isinstance(answer, Fingerprinted):
            answer.render()
    pages.static_pages(config)
    pages.redirect_page("/old.html", SAMPLE.url, config)


# The child's address space: a template cannot fill the function's memory, which holds the function
# itself as well (template.yaml gives the parse function at least twice this: tests/unit/test_template.py).
MEMORY_LIMIT = 256 * 1024 * 1024


def main() -> int:
    """Child process of `theme.check_template`: the override on stdin, the problem (if any) on stdout."""
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    from newsdrop.rendering import theme

    request = json.loads(sys.stdin.read())
    problem = theme.trial_render(str(request["name"]), str(request["source"]))
    print(problem)
    return 1 if problem else 0


if __name__ == "__main__":
    sys.exit(main())
