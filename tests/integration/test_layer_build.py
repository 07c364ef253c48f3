"""The built layer (`make sam-build`, layers/newsdrop/Makefile) is what Lambda can run, and runs lean.

Each handler is imported in a fresh interpreter from its built folder, the built layer and
the packages the Lambda runtime provides, and nothing else: a dependency missing from the
layer (or pruned from it by the Makefile) fails here as it would on Lambda. Skipped when
.aws-sam/build is absent or older than the package source (`make test` builds it first).
"""

from __future__ import annotations

import ast
import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bench.coldstart import BREAKDOWN, FUNCTIONS, Tree, breakdown, runtime_sources
from bench.machine import NOT_IN_LAYER, package_digest
from tests.conftest import ROOT, unavailable

BUILD = ROOT / ".aws-sam" / "build"
LAYER = BUILD / "NewsdropLayer" / "python"
SOURCE = ROOT / "layers" / "newsdrop"
# Never needed to serve an event: tracing's SDK, the local stack and CLI, the test doubles; and
# boto3, whose own modules the adapters do without (they use botocore's clients).
NEVER = {"aws_xray_sdk", "boto3", "moto", "newsdrop.local", "newsdrop.cli", "rich", "pytest"}
# Each stage's own libraries stay out of the other stages' cold starts.
PARSE_ONLY = {"pyromark", "nh3", "frontmatter", "yaml"}
RENDER_ONLY = {"jinja2"}
NOT_IMPORTED = {
    "parse": NEVER | RENDER_ONLY,
    "render": NEVER | PARSE_ONLY,
    "index": NEVER | PARSE_ONLY | RENDER_ONLY,
    "fanout": NEVER | PARSE_ONLY | RENDER_ONLY,  # it lists keys and puts events, nothing more
    "compact": NEVER | PARSE_ONLY | RENDER_ONLY,
}
STAGE = {"compact": "index"}  # the scheduled compaction is the index stage's

# Runs in the fresh interpreter: imports the handler, then reports every loaded module and
# each module that had to be compiled from source (no usable .pyc).
PROBE = """
import importlib.machinery, json, sys
sys.path[:0] = json.loads(sys.argv[1])
compiled = []
original = importlib.machinery.SourceFileLoader.source_to_code
def source_to_code(self, data, path, *args, **kwargs):
    compiled.append(str(path))
    return original(self, data, path, *args, **kwargs)
importlib.machinery.SourceFileLoader.source_to_code = source_to_code
import app
print(json.dumps({"modules": sorted(sys.modules), "compiled": compiled}))
"""


@pytest.fixture(scope="module")
def layer() -> Path:
    if not (LAYER / "newsdrop").is_dir():
        unavailable(f"no built layer at {LAYER}: run `make sam-build`")
    if package_digest(LAYER, as_shipped=True) != package_digest(SOURCE, as_shipped=True):
        unavailable("the built layer is older than layers/newsdrop: run `make sam-build`")
    if sys.version_info[:2] != (3, 12):
        pytest.skip("the layer's bytecode is for Python 3.12 (the functions' runtime)")
    return LAYER


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The packages Lambda's python3.12 runtime provides, linked from this interpreter's installs."""
    folder = tmp_path_factory.mktemp("runtime")
    for source, _ in runtime_sources():
        (folder / source.name).symlink_to(source)
    return folder


def test_the_layer_leaves_out_what_the_runtime_provides_and_the_tracing_sdk(layer: Path) -> None:
    shipped = {p.name for p in layer.iterdir()}
    assert shipped & {"boto3", "botocore", "s3transfer", "urllib3", "dateutil", "aws_xray_sdk"} == set()
    assert {"newsdrop", "aws_lambda_powertools", "jinja2", "pyromark", "nh3", "yaml", "frontmatter"} <= shipped


def test_every_module_ships_bytecode_that_ignores_file_times(layer: Path) -> None:
    # `sam package` dates every file 1980-01-01, so timestamp-checked .pyc files would never match
    # on Lambda; unchecked-hash ones (PEP 552 flags = 1) are used as they are.
    tag = sys.implementation.cache_tag
    sources = [p for p in layer.rglob("*.py") if "__pycache__" not in p.parts]
    assert len(sources) > 100
    for source in sources:
        pyc = source.parent / "__pycache__" / f"{source.stem}.{tag}.pyc"
        assert pyc.is_file(), f"no bytecode for {source.relative_to(layer)}"
        header = pyc.read_bytes()[:8]
        assert header[:4] == importlib.util.MAGIC_NUMBER, pyc
        assert int.from_bytes(header[4:8], "little") == 1, f"{pyc.relative_to(layer)} is not unchecked-hash"


@pytest.mark.parametrize("name", FUNCTIONS)
def test_each_handler_imports_from_the_layer_alone_without_compiling(name: str, layer: Path, runtime: Path) -> None:
    function = BUILD / FUNCTIONS[name]
    path = [str(function), str(layer), str(runtime)]
    env = {
        "AWS_LAMBDA_FUNCTION_NAME": FUNCTIONS[name],
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_SERVICE_NAME": name,
    }
    done = subprocess.run(
        [sys.executable, "-S", "-B", "-c", PROBE, json.dumps(path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.splitlines()[-1])
    modules = set(report["modules"])
    loaded = NOT_IMPORTED[name] & modules  # importing a submodule imports its package too
    assert loaded == set(), f"{name} imports {sorted(loaded)}"
    assert f"newsdrop.stages.{STAGE.get(name, name)}" in modules
    if name == "parse":  # the stripped libyaml binding loads: front matter is not read by pure Python
        assert "yaml._yaml" in modules
    from_layer = [p for p in report["compiled"] if Path(p).is_relative_to(layer)]
    assert from_layer == [], f"compiled at import: {from_layer[:5]}"


PRUNED_FROM = ("aws_lambda_powertools", "newsdrop")  # the packages the layer's Makefile prunes
# Imports of pruned modules that no event here reaches: Powertools dumps a pydantic model through its
# event handler's code, and the functions' events are dicts (pydantic is not in the layer either).
UNREACHED = {("aws_lambda_powertools/shared/functions.py", "aws_lambda_powertools.event_handler.openapi.compat")}


def _names(module: Path) -> set[str]:
    """The names a module's top level binds (what `from package import name` can find in it)."""
    names: set[str] = set()
    for node in ast.parse(module.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name))
    return names


def _unguarded_imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import that runs when reached: not under `if TYPE_CHECKING:`, nor in a `try` that
    catches ImportError (an optional dependency, which the module does without)."""
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            children: list[ast.AST] = list(node.orelse)
        elif isinstance(node, ast.Try) and any(
            "ImportError" in ast.unparse(h.type) for h in node.handlers if h.type is not None
        ):
            children = [*node.handlers, *node.orelse, *node.finalbody]
        else:
            if isinstance(node, ast.Import | ast.ImportFrom):
                found.append(node)
            children = list(ast.iter_child_nodes(node))
        for child in children:
            visit(child)

    visit(tree)
    return found


def _missing(layer: Path, module: str, name: str | None) -> bool:
    path = layer.joinpath(*module.split("."))
    if path.with_suffix(".py").is_file():
        return name is not None and name not in _names(path.with_suffix(".py"))
    if not (path / "__init__.py").is_file():
        return True
    if name is None or (path / name).is_dir() or (path / f"{name}.py").is_file():
        return False
    return name not in _names(path / "__init__.py")


def test_nothing_the_layer_ships_imports_what_its_build_pruned(layer: Path) -> None:
    # The handlers' imports are tried above; this reads every import of every module that stays,
    # those made inside functions too (Powertools imports many lazily), so a module that only runs
    # on some events cannot reach for one the build left out.
    missing = []
    for top in PRUNED_FROM:
        for source in (layer / top).rglob("*.py"):
            package = source.relative_to(layer).with_suffix("").parts[:-1]
            for node in _unguarded_imports(ast.parse(source.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    wanted = [(alias.name, None) for alias in node.names]
                else:
                    base = ".".join(package[: len(package) - node.level + 1]) if node.level else ""
                    module = ".".join(p for p in (base, node.module or "") if p)
                    wanted = [(module, alias.name) for alias in node.names if alias.name != "*"]
                for module, name in wanted:
                    unreached = (source.relative_to(layer).as_posix(), module) in UNREACHED
                    if module.split(".")[0] in PRUNED_FROM and not unreached and _missing(layer, module, name):
                        missing.append(f"{source.relative_to(layer)}:{node.lineno} {module} {name or ''}")
    assert missing == []
    # What the build prunes is gone (else the check above would pass for nothing).
    assert not (layer / "aws_lambda_powertools" / "utilities" / "batch").exists()
    assert not (layer / "newsdrop" / "local").exists()


# Runs in the fresh interpreter as Lambda's bootstrap does: the layer on sys.path, not in PYTHONPATH.
OVERRIDE_PROBE = """
import json, logging, sys
from importlib import resources
sys.path[:0] = json.loads(sys.argv[1])
import app
from newsdrop.rendering.theme import TemplateProblem, check_template
source = resources.files("newsdrop.rendering").joinpath("templates/404.html").read_text()
log = logging.getLogger("newsdrop.stages.parse")
try:
    check_template("404.html", source)
except TemplateProblem as exc:
    log.warning("rejected", extra={"key": "_templates/404.html", "reason": str(exc)})
else:
    log.info("accepted", extra={"key": "_templates/404.html"})
"""


def test_parse_tries_an_override_and_logs_its_lines_from_the_layer_alone(layer: Path, runtime: Path) -> None:
    # The interpreter under the virtualenv, which has neither this package nor its libraries: the
    # trial's child process must find them where Lambda's bootstrap put them for the parent.
    python = Path(sys.base_prefix) / "bin" / "python3"
    bare = subprocess.run([python, "-c", "import jinja2"], capture_output=True, check=False)
    if bare.returncode == 0:
        pytest.skip(f"{python} has jinja2 installed: a child would find it without the layer")
    path = [str(BUILD / FUNCTIONS["parse"]), str(layer), str(runtime)]
    env = {"AWS_DEFAULT_REGION": "us-east-1", "POWERTOOLS_SERVICE_NAME": "parse", "LOG_LEVEL": "INFO"}
    done = subprocess.run(
        [python, "-S", "-B", "-c", OVERRIDE_PROBE, json.dumps(path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    # Each line structured, as the template's service name configures the function's logger.
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(line["message"], line["service"], line["key"]) for line in lines] == [
        ("accepted", "parse", "_templates/404.html")
    ], lines


def test_the_bench_s_import_breakdown_imports_from_the_built_layer(layer: Path, runtime: Path) -> None:
    # Each step names modules by hand: one the layer's build prunes, or a library replaced, fails here.
    tree = Tree("current", {name: BUILD / FUNCTIONS[name] for name in FUNCTIONS}, layer.parent)
    steps = breakdown(tree, runtime, runs=1)
    assert set(steps) == set(FUNCTIONS)
    assert all(set(steps[name]) == set(BREAKDOWN) for name in FUNCTIONS)


def test_the_bench_measures_every_function_of_the_template() -> None:
    from newsdrop.local import template as cfn

    resources = cfn.load(ROOT / "template.yaml")["Resources"]
    functions = {k for k, v in resources.items() if v["Type"] == "AWS::Serverless::Function"}
    assert set(FUNCTIONS.values()) == functions
    assert set(NOT_IMPORTED) == set(FUNCTIONS)


def test_the_layer_s_digest_leaves_out_what_its_build_prunes_of_the_package() -> None:
    # Else a built layer and its source never compare alike, and every test above is skipped as stale.
    prune = re.search(r"^PRUNE := (.*)$", (SOURCE / "Makefile").read_text(), re.MULTILINE)
    assert prune is not None
    pruned = {path.removeprefix("newsdrop/") for path in prune.group(1).split() if path.startswith("newsdrop/")}
    assert pruned == set(NOT_IN_LAYER)


def test_sam_build_runs_the_layer_makefile() -> None:
    makefile = (SOURCE / "Makefile").read_text()
    assert "\nbuild-NewsdropLayer:" in makefile
    assert "--require-hashes" in makefile and "--invalidation-mode unchecked-hash" in makefile
