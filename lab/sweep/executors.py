"""Where a sweep's runs execute: processes on this machine, or Slurm jobs through submitit.

Both call :func:`run_one` once per combination. ``local`` runs ``jobs`` of them at a time in
spawned processes, each kernel with ``cores // jobs`` BLAS threads (at least one), so N jobs do
not oversubscribe the cores. ``slurm`` submits one job array through ``submitit`` with the
partition, GPUs, time and memory given; ``submitit-local`` is the same code path on submitit's
local executor (what the tests run, since CI has no cluster), in waves of ``jobs``.
"""
from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Callable

EXECUTORS = ("local", "slurm", "submitit-local")


@dataclass
class SlurmOptions:
    partition: str | None = None
    gpus: int = 0
    time_min: int = 60
    mem_gb: float | None = None
    cpus: int | None = None
    extra: dict = field(default_factory=dict)


def run_one(chapter: str, params: dict, run_dir: str, threads: int | None) -> dict:
    """One combination into ``run_dir``; returns the outcome as plain data (picklable)."""
    os.environ.setdefault("TQDM_DISABLE", "1")
    from lab.execute import execute

    res = execute(chapter, params, progress=False, threads=threads, run_dir=Path(run_dir))
    return {"ok": res.ok, "error": res.error, "seconds": round(res.seconds, 2), "dir": str(res.run_dir)}


def threads_per_job(jobs: int) -> int:
    return max(1, (os.cpu_count() or 1) // max(1, jobs))


def run_local(tasks: list[tuple[str, dict, str]], jobs: int, done: Callable[[int, dict], None]) -> None:
    """``tasks`` are (chapter, params, run_dir); ``done(i, outcome)`` is called as each finishes."""
    threads = threads_per_job(jobs)
    with ProcessPoolExecutor(max_workers=max(1, jobs), mp_context=get_context("spawn")) as pool:
        futures = {pool.submit(run_one, c, p, d, threads): i for i, (c, p, d) in enumerate(tasks)}
        for fut in as_completed(futures):
            try:
                outcome = fut.result()
            except Exception as exc:  # the worker process died: a failed run, not a crashed sweep
                outcome = {"ok": False, "error": f"{type(exc).__name__}: {exc}", "seconds": 0.0,
                           "dir": tasks[futures[fut]][2]}
            done(futures[fut], outcome)


def run_submitit(tasks: list[tuple[str, dict, str]], jobs: int, done: Callable[[int, dict], None],
                 folder: Path, cluster: str, options: SlurmOptions) -> None:
    """Submit through submitit (``cluster`` "slurm" or "local"); see the module docstring."""
    try:
        import submitit
    except ImportError as exc:
        raise RuntimeError(
            "the slurm executor needs submitit: pip install -e \".[cluster]\" (or pip install submitit)"
        ) from exc
    executor = submitit.AutoExecutor(folder=str(folder), cluster=cluster)
    params = {"timeout_min": options.time_min, "name": "labsweep"}
    if options.cpus:
        params["cpus_per_task"] = options.cpus
    if options.mem_gb:
        params["mem_gb"] = options.mem_gb
    if options.gpus:
        params["gpus_per_node"] = options.gpus
    if cluster == "slurm":
        if options.partition:
            params["slurm_partition"] = options.partition
        params["slurm_array_parallelism"] = max(1, jobs)
        params.update({k if k.startswith("slurm_") else f"slurm_{k}": v for k, v in options.extra.items()})
    executor.update_parameters(**params)
    threads = options.cpus or (threads_per_job(jobs) if cluster == "local" else None)
    # Slurm schedules the array itself; submitit's local executor starts everything it is given,
    # so it gets waves of `jobs`.
    wave = len(tasks) if cluster == "slurm" else max(1, jobs)
    for start in range(0, len(tasks), wave):
        chunk = list(enumerate(tasks))[start:start + wave]
        submitted = executor.map_array(run_one, [t[0] for _, t in chunk], [t[1] for _, t in chunk],
                                       [t[2] for _, t in chunk], [threads] * len(chunk))
        for (i, task), job in zip(chunk, submitted):
            try:
                outcome = job.result()
            except Exception as exc:  # a job that failed or was cancelled
                outcome = {"ok": False, "error": f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1:]}",
                           "seconds": 0.0, "dir": task[2]}
            done(i, outcome)
