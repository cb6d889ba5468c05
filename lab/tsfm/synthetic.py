"""Synthetic series: KernelSynth-style Gaussian-process draws and the chapter's probe families.

Every generator takes ``(n, length, rng)`` plus its own knobs and returns ``float64 [n, length]``
(and, where an experiment needs it, the component it scores). Definitions are ours where the
paper does not give them; ``book/tsfm_biases.md`` states each one.
"""
from __future__ import annotations

import numpy as np

# ----------------------------------------------------------------------------------- KernelSynth


def _kernel_bank(t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One random kernel matrix on times ``t ∈ [0, 1)``: RBF, periodic, linear, rational quadratic or white."""
    d = t[:, None] - t[None, :]
    kind = rng.integers(5)
    if kind == 0:  # RBF
        ell = rng.choice([0.01, 0.03, 0.1, 0.3, 1.0])
        return np.exp(-0.5 * (d / ell) ** 2)
    if kind == 1:  # periodic (exp-sine-squared), periods in steps as KernelSynth's bank
        period = rng.choice([4, 6, 7, 8, 12, 14, 24, 30, 48]) / len(t)
        return np.exp(-2.0 * np.sin(np.pi * np.abs(d) / period) ** 2)
    if kind == 2:  # linear
        c = rng.uniform(0.0, 1.0)
        return (t[:, None] - c) * (t[None, :] - c)
    if kind == 3:  # rational quadratic
        alpha, ell = rng.choice([0.1, 1.0, 10.0]), rng.choice([0.03, 0.1, 0.3])
        return (1 + d**2 / (2 * alpha * ell**2)) ** (-alpha)
    return 0.1 * np.eye(len(t))  # white noise


def kernel_synth(n: int, length: int, rng: np.random.Generator, max_kernels: int = 5) -> np.ndarray:
    """GP draws whose kernel combines up to ``max_kernels`` kernels of the bank by random + or ×.

    KernelSynth (Chronos, Ansari et al. 2024) in spirit: the bank and weights are ours.
    """
    t = np.arange(length) / length
    out = np.empty((n, length))
    for i in range(n):
        K = _kernel_bank(t, rng)
        for _ in range(rng.integers(0, max_kernels)):
            other = _kernel_bank(t, rng)
            K = K + other if rng.random() < 0.5 else K * other
        L = np.linalg.cholesky(K + 1e-5 * np.trace(K) / length * np.eye(length) + 1e-8 * np.eye(length))
        out[i] = L @ rng.standard_normal(length)
    return out


# ----------------------------------------------------------------------------------- probe families


def sinusoids(n: int, length: int, rng: np.random.Generator, freqs, amps=None) -> np.ndarray:
    """``Σ_m a_m sin(2π f_m t + φ_m)`` with random phases; ``freqs`` in cycles per step."""
    t = np.arange(length)
    freqs = np.atleast_1d(np.asarray(freqs, dtype=float))
    amps = np.ones_like(freqs) if amps is None else np.asarray(amps, dtype=float)
    phase = rng.uniform(0, 2 * np.pi, (n, len(freqs), 1))
    return (amps[None, :, None] * np.sin(2 * np.pi * freqs[None, :, None] * t + phase)).sum(axis=1)


def mixed_frequency(n: int, length: int, rng: np.random.Generator, bands=((0.01, 0.1), (0.1, 0.25), (0.25, 0.45)),
                    per_band: int = 1, noise: float = 0.0) -> np.ndarray:
    """One sinusoid per band (frequencies uniform inside each band, amplitudes U[0.5, 1.5])."""
    out = np.zeros((n, length))
    t = np.arange(length)
    for lo, hi in bands:
        for _ in range(per_band):
            f = rng.uniform(lo, hi, (n, 1))
            a = rng.uniform(0.5, 1.5, (n, 1))
            out += a * np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi, (n, 1)))
    return out + noise * rng.standard_normal((n, length))


def multi_scale(n: int, length: int, rng: np.random.Generator, ratio, f_big: float, f_small: float,
                amp: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """``a sin(2π f_big t + φ) + (a/r) sin(2π f_small t + φ')``; returns (series, small component).

    ``ratio`` is a number or one per series.
    """
    r = np.broadcast_to(np.asarray(ratio, dtype=float), (n,))[:, None]
    big = amp * sinusoids(n, length, rng, [f_big])
    small = amp * sinusoids(n, length, rng, [f_small]) / r
    return big + small, small


def multi_offset(n: int, length: int, rng: np.random.Generator, gap, period: int, block: int,
                 amp: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """A sinusoid of period ``period`` whose level alternates between 0 and ``gap`` every ``block`` steps.

    Returns (series, low mask): the mask is 1 on steps at the low (zero) offset, whose error the
    small-offset experiment scores. The block phase is random per series.
    """
    g = np.broadcast_to(np.asarray(gap, dtype=float), (n,))[:, None]
    t = np.arange(length)[None, :] + rng.integers(0, 2 * block, (n, 1))
    high = (t // block) % 2 == 1
    wave = amp * sinusoids(n, length, rng, [1.0 / period])
    return wave + g * high, (~high).astype(float)


def bimodal_walk(n: int, length: int, rng: np.random.Generator, p, period: int = 8,
                 noise: float = 0.05, start: np.ndarray | None = None) -> np.ndarray:
    """The periodic walk with flip probability ``p``: a square wave that may invert at each period.

    Period ``j`` is the pattern ``w = (1,…,1, 0,…,0)`` (half ones) or its inverse ``1 - w``; at every
    period boundary the pattern flips with probability ``p`` (a random walk over the two patterns).
    Given the past, the next period is the last pattern (probability ``1 - p``) or its inverse
    (``p``): every step of the continuation is bimodal at 0 and 1. Gaussian noise ``noise`` is
    added. ``length`` must be a multiple of ``period``.
    """
    if length % period:
        raise ValueError(f"length {length} is not a multiple of the period {period}")
    pr = np.broadcast_to(np.asarray(p, dtype=float), (n,))[:, None]
    periods = length // period
    flips = rng.random((n, periods)) < pr
    flips[:, 0] = rng.random(n) < 0.5 if start is None else start
    state = np.cumsum(flips, axis=1) % 2  # 1: inverted pattern
    w = (np.arange(period) < period // 2).astype(float)
    blocks = np.where(state[:, :, None] == 1, 1 - w, w)
    return blocks.reshape(n, length) + noise * rng.standard_normal((n, length))


def sine_spikes(n: int, length: int, rng: np.random.Generator, period: float = 16.0, rate: float = 0.02,
                height: float = 5.0, noise: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """``sin(2π t/period + φ)`` plus spikes of ``± height`` at rate ``rate``; returns (series, clean)."""
    clean = sinusoids(n, length, rng, [1.0 / period])
    spikes = (rng.random((n, length)) < rate) * height * rng.choice([-1.0, 1.0], (n, length))
    return clean + spikes + noise * rng.standard_normal((n, length)), clean


def lorenz(n: int, length: int, rng: np.random.Generator, dt: float = 0.03, burn: int = 200) -> np.ndarray:
    """The x-coordinate of Lorenz-63 trajectories (σ=10, ρ=28, β=8/3) from random starts, SciPy's solver."""
    from scipy.integrate import solve_ivp

    def f(_, s):
        x, y, z = s
        return [10 * (y - x), x * (28 - z) - y, x * y - 8 / 3 * z]

    out = np.empty((n, length))
    t_eval = dt * np.arange(burn + length)
    for i in range(n):
        sol = solve_ivp(f, (0, t_eval[-1]), rng.normal(0, 5, 3) + [0, 0, 25], t_eval=t_eval, rtol=1e-6, atol=1e-8)
        out[i] = sol.y[0, burn:]
    return out
