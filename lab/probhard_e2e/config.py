"""Tier presets for the ProbHardE2E chapter (``book/probhard_e2e.md``).

``smoke`` runs in seconds (tests), ``book`` is what the chapter executes on one CPU thread
(≤ 120 s including training on a cold cache), ``full`` is sized for one GPU (n_x = 256, the
Stefan problem, the nonlinear PME constraint, a larger hierarchy, 3 seeds); `lab gpu --list` says whether its run is committed.
"""
from __future__ import annotations

from dataclasses import dataclass

from lab.tiers import at_least, between, each, nonempty, one_of, resolve_config
from lab.probhard_e2e.models import VARIANTS
from lab.probhard_e2e.problems import PROBLEMS


@dataclass(frozen=True)
class Config:
    scale: str
    seed: int = 0
    n_seeds: int = 3
    problems: tuple = ("heat", "pme")
    variants: tuple = VARIANTS
    nx: int = 40
    nt: int = 10
    n_train: int = 128
    n_test: int = 32
    steps: int = 400
    batch: int = 8
    lr: float = 3e-3
    width: int = 48
    depth: int = 2
    soft_weight: float = 1.0
    nonlinear_m: tuple = ()
    # exactness checks
    exact_n: int = 12
    exact_q: int = 3
    exact_samples: int = 20_000
    crps_samples: int = 100_000
    # hierarchy (M4 hourly, synthetic grouping)
    hier_variants: tuple = VARIANTS
    hier_bottom: int = 64
    hier_group: int = 8
    hier_length: int = 700
    hier_lookback: int = 96
    hier_width: int = 64
    hier_steps: int = 300
    hier_batch: int = 8
    # timing: closed-form CRPS step against an S-sample step
    timing_samples: int = 100
    timing_steps: int = 20
    timing_repeats: int = 3
    # spike-injected heteroscedastic task
    spike_n: int = 16
    spike_p: float = 0.2
    spike_sd: float = 1.5
    spike_train: int = 2000
    spike_test: int = 500
    spike_steps: int = 800


_PRESETS = {
    "smoke": dict(n_seeds=1, nx=24, nt=6, n_train=32, n_test=8, steps=30, width=32, exact_samples=4000,
                  crps_samples=100_000, hier_bottom=16, hier_group=4, hier_steps=20, hier_lookback=48,
                  timing_steps=4, timing_repeats=1, spike_train=400, spike_test=100, spike_steps=30),
    "book": dict(),
    "full": dict(problems=("heat", "pme", "stefan"), nx=256, nt=50, n_train=200, n_test=50, steps=3000, batch=16,
                 width=128, depth=3, nonlinear_m=(2, 3), hier_bottom=256, hier_group=16, hier_steps=2000,
                 hier_batch=32, timing_steps=50, timing_repeats=5, spike_train=20_000, spike_steps=2000,
                 exact_samples=200_000),
}

CHECKS = {
    "n_seeds": at_least(1), "nx": at_least(3), "nt": at_least(1), "n_train": at_least(1), "n_test": at_least(1),
    "steps": at_least(1), "batch": at_least(1), "lr": between(0, 1, open_lo=True), "width": at_least(1),
    "depth": at_least(1), "soft_weight": at_least(0), "problems": nonempty & each(one_of(*PROBLEMS)),
    "variants": nonempty & each(one_of(*VARIANTS)), "hier_variants": nonempty & each(one_of(*VARIANTS)),
    "nonlinear_m": each(one_of(2, 3, 4, 5, 6)), "exact_n": at_least(2), "exact_q": at_least(1),
    "exact_samples": at_least(100), "crps_samples": at_least(100), "hier_bottom": at_least(2),
    "hier_group": at_least(1), "hier_length": at_least(200), "hier_lookback": at_least(2), "hier_steps": at_least(1),
    "timing_samples": at_least(2), "timing_steps": at_least(1), "timing_repeats": at_least(1),
    "spike_n": at_least(2), "spike_p": between(0, 1), "spike_sd": at_least(0), "spike_steps": at_least(1),
}


def resolve(scale: str = "book", **overrides) -> Config:
    """Configuration of tier ``scale`` with every override that is not ``None`` applied.

    Raises ``ValueError`` for an unknown scale, ``TypeError`` for an unknown knob and
    :class:`lab.tiers.ParameterError` for a value out of range (or ``exact_q >= exact_n``,
    ``hier_bottom`` not a multiple of ``hier_group``).
    """
    from lab.tiers import ParameterError

    cfg = resolve_config(Config, _PRESETS, scale, overrides, CHECKS)
    if cfg.exact_q >= cfg.exact_n:
        raise ParameterError("exact_q", cfg.exact_q, f"fewer constraints than unknowns (exact_n = {cfg.exact_n})")
    if cfg.hier_bottom % cfg.hier_group:
        raise ParameterError("hier_bottom", cfg.hier_bottom, f"a multiple of hier_group = {cfg.hier_group}")
    return cfg
