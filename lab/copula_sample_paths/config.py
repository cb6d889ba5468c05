"""Tier presets for the copula sample-paths chapter (``book/copula_sample_paths.md``).

``smoke`` runs in seconds (tiny model, few windows); ``book`` trains a small mini-Bolt (d = 32,
2 layers, patch 8) on M4 hourly plus synthetic series and evaluates on held-out M4-hourly windows
within two minutes of one CPU core, cold cache included; both run on the CPU (``device="cpu"``).
``full`` is sized for one shared H200 (``device="auto"``: CUDA when available) within
:data:`FULL_TIER_SECONDS`; `lab gpu --list` says whether its run is committed.

What ``full`` cut, and why. It was d = 256, 6 layers, 3000 steps of 256 windows, N = 1000 paths
on all 414 test windows, 2000 oracle series, 2000 synthetic training series and N up to 3000 in
the timing sweep. Measured here on one CPU thread: a training step at d = 256, 6 layers is
≈ 3.7 s (≈ 0.12 s on the GPU at the assumed 30×, so 3000 steps ≈ 6 min), and the CPU-side part
(scores of [B, N, H] paths — the variogram score alone holds B·N·H² values, 7.6 GB at B = 414,
N = 1000 — the oracle study at 2000 series, the corpus) took ≈ 320 s at N = 300 on 256 test windows with a tiny
model. The full tier now trains a d = 128, 4-layer mini-Bolt (4× the book's width, 2× its depth;
≈ 0.33 s per step of 256 windows on one CPU thread, so at the ≈ 15 ms floor of a shared GPU) for
2000 steps, and scores N = 200 paths on 256 test windows, 500 oracle series, 500 synthetic
training series, the timing sweep at N ≤ 300 on 32 windows.
"""
from __future__ import annotations

from dataclasses import dataclass

from lab.tiers import ParameterError, at_least, between, each, nonempty, one_of, resolve_config, strictly_increasing

#: Expected wall seconds of the full tier on the shared H200 (read by ``lab gpu``; never run yet).
#: Training: 2000 steps × max(15 ms, 0.33 s / 30) = 30 s (0.33 s: a step of 256 windows at d = 128,
#: 4 layers, measured on one CPU thread). The rest measured on one CPU thread at the full sizes
#: with a tiny model standing in: structural 0.2 s, oracle 5.2 s, seasonal 3.1 s, corpus 14.4 s, the
#: mini-Bolt study's sampling, scores and timing sweep 61 s (its tiny model's CPU forwards
#: included); the GPU's forward passes (≈ 0.3M sequence evaluations, 1200 unbatched calls) ≈ 10 s;
#: kernel start, figures, claims ≈ 15 s. Sum ≈ 140 s, declared with the slack of shared CPU cores.
FULL_TIER_SECONDS = 160


@dataclass(frozen=True)
class Config:
    """Every knob of :mod:`lab.copula_sample_paths.experiments`."""

    scale: str
    seed: int = 0
    device: str = "cpu"  # where the models train and forecast: auto (CUDA when available), cpu, cuda
    n_paths: int = 100
    tail: str = "linear"
    rho_method: str = "rank_gauss"
    # sampler checks on a fixed quantile grid
    struct_n: int = 20000
    struct_h: int = 8
    struct_rhos: tuple = (0.3, 0.7, 0.95)
    # oracle: Gaussian AR(1)
    phi: float = 0.8
    oracle_series: int = 300
    oracle_context: int = 96
    oracle_horizon: int = 24
    # failure case: seasonal mean + white noise
    season: int = 24
    season_amp: float = 2.0
    # mini-Bolt
    context: int = 192
    horizon: int = 48
    d_model: int = 32
    n_layers: int = 2
    steps: int = 500
    batch_size: int = 64
    real_datasets: tuple = ("m4_hourly",)
    synth_series: int = 128
    n_test: int = 128
    ar_commit: int = 8
    unbatched_windows: int = 16
    rho_grid: tuple = (0.0, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 0.99)
    time_n: tuple = (10, 30, 100, 300)
    time_windows: int = 16
    replicate_seeds: int = 5


_PRESETS = {
    "smoke": dict(struct_n=20000, struct_h=6, oracle_series=60, oracle_horizon=12, oracle_context=48,
                  context=64, horizon=16, d_model=16, n_layers=1, steps=20, batch_size=32, synth_series=16,
                  n_test=24, n_paths=50, unbatched_windows=4, rho_grid=(0.0, 0.5, 0.9), time_n=(10, 50),
                  time_windows=4, replicate_seeds=2),
    "book": dict(),
    "full": dict(device="auto", n_paths=200, d_model=128, n_layers=4, steps=2000, batch_size=256,
                 real_datasets=("m4_hourly", "m4_weekly", "m3_monthly"), synth_series=500, n_test=256,
                 oracle_series=500, unbatched_windows=32, time_n=(10, 30, 100, 300), time_windows=32),
}

CHECKS = {
    "seed": at_least(0),
    "device": one_of("auto", "cpu", "cuda"),
    "n_paths": at_least(2),
    "tail": one_of("linear", "exponential"),
    "rho_method": one_of("rank_gauss", "levels", "diff"),
    "struct_n": at_least(100),
    "struct_h": at_least(2),
    "struct_rhos": nonempty & each(between(0, 1, open_hi=True)),
    "phi": between(0, 1, open_hi=True),
    "oracle_series": at_least(3),
    "oracle_context": at_least(8),
    "oracle_horizon": at_least(2),
    "season": at_least(2),
    "season_amp": at_least(0),
    "context": at_least(8),
    "horizon": at_least(2),
    "d_model": at_least(4),
    "n_layers": at_least(1),
    "steps": at_least(1),
    "batch_size": at_least(1),
    "real_datasets": nonempty & each(one_of("m4_hourly", "m4_weekly", "m3_monthly")),
    "synth_series": at_least(0),
    "n_test": at_least(3),
    "ar_commit": at_least(1),
    "unbatched_windows": at_least(1),
    "rho_grid": nonempty & each(between(0, 1, open_hi=True)) & strictly_increasing,
    "time_n": nonempty & each(at_least(1)) & strictly_increasing,
    "time_windows": at_least(1),
    "replicate_seeds": at_least(0),
}


def resolve(scale: str = "book", **overrides) -> Config:
    """The tier's configuration with every override that is not ``None`` applied, then checked.

    The context must be a multiple of the patch (8), and ``ar_commit`` at most the horizon.
    """
    cfg = resolve_config(Config, _PRESETS, scale, overrides, CHECKS)
    if cfg.context % 8:
        raise ParameterError("context", cfg.context, "a multiple of the patch size 8")
    if cfg.ar_commit > cfg.horizon:
        raise ParameterError("ar_commit", cfg.ar_commit, f"at most the horizon {cfg.horizon}")
    return cfg


def device(cfg: Config) -> str:
    """``cfg.device``, with ``"auto"`` meaning CUDA when available (the house rule of the chapter configs)."""
    if cfg.device != "auto":
        return cfg.device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"
