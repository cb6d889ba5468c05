"""Run the kernels' GPU benchmarks and write one JSON file per kernel.

    python -m kernels.bench                    # every kernel with a bench_<op> function
    python -m kernels.bench fwht --out results/kernels

Each file ``<out>/<op>.json`` holds the device, the date, the library versions and the list
that ``bench_<op>()`` returns (medians of CUDA-event timings, see each module). Chapters show
these files (:mod:`lab.gpu_results`); they are committed under ``results/kernels/``.
"""
from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import kernels


def benchmarked_ops() -> list[str]:
    """Kernel modules that define ``bench_<module name>``."""
    ops = []
    for info in pkgutil.iter_modules(kernels.__path__):
        if info.name in ("bench", "dispatch"):
            continue
        if hasattr(importlib.import_module(f"kernels.{info.name}"), f"bench_{info.name}"):
            ops.append(info.name)
    return ops


def run(op: str) -> dict:
    """Call ``kernels.<op>.bench_<op>()`` and wrap its result with where and when it ran."""
    import torch
    import triton

    from lab import provenance
    from lab.gpu.sources import kernel_hash

    bench = getattr(importlib.import_module(f"kernels.{op}"), f"bench_{op}")
    t0 = time.perf_counter()
    results = bench()
    return {
        "op": op,
        "device": provenance.device(),
        "date_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "commit": provenance.git_commit(),
        "code_hash": kernel_hash(op),  # what `lab gpu --list` compares with the code as it is now
        "torch": torch.__version__,
        "triton": triton.__version__,
        "wall_time_s": round(time.perf_counter() - t0, 1),
        "results": results,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ops", nargs="*", help="kernel modules to benchmark (default: all)")
    parser.add_argument("--out", default="results/kernels", help="folder for <op>.json")
    args = parser.parse_args(argv)
    known = benchmarked_ops()
    unknown = [op for op in args.ops if op not in known]
    if unknown:
        print(f"unknown kernel(s) {', '.join(unknown)}; benchmarked kernels: {', '.join(known)}",
              file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    status = 0
    for op in args.ops or known:
        try:
            record = run(op)
        except Exception as err:  # one kernel's failure must not lose the others' timings
            print(f"{op}: benchmark failed: {type(err).__name__}: {err}", file=sys.stderr)
            status = 1
            continue
        (out / f"{op}.json").write_text(json.dumps(record, indent=1, default=str))
        print(f"{op}: {record['wall_time_s']} s on {record['device']}")
    return status


if __name__ == "__main__":
    sys.exit(main())
