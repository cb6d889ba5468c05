"""Tier presets for the inversion-bias chapter (``book/inversion_bias.md``).

``smoke`` runs in seconds (CI), ``book`` is what the chapter executes on a laptop-class CPU
(all experiments together in about 50 s on two cores), ``full`` is sized like the paper's
simulations (``n = 2^17``, ``d = 200``, ``10^4`` trials) and meant for a large machine: the
library is numpy, so at that size it runs for many hours even on 16 cores; it has not been
run. :func:`resolve` picks a tier and applies overrides.
"""

from __future__ import annotations

from dataclasses import dataclass

from lab.tiers import (TIERS, Check, ParameterError, at_least, between, each, greater_than, nonempty, one_of,
                       resolve_config)


@dataclass(frozen=True)
class Config:
    """Every knob of the experiments in :mod:`lab.inversion_bias.experiments`.

    Settings ``a_*`` (uniform sampling of spiked Gaussian rows, ``lam = 0``), ``b_*``
    (``t``-scaled rows; leverage, estimated leverage, SRHT), ``pt_*`` (``rho_max`` sweep on
    setting A's data), ``ssn_*`` (local rates of SSN on synthetic logistic regression) and
    ``evt_*`` (error against time on ``load_digits``).
    """

    scale: str
    seed: int = 0
    n_seeds: int = 3
    trials: int = 1500
    batch: int = 500
    approx_k_per_d: int = 4
    # setting A
    a_n: int = 1024
    a_d: int = 10
    a_frac: float = 0.1
    a_scale: float = 3.0
    a_m: tuple = (200, 400, 800, 1600)
    # setting B
    b_n: int = 2048
    b_d: int = 20
    b_df: float = 4.0
    b_lam: float = 1.0
    b_m: tuple = (100, 200, 400)
    # rho_max phase transition (setting A data)
    pt_m: int = 400
    pt_w: tuple = (0.0, 0.1, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 1.0)
    # SSN local rates
    ssn_n: int = 8192
    ssn_d: int = 40
    ssn_df: float = 5.0
    ssn_lam: float = 1e-4
    ssn_m: tuple = (200, 400, 800, 1600)
    ssn_T: int = 8
    ssn_runs: int = 10
    ssn_start: float = 1e-3
    ssn_mix: tuple = (0.75,)
    # error against time on load_digits
    evt_lam: float = 1e-3
    evt_m: int = 500
    evt_T: int = 20
    evt_samplers: tuple = ("arlev", "slev", "alev", "srht", "less")
    evt_gd_iters: int = 300
    evt_sgd_epochs: int = 30
    evt_sgd_batch: int = 64


_PRESETS = {
    "smoke": dict(
        n_seeds=1,
        trials=300,
        batch=300,
        a_n=512,
        a_d=8,
        a_m=(200, 800),
        b_n=512,
        b_d=8,
        b_m=(50, 200),
        pt_m=200,
        pt_w=(0.0, 0.5, 1.0),
        ssn_n=1024,
        ssn_d=8,
        ssn_m=(40, 160),
        ssn_T=3,
        ssn_runs=2,
        ssn_mix=(0.75,),
        evt_m=200,
        evt_T=4,
        evt_gd_iters=20,
        evt_sgd_epochs=2,
    ),
    "book": dict(),
    "full": dict(
        n_seeds=5,
        trials=10_000,
        batch=16,
        a_n=2**17,
        a_d=200,
        a_m=(4000, 8000, 16000, 32000),
        b_n=2**17,
        b_d=200,
        b_lam=100.0,
        b_m=(2000, 4000, 8000),
        pt_m=8000,
        ssn_n=2**15,
        ssn_d=100,
        ssn_m=(500, 1000, 2000, 4000),
        ssn_runs=30,
        ssn_mix=(0.5, 0.75, 0.9),
        evt_T=15,
        evt_gd_iters=2000,
        evt_sgd_epochs=100,
    ),
}


_SIZES = nonempty & each(at_least(1))
_SAMPLERS = ("arlev", "slev", "alev", "srht", "less")

#: Each knob's allowed range (checked by :func:`resolve`, so ``lab run`` stops before a run folder).
CHECKS: dict[str, Check] = {
    "seed": at_least(0), "n_seeds": at_least(1), "trials": at_least(1), "batch": at_least(1),
    "approx_k_per_d": at_least(1),
    "a_n": at_least(2), "a_d": at_least(1), "a_frac": between(0, 1), "a_scale": greater_than(0), "a_m": _SIZES,
    "b_n": at_least(2), "b_d": at_least(1), "b_df": greater_than(0), "b_lam": at_least(0), "b_m": _SIZES,
    "pt_m": at_least(1), "pt_w": nonempty & each(between(0, 1)),
    "ssn_n": at_least(2), "ssn_d": at_least(1), "ssn_df": greater_than(0), "ssn_lam": greater_than(0),
    "ssn_m": _SIZES, "ssn_T": at_least(1), "ssn_runs": at_least(1), "ssn_start": greater_than(0),
    "ssn_mix": nonempty & each(between(0, 1)),
    "evt_lam": greater_than(0), "evt_m": at_least(1), "evt_T": at_least(1),
    "evt_samplers": nonempty & each(one_of(*_SAMPLERS)), "evt_gd_iters": at_least(1),
    "evt_sgd_epochs": at_least(1), "evt_sgd_batch": at_least(1),
}


def _check_sizes(cfg: Config) -> None:
    """Cross-knob ranges: unregularized setting A needs ``m ≥ d + 2`` rows for ``m/(m-d-1)``."""
    for name in ("a_m", "pt_m"):
        value = getattr(cfg, name)
        sizes = value if isinstance(value, tuple) else (value,)
        if min(sizes) < cfg.a_d + 2:
            raise ParameterError(name, list(value) if isinstance(value, tuple) else value,
                                 f"sketch sizes ≥ a_d + 2 = {cfg.a_d + 2} (setting A is unregularized)")


def resolve(scale: str = "book", **overrides) -> Config:
    """Configuration of tier ``scale`` with every override that is not ``None`` applied.

    Raises
    ------
    ValueError
        If ``scale`` is not one of :data:`TIERS`.
    TypeError
        If an override names no field of :class:`Config`.
    ParameterError
        If a knob is out of its range (:data:`CHECKS`).
    """
    cfg = resolve_config(Config, _PRESETS, scale, overrides, checks=CHECKS)
    _check_sizes(cfg)
    return cfg
