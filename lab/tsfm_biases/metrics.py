"""Forecast scores of the chapter: per-band spectral error, small-component error, regression score.

- **Spectral error by band**: ``E(f) = |DFT(ŷ - y)(f)|² / H`` over the horizon, summed over the
  frequency bins of each band (cycles per step) and averaged over series.
- **Small-component error** (multi-scale): the error projected on the small component's
  frequency, ``‖P(ŷ - y)‖ / ‖P y_small‖``, with ``P`` the projection onto
  ``span{sin, cos}(2π f_small t)`` over the horizon (orthogonal to the large component when both
  frequencies complete whole cycles in ``H``).
- **Low-offset error** (multi-offset): RMSE on the steps at offset 0, over the wave's amplitude.
- **Regression score**: ``min(|ŷ - lo|, |ŷ - hi|)`` for a continuation bimodal at ``lo = 0`` and
  ``hi = 1``: 0 when the forecast commits to a mode, 0.5 when it sits in the middle.

See ``book/tsfm_biases.md``.
"""
from __future__ import annotations

import numpy as np

BANDS = ((0.0, 0.1), (0.1, 0.25), (0.25, 0.5001))
BAND_NAMES = ("low", "mid", "high")


def band_errors(pred: np.ndarray, truth: np.ndarray, bands=BANDS) -> np.ndarray:
    """Mean over series of the error energy ``Σ_{f in band} |DFT(ŷ - y)(f)|² / H``, one per band."""
    H = pred.shape[-1]
    E = np.abs(np.fft.rfft(pred - truth, axis=-1)) ** 2 / H
    f = np.fft.rfftfreq(H)
    return np.array([E[..., (f >= lo) & (f < hi)].sum(-1).mean() for lo, hi in bands])


def projection_error(pred: np.ndarray, truth: np.ndarray, small: np.ndarray, freq: float) -> float:
    """``mean_series ‖P(ŷ - y)‖ / mean_series ‖P y_small‖`` at frequency ``freq`` over the horizon."""
    H = pred.shape[-1]
    t = np.arange(H)
    B = np.stack([np.sin(2 * np.pi * freq * t), np.cos(2 * np.pi * freq * t)], axis=1)
    Qb, _ = np.linalg.qr(B)

    def pnorm(v):
        return np.linalg.norm(v @ Qb, axis=-1)

    return float(pnorm(pred - truth).mean() / pnorm(small).mean())


def masked_rmse(pred: np.ndarray, truth: np.ndarray, mask: np.ndarray) -> float:
    m = mask > 0
    return float(np.sqrt(((pred - truth)[m] ** 2).mean())) if m.any() else float("nan")


def regression_score(pred: np.ndarray, lo: float = 0.0, hi: float = 1.0) -> float:
    """Mean of ``min(|ŷ - lo|, |ŷ - hi|)`` over all forecast steps."""
    return float(np.minimum(np.abs(pred - lo), np.abs(pred - hi)).mean())


def closed_form_predictors(samples: np.ndarray) -> dict:
    """Mean (L2), median (quantile) and mode (CE argmax, on a 0.05-wide histogram) of samples ``[S, ...]``."""
    edges = np.arange(-0.525, 1.55, 0.05)  # bins centred on 0 and 1
    centers = (edges[:-1] + edges[1:]) / 2
    flat = samples.reshape(samples.shape[0], -1)
    mode = np.array([centers[np.histogram(col, edges)[0].argmax()] for col in flat.T]).reshape(samples.shape[1:])
    return dict(l2=samples.mean(0), quantile=np.median(samples, axis=0), ce=mode)
