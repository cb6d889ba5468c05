"""Run the kernels' GPU benchmarks and write one JSON file per kernel.

    python -m kernels.bench                      # every kernel with a bench_<op> function
    python -m kernels.bench fwht --out results/kernels --budget-s 420
    python -m kernels.bench --list               # the kernels, and any bench function's wiring problem (CPU)

One command runs every kernel's benchmark within a time budget (:class:`kernels.harness.Budget`):
the device's ceilings (copy bandwidth, fp16/bf16 GEMM rate) are measured first, in the same run
(:func:`kernels.harness.measure_ceilings`), then each kernel in turn, one at a time, each guarded
(a failure or a spent budget skips that kernel and says why) and each file written as soon as it
is done. Each file ``<out>/<op>.json`` holds the device, the date, the library versions, the
``code_hash`` that ``lab gpu --list`` compares with the code, the ceilings, the start and end of
the section in ms since the run began, the list that ``bench_<op>()`` returns (records built
with :func:`kernels.harness.entry`), and the kernel's target (its module's ``TARGET``) with
whether it was met (``target``, ``target_met``, ``target_rows``: :func:`kernels.harness.judge_target`).
Chapters show these files (:mod:`lab.gpu_results`); they are
committed under ``results/kernels/``.
"""
from __future__ import annotations

import argparse
import importlib
import inspect
import json
import pkgutil
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import kernels
from kernels import harness

#: Modules of ``kernels/`` that are not kernels.
NOT_KERNELS = ("bench", "dispatch", "harness")


def benchmarked_ops() -> list[str]:
    """Kernel modules that define ``bench_<module name>``."""
    ops = []
    for info in pkgutil.iter_modules(kernels.__path__):
        if info.name in NOT_KERNELS:
            continue
        if hasattr(importlib.import_module(f"kernels.{info.name}"), f"bench_{info.name}"):
            ops.append(info.name)
    return ops


def wiring_problems(op: str) -> list[str]:
    """What would fail in ``bench_<op>`` before any GPU work, found on the CPU (tested on CPU).

    * every parameter has a default (``run`` calls it with at most ``ceil``);
    * every size list among the defaults is a non-empty tuple or list;
    * every name the function reads is bound in it, a global of its module or a builtin (a typo
      otherwise shows only on the GPU, as a ``NameError`` after the first sizes ran).
    """
    import ast
    import builtins
    import textwrap

    module = importlib.import_module(f"kernels.{op}")
    bench = getattr(module, f"bench_{op}")
    problems = []
    for name, par in inspect.signature(bench).parameters.items():
        if par.default is inspect.Parameter.empty and par.kind not in (par.VAR_POSITIONAL, par.VAR_KEYWORD):
            problems.append(f"bench_{op}: parameter {name} has no default")
        elif isinstance(par.default, (tuple, list)) and len(par.default) == 0:
            problems.append(f"bench_{op}: default {name} is empty")
    tree = ast.parse(textwrap.dedent(inspect.getsource(bench)))
    bound = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            bound.add(node.id)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
    known = bound | set(vars(module)) | set(dir(builtins))
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id not in known:
            problems.append(f"bench_{op}: name {node.id!r} (line {node.lineno} of the function) is not defined")
            known.add(node.id)
    return problems


def make_record(op: str, results, *, device: str, commit: str, code_hash: str, versions: dict,
                ceilings: dict | None, start_ms: float, end_ms: float) -> dict:
    """The JSON record of one kernel's section (plain Python; tested on CPU)."""
    return {
        "op": op,
        "device": device,
        "date_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "commit": commit,
        "code_hash": code_hash,  # what `lab gpu --list` compares with the code as it is now
        **versions,
        "ceilings": ceilings,
        "start_ms": round(start_ms, 1),
        "end_ms": round(end_ms, 1),
        "wall_time_s": round((end_ms - start_ms) / 1e3, 1),
        "results": results,
    }


def run(op: str, ceil: harness.Ceilings | None = None, budget: harness.Budget | None = None) -> dict:
    """Call ``kernels.<op>.bench_<op>()`` and wrap its result with where and when it ran."""
    import torch
    import triton

    from lab import provenance
    from lab.gpu.sources import kernel_hash

    budget = budget or harness.Budget(1e9)
    bench = getattr(importlib.import_module(f"kernels.{op}"), f"bench_{op}")
    kwargs = {"ceil": ceil} if "ceil" in inspect.signature(bench).parameters else {}
    start = budget.elapsed_ms()
    results = bench(**kwargs)
    verdict = harness.judge_target(results if isinstance(results, list) else [results],
                                   getattr(importlib.import_module(f"kernels.{op}"), "TARGET", None))
    return verdict | make_record(op, results, device=provenance.device(), commit=provenance.git_commit(),
                       code_hash=kernel_hash(op), versions={"torch": torch.__version__, "triton": triton.__version__},
                       ceilings=ceil.as_dict() if ceil else None, start_ms=start, end_ms=budget.elapsed_ms())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ops", nargs="*", help="kernel modules to benchmark (default: all)")
    parser.add_argument("--out", default="results/kernels", help="folder for <op>.json")
    parser.add_argument("--budget-s", type=float, default=420.0, help="wall-clock budget of the whole run")
    parser.add_argument("--min-section-s", type=float, default=20.0,
                        help="do not start a kernel's section with less than this left")
    parser.add_argument("--list", action="store_true",
                        help="print the benchmarked kernels and any wiring problem of their bench functions (CPU)")
    args = parser.parse_args(argv)
    known = benchmarked_ops()
    if args.list:
        bad = 0
        for op in known:
            problems = wiring_problems(op)
            bad += bool(problems)
            print(op if not problems else f"{op}: " + "; ".join(problems))
        return 1 if bad else 0
    unknown = [op for op in args.ops if op not in known]
    if unknown:
        print(f"unknown kernel(s) {', '.join(unknown)}; benchmarked kernels: {', '.join(known)}",
              file=sys.stderr)
        return 2
    budget = harness.Budget(args.budget_s)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    status = 0
    try:
        ceil = harness.measure_ceilings()
        print(f"ceilings: {json.dumps(ceil.as_dict())} ({budget.elapsed_ms():.0f} ms)")
    except Exception as err:
        print(f"ceilings: not measured: {type(err).__name__}: {err}", file=sys.stderr)
        ceil, status = None, 1
    for op in args.ops or known:
        try:
            budget.check(op, args.min_section_s)
            record = run(op, ceil, budget)
        except Exception as err:  # one kernel's failure must not lose the others' timings
            print(f"{op}: benchmark failed: {type(err).__name__}: {err}", file=sys.stderr)
            status = 1
            continue
        (out / f"{op}.json").write_text(json.dumps(record, indent=1, default=str))
        print(f"{op}: {record['start_ms']:.0f}-{record['end_ms']:.0f} ms on {record['device']}", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
