"""What the search index must hold, straight from the catalog: every live post's document and postings."""

from __future__ import annotations

import json
from typing import Any

from newsdrop import search
from newsdrop.local.inprocess import InProcessPipeline


def expected_index(pipeline: InProcessPipeline) -> dict[str, tuple[dict[str, object], dict[str, int]]]:
    """URL -> (document, postings) of every live post, as `search.logical_index` reads them from the site."""
    found = {}
    for record in pipeline.catalog.posts.values():
        if record.live:
            post = json.loads(pipeline.artifacts.objects[record.artifact].body)
            labels = search.labels(post.get("categories", []), post.get("tags", []))
            document = search.Document(0, post["url"], post["title"], post["date"], post["text"], labels)
            found[post["url"]] = (document.to_json(), document.postings())
    return found


def site_get(pipeline: InProcessPipeline) -> search.Get:
    """The pipeline's site bucket as the search index reads it: key -> body, or None."""

    def get(key: str) -> bytes | None:
        blob = pipeline.site.objects.get(key)
        return None if blob is None else blob.body

    return get


def found_documents(get: search.Get, query: str) -> list[dict[str, Any]]:
    """The documents a query finds, best first, as the search page shows them ({} for one missing)."""
    return [json.loads(get(search.doc_key(doc)) or b"{}") for doc in search.search(get, query)]
