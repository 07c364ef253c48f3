"""Where things are: the project, the shared corpus, the bench's scratch space and results."""

from __future__ import annotations

import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
WORK = BENCH / "work"  # gitignored scratch space: corpora, built sites, logs, profiles
RESULTS = BENCH / "results"
THEMES = BENCH / "themes"

SHARED = ROOT.parent / "shared"
CORPUS = SHARED / "corpus" / "finews"
CORPUS_POSTS = CORPUS / "_posts"
CORPUS_CONFIG = CORPUS / "_config.yml"
SYNTH = SHARED / "tools" / "synth_corpus.py"

PYTHON = Path(sys.executable)
VENV_BIN = PYTHON.parent
NEWSDROP = VENV_BIN / "newsdrop"
JEKYLL = Path("/usr/bin/jekyll")

LAYER_SOURCE = ROOT / "layers" / "newsdrop"
FUNCTIONS = ROOT / "functions"
SAM_BUILD = ROOT / ".aws-sam" / "build"


def corpus_available() -> bool:
    return CORPUS_POSTS.is_dir() and SYNTH.is_file()
