"""Cold start: each handler's import time in a fresh interpreter, and the deployment package sizes.

Imports run the way Lambda loads a function: a new interpreter with the function's
folder, then the layer, on sys.path, with Lambda's environment variables (so Powertools'
Tracer is on, as in Lambda). The newsdrop package comes from the run's snapshot of layers/newsdrop (the code
as it is now), its dependencies from the built layer (`sam build` output), boto3 from
.venv (the Lambda runtime provides boto3). Bytecode goes to a scratch PYTHONPYCACHEPREFIX:
the first import compiles it (a layer without .pyc files pays that on every cold start),
the median is over the runs after that.
"""

from __future__ import annotations

import io
import os
import shutil
import statistics
import subprocess
import zipfile
from pathlib import Path
from typing import Any

from bench import paths

FUNCTIONS = {"parse": "ParseFunction", "render": "RenderFunction", "index": "IndexFunction"}
LAYER = "NewsdropLayer"
RUNS = 5
IMPORT_CODE = """import sys, time
sys.path[:0] = {path!r}
start = time.perf_counter()
import app
print(time.perf_counter() - start)
"""


def ensure_sam_build() -> str:
    """`make sam-build` when .aws-sam/build is missing; returns how the packages were obtained."""
    if (paths.SAM_BUILD / LAYER).is_dir():
        return "existing .aws-sam/build"
    log = paths.WORK / "logs" / "sam-build.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    print("bench: .aws-sam/build is missing; running `make sam-build`", flush=True)
    with log.open("wb") as out:
        done = subprocess.run(["make", "sam-build"], cwd=paths.ROOT, stdout=out, stderr=subprocess.STDOUT, check=False)
    if done.returncode == 0 and (paths.SAM_BUILD / LAYER).is_dir():
        return "make sam-build"
    print(f"bench: make sam-build failed (see {log}); installing the layer requirements instead", flush=True)
    return _pip_layer()


def _pip_layer() -> str:
    """The layer's contents without SAM: pip install its requirements next to the package."""
    target = paths.WORK / "layer" / LAYER / "python"
    shutil.rmtree(target.parent, ignore_errors=True)
    subprocess.run(
        [
            str(paths.PYTHON),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--target",
            str(target),
            "-r",
            str(paths.LAYER_SOURCE / "requirements.txt"),
        ],
        check=True,
    )
    shutil.copytree(paths.LAYER_SOURCE / "newsdrop", target / "newsdrop", ignore=shutil.ignore_patterns("__pycache__"))
    return "pip install --target (no sam build)"


def _layer_root() -> Path:
    built = paths.SAM_BUILD / LAYER
    return built if built.is_dir() else paths.WORK / "layer" / LAYER


def _files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts]


def tree_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in _files(root))


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


def sizes() -> dict[str, Any]:
    layer = _layer_root()
    functions = {}
    for name, logical in FUNCTIONS.items():
        built = paths.SAM_BUILD / logical
        root = built if built.is_dir() else paths.FUNCTIONS / name
        functions[name] = {"bytes": tree_bytes(root), "zipped_bytes": zipped_bytes(root), "from": str(root)}
    newest_source = max(p.stat().st_mtime for p in _files(paths.LAYER_SOURCE / "newsdrop"))
    return {
        "layer": {
            "bytes": tree_bytes(layer),
            "zipped_bytes": zipped_bytes(layer),
            "from": str(layer),
            "largest": largest_parts(layer / "python"),
            "older_than_source": layer.stat().st_mtime < newest_source,
        },
        "functions": functions,
    }


def lambda_env(name: str) -> dict[str, str]:
    drop = ("AWS_", "POWERTOOLS_", "PYTHONDONTWRITEBYTECODE")  # bytecode goes to the scratch prefix
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
        PYTHONPYCACHEPREFIX=str(paths.WORK / "pycache" / name),
    )
    return env


def _import_path(name: str) -> list[str]:
    return [str(paths.FUNCTIONS / name), str(paths.package_root()), str(_layer_root() / "python")]


def _import_once(name: str, *, importtime: bool = False) -> tuple[float, str]:
    cmd = [
        str(paths.PYTHON),
        *(["-X", "importtime"] if importtime else []),
        "-c",
        IMPORT_CODE.format(path=_import_path(name)),
    ]
    done = subprocess.run(cmd, env=lambda_env(name), capture_output=True, text=True, check=True, timeout=120)
    return float(done.stdout.strip().splitlines()[-1]), done.stderr


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


def import_times(runs: int = RUNS) -> dict[str, Any]:
    results = {}
    for name in FUNCTIONS:
        shutil.rmtree(paths.WORK / "pycache" / name, ignore_errors=True)
        first, _ = _import_once(name)
        samples = [_import_once(name)[0] for _ in range(runs)]
        _, log = _import_once(name, importtime=True)
        results[name] = {
            "median_ms": round(statistics.median(samples) * 1000, 1),
            "samples_ms": [round(s * 1000, 1) for s in samples],
            "first_import_ms_compiling": round(first * 1000, 1),
            "direct_imports": direct_imports(log),
        }
    return results


def measure(runs: int = RUNS) -> dict[str, Any]:
    obtained = ensure_sam_build()
    return {"packages_from": obtained, "sizes": sizes(), "imports": import_times(runs)}
