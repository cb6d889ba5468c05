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
from lab.tiers import TIERS, Check, at_least, between, each, greater_than, nonempty, one_of, resolve_config


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


_OPTIONAL_COUNT = Check(lambda v: v is None or (isinstance(v, int) and v >= 1), "None or an integer ≥ 1")

#: Each knob's allowed range (checked by :func:`resolve`, so ``lab run`` stops before a run folder).
CHECKS: dict[str, Check] = {
    "seed": at_least(0), "n_seeds": at_least(1),
    "datasets": nonempty & each(one_of(*DATASETS)), "archs": nonempty & each(one_of(*ARCHITECTURES)),
    "steps": at_least(1), "batch": at_least(1), "fcds": at_least(1), "hidden": at_least(1), "layers": at_least(1),
    "lr": greater_than(0), "context_factor": at_least(1), "max_series": _OPTIONAL_COUNT,
    "grad_draws": at_least(2), "grad_fcds": nonempty & each(at_least(1)), "timing_repeats": at_least(1),
    "example_series": at_least(0),
    "time_budget_s": Check(lambda v: v is None or (isinstance(v, (int, float)) and v > 0), "None or a number > 0"),
    "device": one_of("auto", "cpu", "cuda"),
}


def resolve(scale: str = "book", **overrides) -> Config:
    """Configuration of tier ``scale`` with every override that is not ``None`` applied.

    Raises ``ValueError`` for an unknown tier, :class:`lab.tiers.ParameterError` for a knob out of
    its range (:data:`CHECKS`: unknown datasets or architectures included) and ``TypeError`` for an
    unknown knob.
    """
    return resolve_config(Config, _PRESETS, scale, overrides, checks=CHECKS)


def device(cfg: Config) -> str:
    """``cfg.device``, with ``"auto"`` meaning CUDA when available."""
    if cfg.device != "auto":
        return cfg.device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"
