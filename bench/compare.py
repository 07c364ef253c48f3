"""One new post, before and after a change, side by side in one run: `python -m bench.compare`.

    python -m bench.compare --before main [--inproc 1000,10000,100000] [--stack 1000,10000]
                            [--repeats 15] [--profile-publishes 5] [--name NAME]

The newsdrop package of git revision `--before` (`git archive`) and that of the working tree
are copied under bench/work/compare/; each section then runs the bench's own child processes
(bench.inproc, bench.localstack) once per version, one right after the other, so both see
the same machine and load. Writes bench/results/compare-<name>.json (the machine, the load
average at the start and end, every child's result) and prints the medians and p95s.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from typing import Any

from bench import corpus, machine, paths, report, run, tools

VERSIONS = ("before", "after")


def snapshot(version: str, revision: str | None) -> Path:
    """The newsdrop package of a git revision (None: the working tree) under bench/work/compare/."""
    root = paths.WORK / "compare" / version
    if revision is None:
        return machine.copy_package(root)
    shutil.rmtree(root, ignore_errors=True)
    package = "layers/newsdrop/newsdrop"
    archive = subprocess.run(
        ["git", "archive", "--format=tar", revision, package], cwd=paths.ROOT, capture_output=True, check=True
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(root / "extract", filter="data")
    shutil.move(root / "extract" / package, root / "newsdrop")
    shutil.rmtree(root / "extract")
    return root


def section(
    name: str, module: str, args: list[str], roots: dict[str, Path], saved_path: str
) -> dict[str, dict[str, Any] | None]:
    results: dict[str, dict[str, Any] | None] = {}
    for version in VERSIONS:
        machine.use_package(roots[version], saved_path)
        run.log(f"{name}: {version}")
        extra = ["--profile-dir", str(paths.WORK / "profiles" / f"compare-{version}")]
        results[version] = run.child(module, [*args, *extra], f"compare-{name}-{version}")
    os.environ["PYTHONPATH"] = saved_path
    return results


def latency(row: dict[str, Any] | None) -> tuple[float | None, float | None]:
    if not row:
        return None, None
    return row["latency"]["median_s"], row["latency"]["p95_s"]


def rows(results: dict[str, Any]) -> list[list[str]]:
    out = []
    for label, key in (("local adapters", "inproc"), ("local stack", "stack")):
        for size, by_version in sorted(results.get(key, {}).items(), key=lambda kv: int(kv[0])):
            medians = {v: latency(by_version.get(v)) for v in VERSIONS}
            cells = [f"{label}, {int(size):,} posts"]
            for version in VERSIONS:
                median, p95 = medians[version]
                cells.append(f"{report._s(median)} / {report._s(p95)}")
            before, after = medians["before"][0], medians["after"][0]
            cells.append(f"{before / after:.1f}x" if before and after else "-")
            out.append(cells)
    return out


def print_table(results: dict[str, Any]) -> None:
    headers = ["one new post (median / p95)", f"before ({results['before']})", "after (working tree)", "speed-up"]
    print(report._table(headers, rows(results)))
    print(report.probe_text(results["machine"]))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.compare", description=__doc__)
    parser.add_argument("--before", default="main", help="git revision to compare the working tree with")
    parser.add_argument("--inproc", default="1000,10000,100000", help="local adapter sizes ('' for none)")
    parser.add_argument("--stack", default="1000,10000", help="local stack sizes ('' for none)")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--profile-publishes", type=int, default=5)
    parser.add_argument("--name", default="")
    return parser.parse_args(argv)


def sizes(text: str) -> list[int]:
    return [int(s) for s in text.split(",") if s.strip()]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not paths.corpus_available():
        print(f"bench: skipped: the shared corpus ({paths.CORPUS_POSTS}) or {paths.SYNTH} is absent", flush=True)
        return 0
    tools.ensure_module("pyinstrument", tools.PYINSTRUMENT_REQUIREMENT)
    inproc_sizes, stack_sizes = sizes(args.inproc), sizes(args.stack)
    corpora = {size: corpus.synthesize(size) for size in sorted({*inproc_sizes, *stack_sizes})}
    roots = {"before": snapshot("before", args.before), "after": snapshot("after", None)}
    results: dict[str, Any] = {"before": args.before, "machine": machine.describe(), "inproc": {}, "stack": {}}
    results["machine"]["digests"] = {v: machine.package_digest(roots[v]) for v in VERSIONS}
    name = f"compare-{args.name}" if args.name else "compare"
    saved_path = os.environ.get("PYTHONPATH", "")
    started = time.perf_counter()
    common = ["--repeats", str(args.repeats), "--profile-publishes", str(args.profile_publishes)]
    if inproc_sizes:
        inproc_args = [f"--corpus={s}={corpora[s].root}" for s in inproc_sizes]
        done = section("inproc", "bench.inproc", [*inproc_args, *common], roots, saved_path)
        for version, data in done.items():
            for row in (data or {}).get("sizes", []):
                results["inproc"].setdefault(str(row["size"]), {})[version] = row
        report.write_json(results, name)
    for size in stack_sizes:
        stack_args = ["--corpus", str(corpora[size].root), "--size", str(size), "--base", "seeded", *common]
        results["stack"][str(size)] = section(f"stack-{size}", "bench.localstack", stack_args, roots, saved_path)
        report.write_json(results, name)
    machine.finish(results["machine"])
    results["total_s"] = round(time.perf_counter() - started, 1)
    out = report.write_json(results, name)
    print_table(results)
    print(f"\nresults: {out}")
    described = results["machine"]
    print(json.dumps({"load_average": [described["load_average_at_start"], described["load_average_at_end"]]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
