"""Tier presets for the free-decompression chapter (``book/free_decompression.md``).

``smoke`` checks the exact closures and a small fit in seconds; ``book`` runs the paper's
Marchenko-Pastur experiment (1000 -> 32,000) over several seeds, the other laws, a real
``4000 x 4000`` Wishart eigendecomposition and the sweeps in about a minute and a half on one
core; ``full`` adds ``16384`` and ``32768`` eigendecompositions with torch on a GPU.
"""
from __future__ import annotations

from dataclasses import dataclass

from lab.tiers import TIERS, Check, ParameterError, at_least, between, each, greater_than, nonempty, one_of, resolve_config


@dataclass(frozen=True)
class Config:
    """Every knob of :mod:`lab.free_decompression.experiments`."""

    scale: str
    seed: int = 0
    n_seeds: int = 3
    grid: int = 500
    # Marchenko-Pastur, the paper's Fig. 1: n_s = 1000 rows of X (n_s x d), d = 50,000
    mp_ns: int = 1000
    mp_d: int = 50_000
    mp_targets: tuple = (2000, 4000, 8000, 16000, 32000)
    # other laws: semicircle (Wigner submatrix), Kesten-McKay, Wachter
    law_ns: int = 1000
    wigner_target: int = 16000
    km_s: float = 2.0
    wachter_ab: tuple = (80.0, 50.0)
    wachter_ns: int = 500
    law_alpha: float = 32.0
    # a real matrix: Wishart X X^T / d, n x n, d = n / ratio, with its full spectrum
    real_n: tuple = (4000,)
    real_ratio: float = 0.5
    real_ns: int = 500
    # Gaussian kernel of scikit-learn's digits (1797 points): random n_s x n_s block -> 1797
    kernel_ns: int = 500
    kernel_settings: tuple = ("ntk", "mp_range", "mp")
    # direct eigensolver timing (Table 2 in miniature)
    time_n: tuple = (1000, 2000, 4000)
    # sensitivity sweep on MP (seed 0)
    sweep_K: tuple = (20, 50, 80)
    sweep_bw: tuple = (1e-3, 3e-3, 1e-2)
    law_seeds: int = 3
    # the peer
    peer: bool = True
    # points along each characteristic in the figure
    char_steps: int = 40


_PRESETS = {
    "smoke": dict(n_seeds=1, law_seeds=1, grid=120, char_steps=8, mp_ns=300, mp_d=15_000, mp_targets=(1200, 4800),
                  law_ns=300, wigner_target=1200, wachter_ns=200, law_alpha=4.0,
                  real_n=(1200,), real_ns=300, kernel_settings=("mp_range",), time_n=(300, 1200),
                  sweep_K=(50,), sweep_bw=(1e-2,), peer=False),
    "book": dict(),
    "full": dict(n_seeds=10, law_seeds=5, grid=800, real_n=(4000, 8000, 16384, 32768), real_ns=1024,
                 time_n=(2048, 4096, 8192, 16384, 32768)),
}


_SIZES = nonempty & each(at_least(2))

#: Each knob's allowed range (checked by :func:`resolve`, so ``lab run`` stops before a run folder).
CHECKS: dict[str, Check] = {
    "seed": at_least(0), "n_seeds": at_least(1), "grid": at_least(10),
    "mp_ns": at_least(2), "mp_d": at_least(2), "mp_targets": _SIZES,
    "law_ns": at_least(2), "wigner_target": at_least(2), "km_s": greater_than(1),
    "wachter_ab": Check(lambda v: len(v) == 2 and all(x > 1 for x in v), "two numbers > 1 (a, b)"),
    "wachter_ns": at_least(2), "law_alpha": greater_than(1),
    "real_n": _SIZES, "real_ratio": between(0, 1, open_lo=True), "real_ns": at_least(2),
    "kernel_ns": at_least(2), "kernel_settings": nonempty & each(one_of("ntk", "mp_range", "mp")),
    "time_n": _SIZES, "sweep_K": nonempty & each(at_least(2)), "sweep_bw": nonempty & each(greater_than(0)),
    "law_seeds": at_least(1), "char_steps": at_least(2),
}


def resolve(scale: str = "book", **overrides) -> Config:
    """Configuration of tier ``scale`` with every override that is not ``None`` applied.

    Raises :class:`lab.tiers.ParameterError` for a knob out of its range (:data:`CHECKS`);
    free decompression goes from a small submatrix to a larger size, so each target exceeds it.
    """
    cfg = resolve_config(Config, _PRESETS, scale, overrides, checks=CHECKS)
    for name, targets, ns in (("mp_targets", cfg.mp_targets, cfg.mp_ns), ("real_n", cfg.real_n, cfg.real_ns),
                              ("wigner_target", (cfg.wigner_target,), cfg.law_ns)):
        if min(targets) <= ns:
            value = list(targets) if name != "wigner_target" else cfg.wigner_target
            raise ParameterError(name, value, f"sizes larger than the submatrix ({ns})")
    return cfg
