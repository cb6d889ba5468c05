"""Run a snippet in a fresh Python without ``TRITON_INTERPRET`` (set for the whole suite by
``conftest.py``): where the kernels' dispatcher takes its real path, the torch reference on a
machine without CUDA, and where ``triton.compile`` builds GPU code ahead of time (no GPU needed)."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_without_interpreter(code: str, timeout: int = 300) -> subprocess.CompletedProcess:
    """``python -c code`` (dedented) from the repository root, with the interpreter switched off."""
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)
