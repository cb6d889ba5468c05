"""Tier presets for the log-determinant chapter (``book/logdet_scaling.md``).

``smoke`` runs in seconds (tests), ``book`` is what the chapter executes on one CPU thread
(≤ 120 s), ``full`` is sized for one GPU (fp64 Cholesky up to m ≈ 50k, the NTK of all 1797
digits × 10 outputs); `lab gpu --list` says whether its run is committed. :func:`resolve` picks a tier and applies
overrides; :data:`CHECKS` are the knobs' allowed ranges.
"""
from __future__ import annotations

from dataclasses import dataclass

from lab.tiers import at_least, between, each, nonempty, one_of, resolve_config, strictly_increasing


@dataclass(frozen=True)
class Config:
    """Every knob of :mod:`lab.logdet_scaling.experiments`.

    ``mem_*``: the memory-mapped SPD matrix (Wishart) factored with each block count, and the
    memory cap from which the paper's rule picks ``n_b``. ``matern_*``/``lmc_*``: Matérn-3/2
    kernels on random points in the unit square (single output, and ``K ⊗ B`` with ``lmc_d``
    outputs). ``ntk_*``: the MLP on digits (``n_nets`` networks, each on its own random
    ``ntk_n`` digits). ``heat_*``: the FLODANCE window grid. ``table_windows``: the Table-2
    analogue's windows ``[n₀, n_s]`` in points, each fitted with every order in ``table_qs`` (the
    first, q = 0, is Table 1's choice for a small n_s and decides the claim). ``gpu_*``: the full tier's GPU Cholesky sizes.
    """

    scale: str
    seed: int = 0
    mem_n: int = 3000
    mem_blocks: tuple = (1, 2, 4, 8)
    mem_cap_mb: float = 30.0
    sym_n: int = 600
    matern_n: int = 4000
    matern_length: float = 0.04
    lmc_n: int = 400
    lmc_d: int = 5
    ntk_n: int = 300
    ntk_widths: tuple = (64, 48, 48, 10)
    ntk_steps: int = 150
    n_nets: int = 3
    heat_n0: tuple = (1, 10, 50, 100, 200)
    heat_ns: tuple = (250, 400, 600, 1000)
    heat_q: tuple = (0, 2, 4)
    table_windows: tuple = ((1, 15), (1, 30), (90, 150))
    table_qs: tuple = (0, 2)
    bd_points: int = 50
    slq_degree: int = 50
    slq_samples: int = 20
    wishart_n: int = 2000
    peer: bool = True
    gpu_m: tuple = ()
    device: str = "cpu"


_PRESETS = {
    "smoke": dict(
        mem_n=300, mem_blocks=(1, 2, 3, 7), mem_cap_mb=0.3, sym_n=120,
        matern_n=800, lmc_n=80, lmc_d=3,
        ntk_n=40, ntk_widths=(64, 24, 24, 10), ntk_steps=30,
        heat_n0=(1, 20, 50), heat_ns=(100, 200), heat_q=(0, 2),
        table_windows=((1, 10), (20, 30)), bd_points=10,
        slq_degree=20, slq_samples=5, wishart_n=300,
    ),
    "book": dict(),
    "full": dict(
        mem_n=8000, mem_blocks=(1, 2, 4, 8, 16), mem_cap_mb=64.0, sym_n=2000,
        matern_n=10000, lmc_n=2000, lmc_d=10,
        ntk_n=1797, ntk_widths=(64, 128, 128, 10), ntk_steps=400, n_nets=5,
        heat_n0=(1, 10, 50, 100, 200, 300), heat_ns=(250, 400, 500, 1000, 2000), heat_q=(0, 2, 4),
        table_windows=((1, 50), (1, 100), (300, 500)), bd_points=100,
        slq_degree=100, slq_samples=50, wishart_n=5000,
        gpu_m=(8192, 16384, 32768, 49152), device="cuda",
    ),
}

CHECKS = {
    "scale": one_of("smoke", "book", "full"),
    "seed": at_least(0),
    "mem_n": at_least(2),
    "mem_blocks": nonempty & each(at_least(1)) & strictly_increasing,
    "mem_cap_mb": between(1e-6, 1e9, open_lo=True),
    "sym_n": at_least(2),
    "matern_n": at_least(10),
    "matern_length": between(0, 10, open_lo=True),
    "lmc_n": at_least(10),
    "lmc_d": at_least(1),
    "ntk_n": at_least(5),
    "ntk_widths": each(at_least(1)),
    "ntk_steps": at_least(0),
    "n_nets": at_least(1),
    "heat_n0": nonempty & each(at_least(1)),
    "heat_ns": nonempty & each(at_least(2)),
    "heat_q": nonempty & each(at_least(0)),
    "table_qs": nonempty & each(at_least(0)),
    "bd_points": at_least(1),
    "slq_degree": at_least(2),
    "slq_samples": at_least(1),
    "wishart_n": at_least(10),
    "device": one_of("cpu", "cuda"),
}


def resolve(scale: str = "book", **overrides) -> Config:
    """Configuration of tier ``scale`` with every override that is not ``None`` applied.

    Raises ``ParameterError`` for a knob out of range, and ``ValueError`` when a window of
    ``table_windows``/``heat_ns`` lies outside the matrix it is fitted on.
    """
    cfg = resolve_config(Config, _PRESETS, scale, overrides, CHECKS)
    cfg = type(cfg)(**{**cfg.__dict__, "table_windows": tuple(tuple(w) for w in cfg.table_windows)})
    for n0, ns in cfg.table_windows:
        if not 1 <= n0 < ns <= cfg.ntk_n:
            raise ValueError(f"FLODANCE window [{n0}, {ns}] lies outside the NTK's {cfg.ntk_n} points "
                             f"(need 1 ≤ n0 < ns ≤ ntk_n)")
    if max(cfg.heat_ns) > cfg.matern_n:
        raise ValueError(f"heat-map window end {max(cfg.heat_ns)} exceeds the Matérn matrix size {cfg.matern_n}")
    if max(cfg.mem_blocks) > cfg.mem_n:
        raise ValueError(f"block count {max(cfg.mem_blocks)} exceeds the matrix size mem_n = {cfg.mem_n}")
    return cfg
