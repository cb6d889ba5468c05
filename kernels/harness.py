"""Shared benchmark harness for ``kernels/``: timings, device ceilings, rooflines, records.

Every kernel's ``bench_<op>`` builds its records with this module so that all records say the
same things (issue 21):

* **timings** come from ``triton.testing.do_bench`` (L2 flushed, warm-up, many repeats) as the
  median and the 20th/80th percentiles in milliseconds; a kernel whose median is under
  :data:`GRAPH_BELOW_MS` is re-timed inside a CUDA graph (``do_bench_cudagraph``) so that the
  launch overhead of the host does not pass for kernel time. The timed callables must not
  synchronise with the host (no ``.item()``, ``float()``, ``bool()`` on GPU tensors);
* **ceilings** of the device are measured in the same run (:func:`measure_ceilings`): the copy
  bandwidth of ``clone()`` on a 1 GiB tensor and the fp16/bf16 rate of ``torch.matmul`` at 8192³;
* **the roofline** of each record: the least time the op can take on this device,

  .. math:: t_{\\min} = \\max\\Big(\\frac{B_{\\min}}{\\beta_{\\text{copy}}},\\;
            \\frac{F_{\\min}}{\\pi_{\\text{mm}}}\\Big),

  with ``B_min`` the bytes the op must read and write (each input once, each output once),
  ``F_min`` its FLOPs, ``β`` the measured copy bandwidth (bytes/s, counting read + write) and
  ``π`` the measured GEMM rate; the record keeps ``t_min / t`` (the fraction of the roofline
  reached), and beside it the bytes the kernel's design actually moves (``design_bytes``), so
  that a kernel far from its roofline says whether the design or the code is to blame;
* **baselines** (eager torch, ``torch.compile``, cuBLAS) are timed in the same run by the
  kernel's bench function with :func:`time_ms` and stored in the same record;
* **budget**: :class:`Budget` guards a whole ``python -m kernels.bench`` run; each section asks
  it before starting and is skipped (and says so) when the time is spent.

Only :func:`time_ms` and :func:`measure_ceilings` need a GPU; the arithmetic, the budget and the
record format are plain Python and are tested on CPU (``tests/test_kernels_harness.py``).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

#: Medians under this many milliseconds are re-timed in a CUDA graph.
GRAPH_BELOW_MS = 0.05
#: Quantiles reported for every timing.
QUANTILES = (0.5, 0.2, 0.8)


@dataclass(frozen=True)
class Ceilings:
    """What the device reaches in simple ops, measured in the run (or given, for a computed table)."""

    copy_bytes_per_s: float  # bytes read + written per second by ``clone()``
    matmul_flops_per_s: dict  # {"float16": FLOP/s, "bfloat16": FLOP/s} of torch.matmul at 8192³
    source: str = "measured"

    def matmul(self, dtype: str = "float16") -> float:
        key = str(dtype).replace("torch.", "")
        if key not in self.matmul_flops_per_s:
            raise KeyError(f"no measured matmul rate for {key}; have {sorted(self.matmul_flops_per_s)}")
        return self.matmul_flops_per_s[key]

    def as_dict(self) -> dict:
        return {"copy_GBps": self.copy_bytes_per_s / 1e9,
                "matmul_TFLOPs": {k: v / 1e12 for k, v in self.matmul_flops_per_s.items()},
                "source": self.source}

    @classmethod
    def from_dict(cls, d: dict) -> "Ceilings":
        return cls(d["copy_GBps"] * 1e9, {k: v * 1e12 for k, v in d["matmul_TFLOPs"].items()},
                   d.get("source", "record"))


def roofline_ms(min_bytes: float, min_flops: float, ceil: Ceilings, dtype: str = "float16") -> float:
    """Least time in ms: ``max(bytes / copy bandwidth, flops / matmul rate)`` (module docstring)."""
    if min_bytes < 0 or min_flops < 0:
        raise ValueError(f"bytes and FLOPs must be non-negative, got {min_bytes}, {min_flops}")
    t_mem = min_bytes / ceil.copy_bytes_per_s
    t_math = min_flops / ceil.matmul(dtype) if min_flops else 0.0
    return 1e3 * max(t_mem, t_math)


def bound_by(min_bytes: float, min_flops: float, ceil: Ceilings, dtype: str = "float16") -> str:
    """``"memory"`` or ``"compute"``: which term of :func:`roofline_ms` is larger."""
    t_math = min_flops / ceil.matmul(dtype) if min_flops else 0.0
    return "compute" if t_math > min_bytes / ceil.copy_bytes_per_s else "memory"


def entry(name: str, timing: dict, *, min_bytes: float, min_flops: float = 0.0,
          design_bytes: float | None = None, ceil: Ceilings | None = None, dtype: str | None = None,
          **extra) -> dict:
    """One timed variant of one problem size, with its roofline fraction.

    ``timing`` is what :func:`time_ms` returns. ``dtype`` (recorded when given) picks the matmul
    rate of the roofline (float16 when not given). ``fraction_of_roofline`` is
    ``roofline_ms / median_ms`` (1 = at the device's measured limit); ``achieved_GBps`` counts
    ``min_bytes``, ``design_GBps`` the bytes the design moves.
    """
    if "median_ms" not in timing:
        raise ValueError(f"{name}: timing must come from time_ms (a dict with median_ms), got {timing}")
    med = timing["median_ms"]
    out = {"name": name, **({"dtype": dtype} if dtype is not None else {}), **timing,
           "min_bytes": int(min_bytes), "min_flops": int(min_flops),
           "design_bytes": int(design_bytes if design_bytes is not None else min_bytes),
           "achieved_GBps": min_bytes / (med * 1e-3) / 1e9 if med > 0 else None,
           "design_GBps": (design_bytes if design_bytes is not None else min_bytes) / (med * 1e-3) / 1e9
           if med > 0 else None,
           "achieved_TFLOPs": min_flops / (med * 1e-3) / 1e12 if med > 0 and min_flops else None}
    if ceil is not None:
        rate_dtype = dtype or "float16"
        bound = roofline_ms(min_bytes, min_flops, ceil, rate_dtype)
        out.update(roofline_ms=bound, bound_by=bound_by(min_bytes, min_flops, ceil, rate_dtype),
                   fraction_of_roofline=bound / med if med > 0 else None)
    out.update(extra)
    return out


class BudgetSpent(RuntimeError):
    """Raised by :meth:`Budget.check` when the run's time budget leaves too little for a section."""


@dataclass
class Budget:
    """Wall-clock budget of one benchmark run; times are milliseconds since the run started."""

    seconds: float
    clock: callable = time.perf_counter
    _t0: float = field(default=None, init=False)

    def __post_init__(self):
        if self.seconds <= 0:
            raise ValueError(f"budget must be positive seconds, got {self.seconds}")
        self._t0 = self.clock()

    def elapsed_ms(self) -> float:
        return 1e3 * (self.clock() - self._t0)

    def left_s(self) -> float:
        return self.seconds - self.elapsed_ms() / 1e3

    def check(self, section: str, need_s: float = 0.0) -> None:
        """Raise :class:`BudgetSpent` when fewer than ``need_s`` seconds (and any at all) are left."""
        left = self.left_s()
        if left <= 0 or left < need_s:
            raise BudgetSpent(f"{section}: skipped, {max(left, 0):.1f} s of the {self.seconds:.0f} s budget "
                              f"left, {need_s:.1f} s needed")


def time_ms(fn, *, graph: bool | None = None, rep: int = 100, warmup: int = 25) -> dict:
    """Median and 20th/80th percentile of ``fn()`` in ms, from ``triton.testing.do_bench``.

    ``fn`` must not synchronise with the host. With ``graph=None`` a median under
    :data:`GRAPH_BELOW_MS` is re-timed inside a CUDA graph (``do_bench_cudagraph``); the record
    says which (``cuda_graph``). Needs a CUDA GPU.
    """
    import torch
    from triton.testing import do_bench, do_bench_cudagraph

    if not torch.cuda.is_available():
        raise RuntimeError("time_ms needs a CUDA GPU; torch.cuda.is_available() is False")
    med, p20, p80 = do_bench(fn, warmup=warmup, rep=rep, quantiles=list(QUANTILES))
    used_graph = False
    if graph or (graph is None and med < GRAPH_BELOW_MS):
        try:
            with torch.cuda.stream(torch.cuda.Stream()):
                med, p20, p80 = do_bench_cudagraph(fn, rep=rep, quantiles=list(QUANTILES))
            used_graph = True
        except Exception as err:  # not capturable: keep the plain timing and say why
            return {"median_ms": med, "p20_ms": p20, "p80_ms": p80, "cuda_graph": False,
                    "graph_error": f"{type(err).__name__}: {err}"[:200]}
    return {"median_ms": med, "p20_ms": p20, "p80_ms": p80, "cuda_graph": used_graph}


def measure_ceilings(copy_bytes: int = 2**30, n: int = 8192) -> Ceilings:
    """Copy bandwidth of ``clone()`` and ``torch.matmul`` fp16/bf16 FLOP/s at ``n³``, on this GPU."""
    import torch

    if not torch.cuda.is_available():
        raise RuntimeError("measure_ceilings needs a CUDA GPU; torch.cuda.is_available() is False")
    x = torch.empty(copy_bytes // 4, dtype=torch.float32, device="cuda").uniform_()
    t = time_ms(lambda: x.clone(), graph=False)["median_ms"]
    copy = 2 * copy_bytes / (t * 1e-3)
    del x
    rates = {}
    for dt in (torch.float16, torch.bfloat16):
        a = torch.randn(n, n, device="cuda", dtype=dt)
        b = torch.randn(n, n, device="cuda", dtype=dt)
        t = time_ms(lambda: torch.matmul(a, b), graph=False)["median_ms"]
        rates[str(dt).replace("torch.", "")] = 2 * n**3 / (t * 1e-3)
        del a, b
    torch.cuda.empty_cache()
    return Ceilings(copy, rates, "measured")


def compiled(fn):
    """``torch.compile(fn)``, or None with the reason when compiling fails here (a baseline, not required)."""
    import torch

    try:
        return torch.compile(fn, dynamic=False), None
    except Exception as err:  # pragma: no cover - depends on the installation
        return None, f"{type(err).__name__}: {err}"[:200]


def time_baseline(name: str, fn, **kw) -> dict:
    """:func:`time_ms` for a baseline, returning ``{"error": ...}`` instead of raising."""
    try:
        fn()  # compile / warm up outside the timed region
        return {"name": name, **time_ms(fn, **kw)}
    except Exception as err:
        return {"name": name, "error": f"{type(err).__name__}: {err}"[:200]}


def _matches(row: dict, where: dict, where_min: dict) -> bool:
    for key, want in where.items():
        have = row.get(key)
        if isinstance(want, (list, tuple, set)):
            if (tuple(have) if isinstance(have, list) else have) not in [tuple(w) if isinstance(w, list) else w for w in want]:
                return False
        elif have != want:
            return False
    return all(row.get(k) is not None and row[k] >= v for k, v in where_min.items())


def judge_target(results: list, target: dict | None) -> dict:
    """``{"target": statement, "target_met": True/False/None, "target_rows": n}`` for a bench's records.

    ``target`` (a kernel module's ``TARGET``) holds a ``statement`` and ``conditions``, each a dict
    with ``metric`` and ``at_least`` and/or ``at_most``, the rows it applies to (``where``: key →
    value or list of values; ``where_min``: key → least value) and optionally how the metric is
    made: ``ratio=(num_key, den_key)`` (``row[num] / row[den]``) or ``baseline=name`` with
    ``match=(keys...)`` (the baseline record's ``median_ms`` over this row's, the same keys). The
    metric is written into each row it is judged on. ``target_met`` is None when no row has a
    value (a failed or skipped run); plain Python, tested on CPU.
    """
    if not target:
        return {"target": None, "target_met": None, "target_rows": 0}
    rows = [r for r in results if isinstance(r, dict)]
    verdicts = []
    for cond in target["conditions"]:
        metric = cond["metric"]
        for r in rows:
            if not _matches(r, cond.get("where", {}), cond.get("where_min", {})):
                continue
            if "ratio" in cond:
                num, den = (r.get(k) for k in cond["ratio"])
                if num is not None and den:
                    r[metric] = num / den
            elif "baseline" in cond:
                keys = cond.get("match", ())
                base = [b for b in rows if b.get("name") == cond["baseline"] and "median_ms" in b
                        and all(b.get(k) == r.get(k) for k in keys)]
                if base and r.get("median_ms"):
                    r[metric] = base[0]["median_ms"] / r["median_ms"]
            value = r.get(metric)
            if value is None:
                continue
            ok = True
            if cond.get("at_least") is not None:
                ok &= value >= cond["at_least"]
            if cond.get("at_most") is not None:
                ok &= value <= cond["at_most"]
            verdicts.append(bool(ok))
    return {"target": target["statement"], "target_met": all(verdicts) if verdicts else None,
            "target_rows": len(verdicts)}
