"""Tier presets for the forking-sequences chapter (``book/forking_sequences.md``).

``smoke`` trains tiny models for a few steps on a subset of Tourism-quarterly (seconds);
``book`` trains the five architectures with both schemes on Tourism-quarterly and
M3-monthly on a CPU (about 1 to 2 minutes); ``full`` runs every dataset that can be loaded
(12 of the paper's 16 offline) with larger models, more steps and two seeds on one GPU, under a
wall-time guard. :func:`resolve` picks a tier and applies overrides.
"""
from __future__ import annotations

from dataclasses import dataclass

from lab.data import DATASETS
from lab.forecast import ARCHITECTURES
from lab.tiers import TIERS, resolve_config


@dataclass(frozen=True)
class Config:
    """Every knob of :mod:`lab.forking_sequences.experiments`.

    ``steps`` is the optimizer-step budget, the same for both schemes; ``fcds`` is the number
    ``F`` of forecast creation dates per forking block; ``context_factor`` sets ``L = c * H``.
    ``max_series`` subsamples each dataset (None: all series). ``time_budget_s`` stops
    starting new (seed, dataset) groups once exceeded; the skipped ones are reported.
    """

    scale: str
    seed: int = 0
    n_seeds: int = 1
    datasets: tuple = ("tourism_quarterly", "m3_monthly")
    archs: tuple = ARCHITECTURES
    steps: int = 200
    batch: int = 32
    fcds: int = 16
    hidden: int = 32
    layers: int = 1
    lr: float = 3e-3
    context_factor: int = 2
    max_series: int | None = None
    grad_draws: int = 24
    grad_fcds: tuple = (1, 2, 4, 8, 16)
    timing_repeats: int = 3
    example_series: int = 0
    time_budget_s: float | None = None
    device: str = "auto"


_PRESETS = {
    "smoke": dict(datasets=("tourism_quarterly",), max_series=120, steps=25, batch=16, fcds=8, hidden=16,
                  grad_draws=6, grad_fcds=(1, 4, 8), timing_repeats=3),
    "book": dict(max_series=500),
    "full": dict(datasets=tuple(DATASETS), n_seeds=2, steps=300, batch=64, hidden=64, layers=2,
                 grad_draws=48, grad_fcds=(1, 2, 4, 8, 16, 32), fcds=16, timing_repeats=5, time_budget_s=240.0),
}


def resolve(scale: str = "book", **overrides) -> Config:
    """Configuration of tier ``scale`` with every override that is not ``None`` applied.

    Raises ``ValueError`` for an unknown tier, dataset or architecture and ``TypeError`` for an
    unknown knob.
    """
    cfg = resolve_config(Config, _PRESETS, scale, overrides)
    bad = [d for d in cfg.datasets if d not in DATASETS] + [a for a in cfg.archs if a not in ARCHITECTURES]
    if bad:
        raise ValueError(f"unknown dataset(s) or architecture(s): {', '.join(bad)}; datasets: "
                         f"{', '.join(DATASETS)}; architectures: {', '.join(ARCHITECTURES)}")
    if cfg.fcds < 1 or cfg.steps < 1 or cfg.n_seeds < 1:
        raise ValueError("fcds, steps and n_seeds must be at least 1")
    return cfg


def device(cfg: Config) -> str:
    """``cfg.device``, with ``"auto"`` meaning CUDA when available."""
    if cfg.device != "auto":
        return cfg.device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"
