"""Cold start: each handler's import time in a fresh interpreter, and the deployment package sizes.

Imports run the way Lambda loads a function from the deployed files: a new interpreter with
no site-packages (`-S`) and Lambda's environment variables, with sys.path holding the
function's built folder, the built layer's python/, then what the python3.12 runtime provides
(boto3 and its dependencies, copied from .venv with their bytecode). Nothing else is
importable, so a module missing from the layer fails here as it would on Lambda.

Lambda's runtime imports the handler from its own bootstrap, which has loaded part of the
standard library by then (logging, json, decimal, traceback and what they need: RUNTIME_BOOTSTRAP).
Every figure is the import with those already loaded, as on Lambda, except `median_ms_bare`.

Three figures per handler:
- `median_ms`, as deployed (the goal's figure; `median_cpu_ms` is its CPU time, which other load
  on the machine inflates much less): `-B` and no bytecode cache, because Lambda's
  /opt and /var/task are read-only; a module whose .pyc the layer does not ship is compiled on
  every import, as on every Lambda cold start;
- `median_ms_bare`: the same in an interpreter that has loaded nothing first (this bench's
  figure before it loaded the runtime's modules; it counts the runtime's share as the handler's);
- `median_ms_bytecode_cached`: the same imports with a scratch PYTHONPYCACHEPREFIX warmed by a
  first import, which is what the handlers would cost if every .pyc were at hand (this was
  the bench's only figure before the layer shipped bytecode).
Medians of `runs` samples after one warm-up; with a baseline, the two trees' samples alternate.

`python -m bench.coldstart [--runs N] [--baseline DIR]` runs this section alone and writes
bench/results/coldstart.json; DIR is another checkout of the project with its own
`.aws-sam/build` (e.g. `git worktree add DIR main && make -C DIR sam-build`), measured side by side.
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import os
import shutil
import statistics
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import goals, machine, paths, report

FUNCTIONS = {
    "parse": "ParseFunction",
    "render": "RenderFunction",
    "index": "IndexFunction",
    "fanout": "FanoutFunction",
    "compact": "CompactFunction",
}
LAYER = "NewsdropLayer"
RUNS = 5
# What the Lambda python3.12 runtime provides besides the standard library (its boto3 and what boto3 needs).
RUNTIME_PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six")
# The standard library modules the python3.12 runtime's bootstrap (awslambdaric's bootstrap.py,
# 4.2.2) has imported when it imports the handler module: with these, an interpreter holds the
# same standard library modules as that bootstrap did (checked by importing it here). `site`, as
# the runtime runs without -S (importing it under -S leaves sys.path alone).
RUNTIME_BOOTSTRAP = ("decimal", "importlib", "json", "logging", "math", "site", "time", "traceback")
PRELOAD = f"import {', '.join(RUNTIME_BOOTSTRAP)}"
# Wall time, and the process's CPU time, which other work on the machine inflates much less.
IMPORT_CODE = """import sys, time
{preload}
sys.path[:0] = {path!r}
start, cpu = time.perf_counter(), time.process_time()
import app
print(time.perf_counter() - start, time.process_time() - cpu)
"""
MODES = ("deployed", "bytecode_cached", "deployed_bare")
# Where a handler's import time goes: each step imported after the previous ones in one interpreter
# (deployed mode), so a step's figure is what it adds. What the handlers import, named by hand.
BREAKDOWN: dict[str, str | dict[str, str]] = {
    "botocore": "import botocore.session, botocore.config, botocore.exceptions, botocore.utils",
    "powertools": "import aws_lambda_powertools.logging.utils, aws_lambda_powertools.metrics, "
    "aws_lambda_powertools.utilities.typing",
    "libraries": {
        "parse": "import frontmatter, nh3, pyromark, yaml",
        "render": "import jinja2",
        "index": "",
        "fanout": "",
        "compact": "",
    },
    "newsdrop": "import app",
}
BREAKDOWN_CODE = """import sys, time
{preload}
sys.path[:0] = {path!r}
for step in {steps!r}:
    start, cpu = time.perf_counter(), time.process_time()
    exec(step)
    print(time.perf_counter() - start, time.process_time() - cpu)
"""


@dataclass(frozen=True)
class Tree:
    """One version of the deployable code: the built function folders and the built layer."""

    label: str
    functions: dict[str, Path]
    layer: Path  # holds python/


def _built_tree(label: str, root: Path) -> Tree:
    build = root / ".aws-sam" / "build"
    functions = {}
    for name, logical in FUNCTIONS.items():
        built = build / logical
        functions[name] = built if built.is_dir() else root / "functions" / name
    return Tree(label, functions, build / LAYER)


def ensure_build() -> tuple[Tree, str]:
    """`make sam-build` (cached, so quick when nothing changed): the measured code is the current code.

    Without the SAM CLI, the layer is built by its own Makefile (what `sam build` runs) into
    bench/work/layer, and the function folders are used as they are.
    """
    log = paths.WORK / "logs" / "sam-build.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        done = subprocess.run(["make", "sam-build"], cwd=paths.ROOT, stdout=out, stderr=subprocess.STDOUT, check=False)
    if done.returncode == 0 and (paths.SAM_BUILD / LAYER).is_dir():
        return _built_tree("current", paths.ROOT), "make sam-build"
    print(f"bench: make sam-build failed (see {log}); building the layer with its Makefile", flush=True)
    target = paths.WORK / "layer" / LAYER
    python312 = subprocess.run(
        [str(paths.ROOT / "scripts" / "find-python.sh"), "--3.12"], capture_output=True, text=True, check=True
    ).stdout.strip()
    subprocess.run(
        [
            "make",
            "-C",
            str(paths.LAYER_SOURCE),
            "build-NewsdropLayer",
            f"ARTIFACTS_DIR={target}",
            f"PYTHON={python312}",
        ],
        check=True,
    )
    return Tree("current", {n: paths.FUNCTIONS / n for n in FUNCTIONS}, target), "layers/newsdrop/Makefile"


def runtime_sources() -> Iterator[tuple[Path, Path | None]]:
    """Where this interpreter has each package the runtime provides: (package folder or module
    file, the module's cached bytecode if any)."""
    for name in RUNTIME_PACKAGES:
        spec = importlib.util.find_spec(name)
        assert spec is not None and spec.origin is not None, f"{name} is not installed in .venv"
        origin = Path(spec.origin)
        if spec.submodule_search_locations:
            yield origin.parent, None
        else:
            cached = Path(spec.cached or "")
            yield origin, cached if cached.is_file() else None


def runtime_packages() -> Path:
    """A folder with the runtime's packages, copied from .venv with their bytecode (mtimes kept, so it stays valid)."""
    target = paths.WORK / "runtime"
    shutil.rmtree(target, ignore_errors=True)
    (target / "__pycache__").mkdir(parents=True)
    for source, cached in runtime_sources():
        if source.is_dir():
            shutil.copytree(source, target / source.name)
        else:
            shutil.copy2(source, target / source.name)
        if cached is not None:
            shutil.copy2(cached, target / "__pycache__" / cached.name)
    return target


def _files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def tree_bytes(root: Path, *, bytecode: bool = True) -> int:
    return sum(p.stat().st_size for p in _files(root) if bytecode or "__pycache__" not in p.parts)


def zipped_bytes(root: Path) -> int:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in _files(root):
            archive.write(path, path.relative_to(root).as_posix())
    return buffer.tell()


def largest_parts(python_dir: Path, limit: int = 6) -> list[dict[str, Any]]:
    parts = []
    for entry in python_dir.iterdir():
        if entry.name.endswith(".dist-info") or entry.name == "__pycache__":
            continue
        size = tree_bytes(entry) if entry.is_dir() else entry.stat().st_size
        parts.append({"name": entry.name, "bytes": size})
    return sorted(parts, key=lambda p: int(str(p["bytes"])), reverse=True)[:limit]


def sizes(tree: Tree) -> dict[str, Any]:
    """Every file the layer ships, bytecode included; `source_bytes` leaves the bytecode out."""
    functions = {
        name: {"bytes": tree_bytes(root), "zipped_bytes": zipped_bytes(root), "from": str(root)}
        for name, root in tree.functions.items()
    }
    layer = {
        "bytes": tree_bytes(tree.layer),
        "source_bytes": tree_bytes(tree.layer, bytecode=False),
        "zipped_bytes": zipped_bytes(tree.layer),
        "from": str(tree.layer),
        "largest": largest_parts(tree.layer / "python"),
    }
    if (tree.layer / "python" / "newsdrop").is_dir():
        layer["package_digest"] = machine.package_digest(tree.layer / "python", as_shipped=True)
    return {"layer": layer, "functions": functions}


def lambda_env(name: str, pycache: Path | None) -> dict[str, str]:
    drop = ("AWS_", "POWERTOOLS_", "PYTHON")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.update(
        AWS_LAMBDA_FUNCTION_NAME=FUNCTIONS[name],
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE="512",
        AWS_REGION="us-east-1",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        POWERTOOLS_SERVICE_NAME=name,
        POWERTOOLS_METRICS_NAMESPACE="newsdrop",
        LOG_LEVEL="INFO",
        SOURCE_BUCKET="newsdrop-source",
        SITE_BUCKET="newsdrop-site",
        ARTIFACT_BUCKET="newsdrop-artifacts",
        CATALOG_TABLE="newsdrop-catalog",
        EVENT_BUS_NAME="newsdrop-publishing",
    )
    if pycache is not None:
        env["PYTHONPYCACHEPREFIX"] = str(pycache)
    return env


def _import_once(
    tree: Tree, name: str, runtime: Path, mode: str, *, importtime: bool = False
) -> tuple[tuple[float, float], str]:
    """(wall ms, CPU ms) of `import app`, and stderr (the -X importtime log)."""
    path = [str(tree.functions[name]), str(tree.layer / "python"), str(runtime)]
    pycache = paths.WORK / "pycache" / tree.label / name if mode == "bytecode_cached" else None
    flags = ["-S"] if mode == "bytecode_cached" else ["-S", "-B"]
    preload = "" if mode == "deployed_bare" else PRELOAD
    cmd = [
        str(paths.PYTHON),
        *flags,
        *(["-X", "importtime"] if importtime else []),
        "-c",
        IMPORT_CODE.format(path=path, preload=preload),
    ]
    done = subprocess.run(cmd, env=lambda_env(name, pycache), capture_output=True, text=True, check=False, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"{tree.label} {name}: import app failed:\n{done.stderr[-3000:]}")
    wall, cpu = (float(x) * 1000 for x in done.stdout.strip().splitlines()[-1].split())
    return (wall, cpu), done.stderr


def direct_imports(importtime_log: str, limit: int = 8) -> list[dict[str, Any]]:
    """The modules `app` imports itself, by cumulative import time (from `python -X importtime`)."""
    rows = []
    for line in importtime_log.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = line.split("|", 2)
        if cumulative.strip().isdigit():
            rows.append((len(name) - len(name.lstrip()), name.strip(), int(cumulative)))
    app = next((r for r in reversed(rows) if r[1] == "app"), None)
    if app is None:
        return []
    start = max(i for i, r in enumerate(rows) if r[1] == "app")
    children = []
    for depth, module, micros in reversed(rows[:start]):
        if depth <= app[0]:
            break
        if depth == app[0] + 2:
            children.append({"module": module, "ms": round(micros / 1000, 1)})
    return sorted(children, key=lambda c: float(str(c["ms"])), reverse=True)[:limit]


def import_times(trees: list[Tree], runtime: Path, runs: int = RUNS) -> dict[str, dict[str, Any]]:
    """Per tree and handler: both modes' medians; the trees' samples alternate, so load hits them alike."""
    results: dict[str, dict[str, Any]] = {tree.label: {} for tree in trees}
    for name in FUNCTIONS:
        samples: dict[tuple[str, str], list[tuple[float, float]]] = {}
        for tree in trees:
            shutil.rmtree(paths.WORK / "pycache" / tree.label / name, ignore_errors=True)
            for mode in MODES:  # warm-up: the file cache, and the scratch bytecode of bytecode_cached
                samples[tree.label, mode] = []
                _import_once(tree, name, runtime, mode)
        for _ in range(runs):
            for mode in MODES:
                for tree in trees:
                    samples[tree.label, mode].append(_import_once(tree, name, runtime, mode)[0])
        for tree in trees:
            _, log = _import_once(tree, name, runtime, "deployed", importtime=True)
            deployed, cached = samples[tree.label, "deployed"], samples[tree.label, "bytecode_cached"]
            bare = samples[tree.label, "deployed_bare"]
            results[tree.label][name] = {
                "median_ms": _median(deployed, 0),
                "samples_ms": [round(s[0], 1) for s in deployed],
                "median_cpu_ms": _median(deployed, 1),
                "median_ms_bytecode_cached": _median(cached, 0),
                "median_cpu_ms_bytecode_cached": _median(cached, 1),
                "samples_ms_bytecode_cached": [round(s[0], 1) for s in cached],
                "median_ms_bare": _median(bare, 0),
                "median_cpu_ms_bare": _median(bare, 1),
                "direct_imports": direct_imports(log),
            }
    return results


def _median(samples: list[tuple[float, float]], which: int) -> float:
    return round(statistics.median(s[which] for s in samples), 1)


def breakdown(tree: Tree, runtime: Path, runs: int = RUNS) -> dict[str, dict[str, dict[str, float]]]:
    """What each step of BREAKDOWN adds to a handler's import, as deployed: median wall and CPU ms."""
    results = {}
    for name in FUNCTIONS:
        steps = [step if isinstance(step, str) else step[name] for step in BREAKDOWN.values()]
        path = [str(tree.functions[name]), str(tree.layer / "python"), str(runtime)]
        code = BREAKDOWN_CODE.format(path=path, steps=steps, preload=PRELOAD)
        samples: list[list[tuple[float, float]]] = []
        for _ in range(runs + 1):  # the first warms the file cache
            done = subprocess.run(
                [str(paths.PYTHON), "-S", "-B", "-c", code], env=lambda_env(name, None), capture_output=True, text=True
            )
            if done.returncode != 0:
                raise RuntimeError(f"{name}: breakdown failed:\n{done.stderr[-3000:]}")
            lines = done.stdout.splitlines()
            samples.append([(float(wall) * 1000, float(cpu) * 1000) for wall, cpu in (x.split() for x in lines)])
        results[name] = {
            step: {"ms": _median([s[i] for s in samples[1:]], 0), "cpu_ms": _median([s[i] for s in samples[1:]], 1)}
            for i, step in enumerate(BREAKDOWN)
        }
    return results


def _runtime_versions(runtime: Path) -> dict[str, str]:
    versions = "print(boto3.__version__, botocore.__version__)"
    code = f"import sys; sys.path[:0] = sys.argv[1:]; import boto3, botocore; {versions}"
    out = subprocess.run(
        [str(paths.PYTHON), "-S", "-c", code, str(runtime)], capture_output=True, text=True, check=True
    )
    boto3_version, botocore_version = out.stdout.split()
    return {"boto3": boto3_version, "botocore": botocore_version, "from": str(runtime)}


def measure(runs: int = RUNS, baseline: Path | None = None) -> dict[str, Any]:
    tree, obtained = ensure_build()
    runtime = runtime_packages()
    trees = [tree]
    if baseline is not None:
        trees.append(_built_tree("baseline", baseline))
    imports = import_times(trees, runtime, runs)
    result: dict[str, Any] = {
        "packages_from": obtained,
        "runtime_packages": _runtime_versions(runtime),
        "sizes": sizes(tree),
        "imports": imports["current"],
        "breakdown_ms": breakdown(tree, runtime, runs),
    }
    snapshot = os.environ.get("BENCH_PACKAGE_ROOT")
    if snapshot:  # a full run: did the layer hold the code the other sections measured?
        result["layer_matches_snapshot"] = result["sizes"]["layer"].get("package_digest") == machine.package_digest(
            Path(snapshot), as_shipped=True
        )
    if baseline is not None:
        result["baseline"] = {
            "root": str(baseline),
            "commit": _commit(baseline),
            "sizes": sizes(trees[1]),
            "imports": imports["baseline"],
        }
    return result


def _commit(root: Path) -> str:
    stamp = root / "COMMIT"  # a tree exported with `git archive` has no .git
    if stamp.is_file():
        return stamp.read_text().strip()[:12]
    done = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return done.stdout.strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.coldstart", description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=11, help="samples per handler and mode (default 11)")
    parser.add_argument(
        "--baseline", type=Path, help="another checkout with its own .aws-sam/build, measured alongside"
    )
    parser.add_argument("--name", default="coldstart", help="results file name (default coldstart)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    results: dict[str, Any] = {"name": args.name, "mode": "cold-start only", "machine": machine.describe()}
    results["cold_start"] = measure(args.runs, args.baseline)
    results["goals"] = [g.to_json() for g in goals.cold_start(results)]
    machine.finish(results["machine"])
    results["total_s"] = round(time.perf_counter() - started, 1)
    out = report.write_json(results, args.name)
    print(f"\nCold start\n{report.cold_table(results)}\n\n{report.goals_table(results)}")
    print(f"\n{report.probe_text(results['machine'])}\nresults: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
