"""Forecasts at every test forecast creation date, by one pass or by one pass per date.

The test span of each series is its last ``2H - 1`` points, which gives ``H`` FCDs whose
``H``-step targets all lie inside it (``book/forking_sequences.md``). Training uses only the
points before that span. :func:`split_for_evaluation` makes that split and the per-series
scaling (mean and standard deviation of the training part, so nothing from the test span leaks
in). :func:`forecast_grid` returns the forecasts at ``H - 1`` earlier "warm-up" FCDs followed
by the ``H`` test FCDs, so that causal ensembling at the first test FCD can already pool
earlier forecasts, the way an operational system would.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from lab.data import ForecastDataset

from .model import Forecaster
from .panel import Panel, forking_batch, window_batch


@dataclass
class EvalSplit:
    """Training histories, full series (both scaled), scaling and the test FCD of each series."""

    horizon: int
    train: list[np.ndarray]
    full: list[np.ndarray]
    loc: np.ndarray
    scale: np.ndarray
    first_test_fcd: np.ndarray  # t of the first test FCD: T - 2H + 1

    def unscale(self, grid: np.ndarray) -> np.ndarray:
        """Back to the data's units; ``grid`` has the series on axis 0."""
        shape = (-1,) + (1,) * (grid.ndim - 1)
        return grid * self.scale.reshape(shape) + self.loc.reshape(shape)


def split_for_evaluation(ds: ForecastDataset) -> EvalSplit:
    """Hold out the last ``2H - 1`` points of every series; scale by the training part."""
    H = ds.horizon
    history, _ = ds.holdout(2 * H - 1)
    loc = np.array([h.mean() for h in history])
    std = np.array([h.std() for h in history])
    # a constant history has std 0: fall back to its level, then to 1
    scale = np.where(std > 1e-8 * np.maximum(np.abs(loc), 1), std, np.where(np.abs(loc) > 0, np.abs(loc), 1.0))
    full = [(y - m) / s for y, m, s in zip(ds.full(), loc, scale)]
    train = [(h - m) / s for h, m, s in zip(history, loc, scale)]
    return EvalSplit(H, train, full, loc, scale, np.array([len(h) for h in history]))


def _sync(device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


@torch.no_grad()
def forecast_grid(model: Forecaster, panel: Panel, first_fcd: np.ndarray, n_fcds: int, mode: str,
                  *, device="cpu", chunk: int = 512) -> np.ndarray:
    """Forecasts ``[N, n_fcds, H, Q]`` at FCDs ``first_fcd[i] + k``, ``k < n_fcds``, of every series.

    ``mode="one_pass"`` encodes each series once over the block covering all FCDs
    (forking-sequences inference); ``mode="windows"`` runs one encoder pass per FCD on its
    window of ``L`` points (window-sampling inference).
    """
    model = model.to(device).eval()
    rows_all = np.arange(len(panel))
    out = []
    for lo in range(0, len(panel), chunk):
        rows = rows_all[lo:lo + chunk]
        if mode == "one_pass":
            b = forking_batch(panel, rows, first_fcd[rows], n_fcds, train=False)
            out.append(model(b.x.to(device), last=n_fcds).cpu())
        elif mode == "windows":
            per_fcd = [model(window_batch(panel, rows, first_fcd[rows] + k).x.to(device), last=1).cpu()
                       for k in range(n_fcds)]
            out.append(torch.cat(per_fcd, 1))
        else:
            raise ValueError(f"unknown inference mode {mode!r}; choose 'one_pass' or 'windows'")
    return torch.cat(out).numpy().astype(np.float64)


def targets_grid(panel: Panel, first_fcd: np.ndarray, n_fcds: int) -> np.ndarray:
    """Targets ``[N, n_fcds, H]`` (scaled) of :func:`forecast_grid`'s FCDs; NaN where missing."""
    b = forking_batch(panel, np.arange(len(panel)), first_fcd, n_fcds, train=False)
    return np.where(b.mask.numpy() > 0, b.y.numpy(), np.nan).astype(np.float64)


def time_inference(model: Forecaster, panel: Panel, first_fcd: np.ndarray, n_fcds: int, *,
                   device="cpu", repeats: int = 3) -> dict:
    """Wall time of all-FCD inference, one pass against ``n_fcds`` passes.

    The fastest of ``repeats`` timed runs after a warm-up: on a shared machine the minimum is
    the least disturbed estimate of what the computation itself costs. ``passes_one`` and
    ``passes_windows`` are counted during the warm-up (:func:`count_encoder_passes`), per series."""
    times, passes = {}, {}
    for mode in ("one_pass", "windows"):
        # warm-up, counting the encoder's forward calls: rows encoded per series = passes
        passes[mode] = count_encoder_passes(model, lambda: forecast_grid(model, panel, first_fcd, n_fcds, mode,
                                                                         device=device)) / len(panel)
        runs = []
        for _ in range(repeats):
            _sync(device)
            t0 = time.perf_counter()
            forecast_grid(model, panel, first_fcd, n_fcds, mode, device=device)
            _sync(device)
            runs.append(time.perf_counter() - t0)
        times[mode] = float(np.min(runs))
    return dict(one_pass_s=times["one_pass"], windows_s=times["windows"], passes_one=passes["one_pass"],
                passes_windows=passes["windows"], speedup=times["windows"] / times["one_pass"])


def count_encoder_passes(model: Forecaster, call) -> int:
    """Run ``call()`` and return how many series the model's encoder encoded (sum of batch sizes
    over its forward calls): one per series for a single pass, ``F`` per series for ``F`` windows."""
    rows = [0]

    def hook(module, args, output):
        rows[0] += int(args[0].shape[0])

    handle = model.encoder.register_forward_hook(hook)
    try:
        call()
    finally:
        handle.remove()
    return rows[0]
