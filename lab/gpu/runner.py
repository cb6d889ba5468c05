"""``lab gpu --budget SECONDS``: run the pending GPU work until the budget is spent.

Order: the kernel benchmarks first (seconds each, and chapters show them), then the pending
full tiers, most stale first. Each runs in its own process with a time guard equal to the time
left; a full tier whose expected time (its last record's wall time, else the chapter config's
``FULL_TIER_SECONDS``, else :data:`UNKNOWN_SECONDS`) does not fit in what is left is skipped
with that reason, never started to be cut short. Each record is written as soon as its run
finishes: ``results/kernels/<op>.json``, ``results/<chapter>/<UTC time>-full.json`` and the
executed notebook beside it.
"""
from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from lab.gpu.pending import Item, items
from lab.paths import repo_root, results_dir

UNKNOWN_SECONDS = 300.0  #: expected full-tier time of a chapter that has never run on a GPU
MARGIN = 1.2  #: a run is started only when MARGIN × its expected time fits in what is left


class NoGPU(RuntimeError):
    """``lab gpu`` asked to run on a machine without CUDA."""


@dataclass
class Outcome:
    item: Item
    state: str  # "wrote", "failed", "skipped", "timed out"
    detail: str
    seconds: float = 0.0


def expected_seconds(item: Item) -> tuple[float, str]:
    if item.last_seconds:
        return float(item.last_seconds), "its last record's wall time"
    if item.kind == "kernel":
        return 60.0, "a kernel benchmark's usual minute"
    try:
        cfg = importlib.import_module(f"lab.{item.name}.config")
        declared = getattr(cfg, "FULL_TIER_SECONDS", None)
    except ImportError:
        declared = None
    if declared:
        return float(declared), "the chapter's FULL_TIER_SECONDS"
    return UNKNOWN_SECONDS, "no estimate (never run on a GPU)"


def cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def _run(cmd: list[str], timeout: float, env: dict | None = None) -> tuple[int | None, str]:
    try:
        proc = subprocess.run(cmd, cwd=repo_root(), timeout=timeout, capture_output=True, text=True,
                              env={**os.environ, **(env or {})})
    except subprocess.TimeoutExpired as exc:
        tail = (exc.stdout or b"")[-2000:] if isinstance(exc.stdout, bytes) else (exc.stdout or "")[-2000:]
        return None, str(tail)
    return proc.returncode, (proc.stdout + proc.stderr)[-2000:]


def run_kernel(item: Item, timeout: float) -> Outcome:
    t0 = time.perf_counter()
    out = results_dir() / "kernels"
    code, log = _run([sys.executable, "-m", "kernels.bench", item.name, "--out", str(out)], timeout)
    dt = time.perf_counter() - t0
    if code is None:
        return Outcome(item, "timed out", f"stopped after {dt:.0f} s; nothing written", dt)
    if code != 0:
        return Outcome(item, "failed", log.strip().splitlines()[-1] if log.strip() else f"exit {code}", dt)
    return Outcome(item, "wrote", str(out / f"{item.name}.json"), dt)


def run_chapter(item: Item, timeout: float) -> Outcome:
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        code, log = _run([sys.executable, "-m", "lab", "run", item.name, "--scale", "full", "-q"], timeout,
                         env={"LAB_RUNS_DIR": tmp, "TQDM_DISABLE": "1"})
        dt = time.perf_counter() - t0
        if code is None:
            return Outcome(item, "timed out", f"stopped after {dt:.0f} s; nothing written", dt)
        runs = sorted((Path(tmp) / item.name).glob("*-full*/results.json"))
        if code != 0 or not runs:
            last = log.strip().splitlines()[-1] if log.strip() else f"exit {code}"
            return Outcome(item, "failed", last, dt)
        run_dir = runs[-1].parent
        res = json.loads(runs[-1].read_text())
        stamp = datetime.fromisoformat(res["provenance"]["started_utc"]).strftime("%Y%m%dT%H%M%SZ")
        dest = results_dir() / item.name
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copy(runs[-1], dest / f"{stamp}-full.json")
        nb = run_dir / f"{item.name}.ipynb"
        if nb.exists():
            shutil.copy(nb, dest / f"{stamp}-full.ipynb")
        return Outcome(item, "wrote", str(dest / f"{stamp}-full.json"), dt)


def run_pending(budget_s: float, log=print) -> list[Outcome]:
    """Run the pending kernels, then the pending chapters, within ``budget_s`` seconds."""
    if budget_s <= 0:
        raise ValueError(f"the budget must be positive, got {budget_s}")
    if not cuda_available():
        raise NoGPU("no CUDA device here: `lab gpu --list` shows what is pending; run `lab gpu` on a GPU machine")
    deadline = time.monotonic() + budget_s
    outcomes = []
    for item in [it for it in items() if it.pending]:
        left = deadline - time.monotonic()
        expect, why = expected_seconds(item)
        if MARGIN * expect > left:
            outcomes.append(Outcome(item, "skipped", f"expects {expect:.0f} s ({why}), {left:.0f} s left"))
            log(f"  skip {item.kind} {item.name}: {outcomes[-1].detail}")
            continue
        log(f"  {item.kind} {item.name}: running ({left:.0f} s left, expects {expect:.0f} s)")
        outcome = (run_kernel if item.kind == "kernel" else run_chapter)(item, left)
        outcomes.append(outcome)
        log(f"  {item.kind} {item.name}: {outcome.state} in {outcome.seconds:.0f} s: {outcome.detail}")
    return outcomes


def summary(outcomes: list[Outcome]) -> str:
    wrote = [o for o in outcomes if o.state == "wrote"]
    rest = [o for o in outcomes if o.state != "wrote"]
    lines = [f"lab gpu: wrote {len(wrote)} record(s)"]
    lines += [f"    {o.detail}" for o in wrote]
    if rest:
        lines.append(f"still pending: {len(rest)}")
        lines += [f"    {o.item.kind} {o.item.name}: {o.state}: {o.detail}" for o in rest]
    return "\n".join(lines)
