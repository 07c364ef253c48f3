"""Supply chain: hashed pins that agree with pyproject.toml, installs that require hashes, justified checkov skips."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from tests.conftest import ROOT

LAYER = ROOT / "layers" / "newsdrop"
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==(\S+) \\$")
SKIP = re.compile(r"#\s*checkov:skip=(\S*?):\s*(.*)$")


def requirements(path: Path) -> dict[str, tuple[str, list[str]]]:
    """name -> (version, hashes) for a pip-compile --generate-hashes file; fails on any unhashed line."""
    pins: dict[str, tuple[str, list[str]]] = {}
    name = ""
    for line in path.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if match := PIN.match(line):
            name = match.group(1).lower().replace("_", "-")
            pins[name] = (match.group(2), [])
        elif line.startswith("    --hash=sha256:"):
            digest = line.split("sha256:", 1)[1].rstrip(" \\")
            assert re.fullmatch(r"[0-9a-f]{64}", digest), line
            pins[name][1].append(digest)
        else:
            pytest.fail(f"{path.name}: not a hashed pin: {line!r}")
    return pins


def pyproject_pins(extra: str | None = None) -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = project["optional-dependencies"][extra] if extra else project["dependencies"]
    return {
        re.sub(r"\[.*\]", "", name).lower(): version
        for name, _, version in (spec.partition("==") for spec in specs)
        if version
    }


@pytest.mark.parametrize("path", [LAYER / "requirements.txt", ROOT / "requirements-dev.txt"], ids=["layer", "dev"])
def test_every_requirement_is_pinned_with_hashes(path: Path) -> None:
    pins = requirements(path)
    assert pins
    assert all(hashes for _, hashes in pins.values()), [n for n, (_, h) in pins.items() if not h]


def test_the_layer_pins_the_versions_pyproject_names() -> None:
    layer = requirements(LAYER / "requirements.txt")
    runtime = pyproject_pins()
    assert runtime, "pyproject.toml pins the runtime dependencies"
    for name, version in runtime.items():
        assert layer[name][0] == version, name
    wanted = {line.split("==")[0].lower() for line in (LAYER / "requirements.in").read_text().splitlines()
              if line and not line.startswith("#")}  # fmt: skip
    assert wanted == set(runtime)


def test_the_layer_pins_nothing_the_lambda_runtime_provides() -> None:
    # The python3.12 runtime provides boto3 and its dependencies; a second copy in the layer only
    # adds megabytes (botocore alone is 21 MB). jmespath is the exception: aws-lambda-powertools
    # requires it, so the hash-checked install needs its pin (60 KB).
    layer = requirements(LAYER / "requirements.txt")
    provided = {"boto3", "botocore", "s3transfer", "urllib3", "python-dateutil", "six"}
    assert provided & set(layer) == set()
    assert "aws-xray-sdk" not in layer  # tracing's SDK: 200 ms of every cold start, and it needs botocore


def test_dev_requirements_pin_pyproject_and_the_dev_tools() -> None:
    dev = requirements(ROOT / "requirements-dev.txt")
    for name, version in {**pyproject_pins(), **pyproject_pins("dev")}.items():
        assert dev[name][0] == version, name
    assert {"pip", "setuptools", "bandit"} <= set(dev)


def test_the_venv_is_installed_with_require_hashes() -> None:
    script = (ROOT / "scripts" / "install-venv.sh").read_text()
    installs = [line for line in script.splitlines() if "pip install" in line and not line.lstrip().startswith("#")]
    assert installs and all("--require-hashes" in line or "--no-deps" in line for line in installs)


def test_every_checkov_skip_names_a_check_and_a_reason() -> None:
    skips = [SKIP.search(line) for line in (ROOT / "template.yaml").read_text().splitlines() if "checkov:skip" in line]
    assert skips
    for skip in skips:
        assert skip is not None
        assert re.fullmatch(r"CKV_AWS_\d+", skip.group(1)), skip.group(0)
        assert len(skip.group(2).split()) >= 8, f"{skip.group(1)}: say why it does not apply"
