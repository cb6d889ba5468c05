"""Where the book's sources, runs and committed results live.

The repository root is found from the installed package (an editable install, as the README
sets up); ``LAB_RUNS_DIR`` and ``LAB_RESULTS_DIR`` move the run folders and the GPU results
elsewhere (the tests use temporary folders).
"""
from __future__ import annotations

import os
from pathlib import Path


def repo_root() -> Path:
    return Path(__file__).resolve().parents[1]


def book_dir() -> Path:
    return repo_root() / "book"


def runs_dir() -> Path:
    return Path(os.environ.get("LAB_RUNS_DIR", repo_root() / "runs"))


def results_dir() -> Path:
    """Committed GPU results: ``results/<chapter>/*.json`` (full tier), ``results/kernels/``.

    ``LAB_RESULTS_DIR`` moves it (the tests use a temporary folder)."""
    return Path(os.environ.get("LAB_RESULTS_DIR", repo_root() / "results"))
