"""Tier presets for the TSFM implicit-biases chapter (``book/tsfm_biases.md``).

``smoke`` runs in seconds on one CPU core (tiny models, one seed: orderings are not checkable
there); ``book`` trains 21 tiny models (d = 32, 2 layers) on one core within two minutes cold;
both run on the CPU (``device="cpu"``). ``full`` is sized for one shared H200 (``device="auto"``:
CUDA when available) within :data:`FULL_TIER_SECONDS`; `lab gpu --list` says whether its run is committed.

What ``full`` cut, and why. It was d = 256, 6 layers, context 256, 3000 steps of 256 windows for
all 21 models (12 in the mechanism grid, 9 in the loss grid). Measured here on one CPU thread, a
patch-1 step at that size takes ≈ 32 s (≈ 128 ms per window: 257 tokens through 6 layers), so at
the assumed ≈ 30× of one GPU over one CPU thread ≈ 1.1 s per step: 3 × 2 patch-1 models ×
3000 steps alone would be ≈ 5.5 hours. The full tier now keeps the book's context (64, so a
patch-1 model has 65 tokens), three seeds (orderings need them) and all 21 models, and takes
d = 128, 4 layers, 8 heads, d_ff = 512, 1024 bins, batches of 128, 400 steps for the mechanism
grid and 300 for the loss grid (4× the book's width, 2× its depth, 4× its batch): a patch-1 step
is then ≈ 0.67 s on one CPU thread (≈ 22 ms on the GPU), every other step under the ≈ 15 ms a
step costs on a shared GPU anyway. The corpus keeps 1000 series per synthetic family of length
256 (windows are 96 long) plus 773 M4 hourly/weekly series.
"""
from __future__ import annotations

from dataclasses import dataclass

from lab.tiers import at_least, between, each, greater_than, nonempty, one_of, resolve_config, strictly_increasing

#: Expected wall seconds of the full tier on the shared H200 (read by ``lab gpu``; never run yet).
#: CPU step times measured on one thread at the full sizes (batch 128): patch 1 ≈ 0.67 s, patch 16
#: ≈ 0.06–0.08 s, loss grid (patch 8, context 128) ≈ 0.16–0.25 s; on the GPU max(15 ms, CPU/30):
#: 6 patch-1 models × 400 × 22 ms ≈ 53 s, 6 patch-16 × 400 × 15 ms = 36 s, 9 loss-grid × 300 ×
#: 15 ms ≈ 41 s: ≈ 130 s of training. The rest measured on one CPU thread at the full sizes (tiny
#: models standing in for the GPU's): corpus 2.3 s, Theorem 1 3.8 s, the CPU profile cell 5.5 s,
#: evaluation 9 s; the GPU's forecasts (≈ 0.2M windows) ≈ 5 s; kernel start, figures, claims
#: ≈ 15 s. Sum ≈ 171 s.
FULL_TIER_SECONDS = 180


@dataclass(frozen=True)
class Config:
    """Every knob of :mod:`lab.tsfm_biases.experiments`."""

    scale: str
    seed: int = 0
    device: str = "cpu"  # where the models train and forecast: auto (CUDA when available), cpu, cuda
    n_seeds: int = 3
    # model family (the mechanism grid: embedding × patch, 9-quantile head, direct decoding)
    context: int = 64
    horizon: int = 32
    patches: tuple = (1, 16)
    scaling: str = "mean"
    d_model: int = 32
    n_layers: int = 2
    n_heads: int = 4
    d_ff: int = 64
    n_bins: int = 512
    steps: int = 300
    batch_size: int = 32
    lr: float = 3e-3
    # training corpus: series per synthetic family, their length, M4 hourly/weekly series mixed in
    corpus_series: int = 96
    corpus_length: int = 192
    real_series: int = 0
    # Theorem 1 numerics
    widths: tuple = (0.01, 0.02, 0.04, 0.08, 0.12, 0.16, 0.24)
    band_counts: tuple = (1, 2, 4, 8, 16)
    theory_k: int = 64
    theory_n: int = 512
    theory_draws: int = 3
    # evaluation
    n_test: int = 128
    ratios: tuple = (1, 4, 8, 20, 40)
    gaps: tuple = (1, 4, 8, 20, 40)
    spike_rate: float = 0.02
    spike_height: float = 4.0
    # bimodal periodic walk
    walk_p: tuple = (0.0, 0.1, 0.2, 0.3, 0.4)
    walk_period: int = 8
    walk_context: int = 64
    walk_steps: int = 300
    walk_series: int = 512
    closed_form_samples: int = 4000


_PRESETS = {
    "smoke": dict(n_seeds=1, d_model=16, n_layers=1, n_heads=2, d_ff=32, n_bins=256, steps=15,
                  corpus_series=16, corpus_length=128, context=32, horizon=32,
                  widths=(0.01, 0.04, 0.08, 0.16), band_counts=(1, 2, 4, 8), theory_n=256, theory_draws=2,
                  n_test=32, walk_steps=15, walk_series=64, walk_context=32, closed_form_samples=1000),
    "book": dict(),
    "full": dict(device="auto", d_model=128, n_layers=4, n_heads=8, d_ff=512, n_bins=1024, steps=400,
                 batch_size=128, context=64, corpus_series=1000, corpus_length=256, real_series=773, lr=1e-3,
                 theory_n=2048, theory_draws=10, n_test=1024, walk_steps=300, walk_series=4096,
                 walk_context=128, closed_form_samples=20000),
}

CHECKS = {
    "seed": at_least(0),
    "device": one_of("auto", "cpu", "cuda"),
    "n_seeds": at_least(1),
    "context": at_least(1),
    "horizon": at_least(2),
    "patches": nonempty & each(at_least(1)),
    "scaling": one_of("mean", "instance"),
    "d_model": at_least(4),
    "n_layers": at_least(1),
    "n_heads": at_least(1),
    "n_bins": at_least(16),
    "steps": at_least(1),
    "batch_size": at_least(1),
    "lr": greater_than(0),
    "corpus_series": at_least(2),
    "corpus_length": at_least(8),
    "real_series": at_least(0),
    "widths": nonempty & each(between(0, 0.48, open_lo=True)) & strictly_increasing,
    "band_counts": nonempty & each(at_least(1)) & strictly_increasing,
    "theory_k": at_least(4),
    "theory_n": at_least(8),
    "theory_draws": at_least(1),
    "n_test": at_least(2),
    "ratios": nonempty & each(at_least(1)) & strictly_increasing,
    "gaps": nonempty & each(at_least(0)) & strictly_increasing,
    "spike_rate": between(0, 1),
    "spike_height": at_least(0),
    "walk_p": nonempty & each(between(0, 0.5, open_hi=True)) & strictly_increasing,
    "walk_period": at_least(2),
    "walk_context": at_least(2),
    "walk_steps": at_least(1),
    "walk_series": at_least(2),
    "closed_form_samples": at_least(10),
}


def resolve(scale: str = "book", **overrides) -> Config:
    """The tier's configuration with every override that is not ``None`` applied, then checked.

    Patch sizes must divide the context (the model says so otherwise), and the walk's context
    must be a multiple of its period.
    """
    cfg = resolve_config(Config, _PRESETS, scale, overrides, CHECKS)
    for k in cfg.patches:
        if cfg.context % k:
            from lab.tiers import ParameterError
            raise ParameterError("patches", list(cfg.patches), f"patch sizes dividing the context {cfg.context}")
    if cfg.walk_context % cfg.walk_period:
        from lab.tiers import ParameterError
        raise ParameterError("walk_context", cfg.walk_context, f"a multiple of walk_period {cfg.walk_period}")
    return cfg


def device(cfg: Config) -> str:
    """``cfg.device``, with ``"auto"`` meaning CUDA when available (the house rule of the chapter configs)."""
    if cfg.device != "auto":
        return cfg.device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"
