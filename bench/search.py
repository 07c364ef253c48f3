"""Search costs and recall, measured on synthesized corpora of 1,000 and 10,000 posts.

    .venv/bin/python -m bench.search [--sizes 1000 10000] [--out FILE]

`make bench` runs it as one step of bench.run. For each size: build the site in-process (the
same stages as on AWS, `newsdrop build`'s pipeline), then report
- the index: bytes and objects under search/, and its runs by level;
- cost per cold query, measured in headless Chromium against the site served like CloudFront
  (a new browser context per query: nothing cached): requests, raw bytes, and bytes after gzip
  (what CloudFront's compression sends; the local server does not compress), JavaScript included;
- recall against a brute-force substring scan of every post's title and text;
- cost per publish, over single publishes of new posts, then updates, then deletions: S3 objects
  written (render's pages and the artifact too: the PUTs the AWS adapters would send) and search
  objects written and deleted, on average and at most; the scheduled compaction's files written
  and deleted after each publish, apart; and the index files a query reads and their compressed
  bytes after every publish, before its compaction (computed, not in the browser), so the figure
  covers compaction at any stage, not one moment.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from bench import corpus as corpora
from bench import machine, paths
from bench.inproc import Counted, counted_pipeline
from bench.publishing import settle
from newsdrop import search
from newsdrop.local import template as cfn
from newsdrop.local.siteserver import SiteServer, security_headers

ROOT = Path(__file__).resolve().parents[1]
# Words and codes, whole and in the middle of a longer word or number (2456 in 002456, phone in
# iPhone, cron in Omicron), one character, and codes the corpus does not hold.
QUERIES = [
    "北向资金",
    "央行",
    "新能源",
    "蔚来",
    "半导体",
    "上涨",
    "公司",
    "涨",
    "002858",
    "600160",
    "ET7",
    "etf",
    "002456",
    "2456",
    "phone",
    "cron",
]
NEW, UPDATES, DELETES = 30, 5, 5
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]


# What the search page's status says once a query is answered (static/search.js).
FINISHED = re.compile("结果|未查")


def build(size: int) -> tuple[Counted, dict[str, int] | None]:
    """The site, built through the stages in batches of ten, and what the schedule did after."""
    corpus = corpora.synthesize(size)
    counted = counted_pipeline()
    for key, path in corpus.files():
        counted.pipeline.upload(key, path.read_bytes())
    counted.pipeline.drain()
    compact = getattr(counted.pipeline, "compact", None)  # a package from before compacts within publishes
    if compact is None:
        return counted, None
    # The site a while after its import: the schedule has run.
    return counted, settle(compact, lambda: (counted.meter.snapshot(), {}), counted.meter.reset)


def getter(counted: Counted) -> search.Get:
    objects = counted.pipeline.site.objects

    def get(key: str) -> bytes | None:
        blob = objects.get(key)
        return None if blob is None else blob.body

    return get


def index_size(counted: Counted) -> dict[str, Any]:
    objects = counted.pipeline.site.objects
    keys = [k for k in objects if k.startswith(search.LAYOUT)]
    manifest = search.read_index(getter(counted))
    levels: dict[str, dict[str, int]] = {}
    for run in manifest.runs:
        level = levels.setdefault(str(run.level), {"runs": 0, "files": 0, "postings": 0})
        level["runs"] += 1
        level["files"] += run.files
        level["postings"] += run.postings
    return {
        "objects": len(keys),
        "bytes": sum(len(objects[k].body) for k in keys),
        "documents": sum(1 for k in keys if k.startswith(search.DOC_PREFIX)),
        "manifest_bytes": len(objects[search.MANIFEST_KEY].body),
        "levels": dict(sorted(levels.items())),
        "jobs": len(manifest.jobs),
    }


def truth(counted: Counted, query: str) -> set[str]:
    pipeline = counted.pipeline
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


def recall(counted: Counted, query: str) -> dict[str, Any]:
    get = getter(counted)
    candidates = {json.loads(get(search.doc_key(doc)) or b"{}").get("u") for doc in search.search(get, query)}
    expected = truth(counted, query)
    hit = len(expected & candidates)
    return {
        "posts_containing": len(expected),
        "found": hit,
        "recall": 1.0 if not expected else round(hit / len(expected), 4),
        "candidates": len(candidates),
    }


def index_read(get: search.Get, query: str) -> dict[str, int]:
    """The manifest and the index files a cold query reads (documents aside), as gzip sends them."""
    files = [search.MANIFEST_KEY, *search.files_read(get, query)]
    return {"files": len(files) - 1, "gzip_bytes": sum(len(gzip.compress(get(f) or b"", 6)) for f in files)}


def cold_queries(counted: Counted) -> list[dict[str, Any]]:
    from playwright.sync_api import expect, sync_playwright

    site = counted.pipeline.site
    server = SiteServer(site, "127.0.0.1", 0, security_headers(cfn.load(ROOT / "template.yaml")))
    server.start()
    base = f"http://127.0.0.1:{server.port}"
    rows = []
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
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
                page.goto(f"{base}/search/?q={quote(query)}")
                # Done: results, none, or (the first fifty candidates holding none) how many are left.
                expect(page.locator("#status")).to_contain_text(FINISHED, timeout=30_000)
                elapsed = time.monotonic() - started
                shown = page.locator("#results a").count()
                # What the query costs: the index files, the documents shown and the script (the page's
                # HTML and CSS are the site's, fetched by every page).
                counted_files = [
                    f for f in fetched if "/search/" in f[0] and "?q=" not in f[0] and not f[0].endswith("/search/")
                ]
                counted_files += [f for f in fetched if "/assets/search." in f[0]]
                rows.append(
                    {
                        "query": query,
                        "shown": shown,
                        "requests": len(counted_files),
                        "documents": sum(1 for f in counted_files if "/search/doc/" in f[0]),
                        "bytes": sum(f[1] for f in counted_files),
                        "gzip_bytes": sum(f[2] for f in counted_files),
                        "script_gzip_bytes": sum(f[2] for f in counted_files if "/assets/search." in f[0]),
                        "seconds": round(elapsed, 3),
                    }
                )
                context.close()
            browser.close()
    finally:
        server.stop()
    return rows


def _summary(values: list[int]) -> dict[str, float]:
    return {"mean": round(statistics.mean(values), 2), "max": max(values)} if values else {}


def publishes(counted: Counted) -> dict[str, Any]:
    """Objects written and deleted per single publish, and what a query reads after each."""
    pipeline, meter = counted.pipeline, counted.meter
    get = getter(counted)
    new = corpora.new_posts(NEW, "search")
    rows: dict[str, list[dict[str, int]]] = {"new": [], "update": [], "delete": []}
    reads: list[dict[str, int]] = []

    def files() -> dict[str, str]:
        return {k: b.etag for k, b in pipeline.site.objects.items() if k.startswith("search/")}

    def publish(kind: str, act: Callable[[], None]) -> None:
        before = files()
        meter.reset()
        act()
        pipeline.drain()
        after = files()
        row = {
            # The PUTs the pipeline sends (the user's own upload to the source bucket aside).
            "s3_puts": meter.counts["s3:PutObject"] - meter.counts["s3:PutObject[source]"],
            "search_written": sum(1 for k, tag in after.items() if before.get(k) != tag),
            "search_deleted": sum(1 for k in before if k not in after),
        }
        rows[kind].append(row)
        for query in QUERIES:  # before the scheduled compaction: the log holds the new post
            reads.append(index_read(get, query))
        compact = getattr(pipeline, "compact", None)  # a package from before compacts within publishes
        if compact is not None:
            compact()
            compacted = files()
            row["compaction_written"] = sum(1 for k, tag in compacted.items() if after.get(k) != tag)
            row["compaction_deleted"] = sum(1 for k in after if k not in compacted)

    for key, body in new:
        publish("new", lambda key=key, body=body: pipeline.upload(key, body))  # type: ignore[misc]
    for key, body in new[:UPDATES]:
        changed = body.replace(b"(bench search", b"(bench search, updated", 1)
        publish("update", lambda key=key, body=changed: pipeline.upload(key, body))  # type: ignore[misc]
    for key, _ in new[UPDATES : UPDATES + DELETES]:
        publish("delete", lambda key=key: pipeline.delete(key))  # type: ignore[misc]
    out: dict[str, Any] = {}
    for kind, found in rows.items():
        out[kind] = {name: _summary([r[name] for r in found]) for name in found[0]} if found else {}
    out["query_index_reads"] = {
        "files": _summary([r["files"] for r in reads]),
        "gzip_bytes": _summary([r["gzip_bytes"] for r in reads]),
    }
    return out


def measure(size: int) -> dict[str, Any]:
    started = time.perf_counter()
    counted, compacted = build(size)
    entry: dict[str, Any] = {"build_s": round(time.perf_counter() - started, 1), "index": index_size(counted)}
    entry["compaction_after_build"] = compacted
    entry["recall"] = {q: recall(counted, q) for q in QUERIES}
    entry["cold_query"] = cold_queries(counted)
    entry["per_publish"] = publishes(counted)
    entry["index_after_publishes"] = index_size(counted)
    queries = entry["cold_query"]
    gz = sorted(q["gzip_bytes"] for q in queries)
    entry["summary"] = {
        "median_gzip_bytes": gz[len(gz) // 2],
        "max_gzip_bytes": gz[-1],
        "median_requests": sorted(q["requests"] for q in queries)[len(queries) // 2],
        "max_requests": max(q["requests"] for q in queries),
        "min_recall": min(r["recall"] for r in entry["recall"].values()),
        "max_s3_puts_per_publish": max(
            v["s3_puts"]["max"] for k, v in entry["per_publish"].items() if k != "query_index_reads"
        ),
    }
    return entry


def run(sizes: list[int]) -> dict[str, Any]:
    report: dict[str, Any] = {"date": time.strftime("%Y-%m-%d"), "machine": machine.describe(), "sizes": {}}
    for size in sizes:
        entry = measure(size)
        report["sizes"][str(size)] = entry
        print(json.dumps({size: entry["summary"] | {"index": entry["index"]}}, ensure_ascii=False), flush=True)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="search index costs and recall")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--out", type=Path, default=paths.RESULTS / "search.json")
    args = parser.parse_args(argv)
    if not paths.SYNTH.is_file():
        print(f"bench.search: skipped: the shared corpus tools are not at {paths.SYNTH}")
        return 0
    report = run(args.sizes)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
