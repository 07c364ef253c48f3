"""Search costs and recall, measured on synthesized corpora of 1,000 and 10,000 posts.

    .venv/bin/python -m bench.search [--sizes 1000 10000]

For each size: build the site in-process (the same stages as on AWS), then report
- the index: bytes and objects under search/;
- cost per publish: search/ objects written or deleted per new post, over 30 single publishes
  (compactions included, so the figure is amortised);
- cost per cold query, measured in headless Chromium against the site served like CloudFront
  (a new browser context per query: nothing cached): requests, raw bytes, and bytes after gzip
  (what CloudFront's compression sends; the local server does not compress);
- recall against a brute-force substring scan of every post's title and text.
"""

from __future__ import annotations

import argparse
import gzip
import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from bench import corpus as corpora
from bench import paths
from newsdrop import search
from newsdrop.local import template as cfn
from newsdrop.local.inprocess import InProcessPipeline
from newsdrop.local.siteserver import SiteServer, security_headers

ROOT = Path(__file__).resolve().parents[1]
QUERIES = ["北向资金", "央行", "新能源", "蔚来", "半导体", "上涨", "公司", "涨", "002858", "600160", "ET7", "etf"]
PUBLISHES = 30
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]


def build(size: int) -> InProcessPipeline:
    corpus = corpora.synthesize(size)
    pipeline = InProcessPipeline()
    for key, path in corpus.files():
        pipeline.upload(key, path.read_bytes())
    pipeline.drain()
    return pipeline


def index_size(pipeline: InProcessPipeline) -> dict[str, int]:
    keys = [k for k in pipeline.site.objects if k.startswith(search.LAYOUT)]
    raw = sum(len(pipeline.site.objects[k].body) for k in keys)
    return {"objects": len(keys), "bytes": raw}


def objects_per_publish(pipeline: InProcessPipeline) -> dict[str, float]:
    """Search objects written or deleted per single-post publish (amortised over PUBLISHES)."""
    writes = deletes = 0
    for n, (key, body) in enumerate(corpora.new_posts(PUBLISHES, "search")):
        before = {k: b.etag for k, b in pipeline.site.objects.items() if k.startswith("search/")}
        pipeline.upload(key, body)
        pipeline.drain()
        after = {k: b.etag for k, b in pipeline.site.objects.items() if k.startswith("search/")}
        writes += sum(1 for k, tag in after.items() if before.get(k) != tag)
        deletes += sum(1 for k in before if k not in after)
        del n
    return {"written": round(writes / PUBLISHES, 2), "deleted": round(deletes / PUBLISHES, 2)}


def truth(pipeline: InProcessPipeline, query: str) -> set[str]:
    wanted = search.normalise(query).split()
    found = set()
    for record in pipeline.catalog.posts.values():
        if not record.live:
            continue
        post = json.loads(pipeline.artifacts.objects[record.artifact].body)
        haystack = search.normalise(post["title"] + " " + post["text"])
        if all(term in haystack for term in wanted):
            found.add(post["url"])
    return found


def recall(pipeline: InProcessPipeline, query: str) -> dict[str, Any]:
    def get(key: str) -> bytes | None:
        blob = pipeline.site.objects.get(key)
        return None if blob is None else blob.body

    candidates = {json.loads(get(search.doc_key(doc)) or b"{}").get("u") for doc in search.search(get, query)}
    expected = truth(pipeline, query)
    hit = len(expected & candidates)
    return {
        "posts_containing": len(expected),
        "found": hit,
        "recall": 1.0 if not expected else round(hit / len(expected), 4),
        "candidates": len(candidates),
    }


def cold_queries(pipeline: InProcessPipeline) -> list[dict[str, Any]]:
    from playwright.sync_api import expect, sync_playwright

    server = SiteServer(pipeline.site, "127.0.0.1", 0, security_headers(cfn.load(ROOT / "template.yaml")))
    server.start()
    site = f"http://127.0.0.1:{server.port}"
    rows = []
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            # Warm the page itself once: a reader arrives on the search page from the site, and we
            # count what the query costs (the page's HTML and CSS are the site's, not the search's).
            for query in QUERIES:
                context = browser.new_context()
                page = context.new_page()
                fetched: list[tuple[str, int, int]] = []

                def record(response: Any, fetched: list[tuple[str, int, int]] = fetched) -> None:
                    try:
                        body = response.body()
                    except Exception:
                        return
                    fetched.append((response.url, len(body), len(gzip.compress(body, 6))))

                page.on("response", record)
                started = time.monotonic()
                page.goto(f"{site}/search/?q={quote(query)}")
                expect(page.locator("#status")).to_contain_text("结果", timeout=30_000)
                elapsed = time.monotonic() - started
                shown = page.locator("#results a").count()
                search_files = [
                    f for f in fetched if "/search/" in f[0] and not f[0].endswith("/search/") and "?q=" not in f[0]
                ]
                script = [f for f in fetched if "/assets/search." in f[0]]
                counted = search_files + script
                rows.append(
                    {
                        "query": query,
                        "shown": shown,
                        "requests": len(counted),
                        "bytes": sum(f[1] for f in counted),
                        "gzip_bytes": sum(f[2] for f in counted),
                        "seconds": round(elapsed, 3),
                    }
                )
                context.close()
            browser.close()
    finally:
        server.stop()
    return rows


def run(sizes: list[int]) -> dict[str, Any]:
    report: dict[str, Any] = {"date": time.strftime("%Y-%m-%d"), "sizes": {}}
    for size in sizes:
        pipeline = build(size)
        entry: dict[str, Any] = {"index": index_size(pipeline)}
        entry["recall"] = {q: recall(pipeline, q) for q in QUERIES}
        entry["cold_query"] = cold_queries(pipeline)
        entry["per_publish"] = objects_per_publish(pipeline)
        entry["index_after_publishes"] = index_size(pipeline)
        queries = entry["cold_query"]
        entry["summary"] = {
            "max_gzip_bytes": max(q["gzip_bytes"] for q in queries),
            "median_gzip_bytes": sorted(q["gzip_bytes"] for q in queries)[len(queries) // 2],
            "max_requests": max(q["requests"] for q in queries),
            "min_recall": min(r["recall"] for r in entry["recall"].values()),
        }
        report["sizes"][str(size)] = entry
        print(json.dumps({size: entry["summary"] | {"index": entry["index"], "per_publish": entry["per_publish"]}}))
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="search index costs and recall")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    args = parser.parse_args(argv)
    if not paths.SYNTH.is_file():
        print(f"bench.search: skipped: the shared corpus tools are not at {paths.SYNTH}")
        return 0
    report = run(args.sizes)
    out = Path(__file__).resolve().parent / "results" / "search.json"
    out.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
