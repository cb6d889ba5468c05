"""Tier presets for the PDE-residual pre-training chapter (``book/pde_pretraining.md``).

``smoke`` trains tiny models for a few steps (seconds, for the tests), ``book`` is the dossier's
book plan cut to fit two CPU cores (Poisson 32², 512 pre-training samples, FNO width 16 with 6
modes, 3 seeds), ``full`` is sized for one GPU (64², more samples and steps, width 32 with 12
modes); it has not run on a GPU yet.
"""
from __future__ import annotations

from dataclasses import dataclass

from lab.tiers import at_least, between, each, greater_than, nonempty, one_of, resolve_config

FULL_TIER_SECONDS = 420  # an estimate for `lab gpu`; the full tier has never run on a GPU


@dataclass(frozen=True)
class Config:
    scale: str
    seed: int = 0
    n_seeds: int = 3
    n: int = 32
    count: int = 512
    steps: int = 120
    finetune_steps: int = 25
    width: int = 16
    modes: int = 6
    layers: int = 4
    shots: tuple = (4, 16, 64)
    noise: float = 0.1
    e_wide: float = 10.0
    lambdas: tuple = (0.1, 1.0, 10.0)
    n_test: int = 64
    time_dependent: bool = False  # train on heat, advection and Burgers too (the full tier)
    td_steps: int = 1000  # Adam steps per time-dependent model
    dirichlet: bool = False  # the Dirichlet variant with a finite-difference residual (the full tier)
    matrix: bool = False  # the 3×3 benchmark matrix, Poisson/advection–diffusion/Helmholtz (the full tier)
    matrix_shots: int = 16  # fine-tuning samples N in the matrix's few-shot cells


_PRESETS = {
    "smoke": dict(n_seeds=1, n=16, count=32, steps=6, finetune_steps=3, width=8, modes=3, layers=2,
                  shots=(4,), lambdas=(1.0,), n_test=8),
    "book": dict(),
    "full": dict(n=64, count=4096, steps=3000, finetune_steps=300, width=32, modes=12, n_test=256,
                 shots=(4, 16, 64, 256), time_dependent=True),
}

CHECKS = {
    "matrix_shots": at_least(1),
    "seed": at_least(0),
    "n_seeds": at_least(1),
    "n": at_least(8) & between(8, 512),
    "count": at_least(4),
    "steps": at_least(1),
    "finetune_steps": at_least(1),
    "width": at_least(1),
    "modes": at_least(1),
    "layers": at_least(1),
    "shots": nonempty & each(at_least(1)),
    "noise": between(0.0, 1.0),
    "e_wide": greater_than(5.0),
    "lambdas": nonempty & each(greater_than(0.0)),
    "n_test": at_least(2),
    "td_steps": at_least(1),
    "time_dependent": one_of(True, False),
    "dirichlet": one_of(True, False),
    "matrix": one_of(True, False),
}


def resolve(scale: str = "book", **overrides) -> Config:
    """The tier's configuration with every non-``None`` override applied and range-checked.

    Raises ``ParameterError`` for a value out of range, and ``ValueError`` when the grid cannot
    hold the modes (an FNO with ``m`` modes needs at least ``2m`` points per side) or is odd.
    """
    cfg = resolve_config(Config, _PRESETS, scale, overrides, CHECKS)
    if cfg.n % 2:
        raise ValueError(f"the grid size n must be even, got {cfg.n}")
    if 2 * cfg.modes > cfg.n:
        raise ValueError(f"modes={cfg.modes} needs a grid of at least {2 * cfg.modes} points per side; n={cfg.n}")
    return cfg
