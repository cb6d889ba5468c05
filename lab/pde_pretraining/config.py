"""Tier presets for the PDE-residual pre-training chapter (``book/pde_pretraining.md``).

``smoke`` trains tiny models for a few steps (seconds, for the tests), ``book`` is the dossier's
book plan cut to fit two CPU cores (Poisson 32², 512 pre-training samples, FNO width 16 with 6
modes, 3 seeds), ``full`` is sized for one shared GPU within about four minutes (64², 1024
samples, width 24 with 8 modes, 3 seeds, plus the time-dependent trio, the Dirichlet variant and
the 3×3 benchmark matrix); `lab gpu --list` says whether its run is committed.
"""
from __future__ import annotations

from dataclasses import dataclass

from lab.tiers import at_least, between, each, greater_than, nonempty, one_of, resolve_config

# An estimate for `lab gpu` (made before the full tier first ran on a GPU), derived from CPU timings on one
# thread (OMP_NUM_THREADS=1, measured under load) and the rule "a GPU step is 20x faster than one CPU
# thread", with a floor of 8 ms per step for launch and Python overhead on a GPU and CPU shared by
# four chapters:
#   one training step at 64², batch 16, width 24, 8 modes: 0.23 s CPU -> 11.5 ms; with the wide
#   residual (two forward passes) 0.42 s -> 21 ms; fine-tuning at N = 4 (batch 4) 0.055 s -> 8 ms
#   (floor); a time-dependent step (32 × 64 + padding) 0.14 s -> 8 ms (floor); one evaluation
#   on 128 test samples 1.85 s -> 92 ms.
#   Pre-training, 200 steps: 11 Poisson models (λ choice and variants) + 9 Dirichlet + 12 matrix
#   (advection–diffusion, Helmholtz) at 11.5 ms and 3 wide at 21 ms: 200 × 431 ms = 86 s.
#   Fine-tuning, 40 steps: 21 fine-tunes at N = 4 (8 ms) and 96 at N ≥ 16 (11.5 ms, few-shot,
#   transfer, noise, matrix): 40 × 1272 ms = 51 s.
#   Time-dependent trio, 200 steps: 18 models × 200 × 8 ms = 29 s.
#   Evaluations: about 216 × 92 ms = 20 s.
#   Data generation on the CPU (one set per system and seed, kept in memory; the Dirichlet solves
#   run on the GPU) and the exactness checks: 20 s; the notebook's start, imports, figures: 10 s;
#   CUDA start and Triton compiles: 20 s.
#   Total: 86 + 51 + 29 + 20 + 20 + 10 + 20 = 236 s, rounded up.
FULL_TIER_SECONDS = 240


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
    step_repeats: int = 2  # timed FNO steps at the size (64², batch 32, width 32, 12 modes)


_PRESETS = {
    "smoke": dict(n_seeds=1, n=16, count=32, steps=6, finetune_steps=3, width=8, modes=3, layers=2,
                  shots=(4,), lambdas=(1.0,), n_test=8, step_repeats=1),
    "book": dict(),
    # sized to finish in about 240 s on a shared GPU: see FULL_TIER_SECONDS
    "full": dict(n=64, count=1024, steps=200, finetune_steps=40, width=24, modes=8, n_test=128,
                 shots=(4, 16, 64), time_dependent=True, td_steps=200, dirichlet=True, matrix=True,
                 matrix_shots=16, step_repeats=50),
}

CHECKS = {
    "matrix_shots": at_least(1),
    "step_repeats": at_least(1),
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
