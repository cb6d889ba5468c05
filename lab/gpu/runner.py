"""``lab gpu --budget SECONDS``: run the pending GPU work until the budget is spent.

Order: the kernel benchmarks first, one at a time (their timings need an idle GPU), then the
pending full tiers, most stale first, ``jobs`` at a time on the one GPU (``--jobs``; each with
``cores // jobs`` CPU threads, and a record that names the chapters it ran beside). Each runs in
its own process with a time guard equal to the time left; a full tier whose expected time (its
last record's wall time, else the chapter config's ``FULL_TIER_SECONDS``, else
:data:`UNKNOWN_SECONDS`) does not fit in what is left is skipped with that reason, never started
to be cut short (``--try-all`` starts it anyway). Each record is written as soon as its run
finishes: ``results/kernels/<op>.json``, ``results/<chapter>/<UTC time>-full.json`` and the
executed notebook beside it. ``--logs DIR`` keeps every run's log there, and the executed
notebook of a full tier that failed.
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
KERNEL_CAP_SECONDS = 150.0  #: a kernel benchmark is stopped after this long (compile and autotune included)


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
        tail = (exc.stdout or b"")[-8000:] if isinstance(exc.stdout, bytes) else (exc.stdout or "")[-8000:]
        return None, str(tail)
    return proc.returncode, (proc.stdout + proc.stderr)[-8000:]


def run_kernel(item: Item, timeout: float, logs: Path | None = None) -> Outcome:
    t0 = time.perf_counter()
    out = results_dir() / "kernels"
    code, log = _run([sys.executable, "-m", "kernels.bench", item.name, "--out", str(out)],
                     min(timeout, KERNEL_CAP_SECONDS))
    dt = time.perf_counter() - t0
    if logs is not None:
        logs.mkdir(parents=True, exist_ok=True)
        (logs / f"kernel-{item.name}.log").write_text(log)
    if code is None:
        return Outcome(item, "timed out", f"stopped after {dt:.0f} s; nothing written", dt)
    if code != 0:
        return Outcome(item, "failed", log.strip().splitlines()[-1] if log.strip() else f"exit {code}", dt)
    return Outcome(item, "wrote", str(out / f"{item.name}.json"), dt)


def chapter_command(item: Item) -> list[str]:
    """The command that runs one chapter's full tier (tests replace it with a stand-in)."""
    return [sys.executable, "-m", "lab", "run", item.name, "--scale", "full", "-q"]


class ChapterJob:
    """One chapter's full tier running in its own process group, in a run folder of its own.

    ``threads`` caps the CPU threads of the run (``OMP_NUM_THREADS`` and friends) so that
    several full tiers share the machine's cores; ``beside`` collects the chapters that ran at
    the same time, which the record states (their wall times and any GPU timings were measured
    on a shared GPU).
    """

    def __init__(self, item: Item, deadline: float, threads: int | None = None, logs: Path | None = None):
        self.item, self.deadline, self.logs = item, deadline, logs
        self.beside: set[str] = set()
        self.tmp = tempfile.TemporaryDirectory()
        self.log_path = Path(self.tmp.name) / "log.txt"
        env = {**os.environ, "LAB_RUNS_DIR": self.tmp.name, "PYTHONUNBUFFERED": "1", "TQDM_MININTERVAL": "15"}
        if logs is None:
            env["TQDM_DISABLE"] = "1"
        if threads:
            for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
                env[var] = str(threads)
        self.t0 = time.monotonic()
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(chapter_command(item), cwd=repo_root(), env=env, stdout=self._log,
                                     stderr=subprocess.STDOUT, start_new_session=True)

    def poll(self) -> Outcome | None:
        """The outcome once the run has ended (or was stopped at the deadline), else None."""
        code = self.proc.poll()
        if code is None and time.monotonic() < self.deadline:
            return None
        if code is None:
            self.stop()
            return self._finish(None)
        return self._finish(code)

    def stop(self) -> None:
        try:
            os.killpg(self.proc.pid, 9)
        except (ProcessLookupError, PermissionError):
            pass
        self.proc.wait()

    def _finish(self, code: int | None) -> Outcome:
        dt = time.monotonic() - self.t0
        self._log.close()
        log = self.log_path.read_text(errors="replace")
        try:
            return self._collect(code, log, dt)
        finally:
            self._keep_logs(log)
            self.tmp.cleanup()

    def _collect(self, code: int | None, log: str, dt: float) -> Outcome:
        name = self.item.name
        if code is None:
            return Outcome(self.item, "timed out", f"stopped after {dt:.0f} s; nothing written", dt)
        runs = sorted((Path(self.tmp.name) / name).glob("*-full*/results.json"))
        if code != 0 or not runs:
            last = log.strip().splitlines()[-1] if log.strip() else f"exit {code}"
            return Outcome(self.item, "failed", last, dt)
        res = json.loads(runs[-1].read_text())
        res["gpu_run"] = {"jobs_beside": sorted(self.beside),
                          "note": ("ran alone on the GPU" if not self.beside else
                                   "ran beside other full tiers on the same GPU and CPU: its wall time and "
                                   "any timing in it were measured on a shared machine")}
        stamp = datetime.fromisoformat(res["provenance"]["started_utc"]).strftime("%Y%m%dT%H%M%SZ")
        dest = results_dir() / name
        dest.mkdir(parents=True, exist_ok=True)
        (dest / f"{stamp}-full.json").write_text(json.dumps(res, indent=1) + "\n")
        nb = runs[-1].parent / f"{name}.ipynb"
        if nb.exists():
            shutil.copy(nb, dest / f"{stamp}-full.ipynb")
        return Outcome(self.item, "wrote", str(dest / f"{stamp}-full.json"), dt)

    def _keep_logs(self, log: str) -> None:
        """Copy the run's log and, when it failed, its executed notebook to ``logs`` (if given)."""
        if self.logs is None:
            return
        self.logs.mkdir(parents=True, exist_ok=True)
        (self.logs / f"{self.item.name}.log").write_text(log)
        for nb in (Path(self.tmp.name) / self.item.name).glob("*-full*/*.ipynb"):
            shutil.copy(nb, self.logs / f"{self.item.name}.ipynb")


def _select(rows: list[Item], only: list[str] | None) -> list[Item]:
    """The pending items, or those named in ``only`` (pending or not) in the order given."""
    if not only:
        return [it for it in rows if it.pending]
    by_name = {(it.kind, it.name): it for it in rows}
    unknown = [n for n in only if ("kernel", n) not in by_name and ("chapter", n) not in by_name]
    if unknown:
        raise ValueError(f"not a kernel benchmark or chapter: {', '.join(unknown)}")
    picked = [by_name[k] for n in only for k in (("kernel", n), ("chapter", n)) if k in by_name]
    return [it for it in picked if it.kind == "kernel"] + [it for it in picked if it.kind == "chapter"]


def run_pending(budget_s: float, log=print, *, jobs: int = 1, only: list[str] | None = None,
                logs: Path | None = None, poll_s: float = 1.0, try_all: bool = False) -> list[Outcome]:
    """Run the pending kernels one at a time, then the pending chapters ``jobs`` at a time.

    Kernel benchmarks run alone (their timings need an idle GPU). Full tiers then share the GPU
    ``jobs`` at a time, each with ``cores // jobs`` CPU threads; a chapter starts only when
    MARGIN × its expected time fits in what is left, and every run is stopped at the deadline.
    ``only`` names the kernels and chapters to run (pending or not), in that order. ``try_all``
    starts every item whatever its expected time (a run that does not end by the deadline is
    stopped and writes nothing, but its log, with ``--logs``, shows how far it got: a way to size
    full tiers that have never run on a GPU).
    """
    if budget_s <= 0:
        raise ValueError(f"the budget must be positive, got {budget_s}")
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, got {jobs}")
    todo = _select(items(), only)
    if not cuda_available():
        raise NoGPU("no CUDA device here: `lab gpu --list` shows what is pending; run `lab gpu` on a GPU machine")
    deadline = time.monotonic() + budget_s
    outcomes: list[Outcome] = []

    def fits(item: Item) -> bool:
        left = deadline - time.monotonic()
        expect, why = expected_seconds(item)
        if MARGIN * expect > left and not (try_all and left > 0):
            outcomes.append(Outcome(item, "skipped", f"expects {expect:.0f} s ({why}), {left:.0f} s left"))
            log(f"  skip {item.kind} {item.name}: {outcomes[-1].detail}")
            return False
        log(f"  {item.kind} {item.name}: running ({left:.0f} s left, expects {expect:.0f} s)")
        return True

    def done(outcome: Outcome) -> None:
        outcomes.append(outcome)
        log(f"  {outcome.item.kind} {outcome.item.name}: {outcome.state} in {outcome.seconds:.0f} s: {outcome.detail}")

    for item in [it for it in todo if it.kind == "kernel"]:
        if fits(item):
            done(run_kernel(item, deadline - time.monotonic(), logs))
    queue = [it for it in todo if it.kind == "chapter"]
    threads = max(1, (os.cpu_count() or 1) // jobs) if jobs > 1 else None
    running: list[ChapterJob] = []
    while queue or running:
        while queue and len(running) < jobs:
            item = queue.pop(0)
            if fits(item):
                job = ChapterJob(item, deadline, threads, logs)
                for other in running:
                    other.beside.add(item.name)
                    job.beside.add(other.item.name)
                running.append(job)
        for job in list(running):
            if (outcome := job.poll()) is not None:
                running.remove(job)
                done(outcome)
        if running:
            time.sleep(poll_s)
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
