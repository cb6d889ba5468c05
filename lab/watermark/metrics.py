"""Image and detection metrics of ``book/semantic_regen.md``.

**SSIM** with torchmetrics' defaults (Gaussian window σ = 1.5, 11 taps, ``K1 = 0.01``,
``K2 = 0.03``, data range ``max(range(x), range(y))`` when not given): with local means
``μ``, variances ``σ²`` (clamped at 0) and covariance ``σ_xy`` from the window ``g`` on the
images reflect-padded by 5 (so the map has one value per pixel; torchmetrics 1.9 averages the
whole map, older releases cropped the 5-pixel border first),

.. math::  S = \\frac{(2μ_xμ_y + C_1)(2σ_{xy} + C_2)}{(μ_x^2+μ_y^2+C_1)(σ_x^2+σ_y^2+C_2)},
           \\quad C_i = (K_i L)^2 .

**mSSIM** (the SemanticRegen code): paint the repaint mask ``m = 1`` white (value 1) in both
images, then take the plain SSIM above, averaged over all pixels and channels. **Strict SSIM**
averages the same SSIM map (computed on the unpainted images) over foreground positions only.
"""
from __future__ import annotations

import math

import numpy as np
from scipy import ndimage, stats

KERNEL = 11
SIGMA = 1.5
K1, K2 = 0.01, 0.03


def gaussian_window(size: int = KERNEL, sigma: float = SIGMA) -> np.ndarray:
    """The normalised 1-D Gaussian taps ``exp(-d²/2σ²)`` at ``d = -(size-1)/2 … (size-1)/2``."""
    d = np.arange((1 - size) / 2, (1 + size) / 2, 1.0)
    g = np.exp(-((d / sigma) ** 2) / 2)
    return g / g.sum()


def as_hwc(x) -> np.ndarray:
    """An image as a float64 ``H×W×C`` array (accepts H×W or H×W×C)."""
    a = np.asarray(x, dtype=np.float64)
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3:
        raise ValueError(f"an image must be H×W or H×W×C, got shape {a.shape}")
    return a


def _window_mean(a: np.ndarray, g: np.ndarray) -> np.ndarray:
    # the 11×11 Gaussian window is separable: two 1-D passes; "mirror" is torch's reflect padding
    return ndimage.correlate1d(ndimage.correlate1d(a, g, axis=0, mode="mirror"), g, axis=1, mode="mirror")


def ssim_map(x, y, data_range: float | None = None) -> np.ndarray:
    """SSIM map (``H×W×C``, one value per pixel) of ``x`` against ``y``, torchmetrics' conventions."""
    x, y = as_hwc(x), as_hwc(y)
    if x.shape != y.shape:
        raise ValueError(f"SSIM needs images of one shape, got {x.shape} and {y.shape}")
    if min(x.shape[:2]) < KERNEL:
        raise ValueError(f"SSIM's {KERNEL}-tap window needs images at least {KERNEL}×{KERNEL}, got {x.shape[:2]}")
    if data_range is None:
        data_range = max(np.ptp(x), np.ptp(y))
    c1, c2 = (K1 * data_range) ** 2, (K2 * data_range) ** 2
    g = gaussian_window()
    mu_x, mu_y = _window_mean(x, g), _window_mean(y, g)
    vx = np.maximum(_window_mean(x * x, g) - mu_x ** 2, 0.0)
    vy = np.maximum(_window_mean(y * y, g) - mu_y ** 2, 0.0)
    cov = _window_mean(x * y, g) - mu_x * mu_y
    return ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x ** 2 + mu_y ** 2 + c1) * (vx + vy + c2))


def ssim(x, y, data_range: float | None = None) -> float:
    """Mean SSIM over all pixels and channels (torchmetrics' ``structural_similarity_index_measure``)."""
    return float(ssim_map(x, y, data_range).mean())


def _mask(mask, shape) -> np.ndarray:
    m = np.asarray(mask)
    if m.shape != tuple(shape):
        raise ValueError(f"the mask must have the image's H×W shape {tuple(shape)}, got {m.shape}")
    return m.astype(bool)


def mssim(original, attacked, repaint_mask) -> float:
    """mSSIM as the SemanticRegen code computes it (images in [0, 1], H×W or H×W×C).

    ``x[m=1] = y[m=1] = 1`` (the repainted background painted white), then
    ``SSIM(y~, x~)`` with the data range inferred from the painted images.
    """
    x, y = np.array(original, dtype=np.float64), np.array(attacked, dtype=np.float64)
    m = _mask(repaint_mask, x.shape[:2])
    x[m], y[m] = 1.0, 1.0
    return ssim(y, x)


def strict_ssim(original, attacked, repaint_mask, data_range: float = 1.0) -> float:
    """SSIM averaged over foreground positions only (``m = 0``), unpainted images, fixed data range.    """
    x, y = np.asarray(original, dtype=np.float64), np.asarray(attacked, dtype=np.float64)
    m = _mask(repaint_mask, x.shape[:2])
    s = ssim_map(y, x, data_range).mean(axis=2)
    fg = ~m
    if not fg.any():
        raise ValueError("strict SSIM needs at least one foreground pixel (the mask repaints everything)")
    return float(s[fg].mean())


def psnr(x, y, data_range: float = 1.0) -> float:
    """``10 log10(L² / MSE)`` in dB."""
    mse = float(np.mean((np.asarray(x, np.float64) - np.asarray(y, np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(data_range ** 2 / mse)


def bit_accuracy(decoded, key) -> float:
    """Fraction of payload bits decoded correctly."""
    decoded, key = np.asarray(decoded).ravel(), np.asarray(key).ravel()
    if decoded.shape != key.shape:
        raise ValueError(f"decoded {decoded.size} bits against a key of {key.size}")
    return float(np.mean(decoded == key))


def bit_p_value(decoded, key) -> float:
    """One-sided binomial p-value of at least this many matching bits under random bits (p = 1/2)."""
    decoded, key = np.asarray(decoded).ravel(), np.asarray(key).ravel()
    k = int(np.sum(decoded == key))
    return float(stats.binomtest(k, key.size, 0.5, alternative="greater").pvalue)
