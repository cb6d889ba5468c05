"""How a run was made: commit, library versions, device, tier, parameters, wall time, data files.

Every chapter prints this at its end and stores it in its ``results.json``;
:func:`source_hash` also keys the book's execution cache, so a change to ``lab/``,
``kernels/`` or the chapter re-executes it.
"""
from __future__ import annotations

import hashlib
import importlib
import os
import platform
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

from lab.paths import book_dir, repo_root, results_dir


def _git(*args: str) -> str:
    try:
        out = subprocess.run(["git", *args], cwd=repo_root(), capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


def git_commit() -> str:
    """``<sha>`` of HEAD, with ``+dirty`` when the sources under lab/, kernels/ or book/ differ from it."""
    if os.environ.get("LAB_COMMIT"):
        # A copy of the working tree on a lent GPU machine, whose .git (if any) is not the
        # checkout's: whoever sent the copy names the commit.
        return os.environ["LAB_COMMIT"]
    sha = _git("rev-parse", "--short=12", "HEAD")
    if not sha:
        return "unknown (not a git checkout)"
    dirty = _git("status", "--porcelain", "--", "lab", "kernels", "book")
    return sha + ("+dirty" if dirty else "")


def _version(module: str) -> str:
    try:
        return getattr(importlib.import_module(module), "__version__", "unknown")
    except Exception:  # a broken optional install must not break the provenance line
        return "not installed"


@lru_cache(maxsize=1)
def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device() -> str:
    """The GPU's name when torch sees one, else the CPU model and core count."""
    try:
        import torch

        if torch.cuda.is_available():
            return f"GPU: {torch.cuda.get_device_name(0)}"
    except ImportError:
        pass
    return f"CPU: {cpu_name()} ({os.cpu_count()} cores)"


def versions() -> dict[str, str]:
    return {
        "python": platform.python_version(),
        **{m: _version(m) for m in ("torch", "numpy", "scipy", "triton")},
    }


def source_files(chapter: str) -> list[Path]:
    """What a chapter's page depends on: lab/ and kernels/ code, the chapter, and the GPU
    results under ``results/`` that chapters display (its own full-tier runs, kernel timings)."""
    root = repo_root()
    files = sorted(p for d in ("lab", "kernels") for p in (root / d).rglob("*.py"))
    results = sorted(p for d in (chapter, "kernels") for p in (results_dir() / d).glob("*.json"))
    return files + [book_dir() / f"{chapter}.md"] + results


def source_hash(chapter: str) -> str:
    """sha256 over :func:`source_files`: the chapter, ``lab/`` and ``kernels/`` code, its GPU results."""
    h = hashlib.sha256()
    root = repo_root()
    for path in source_files(chapter):
        # LAB_RESULTS_DIR may lie outside the checkout: name such files by their full path
        h.update(str(path.relative_to(root) if path.is_relative_to(root) else path).encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def _code_hash(chapter: str) -> str:
    from lab.gpu.sources import chapter_hash

    try:
        return chapter_hash(chapter)
    except OSError:
        return ""


def collect(chapter: str, tier: str, parameters: dict, wall_time_s: float, started_utc: str,
            cpu_time_s: float | None = None) -> dict:
    return {
        "commit": git_commit(),
        **versions(),
        "device": device(),
        "platform": f"{platform.system()} {platform.machine()}",
        "tier": tier,
        "parameters": parameters,
        "started_utc": started_utc,
        "wall_time_s": round(wall_time_s, 2),
        # CPU seconds of the kernel process: the work done, whatever else shares the machine
        "cpu_time_s": None if cpu_time_s is None else round(cpu_time_s, 2),
        "source_hash": source_hash(chapter),
        # the narrower hash `lab gpu` compares: the chapter and the lab packages and kernels it imports
        "code_hash": _code_hash(chapter),
        "executable": sys.executable,
        # sha256 of every data file the run read (verified against the published hashes)
        "data_files": data_hashes(),
    }


def data_hashes() -> dict[str, str]:
    """relpath -> sha256 of the data files read in this process (:data:`lab.datafiles.USED`)."""
    datafiles = sys.modules.get("lab.datafiles")
    return dict(sorted(datafiles.USED.items())) if datafiles else {}
