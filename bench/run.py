"""The benchmark: `python -m bench.run [--quick]` (what `make bench` / `make bench-quick` run).

Measures, in one run on this machine: bulk builds (newsdrop, Hugo, Jekyll), one new post
into published sites of growing size (local adapters and the local stack) against full
rebuilds, the AWS requests per publish, the search index (bench.search: its size, cold queries
in headless Chromium, recall, objects per publish), and cold start. Writes bench/results/<name>.json
and <name>.png and prints a table. It reports; it never fails on a timing.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from bench import bulk, coldstart, corpus, goals, machine, paths, procs, report, tools


@dataclass(frozen=True)
class Plan:
    mode: str
    bulk_sizes: tuple[int, ...]
    bulk_repeats: dict[int, int]
    jekyll_sizes: tuple[int, ...]
    hugo_only_sizes: tuple[int, ...]  # full rebuilds measured for the incremental comparison only
    inproc_sizes: tuple[int, ...]
    inproc_repeats: int
    stack_sizes: tuple[int, ...]
    stack_repeats: int
    stack_flow_size: int  # 0: no base loaded through the event flow
    profile_publishes: int
    unit_publishes: int  # bench.units: untimed publishes whose DynamoDB request units are counted
    import_runs: int
    search_sizes: tuple[int, ...]  # bench.search: index costs, cold queries in Chromium, recall
    # bench.roundtrips: the local stack with each request a round trip away, listings one at a time
    # and side by side (0: not measured)
    round_trip_size: int
    round_trip_repeats: int


FULL = Plan(
    mode="full",
    bulk_sizes=(1_000, 10_000),
    bulk_repeats={1_000: 3, 10_000: 3},
    jekyll_sizes=(1_000, 10_000),  # Jekyll takes 90 to 160 s at 10,000; 100,000 is out of reach
    hugo_only_sizes=(100_000,),
    inproc_sizes=(1_000, 10_000, 100_000),
    # A publish costs milliseconds: enough of them that the median spans several rounds of the search
    # log growing until the schedule flushes it (about five publishes), whatever round it starts in.
    inproc_repeats=45,
    stack_sizes=(1_000, 10_000),
    stack_repeats=45,
    stack_flow_size=1_000,
    profile_publishes=5,
    unit_publishes=10,
    import_runs=5,
    search_sizes=(1_000, 10_000),
    round_trip_size=1_000,
    round_trip_repeats=10,
)
QUICK = Plan(
    mode="quick",
    bulk_sizes=(1_000,),
    bulk_repeats={1_000: 1},
    jekyll_sizes=(1_000,),
    hugo_only_sizes=(),
    inproc_sizes=(1_000,),
    inproc_repeats=5,
    stack_sizes=(1_000,),
    stack_repeats=3,
    stack_flow_size=0,
    profile_publishes=0,
    unit_publishes=3,
    import_runs=3,
    search_sizes=(1_000,),
    round_trip_size=0,
    round_trip_repeats=0,
)
CHILD_TIMEOUT_S = 3600.0


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def child(module: str, args: list[str], name: str) -> dict[str, Any] | None:
    """Run a bench child process (isolated memory, moto patches and environment); its JSON result."""
    out = paths.WORK / "results" / f"{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.unlink(missing_ok=True)
    logfile = paths.WORK / "logs" / f"{name}.log"
    run = procs.run_measured(
        [paths.PYTHON, "-m", module, *args, "--out", out], log=logfile, cwd=paths.ROOT, timeout=CHILD_TIMEOUT_S
    )
    if not out.is_file():
        log(f"{name} failed (exit {run.returncode}); see {logfile}\n{procs.tail(logfile)}")
        return None
    data: dict[str, Any] = json.loads(out.read_text())
    data["process"] = run.to_json()
    return data


def run_bulk(plan: Plan, corpora: dict[int, corpus.Corpus], found: bulk.Tools) -> dict[str, Any]:
    results = {}
    for size in plan.bulk_sizes:
        log(f"bulk build of {size:,} posts")
        results[str(size)] = bulk.run_size(
            corpora[size], found, plan.bulk_repeats[size], jekyll=size in plan.jekyll_sizes
        )
    return results


def run_rebuild_only(plan: Plan, corpora: dict[int, corpus.Corpus], found: bulk.Tools) -> dict[str, Any]:
    results: dict[str, Any] = {}
    if found.hugo is None:
        return results
    for size in plan.hugo_only_sizes:
        log(f"Hugo full build of {size:,} posts (for the incremental comparison)")
        results[str(size)] = {"hugo": bulk.hugo_only(corpora[size], found.hugo)}
    return results


def run_inproc(plan: Plan, corpora: dict[int, corpus.Corpus]) -> list[dict[str, Any]]:
    log(f"one new post on the local adapters at {', '.join(f'{s:,}' for s in plan.inproc_sizes)} posts")
    args = [f"--corpus={s}={corpora[s].root}" for s in plan.inproc_sizes]
    args += ["--repeats", str(plan.inproc_repeats), "--profile-publishes", str(plan.profile_publishes)]
    args += ["--profile-dir", str(paths.WORK / "profiles")]
    data = child("bench.inproc", args, "inproc")
    return data["sizes"] if data else []


def run_stack(plan: Plan, corpora: dict[int, corpus.Corpus], size: int, base: str) -> dict[str, Any] | None:
    log(f"one new post through the local stack (moto) at {size:,} posts, base site {base}")
    repeats = plan.stack_repeats if base == "seeded" else max(3, plan.stack_repeats // 3)
    args = ["--corpus", str(corpora[size].root), "--size", str(size), "--base", base, "--repeats", str(repeats)]
    args += ["--profile-publishes", str(plan.profile_publishes if base == "seeded" else 0)]
    args += ["--unit-publishes", str(plan.unit_publishes if base == "seeded" else 0)]
    args += ["--profile-dir", str(paths.WORK / "profiles")]
    args += ["--site-dump", str(paths.WORK / "results" / f"site-{base}-{size}.json")]
    return child("bench.localstack", args, f"localstack-{base}-{size}")


def compare_sites(size: int) -> dict[str, Any]:
    """The flow-loaded and the seeded base site of the same corpus: same objects and ETags, same catalog?"""
    dumps = [paths.WORK / "results" / f"site-{base}-{size}.json" for base in ("flow", "seeded")]
    if not all(d.is_file() for d in dumps):
        return {"compared": False}
    flow, seeded = (json.loads(d.read_text()) for d in dumps)
    site_flow, site_seeded = flow["site"], seeded["site"]
    differing = sorted(k for k in site_flow.keys() & site_seeded.keys() if site_flow[k] != site_seeded[k])
    return {
        "compared": True,
        "size": size,
        "identical_site": site_flow == site_seeded,
        "identical_catalog_counts": flow["catalog"] == seeded["catalog"],
        "catalog_flow": flow["catalog"],
        "catalog_seeded": seeded["catalog"],
        "site_objects": len(site_flow),
        "only_flow": sorted(site_flow.keys() - site_seeded.keys())[:10],
        "only_seeded": sorted(site_seeded.keys() - site_flow.keys())[:10],
        "different_etag": differing[:10],
    }


def run_incremental(plan: Plan, corpora: dict[int, corpus.Corpus]) -> dict[str, Any]:
    results: dict[str, Any] = {"local_adapters": run_inproc(plan, corpora), "local_stack": [], "local_stack_flow": []}
    if plan.stack_flow_size:
        flow = run_stack(plan, corpora, plan.stack_flow_size, "flow")
        results["local_stack_flow"] = [flow] if flow else []
    for size in plan.stack_sizes:
        row = run_stack(plan, corpora, size, "seeded")
        if row:
            results["local_stack"].append(row)
    if plan.stack_flow_size:
        results["seeded_equals_flow"] = compare_sites(plan.stack_flow_size)
    return results


def run_round_trips(plan: Plan, corpora: dict[int, corpus.Corpus]) -> dict[str, Any]:
    if not plan.round_trip_size:
        return {}
    size = plan.round_trip_size
    log(f"one new post through the local stack at {size:,} posts, each request a round trip away")
    args = ["--corpus", str(corpora[size].root), "--size", str(size), "--repeats", str(plan.round_trip_repeats)]
    return child("bench.roundtrips", args, "roundtrips") or {}


def run_search(plan: Plan) -> dict[str, Any]:
    log(f"search: index, cold queries in Chromium and recall at {', '.join(f'{s:,}' for s in plan.search_sizes)} posts")
    data = child("bench.search", ["--sizes", *[str(s) for s in plan.search_sizes]], "search")
    return data or {}


def setup() -> bulk.Tools:
    found = bulk.Tools(hugo=tools.hugo_binary(), jekyll=tools.jekyll_binary())
    tools.ensure_module("matplotlib", tools.MATPLOTLIB_REQUIREMENT)
    tools.ensure_module("pyinstrument", tools.PYINSTRUMENT_REQUIREMENT)
    return found


def synthesize(plan: Plan) -> dict[int, corpus.Corpus]:
    sizes = sorted({*plan.bulk_sizes, *plan.hugo_only_sizes, *plan.inproc_sizes, *plan.stack_sizes})
    log(f"synthesizing corpora of {', '.join(f'{s:,}' for s in sizes)} posts under {paths.WORK / 'corpus'}")
    return {size: corpus.synthesize(size) for size in sizes}


def notes(plan: Plan) -> list[str]:
    compared = f"compared at {plan.stack_flow_size:,} posts" if plan.stack_flow_size else "not compared in quick mode"
    return [
        "latency = upload of one new post until every object it changes is written (parse, render, index);"
        " Hugo and Jekyll figures are full builds of the same posts, what both need for one new post",
        "local adapters: base sites above 10,000 posts are loaded in batches of 500 to save time (the site"
        " is a pure function of the catalog); timed publishes use the real batch size",
        "local stack: base sites are built in-process and written to moto through newsdrop's AWS adapters"
        f" (loading them through moto's event flow grows faster than linearly); the flow-loaded site is {compared}",
        "request counts exclude the user's upload and the SQS polling of the event source mappings;"
        " cloudfront counts are what a deployed stack sends (the local stack has no distribution)",
    ]


Step = Callable[[], Any]


def step(results: dict[str, Any], key: str, name: str, run: Step) -> None:
    if key in results:  # --resume: measured by the run being resumed
        log(f"{key}: kept from the run being resumed")
        return
    started = time.perf_counter()
    results[key] = run()
    results.setdefault("durations_s", {})[key] = round(time.perf_counter() - started, 1)
    report.write_json(results, name)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="about a minute: 1,000 posts only, fewer repetitions")
    parser.add_argument("--name", help="results file name (default: the mode, full or quick)")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="keep the sections an interrupted run of the same name wrote, and run the rest",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    plan = QUICK if args.quick else FULL
    name = args.name or plan.mode
    if not paths.corpus_available():
        print(f"bench: skipped: the shared corpus ({paths.CORPUS_POSTS}) or {paths.SYNTH} is absent", flush=True)
        return 0
    paths.WORK.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    found = setup()
    snapshot = machine.snapshot_package()
    results: dict[str, Any] = {"name": name, "mode": plan.mode, "machine": machine.describe(), "plan": _plan_json(plan)}
    results["machine"]["package_snapshot"] = {"path": str(snapshot), "digest": machine.package_digest(snapshot)}
    results["notes"] = notes(plan)
    if args.resume:
        results = resumed(results, name)
    corpora = synthesize(plan)
    results["machine"].setdefault("build_output", bulk.describe_output())
    try:
        step(results, "bulk", name, lambda: run_bulk(plan, corpora, found))
        step(results, "rebuild_only", name, lambda: run_rebuild_only(plan, corpora, found))
    finally:
        bulk.clean_up()
    step(results, "incremental", name, lambda: run_incremental(plan, corpora))
    step(results, "round_trips", name, lambda: run_round_trips(plan, corpora))
    step(results, "search", name, lambda: run_search(plan))
    log("cold start: handler imports and package sizes")
    step(results, "cold_start", name, lambda: coldstart.measure(plan.import_runs))
    results["goals"] = goals.evaluate(results)
    results["total_s"] = round(time.perf_counter() - started, 1)
    machine.finish(results["machine"])
    results["machine"]["package_digest_source_at_end"] = machine.package_digest()
    out = report.write_json(results, name)
    picture = report.chart(results, name)
    report.print_tables(results)
    print(f"\nresults: {out}" + (f"\nchart:   {picture}" if picture else ""))
    print(f"took {results['total_s']:.0f} s; logs and profiles under {paths.WORK}")
    return 0


def resumed(fresh: dict[str, Any], name: str) -> dict[str, Any]:
    """The interrupted run's results, if it measured the same package with the same plan; its sections
    are kept, and the machine's state at this start is recorded beside the original's."""
    path = paths.RESULTS / f"{name}.json"
    if not path.is_file():
        return fresh
    earlier: dict[str, Any] = json.loads(path.read_text())
    same_package = earlier["machine"].get("package_digest_source") == fresh["machine"]["package_digest_source"]
    if not same_package or earlier.get("plan") != json.loads(json.dumps(fresh["plan"])):
        log(f"--resume: {path} measured another package or plan; starting afresh")
        return fresh
    kept = ("date", "load_average_at_start", "git_commit")
    earlier["machine"]["resumed"] = {key: fresh["machine"][key] for key in kept}
    earlier.pop("goals", None)
    return earlier


def _plan_json(plan: Plan) -> dict[str, Any]:
    data = asdict(plan)
    data["bulk_repeats"] = {str(k): v for k, v in plan.bulk_repeats.items()}
    return data


if __name__ == "__main__":
    sys.exit(main())
